with accounts as (

    {{ union_tenant_sources('meta_ads', 'account', {
        'account_id': 'bigint',
        'name': 'varchar',
        'currency': 'varchar',
        'timezone_name': 'varchar',
        'timezone_offset_hours_utc': 'decimal(6, 2)',
        'account_status': 'integer',
        'disable_reason': 'integer',
        'created_time': 'timestamptz',
    }) }}

)

select
    tenant_id,
    account_id,
    name as account_name,
    upper(currency) as currency_code,
    timezone_name as timezone,
    timezone_offset_hours_utc,
    account_status,
    disable_reason,
    created_time as created_at
from accounts
