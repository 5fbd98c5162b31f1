{#-
    Channels per tenant × day × channel × platform: what was spent on each ad platform, and
    what the tenant's default attribution model credits to each channel and platform
    touchpoints came from, with ROAS, CPA, RPMo, CTR, CPC, CPM and the platforms' own ROAS and
    CPA (macros/metrics.sql).

    - Spend rows: an ad platform's spend counts for the paid channel seed `channel_mapping`
      gives that platform's touchpoints (google_ads → paid_search, meta_ads and linkedin_ads →
      paid_social; macro paid_channel_of_platforms).
    - Credit rows: every credited touchpoint under the default model, by its channel and its
      platform (the seed's, or for a touch the seed gave none, the platform of the campaign its
      utm_campaign named); "(none)" when neither is known (direct, e-mail, referral).
    - Attributed orders and revenue count on the order's day, spend on the ad's day.

    Summed over channels, spend, delivery and attributed orders and revenue equal
    mart_kpis_daily's (up to the rounding of each row). Money as in mart_kpis_daily: summed per
    original currency, converted once, rounded half-even at this grain. Incremental by tenant;
    stored ordered by (tenant_id, date_day).
-#}
with tenants as (

    select tenant_id, reporting_currency from {{ ref('stg_registry__tenants') }}

),

paid_channels as (

    {{ paid_channel_of_platforms() }}

),

ad_currency_days as (

    select
        tenant_id,
        date_day,
        platform,
        currency_code,
        any_value(fx_rate_to_reporting_currency) as fx_rate,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as platform_conversions,
        sum(conversions_value) as platform_conversion_value
    from {{ ref('fct_ad_performance_daily') }}
    where {{ tenant_filter_for(ref('fct_ad_performance_daily')) }}
    group by tenant_id, date_day, platform, currency_code

),

ad_days as (

    select
        ad_currency_days.tenant_id,
        ad_currency_days.date_day,
        coalesce(paid_channels.channel, 'other') as channel,
        ad_currency_days.platform,
        sum({{ apply_fx_rate('ad_currency_days.spend', 'ad_currency_days.fx_rate') }}) as spend,
        sum(ad_currency_days.impressions) as impressions,
        sum(ad_currency_days.clicks) as clicks,
        sum(ad_currency_days.platform_conversions) as platform_conversions,
        sum({{ apply_fx_rate('ad_currency_days.platform_conversion_value', 'ad_currency_days.fx_rate') }})
            as platform_conversion_value
    from ad_currency_days
    left join paid_channels on paid_channels.platform = ad_currency_days.platform
    group by all

),

credit_days as (

    select
        tenant_id,
        order_date as date_day,
        channel,
        coalesce(platform, campaign_platform, '(none)') as platform,
        sum(credit) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue
    from {{ ref('fct_attribution_credits') }}
    where {{ tenant_filter_for(ref('fct_attribution_credits')) }}
        and is_default_model
        and is_attributed
    group by all

),

summed as (

    select
        coalesce(ad_days.tenant_id, credit_days.tenant_id) as tenant_id,
        coalesce(ad_days.date_day, credit_days.date_day) as date_day,
        coalesce(ad_days.channel, credit_days.channel) as channel,
        coalesce(ad_days.platform, credit_days.platform) as platform,
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
        and credit_days.channel = ad_days.channel
        and credit_days.platform = ad_days.platform

),

rounded as (

    select
        summed.tenant_id,
        summed.date_day,
        summed.channel,
        summed.platform,
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
order by tenant_id, date_day, channel, platform
