with discount_codes as (

    {{ union_tenant_sources('shopify', 'orders__discount_codes', {
        '_dlt_parent_id': 'varchar',
        '_dlt_list_idx': 'integer',
        'value': 'varchar',
    }) }}

),

orders as (

    {{ union_tenant_sources('shopify', 'orders', {'id': 'varchar', '_dlt_id': 'varchar'}) }}

)

select
    discount_codes.tenant_id,
    orders.id as order_id,
    discount_codes._dlt_list_idx as code_position,
    discount_codes.value as discount_code
from discount_codes
inner join orders
    on orders.tenant_id = discount_codes.tenant_id
    and orders._dlt_id = discount_codes._dlt_parent_id
