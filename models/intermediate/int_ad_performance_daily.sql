{#-
    Daily ad performance of every ad platform in one shape: the columns analysts know from
    Fivetran's ad_reporting (date_day, platform, account, campaign, ad group, ad, spend,
    impressions, clicks, conversions, conversions_value), plus tenant_id and the money in the
    tenant's reporting currency at the ECB rate in force on the account-local day. One row per
    tenant × platform × ad × day, as each platform reports it:

    | column   | google_ads | meta_ads | linkedin_ads                      |
    |----------|------------|----------|-----------------------------------|
    | account  | customer   | ad account | sponsored account               |
    | campaign | campaign   | campaign | campaign (what utm_campaign names) |
    | ad group | ad group   | ad set   | campaign (LinkedIn has no level between campaign and creative) |
    | ad       | ad         | ad       | creative                          |
    | conversions (value) | conversions (value) | omni_purchase actions (values) | external website conversions (conversion value) |

    Names are the current names of the dimension snapshots (for Meta, those of the insight
    when the object is no longer listed). Ids are text, as ids of different platforms share a
    column. Reporting-currency amounts are not rounded: sum them at the grain you report, then
    round_money.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

with google_ads as (

    select
        metrics.tenant_id,
        metrics.date_day,
        'google_ads' as platform,
        cast(metrics.customer_id as varchar) as account_id,
        customers.customer_name as account_name,
        cast(metrics.campaign_id as varchar) as campaign_id,
        campaigns.campaign_name,
        cast(metrics.ad_group_id as varchar) as ad_group_id,
        ad_groups.ad_group_name,
        cast(metrics.ad_id as varchar) as ad_id,
        ads.ad_name,
        metrics.currency_code,
        metrics.spend,
        metrics.impressions,
        metrics.clicks,
        metrics.conversions,
        metrics.conversions_value
    from {{ ref('stg_google_ads__ad_daily_metrics') }} as metrics
    left join {{ ref('stg_google_ads__customers') }} as customers
        on customers.tenant_id = metrics.tenant_id
        and customers.customer_id = metrics.customer_id
    left join {{ ref('stg_google_ads__campaigns') }} as campaigns
        on campaigns.tenant_id = metrics.tenant_id
        and campaigns.customer_id = metrics.customer_id
        and campaigns.campaign_id = metrics.campaign_id
    left join {{ ref('stg_google_ads__ad_groups') }} as ad_groups
        on ad_groups.tenant_id = metrics.tenant_id
        and ad_groups.customer_id = metrics.customer_id
        and ad_groups.ad_group_id = metrics.ad_group_id
    left join {{ ref('stg_google_ads__ads') }} as ads
        on ads.tenant_id = metrics.tenant_id
        and ads.customer_id = metrics.customer_id
        and ads.ad_group_id = metrics.ad_group_id
        and ads.ad_id = metrics.ad_id

),

meta_ads as (

    select
        insights.tenant_id,
        insights.date_day,
        'meta_ads' as platform,
        cast(insights.account_id as varchar) as account_id,
        accounts.account_name,
        cast(insights.campaign_id as varchar) as campaign_id,
        coalesce(campaigns.campaign_name, insights.campaign_name) as campaign_name,
        cast(insights.ad_set_id as varchar) as ad_group_id,
        coalesce(ad_sets.ad_set_name, insights.ad_set_name) as ad_group_name,
        cast(insights.ad_id as varchar) as ad_id,
        coalesce(ads.ad_name, insights.ad_name) as ad_name,
        insights.currency_code,
        insights.spend,
        insights.impressions,
        insights.clicks,
        insights.conversions,
        insights.conversions_value
    from {{ ref('stg_meta_ads__insights') }} as insights
    left join {{ ref('stg_meta_ads__accounts') }} as accounts
        on accounts.tenant_id = insights.tenant_id
        and accounts.account_id = insights.account_id
    left join {{ ref('stg_meta_ads__campaigns') }} as campaigns
        on campaigns.tenant_id = insights.tenant_id
        and campaigns.campaign_id = insights.campaign_id
    left join {{ ref('stg_meta_ads__ad_sets') }} as ad_sets
        on ad_sets.tenant_id = insights.tenant_id
        and ad_sets.ad_set_id = insights.ad_set_id
    left join {{ ref('stg_meta_ads__ads') }} as ads
        on ads.tenant_id = insights.tenant_id
        and ads.ad_id = insights.ad_id

),

linkedin_ads as (

    select
        analytics.tenant_id,
        analytics.date_day,
        'linkedin_ads' as platform,
        cast(analytics.account_id as varchar) as account_id,
        accounts.account_name,
        cast(creatives.campaign_id as varchar) as campaign_id,
        campaigns.campaign_name,
        cast(creatives.campaign_id as varchar) as ad_group_id,
        campaigns.campaign_name as ad_group_name,
        cast(analytics.creative_id as varchar) as ad_id,
        creatives.creative_name as ad_name,
        analytics.currency_code,
        analytics.spend,
        analytics.impressions,
        analytics.clicks,
        analytics.conversions,
        analytics.conversions_value
    from {{ ref('stg_linkedin_ads__creative_daily_analytics') }} as analytics
    left join {{ ref('stg_linkedin_ads__accounts') }} as accounts
        on accounts.tenant_id = analytics.tenant_id
        and accounts.account_id = analytics.account_id
    left join {{ ref('stg_linkedin_ads__creatives') }} as creatives
        on creatives.tenant_id = analytics.tenant_id
        and creatives.creative_id = analytics.creative_id
    left join {{ ref('stg_linkedin_ads__campaigns') }} as campaigns
        on campaigns.tenant_id = analytics.tenant_id
        and campaigns.campaign_id = creatives.campaign_id

),

unioned as (

    select * from google_ads
    union all
    select * from meta_ads
    union all
    select * from linkedin_ads

),

tenants as (

    select tenant_id, reporting_currency from {{ ref('stg_registry__tenants') }}

),

with_rate as (

    select
        unioned.*,
        tenants.reporting_currency,
        {{ fx_cross_rate('unioned.currency_code', 'tenants.reporting_currency', 'unioned.date_day') }}
            as fx_rate_to_reporting_currency
    from unioned
    inner join tenants on tenants.tenant_id = unioned.tenant_id

)

select
    tenant_id,
    date_day,
    platform,
    account_id,
    account_name,
    campaign_id,
    campaign_name,
    ad_group_id,
    ad_group_name,
    ad_id,
    ad_name,
    currency_code,
    spend,
    impressions,
    clicks,
    conversions,
    conversions_value,
    reporting_currency,
    fx_rate_to_reporting_currency,
    {{ apply_fx_rate('spend', 'fx_rate_to_reporting_currency') }} as spend_reporting,
    {{ apply_fx_rate('conversions_value', 'fx_rate_to_reporting_currency') }} as conversions_value_reporting
from with_rate
