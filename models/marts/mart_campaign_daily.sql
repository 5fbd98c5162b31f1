{#-
    Ad campaigns per tenant × day × platform × campaign: spend, delivery and the platform's
    conversions of the campaign's ads, next to the orders and revenue the tenant's default
    attribution model credits to touchpoints whose utm_campaign named the campaign (joined on
    fct_attribution_credits' campaign_platform and campaign_id), with ROAS, CPA, RPMo, CTR,
    CPC, CPM and the platform's own ROAS and CPA (macros/metrics.sql).

    A campaign-day has a row when the campaign delivered or was credited that day (orders of
    a campaign that stopped spending still count on their order day). Attributed orders and
    revenue count on the order's day, spend on the ad account's day. Credits of touchpoints
    that matched no campaign are not here (see mart_channel_daily). Money as in
    mart_kpis_daily: summed per original currency, converted once, rounded half-even at this
    grain. Incremental by tenant; stored ordered by (tenant_id, date_day).
-#}
with tenants as (

    select tenant_id, reporting_currency from {{ ref('stg_registry__tenants') }}

),

paid_channels as (

    {{ paid_channel_of_platforms() }}

),

campaigns as (

    select tenant_id, platform, campaign_id, campaign_name, account_id
    from {{ ref('dim_campaigns') }}
    where {{ tenant_filter_for(ref('dim_campaigns')) }}

),

ad_currency_days as (

    select
        tenant_id,
        date_day,
        platform,
        campaign_id,
        currency_code,
        any_value(fx_rate_to_reporting_currency) as fx_rate,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as platform_conversions,
        sum(conversions_value) as platform_conversion_value
    from {{ ref('fct_ad_performance_daily') }}
    where {{ tenant_filter_for(ref('fct_ad_performance_daily')) }}
    group by tenant_id, date_day, platform, campaign_id, currency_code

),

ad_days as (

    select
        tenant_id,
        date_day,
        platform,
        campaign_id,
        sum({{ apply_fx_rate('spend', 'fx_rate') }}) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(platform_conversions) as platform_conversions,
        sum({{ apply_fx_rate('platform_conversion_value', 'fx_rate') }}) as platform_conversion_value
    from ad_currency_days
    group by tenant_id, date_day, platform, campaign_id

),

credit_days as (

    select
        tenant_id,
        order_date as date_day,
        campaign_platform as platform,
        campaign_id,
        sum(credit) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue
    from {{ ref('fct_attribution_credits') }}
    where {{ tenant_filter_for(ref('fct_attribution_credits')) }}
        and is_default_model
        and is_attributed
        and campaign_id is not null
        and campaign_platform is not null
    group by all

),

summed as (

    select
        coalesce(ad_days.tenant_id, credit_days.tenant_id) as tenant_id,
        coalesce(ad_days.date_day, credit_days.date_day) as date_day,
        coalesce(ad_days.platform, credit_days.platform) as platform,
        coalesce(ad_days.campaign_id, credit_days.campaign_id) as campaign_id,
        coalesce(ad_days.spend, 0) as spend,
        coalesce(ad_days.impressions, 0) as impressions,
        coalesce(ad_days.clicks, 0) as clicks,
        coalesce(ad_days.platform_conversions, 0) as platform_conversions,
        coalesce(ad_days.platform_conversion_value, 0) as platform_conversion_value,
        coalesce(credit_days.attributed_orders, 0) as attributed_orders,
        coalesce(credit_days.attributed_revenue, 0) as attributed_revenue
    from ad_days
    full outer join credit_days
        on credit_days.tenant_id = ad_days.tenant_id
        and credit_days.date_day = ad_days.date_day
        and credit_days.platform = ad_days.platform
        and credit_days.campaign_id = ad_days.campaign_id

),

rounded as (

    select
        summed.tenant_id,
        summed.date_day,
        summed.platform,
        summed.campaign_id,
        campaigns.campaign_name,
        campaigns.account_id,
        coalesce(paid_channels.channel, 'other') as channel,
        tenants.reporting_currency,
        {{ round_money('summed.spend', 'tenants.reporting_currency') }} as spend,
        cast(summed.impressions as bigint) as impressions,
        cast(summed.clicks as bigint) as clicks,
        cast(summed.platform_conversions as {{ money_type() }}) as platform_conversions,
        {{ round_money('summed.platform_conversion_value', 'tenants.reporting_currency') }}
            as platform_conversion_value,
        cast(summed.attributed_orders as {{ attributed_orders_type() }}) as attributed_orders,
        {{ round_money('summed.attributed_revenue', 'tenants.reporting_currency') }}
            as attributed_revenue
    from summed
    inner join tenants on tenants.tenant_id = summed.tenant_id
    left join campaigns
        on campaigns.tenant_id = summed.tenant_id
        and campaigns.platform = summed.platform
        and campaigns.campaign_id = summed.campaign_id
    left join paid_channels on paid_channels.platform = summed.platform

)

select
    *,
    {{ roas('attributed_revenue', 'spend') }} as roas,
    {{ cpa('spend', 'attributed_orders') }} as cpa,
    {{ rpmo('attributed_revenue', 'impressions') }} as rpmo,
    {{ ctr('clicks', 'impressions') }} as ctr,
    {{ cpc('spend', 'clicks') }} as cpc,
    {{ cpm('spend', 'impressions') }} as cpm,
    {{ platform_roas('platform_conversion_value', 'spend') }} as platform_roas,
    {{ platform_cpa('spend', 'platform_conversions') }} as platform_cpa
from rounded
order by tenant_id, date_day, platform, campaign_id
