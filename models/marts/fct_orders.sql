{#-
    One row per order: a Shopify order or a succeeded Stripe payment, with its revenue in the
    order's currency and in the tenant's reporting currency, and how attribution sees it under
    the tenant's default model: whether any touchpoint is credited, the first and last touch
    within the lookback window. Reporting-currency amounts are exact conversions, not rounded
    (sum them at the grain you report, then round_money), except `attributable_revenue`, the
    net revenue rounded half-even per order that fct_attribution_credits splits. Incremental by
    tenant (the marts' `tenant_delete_insert`); stored ordered by tenant and day.
-#}
{#-
    attributable_revenue is net_revenue_reporting rounded as round_money does, with the currency's
    exponent joined once (round_money's per-row lookup, which DuckDB decorrelates once per WHEN of
    its CASE, was about a third of this model's time at 40 tenants × 365 days); it must equal the
    revenue int_attribution_credits splits.
-#}
with orders as (

    select
        orders.*,
        {{ round_money_to_exponent('orders.net_revenue_reporting', 'currencies.minor_unit_exponent') }}
            as attributable_revenue
    from {{ ref('int_revenue__orders') }} as orders
    left join {{ ref('currencies') }} as currencies
        on currencies.currency_code = upper(orders.reporting_currency)
    where {{ tenant_filter_for(ref('int_revenue__orders'), 'orders.tenant_id') }}

),

{#-
    Not materialized: the three readers below each scan the table with their own filter, which is
    cheaper than DuckDB's default of materializing every credit row once (all 6 models) for them.
#}
credits as not materialized (

    select * from {{ ref('int_attribution_credits') }}
    where {{ tenant_filter_for(ref('int_attribution_credits')) }}

),

tenants as (

    select tenant_id, attribution_model from {{ ref('stg_registry__tenants') }}

),

under_default_model as (

    select
        credits.tenant_id,
        credits.source,
        credits.order_id,
        any_value(credits.attribution_model) as attribution_model,
        bool_or(credits.is_attributed) as is_attributed,
        count(*) filter (where credits.is_attributed) as eligible_touchpoints,
        sum(credits.attributed_revenue) as attributed_revenue
    from credits
    inner join tenants
        on tenants.tenant_id = credits.tenant_id
        and tenants.attribution_model = credits.attribution_model
    group by credits.tenant_id, credits.source, credits.order_id

),

{#- Click models give the whole order (credit 1) to one touch, or nothing when unattributed. #}
first_touch as (

    select tenant_id, source, order_id, channel, platform, campaign_id
    from credits
    where attribution_model = 'first_click' and (credit = 1 or not is_attributed)

),

last_touch as (

    select tenant_id, source, order_id, channel, platform, campaign_id
    from credits
    where attribution_model = 'last_click' and (credit = 1 or not is_attributed)

)

select
    orders.tenant_id,
    orders.order_date,
    orders.source,
    orders.order_id,
    orders.ordered_at,
    orders.customer_id,
    orders.is_first_order,
    orders.currency_code,
    orders.gross_revenue,
    orders.discounts,
    orders.refunds,
    orders.net_revenue,
    orders.fees,
    orders.reporting_currency,
    orders.fx_rate_to_reporting_currency,
    orders.gross_revenue_reporting,
    orders.discounts_reporting,
    orders.refunds_reporting,
    orders.net_revenue_reporting,
    orders.fees_reporting,
    orders.attributable_revenue,
    under_default_model.attribution_model,
    coalesce(under_default_model.is_attributed, false) as is_attributed,
    coalesce(under_default_model.eligible_touchpoints, 0) as eligible_touchpoints,
    {{ to_money('coalesce(under_default_model.attributed_revenue, 0)') }} as attributed_revenue,
    first_touch.channel as first_touch_channel,
    first_touch.platform as first_touch_platform,
    first_touch.campaign_id as first_touch_campaign_id,
    last_touch.channel as last_touch_channel,
    last_touch.platform as last_touch_platform,
    last_touch.campaign_id as last_touch_campaign_id
from orders
left join under_default_model
    on under_default_model.tenant_id = orders.tenant_id
    and under_default_model.source = orders.source
    and under_default_model.order_id = orders.order_id
left join first_touch
    on first_touch.tenant_id = orders.tenant_id
    and first_touch.source = orders.source
    and first_touch.order_id = orders.order_id
left join last_touch
    on last_touch.tenant_id = orders.tenant_id
    and last_touch.source = orders.source
    and last_touch.order_id = orders.order_id
order by orders.tenant_id, orders.order_date, orders.ordered_at, orders.source, orders.order_id
