{#-
    The touchpoints attribution credits: one row per visit of a Shopify order's customer
    journey (int_shopify__touchpoints: channel and platform from seed `channel_mapping`), with
    the ad campaign it came from. A visit's utm_campaign matches a campaign of the tenant's ad
    platforms (stg_<platform>__campaigns) by id or by name, ignoring case and surrounding
    spaces; only campaigns of the visit's own platform count, or of any platform when the
    mapping found none. An id match beats a name match; a name several campaigns share goes to
    the lowest platform and campaign id, so the result is deterministic. Incremental by tenant.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

{%- set ad_platforms = ['google_ads', 'meta_ads', 'linkedin_ads'] %}

with touchpoints as (

    select
        *,
        nullif(lower(trim(utm_campaign)), '') as utm_campaign_key
    from {{ ref('int_shopify__touchpoints') }}
    where {{ tenant_filter_for(ref('int_shopify__touchpoints')) }}

),

campaigns as (

    {%- for platform in ad_platforms %}
    select
        tenant_id,
        '{{ platform }}' as platform,
        cast(campaign_id as varchar) as campaign_id,
        campaign_name
    from {{ ref('stg_' ~ platform ~ '__campaigns') }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

campaign_keys as (

    select tenant_id, platform, campaign_id, campaign_name, 'id' as matched_on,
        1 as match_preference, lower(trim(campaign_id)) as campaign_key
    from campaigns
    union all
    select tenant_id, platform, campaign_id, campaign_name, 'name' as matched_on,
        2 as match_preference, lower(trim(campaign_name)) as campaign_key
    from campaigns
    where nullif(trim(campaign_name), '') is not null

),

{#- Few distinct (platform, utm_campaign) pairs: match those, not every visit. #}
campaign_signatures as (

    select distinct tenant_id, platform, utm_campaign_key
    from touchpoints
    where utm_campaign_key is not null

),

ranked_campaigns as (

    select
        campaign_signatures.tenant_id,
        campaign_signatures.platform,
        campaign_signatures.utm_campaign_key,
        campaign_keys.platform as campaign_platform,
        campaign_keys.campaign_id,
        campaign_keys.campaign_name,
        campaign_keys.matched_on,
        row_number() over (
            partition by
                campaign_signatures.tenant_id,
                campaign_signatures.platform,
                campaign_signatures.utm_campaign_key
            order by
                campaign_keys.match_preference,
                campaign_keys.platform,
                campaign_keys.campaign_id
        ) as match_rank
    from campaign_signatures
    inner join campaign_keys
        on campaign_keys.tenant_id = campaign_signatures.tenant_id
        and campaign_keys.campaign_key = campaign_signatures.utm_campaign_key
        and (campaign_signatures.platform is null
            or campaign_keys.platform = campaign_signatures.platform)

)

select
    touchpoints.tenant_id,
    'shopify' as source,
    touchpoints.order_id,
    touchpoints.order_id || '#' || cast(touchpoints.visit_position as varchar) as touchpoint_id,
    touchpoints.visit_position,
    touchpoints.visit_id,
    touchpoints.visited_at as touched_at,
    touchpoints.visit_date as touched_date,
    touchpoints.utm_source,
    touchpoints.utm_medium,
    touchpoints.utm_campaign,
    touchpoints.utm_content,
    touchpoints.utm_term,
    touchpoints.referrer_host,
    touchpoints.click_id_parameter,
    touchpoints.channel,
    touchpoints.platform,
    touchpoints.is_paid,
    coalesce(touchpoints.is_direct, true) as is_direct,
    matched.campaign_platform,
    matched.campaign_id,
    matched.campaign_name,
    matched.matched_on as campaign_matched_on
from touchpoints
left join ranked_campaigns as matched
    on matched.tenant_id = touchpoints.tenant_id
    and matched.platform is not distinct from touchpoints.platform
    and matched.utm_campaign_key = touchpoints.utm_campaign_key
    and matched.match_rank = 1
