{#-
    One row per Shopify order with its revenue, in the shop's currency and in the tenant's
    reporting currency at the ECB rate in force on the order's local day. Definitions (the
    sandbox's truth and DESIGN.md): gross revenue = line items at their original price before
    discounts; net revenue = gross − discounts − refunds made so far; shipping and tax are not
    revenue. Reporting-currency amounts are not rounded: round at the grain you report.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

with orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

line_items as (

    select
        tenant_id,
        order_id,
        sum(quantity * original_unit_price) as gross_revenue
    from {{ ref('stg_shopify__line_items') }}
    group by tenant_id, order_id

),

refunds as (

    select
        tenant_id,
        order_id,
        count(*) as refunds_count,
        sum(total_refunded) as refunded
    from {{ ref('stg_shopify__refunds') }}
    group by tenant_id, order_id

),

tenants as (

    select tenant_id, reporting_currency from {{ ref('stg_registry__tenants') }}

),

order_revenue as (

    select
        orders.tenant_id,
        orders.order_id,
        orders.order_number,
        orders.customer_id,
        orders.created_at,
        orders.order_date,
        orders.financial_status,
        orders.is_test,
        orders.cancelled_at is not null as is_cancelled,
        orders.customer_order_index,
        orders.currency_code,
        tenants.reporting_currency,
        coalesce(line_items.gross_revenue, 0) as gross_revenue,
        coalesce(orders.total_discounts, 0) as discounts,
        coalesce(refunds.refunded, 0) as refunds,
        coalesce(refunds.refunds_count, 0) as refunds_count,
        coalesce(orders.total_shipping_price, 0) as shipping,
        coalesce(orders.total_tax, 0) as tax,
        {{ fx_cross_rate('orders.currency_code', 'tenants.reporting_currency', 'orders.order_date') }}
            as fx_rate_to_reporting_currency
    from orders
    inner join tenants on tenants.tenant_id = orders.tenant_id
    left join line_items
        on line_items.tenant_id = orders.tenant_id
        and line_items.order_id = orders.order_id
    left join refunds
        on refunds.tenant_id = orders.tenant_id
        and refunds.order_id = orders.order_id

)

select
    tenant_id,
    order_id,
    order_number,
    customer_id,
    created_at,
    order_date,
    financial_status,
    is_test,
    is_cancelled,
    customer_order_index,
    customer_order_index = 1 as is_first_order,
    refunds_count,
    currency_code,
    {{ to_money('gross_revenue') }} as gross_revenue,
    {{ to_money('discounts') }} as discounts,
    {{ to_money('refunds') }} as refunds,
    {{ to_money('gross_revenue - discounts - refunds') }} as net_revenue,
    {{ to_money('shipping') }} as shipping,
    {{ to_money('tax') }} as tax,
    reporting_currency,
    fx_rate_to_reporting_currency,
    {{ apply_fx_rate('gross_revenue', 'fx_rate_to_reporting_currency') }} as gross_revenue_reporting,
    {{ apply_fx_rate('discounts', 'fx_rate_to_reporting_currency') }} as discounts_reporting,
    {{ apply_fx_rate('refunds', 'fx_rate_to_reporting_currency') }} as refunds_reporting,
    {{ apply_fx_rate('gross_revenue - discounts - refunds', 'fx_rate_to_reporting_currency') }}
        as net_revenue_reporting
from order_revenue
