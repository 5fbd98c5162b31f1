with refunds as (

    {{ union_tenant_sources('shopify', 'orders__refunds', {
        'id': 'varchar',
        'legacy_resource_id': 'bigint',
        '_dlt_parent_id': 'varchar',
        'created_at': 'timestamptz',
        'updated_at': 'timestamptz',
        'note': 'varchar',
        'total_refunded_set__shop_money__amount': money_type(),
        'total_refunded_set__shop_money__currency_code': 'varchar',
    }) }}

),

orders as (

    {{ union_tenant_sources('shopify', 'orders', {'id': 'varchar', '_dlt_id': 'varchar'}) }}

),

shops as (

    select tenant_id, timezone from {{ ref('stg_shopify__shop') }}

)

select
    refunds.tenant_id,
    refunds.id as refund_id,
    refunds.legacy_resource_id as refund_number,
    orders.id as order_id,
    refunds.created_at,
    {{ local_date('refunds.created_at', 'shops.timezone') }} as refund_date,
    refunds.updated_at,
    refunds.note,
    upper(refunds.total_refunded_set__shop_money__currency_code) as currency_code,
    refunds.total_refunded_set__shop_money__amount as total_refunded
from refunds
inner join orders
    on orders.tenant_id = refunds.tenant_id
    and orders._dlt_id = refunds._dlt_parent_id
left join shops on shops.tenant_id = refunds.tenant_id
