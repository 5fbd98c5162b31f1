with line_items as (

    {{ union_tenant_sources('shopify', 'orders__line_items', {
        'id': 'varchar',
        '_dlt_parent_id': 'varchar',
        '_dlt_list_idx': 'integer',
        'name': 'varchar',
        'sku': 'varchar',
        'quantity': 'integer',
        'current_quantity': 'integer',
        'original_unit_price_set__shop_money__amount': money_type(),
        'original_total_set__shop_money__amount': money_type(),
        'total_discount_set__shop_money__amount': money_type(),
        'discounted_total_set__shop_money__amount': money_type(),
        'original_unit_price_set__shop_money__currency_code': 'varchar',
    }) }}

),

orders as (

    {{ union_tenant_sources('shopify', 'orders', {'id': 'varchar', '_dlt_id': 'varchar'}) }}

)

select
    line_items.tenant_id,
    line_items.id as line_item_id,
    orders.id as order_id,
    line_items._dlt_list_idx as line_position,
    line_items.name as product_name,
    line_items.sku,
    line_items.quantity,
    line_items.current_quantity,
    upper(line_items.original_unit_price_set__shop_money__currency_code) as currency_code,
    line_items.original_unit_price_set__shop_money__amount as original_unit_price,
    line_items.original_total_set__shop_money__amount as original_total_price,
    line_items.total_discount_set__shop_money__amount as total_discount,
    line_items.discounted_total_set__shop_money__amount as discounted_total_price
from line_items
inner join orders
    on orders.tenant_id = line_items.tenant_id
    and orders._dlt_id = line_items._dlt_parent_id
