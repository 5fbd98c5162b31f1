with shops as (

    {{ union_tenant_sources('shopify', 'shop', {
        'id': 'varchar',
        'name': 'varchar',
        'currency_code': 'varchar',
        'iana_timezone': 'varchar',
        'myshopify_domain': 'varchar',
    }) }}

)

select
    tenant_id,
    id as shop_id,
    name as shop_name,
    upper(currency_code) as currency_code,
    iana_timezone as timezone,
    myshopify_domain
from shops
