{#-
    Platform-reported versus store-attributed, one row per tenant × day × ad platform: the
    conversions and conversion value each ad platform reports, next to the orders and revenue
    the tenant's default attribution model credits to touchpoints of that platform, the gap
    between them (platforms also count view-through and modelled conversions, so they usually
    claim more), and how much of the store's revenue attribution could credit to any
    touchpoint at all (attribution coverage).

    - Platforms of a tenant: its enabled ad sources (stg_registry__tenant_sources), any ad
      platform with delivery, and the platform of any credited paid touchpoint (a TikTok
      click is store-attributed even without a TikTok source). Each has a row on every day the
      tenant has delivery or orders, so a day the platform reported nothing still shows what
      the store credited to it.
    - A touchpoint's platform is the seed's (channel_mapping), or the platform of the campaign
      its utm_campaign named when the seed gave none, as in mart_channel_daily.
    - Coverage columns are the tenant-day's (the same on each platform row): store_orders and
      store_revenue (orders' revenue rounded per order, what attribution splits),
      attributed_store_orders and attributed_store_revenue (those with an eligible touchpoint,
      which does not depend on the model), attribution_coverage = attributed_store_revenue /
      store_revenue.

    Money as in mart_kpis_daily: summed per original currency, converted once, rounded
    half-even at this grain. Incremental by tenant; stored ordered by (tenant_id, date_day).
-#}
{%- set ad_platforms = ['google_ads', 'meta_ads', 'linkedin_ads'] %}

with tenants as (

    select tenant_id, reporting_currency, attribution_model
    from {{ ref('stg_registry__tenants') }}

),

ad_currency_days as (

    select
        tenant_id,
        date_day,
        platform,
        currency_code,
        any_value(fx_rate_to_reporting_currency) as fx_rate,
        sum(conversions) as platform_conversions,
        sum(conversions_value) as platform_conversion_value
    from {{ ref('fct_ad_performance_daily') }}
    where {{ tenant_filter_for(ref('fct_ad_performance_daily')) }}
    group by tenant_id, date_day, platform, currency_code

),

ad_days as (

    select
        tenant_id,
        date_day,
        platform,
        sum(platform_conversions) as platform_conversions,
        sum({{ apply_fx_rate('platform_conversion_value', 'fx_rate') }}) as platform_conversion_value
    from ad_currency_days
    group by tenant_id, date_day, platform

),

credits as (

    select
        tenant_id,
        order_date as date_day,
        coalesce(platform, campaign_platform) as platform,
        is_paid,
        credit,
        attributed_revenue
    from {{ ref('fct_attribution_credits') }}
    where {{ tenant_filter_for(ref('fct_attribution_credits')) }}
        and is_default_model
        and is_attributed

),

credit_days as (

    select
        tenant_id,
        date_day,
        platform,
        sum(credit) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue
    from credits
    where platform is not null
    group by tenant_id, date_day, platform

),

store_days as (

    select
        tenant_id,
        order_date as date_day,
        count(*) as store_orders,
        sum(attributable_revenue) as store_revenue,
        count(*) filter (where is_attributed) as attributed_store_orders,
        sum(attributable_revenue) filter (where is_attributed) as attributed_store_revenue
    from {{ ref('fct_orders') }}
    where {{ tenant_filter_for(ref('fct_orders')) }}
    group by tenant_id, order_date

),

tenant_platforms as (

    select tenant_id, source_name as platform
    from {{ ref('stg_registry__tenant_sources') }}
    where source_name in ('{{ ad_platforms | join("', '") }}')
    union
    select distinct tenant_id, platform from ad_days
    union
    select distinct tenant_id, platform from credits where is_paid and platform is not null

),

tenant_days as (

    select distinct tenant_id, date_day from ad_days
    union
    select tenant_id, date_day from store_days

),

summed as (

    select
        tenant_days.tenant_id,
        tenant_days.date_day,
        tenant_platforms.platform,
        tenants.reporting_currency,
        tenants.attribution_model,
        coalesce(ad_days.platform_conversions, 0) as platform_conversions,
        coalesce(ad_days.platform_conversion_value, 0) as platform_conversion_value,
        coalesce(credit_days.attributed_orders, 0) as attributed_orders,
        coalesce(credit_days.attributed_revenue, 0) as attributed_revenue,
        coalesce(store_days.store_orders, 0) as store_orders,
        coalesce(store_days.store_revenue, 0) as store_revenue,
        coalesce(store_days.attributed_store_orders, 0) as attributed_store_orders,
        coalesce(store_days.attributed_store_revenue, 0) as attributed_store_revenue
    from tenant_days
    inner join tenant_platforms on tenant_platforms.tenant_id = tenant_days.tenant_id
    inner join tenants on tenants.tenant_id = tenant_days.tenant_id
    left join ad_days
        on ad_days.tenant_id = tenant_days.tenant_id
        and ad_days.date_day = tenant_days.date_day
        and ad_days.platform = tenant_platforms.platform
    left join credit_days
        on credit_days.tenant_id = tenant_days.tenant_id
        and credit_days.date_day = tenant_days.date_day
        and credit_days.platform = tenant_platforms.platform
    left join store_days
        on store_days.tenant_id = tenant_days.tenant_id
        and store_days.date_day = tenant_days.date_day

),

rounded as (

    select
        tenant_id,
        date_day,
        platform,
        reporting_currency,
        attribution_model,
        cast(platform_conversions as {{ money_type() }}) as platform_conversions,
        {{ round_money('platform_conversion_value', 'reporting_currency') }}
            as platform_conversion_value,
        cast(attributed_orders as {{ attributed_orders_type() }}) as attributed_orders,
        {{ round_money('attributed_revenue', 'reporting_currency') }} as attributed_revenue,
        cast(store_orders as bigint) as store_orders,
        {{ round_money('store_revenue', 'reporting_currency') }} as store_revenue,
        cast(attributed_store_orders as bigint) as attributed_store_orders,
        {{ round_money('attributed_store_revenue', 'reporting_currency') }}
            as attributed_store_revenue
    from summed

)

select
    tenant_id,
    date_day,
    platform,
    reporting_currency,
    attribution_model,
    platform_conversions,
    platform_conversion_value,
    attributed_orders,
    attributed_revenue,
    cast(platform_conversions - attributed_orders as {{ attributed_orders_type() }})
        as conversions_gap,
    cast(platform_conversion_value - attributed_revenue as {{ money_type() }})
        as conversion_value_gap,
    {{ safe_ratio('platform_conversions', 'attributed_orders') }} as conversions_ratio,
    {{ safe_ratio('platform_conversion_value', 'attributed_revenue') }} as conversion_value_ratio,
    store_orders,
    store_revenue,
    attributed_store_orders,
    attributed_store_revenue,
    {{ safe_ratio('attributed_store_revenue', 'store_revenue') }} as attribution_coverage
from rounded
order by tenant_id, date_day, platform
