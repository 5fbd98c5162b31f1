with properties as (

    {{ union_tenant_sources('ga4', 'property', {
        'property_id': 'bigint',
        'currency_code': 'varchar',
        'time_zone': 'varchar',
    }) }}

)

select
    tenant_id,
    property_id,
    upper(currency_code) as currency_code,
    time_zone as timezone
from properties
