{#-
    The tenant's day at a glance, one row per tenant × day: ad spend and delivery over every
    ad platform, store orders and revenue over every store and payment source, revenue the
    tenant's default attribution model credits to touchpoints, and the metrics of DESIGN.md
    (macros/metrics.sql) as ratios of those sums.

    Money is in the reporting currency: amounts are summed per day and original currency,
    converted once at that day's rate, summed over currencies and rounded half-even at this
    grain (round_money) — never rounded per row first. Ratios are computed from the rounded
    columns. A day is a tenant's day if it has ad delivery (account-local day) or orders
    (shop-local day). Incremental by tenant; stored ordered by (tenant_id, date_day).
-#}
with tenants as (

    select tenant_id, reporting_currency, attribution_model
    from {{ ref('stg_registry__tenants') }}

),

ad_currency_days as (

    select
        tenant_id,
        date_day,
        currency_code,
        any_value(fx_rate_to_reporting_currency) as fx_rate,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as platform_conversions,
        sum(conversions_value) as platform_conversion_value
    from {{ ref('fct_ad_performance_daily') }}
    where {{ tenant_filter_for(ref('fct_ad_performance_daily')) }}
    group by tenant_id, date_day, currency_code

),

ad_days as (

    select
        tenant_id,
        date_day,
        sum({{ apply_fx_rate('spend', 'fx_rate') }}) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(platform_conversions) as platform_conversions,
        sum({{ apply_fx_rate('platform_conversion_value', 'fx_rate') }}) as platform_conversion_value
    from ad_currency_days
    group by tenant_id, date_day

),

order_currency_days as (

    select
        tenant_id,
        order_date as date_day,
        currency_code,
        any_value(fx_rate_to_reporting_currency) as fx_rate,
        count(*) as orders,
        sum(gross_revenue) as gross_revenue,
        sum(discounts) as discounts,
        sum(refunds) as refunds,
        sum(net_revenue) as revenue,
        sum(fees) as fees,
        count(*) filter (where is_attributed) as attributed_orders,
        {#- Already in the reporting currency: each order's rounded revenue, split by credits. #}
        sum(attributed_revenue) as attributed_revenue
    from {{ ref('fct_orders') }}
    where {{ tenant_filter_for(ref('fct_orders')) }}
    group by tenant_id, order_date, currency_code

),

order_days as (

    select
        tenant_id,
        date_day,
        sum(orders) as orders,
        sum({{ apply_fx_rate('gross_revenue', 'fx_rate') }}) as gross_revenue,
        sum({{ apply_fx_rate('discounts', 'fx_rate') }}) as discounts,
        sum({{ apply_fx_rate('refunds', 'fx_rate') }}) as refunds,
        sum({{ apply_fx_rate('revenue', 'fx_rate') }}) as revenue,
        sum({{ apply_fx_rate('fees', 'fx_rate') }}) as fees,
        sum(attributed_orders) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue
    from order_currency_days
    group by tenant_id, date_day

),

tenant_days as (

    select tenant_id, date_day from ad_days
    union
    select tenant_id, date_day from order_days

),

summed as (

    select
        tenant_days.tenant_id,
        tenant_days.date_day,
        tenants.reporting_currency,
        tenants.attribution_model,
        coalesce(ad_days.spend, 0) as spend,
        coalesce(ad_days.impressions, 0) as impressions,
        coalesce(ad_days.clicks, 0) as clicks,
        coalesce(ad_days.platform_conversions, 0) as platform_conversions,
        coalesce(ad_days.platform_conversion_value, 0) as platform_conversion_value,
        coalesce(order_days.orders, 0) as orders,
        coalesce(order_days.gross_revenue, 0) as gross_revenue,
        coalesce(order_days.discounts, 0) as discounts,
        coalesce(order_days.refunds, 0) as refunds,
        coalesce(order_days.revenue, 0) as revenue,
        coalesce(order_days.fees, 0) as fees,
        coalesce(order_days.attributed_orders, 0) as attributed_orders,
        coalesce(order_days.attributed_revenue, 0) as attributed_revenue
    from tenant_days
    inner join tenants on tenants.tenant_id = tenant_days.tenant_id
    left join ad_days
        on ad_days.tenant_id = tenant_days.tenant_id
        and ad_days.date_day = tenant_days.date_day
    left join order_days
        on order_days.tenant_id = tenant_days.tenant_id
        and order_days.date_day = tenant_days.date_day

),

rounded as (

    select
        tenant_id,
        date_day,
        reporting_currency,
        attribution_model,
        {{ round_money('spend', 'reporting_currency') }} as spend,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(platform_conversions as {{ money_type() }}) as platform_conversions,
        {{ round_money('platform_conversion_value', 'reporting_currency') }}
            as platform_conversion_value,
        cast(orders as bigint) as orders,
        {{ round_money('gross_revenue', 'reporting_currency') }} as gross_revenue,
        {{ round_money('discounts', 'reporting_currency') }} as discounts,
        {{ round_money('refunds', 'reporting_currency') }} as refunds,
        {{ round_money('revenue', 'reporting_currency') }} as revenue,
        {{ round_money('fees', 'reporting_currency') }} as fees,
        cast(attributed_orders as {{ attributed_orders_type() }}) as attributed_orders,
        {{ round_money('attributed_revenue', 'reporting_currency') }} as attributed_revenue
    from summed

)

select
    *,
    {{ roas('attributed_revenue', 'spend') }} as roas,
    {{ mer('revenue', 'spend') }} as mer,
    {{ cpa('spend', 'attributed_orders') }} as cpa,
    {{ rpmo('attributed_revenue', 'impressions') }} as rpmo,
    {{ ctr('clicks', 'impressions') }} as ctr,
    {{ cpc('spend', 'clicks') }} as cpc,
    {{ cpm('spend', 'impressions') }} as cpm,
    {{ aov('revenue', 'orders') }} as aov,
    {{ platform_roas('platform_conversion_value', 'spend') }} as platform_roas,
    {{ platform_cpa('spend', 'platform_conversions') }} as platform_cpa
from rounded
order by tenant_id, date_day
