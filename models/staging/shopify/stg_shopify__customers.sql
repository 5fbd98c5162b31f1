with customers as (

    {{ union_tenant_sources('shopify', 'customers', {
        'id': 'varchar',
        'legacy_resource_id': 'bigint',
        'created_at': 'timestamptz',
        'updated_at': 'timestamptz',
        'state': 'varchar',
        'verified_email': 'boolean',
    }) }}

),

shops as (

    select tenant_id, timezone from {{ ref('stg_shopify__shop') }}

)

select
    customers.tenant_id,
    customers.id as customer_id,
    customers.legacy_resource_id as customer_number,
    customers.created_at,
    {{ local_date('customers.created_at', 'shops.timezone') }} as created_date,
    customers.updated_at,
    customers.state as account_state,
    customers.verified_email as has_verified_email
from customers
left join shops on shops.tenant_id = customers.tenant_id
