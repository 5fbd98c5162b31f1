with refunds as (

    {{ union_tenant_sources('stripe', 'refunds', {
        'id': 'varchar',
        'created': 'timestamptz',
        'status': 'varchar',
        'reason': 'varchar',
        'charge': 'varchar',
        'payment_intent': 'varchar',
        'balance_transaction': 'varchar',
        'currency': 'varchar',
        'amount': 'bigint',
    }) }}

),

tenants as (

    select tenant_id, timezone from {{ ref('stg_registry__tenants') }}

)

select
    refunds.tenant_id,
    refunds.id as refund_id,
    refunds.charge as charge_id,
    refunds.payment_intent as payment_intent_id,
    refunds.balance_transaction as balance_transaction_id,
    refunds.created as created_at,
    {{ local_date('refunds.created', 'tenants.timezone') }} as refund_date,
    refunds.status,
    refunds.reason,
    upper(refunds.currency) as currency_code,
    {{ minor_units_to_money('refunds.amount', 'refunds.currency') }} as amount
from refunds
left join tenants on tenants.tenant_id = refunds.tenant_id
