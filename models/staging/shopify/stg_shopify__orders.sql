with orders as (

    {{ union_tenant_sources('shopify', 'orders', {
        'id': 'varchar',
        'legacy_resource_id': 'bigint',
        'name': 'varchar',
        'customer__id': 'varchar',
        'created_at': 'timestamptz',
        'updated_at': 'timestamptz',
        'processed_at': 'timestamptz',
        'cancelled_at': 'timestamptz',
        'confirmed': 'boolean',
        'test': 'boolean',
        'display_financial_status': 'varchar',
        'currency_code': 'varchar',
        'presentment_currency_code': 'varchar',
        'subtotal_line_items_quantity': 'bigint',
        'subtotal_price_set__shop_money__amount': money_type(),
        'current_subtotal_price_set__shop_money__amount': money_type(),
        'total_discounts_set__shop_money__amount': money_type(),
        'current_total_discounts_set__shop_money__amount': money_type(),
        'total_shipping_price_set__shop_money__amount': money_type(),
        'total_tax_set__shop_money__amount': money_type(),
        'current_total_tax_set__shop_money__amount': money_type(),
        'total_price_set__shop_money__amount': money_type(),
        'current_total_price_set__shop_money__amount': money_type(),
        'total_refunded_set__shop_money__amount': money_type(),
        'customer_journey_summary__customer_order_index': 'integer',
        'customer_journey_summary__days_to_conversion': 'integer',
        'customer_journey_summary__ready': 'boolean',
        'customer_journey_summary__moments_count__count': 'integer',
        'customer_journey_summary__moments_count__precision': 'varchar',
    }) }}

),

shops as (

    select tenant_id, timezone from {{ ref('stg_shopify__shop') }}

)

select
    orders.tenant_id,
    orders.id as order_id,
    orders.legacy_resource_id as order_number,
    orders.name as order_name,
    orders.customer__id as customer_id,
    orders.created_at,
    {{ local_date('orders.created_at', 'shops.timezone') }} as order_date,
    orders.updated_at,
    orders.processed_at,
    orders.cancelled_at,
    orders.confirmed as is_confirmed,
    orders.test as is_test,
    orders.display_financial_status as financial_status,
    upper(orders.currency_code) as currency_code,
    upper(orders.presentment_currency_code) as presentment_currency_code,
    orders.subtotal_line_items_quantity as line_items_quantity,
    orders.subtotal_price_set__shop_money__amount as subtotal_price,
    orders.current_subtotal_price_set__shop_money__amount as current_subtotal_price,
    orders.total_discounts_set__shop_money__amount as total_discounts,
    orders.current_total_discounts_set__shop_money__amount as current_total_discounts,
    orders.total_shipping_price_set__shop_money__amount as total_shipping_price,
    orders.total_tax_set__shop_money__amount as total_tax,
    orders.current_total_tax_set__shop_money__amount as current_total_tax,
    orders.total_price_set__shop_money__amount as total_price,
    orders.current_total_price_set__shop_money__amount as current_total_price,
    orders.total_refunded_set__shop_money__amount as total_refunded,
    orders.customer_journey_summary__customer_order_index as customer_order_index,
    orders.customer_journey_summary__days_to_conversion as days_to_conversion,
    orders.customer_journey_summary__ready as is_customer_journey_ready,
    orders.customer_journey_summary__moments_count__count as customer_journey_visits_count,
    orders.customer_journey_summary__moments_count__precision as customer_journey_visits_count_precision
from orders
left join shops on shops.tenant_id = orders.tenant_id
