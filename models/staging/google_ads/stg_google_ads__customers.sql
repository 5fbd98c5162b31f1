with customers as (

    {{ union_tenant_sources('google_ads', 'customer', {
        'customer_id': 'bigint',
        'descriptive_name': 'varchar',
        'currency_code': 'varchar',
        'time_zone': 'varchar',
    }) }}

)

select
    tenant_id,
    customer_id,
    descriptive_name as customer_name,
    upper(currency_code) as currency_code,
    time_zone as timezone
from customers
