with accounts as (

    {{ union_tenant_sources('linkedin_ads', 'account', {
        'id': 'bigint',
        'name': 'varchar',
        'currency': 'varchar',
        'status': 'varchar',
        'type': 'varchar',
        'test': 'boolean',
        'reference': 'varchar',
    }) }}

)

select
    tenant_id,
    id as account_id,
    name as account_name,
    upper(currency) as currency_code,
    status,
    type as account_type,
    test as is_test,
    reference as reference_urn
from accounts
