{#-
    One row per visit of a Shopify order's customer journey, classified into a marketing
    channel and platform by seed `channel_mapping`: among the rules whose every non-empty
    `match_*` column matches, the one with the lowest priority wins. The input of attribution.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

with visits as (

    select
        *,
        lower(coalesce(utm_source, '')) as utm_source_key,
        lower(coalesce(utm_medium, '')) as utm_medium_key,
        coalesce(referrer_host, '') as referrer_host_key,
        coalesce(click_id_parameter, '') as click_id_parameter_key
    from {{ ref('stg_shopify__journey_visits') }}

),

rules as (

    {#- An empty cell means "any value": NULL as dbt seeds it, '' however else it arrives. #}
    select
        priority,
        nullif(trim(match_utm_source), '') as match_utm_source,
        nullif(trim(match_utm_medium), '') as match_utm_medium,
        nullif(trim(match_referrer_host), '') as match_referrer_host,
        nullif(trim(match_click_id_parameter), '') as match_click_id_parameter,
        channel,
        nullif(trim(platform), '') as platform,
        is_paid
    from {{ ref('channel_mapping') }}

),

{#- Visits share few distinct signatures: match those against the rules, not every visit. #}
signatures as (

    select distinct utm_source_key, utm_medium_key, referrer_host_key, click_id_parameter_key
    from visits

),

ranked_matches as (

    select
        signatures.*,
        rules.priority,
        rules.channel,
        rules.platform,
        rules.is_paid,
        row_number() over (
            partition by
                signatures.utm_source_key,
                signatures.utm_medium_key,
                signatures.referrer_host_key,
                signatures.click_id_parameter_key
            order by rules.priority
        ) as match_rank
    from signatures
    inner join rules
        on (rules.match_utm_source is null
            or regexp_full_match(signatures.utm_source_key, rules.match_utm_source))
        and (rules.match_utm_medium is null
            or regexp_full_match(signatures.utm_medium_key, rules.match_utm_medium))
        and (rules.match_referrer_host is null
            or regexp_full_match(signatures.referrer_host_key, rules.match_referrer_host))
        and (rules.match_click_id_parameter is null
            or signatures.click_id_parameter_key = rules.match_click_id_parameter)

)

select
    visits.tenant_id,
    visits.order_id,
    visits.visit_position,
    visits.visit_id,
    visits.visited_at,
    visits.visit_date,
    visits.utm_source,
    visits.utm_medium,
    visits.utm_campaign,
    visits.utm_content,
    visits.utm_term,
    visits.referrer_host,
    visits.click_id_parameter,
    visits.click_id,
    matches.channel,
    matches.platform,
    matches.is_paid,
    matches.channel = 'direct' as is_direct,
    matches.priority as channel_rule_priority
from visits
left join ranked_matches as matches
    on matches.utm_source_key = visits.utm_source_key
    and matches.utm_medium_key = visits.utm_medium_key
    and matches.referrer_host_key = visits.referrer_host_key
    and matches.click_id_parameter_key = visits.click_id_parameter_key
    and matches.match_rank = 1
