with refund_line_items as (

    {{ union_tenant_sources('shopify', 'orders__refunds__refund_line_items', {
        '_dlt_parent_id': 'varchar',
        '_dlt_list_idx': 'integer',
        'line_item__id': 'varchar',
        'quantity': 'integer',
        'price_set__shop_money__amount': money_type(),
        'subtotal_set__shop_money__amount': money_type(),
        'total_tax_set__shop_money__amount': money_type(),
        'subtotal_set__shop_money__currency_code': 'varchar',
    }) }}

),

refunds as (

    {{ union_tenant_sources('shopify', 'orders__refunds', {
        'id': 'varchar',
        '_dlt_id': 'varchar',
        '_dlt_root_id': 'varchar',
    }) }}

),

orders as (

    {{ union_tenant_sources('shopify', 'orders', {'id': 'varchar', '_dlt_id': 'varchar'}) }}

)

select
    refund_line_items.tenant_id,
    refunds.id as refund_id,
    refund_line_items._dlt_list_idx as refund_line_position,
    orders.id as order_id,
    refund_line_items.line_item__id as line_item_id,
    refund_line_items.quantity,
    upper(refund_line_items.subtotal_set__shop_money__currency_code) as currency_code,
    refund_line_items.price_set__shop_money__amount as unit_price,
    refund_line_items.subtotal_set__shop_money__amount as subtotal,
    refund_line_items.total_tax_set__shop_money__amount as total_tax
from refund_line_items
inner join refunds
    on refunds.tenant_id = refund_line_items.tenant_id
    and refunds._dlt_id = refund_line_items._dlt_parent_id
inner join orders
    on orders.tenant_id = refunds.tenant_id
    and orders._dlt_id = refunds._dlt_root_id
