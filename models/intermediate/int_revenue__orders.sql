{#-
    The one revenue model: one row per store order (Shopify) or succeeded payment (Stripe),
    with gross revenue, discounts, refunds made so far, net revenue (gross − discounts −
    refunds) and payment fees, in the order's currency and in the tenant's reporting currency
    (converted on the order's local day, not rounded). Shipping and tax are not revenue;
    Shopify orders have no fees here (Shopify Payments fees are not loaded), Stripe payments
    no discounts (a Stripe charge is what the customer paid after discounts).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

with shopify_orders as (

    select
        tenant_id,
        'shopify' as source,
        order_id,
        created_at as ordered_at,
        order_date,
        customer_id,
        is_first_order,
        currency_code,
        gross_revenue,
        discounts,
        refunds,
        net_revenue,
        {{ to_money(0) }} as fees,
        reporting_currency,
        fx_rate_to_reporting_currency,
        gross_revenue_reporting,
        discounts_reporting,
        refunds_reporting,
        net_revenue_reporting,
        {{ to_money(0) }} as fees_reporting
    from {{ ref('int_shopify__orders') }}
    where {{ tenant_filter_for(ref('int_shopify__orders')) }}

),

stripe_payments as (

    select
        tenant_id,
        'stripe' as source,
        charge_id as order_id,
        created_at as ordered_at,
        charge_date as order_date,
        customer_id,
        case billing_reason
            when 'subscription_create' then true
            when 'subscription_cycle' then false
        end as is_first_order,
        currency_code,
        gross_revenue,
        {{ to_money(0) }} as discounts,
        refunds,
        net_revenue,
        fees,
        reporting_currency,
        fx_rate_to_reporting_currency,
        gross_revenue_reporting,
        {{ to_money(0) }} as discounts_reporting,
        refunds_reporting,
        net_revenue_reporting,
        fees_reporting
    from {{ ref('int_revenue__stripe_payments') }}
    where {{ tenant_filter_for(ref('int_revenue__stripe_payments')) }}

)

select * from shopify_orders
union all
select * from stripe_payments
