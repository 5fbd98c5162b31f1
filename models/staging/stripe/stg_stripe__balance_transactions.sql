with balance_transactions as (

    {{ union_tenant_sources('stripe', 'balance_transactions', {
        'id': 'varchar',
        'created': 'timestamptz',
        'available_on': 'timestamptz',
        'type': 'varchar',
        'reporting_category': 'varchar',
        'status': 'varchar',
        'source': 'varchar',
        'description': 'varchar',
        'currency': 'varchar',
        'amount': 'bigint',
        'fee': 'bigint',
        'net': 'bigint',
        'exchange_rate': 'decimal(18, 9)',
    }) }}

),

tenants as (

    select tenant_id, timezone from {{ ref('stg_registry__tenants') }}

)

select
    balance_transactions.tenant_id,
    balance_transactions.id as balance_transaction_id,
    balance_transactions.source as source_id,
    balance_transactions.type,
    balance_transactions.reporting_category,
    balance_transactions.status,
    balance_transactions.description,
    balance_transactions.created as created_at,
    {{ local_date('balance_transactions.created', 'tenants.timezone') }} as transaction_date,
    balance_transactions.available_on as available_at,
    upper(balance_transactions.currency) as currency_code,
    {{ minor_units_to_money('balance_transactions.amount', 'balance_transactions.currency') }} as amount,
    {{ minor_units_to_money('balance_transactions.fee', 'balance_transactions.currency') }} as fee,
    {{ minor_units_to_money('balance_transactions.net', 'balance_transactions.currency') }} as net,
    balance_transactions.exchange_rate
from balance_transactions
left join tenants on tenants.tenant_id = balance_transactions.tenant_id
