with invoices as (

    {{ union_tenant_sources('stripe', 'invoices', {
        'id': 'varchar',
        'number': 'varchar',
        'created': 'timestamptz',
        'status': 'varchar',
        'billing_reason': 'varchar',
        'collection_method': 'varchar',
        'customer': 'varchar',
        'subscription': 'varchar',
        'charge': 'varchar',
        'payment_intent': 'varchar',
        'paid': 'boolean',
        'livemode': 'boolean',
        'attempt_count': 'integer',
        'period_start': 'timestamptz',
        'period_end': 'timestamptz',
        'due_date': 'timestamptz',
        'status_transitions__finalized_at': 'timestamptz',
        'status_transitions__paid_at': 'timestamptz',
        'currency': 'varchar',
        'subtotal': 'bigint',
        'total': 'bigint',
        'amount_due': 'bigint',
        'amount_paid': 'bigint',
        'amount_remaining': 'bigint',
    }) }}

),

tenants as (

    select tenant_id, timezone from {{ ref('stg_registry__tenants') }}

)

select
    invoices.tenant_id,
    invoices.id as invoice_id,
    invoices.number as invoice_number,
    invoices.customer as customer_id,
    invoices.subscription as subscription_id,
    invoices.charge as charge_id,
    invoices.payment_intent as payment_intent_id,
    invoices.created as created_at,
    {{ local_date('invoices.created', 'tenants.timezone') }} as invoice_date,
    invoices.status,
    invoices.billing_reason,
    invoices.collection_method,
    invoices.paid as is_paid,
    invoices.livemode as is_livemode,
    invoices.attempt_count,
    invoices.period_start as period_start_at,
    invoices.period_end as period_end_at,
    invoices.due_date as due_at,
    invoices.status_transitions__finalized_at as finalized_at,
    invoices.status_transitions__paid_at as paid_at,
    upper(invoices.currency) as currency_code,
    {{ minor_units_to_money('invoices.subtotal', 'invoices.currency') }} as subtotal,
    {{ minor_units_to_money('invoices.total', 'invoices.currency') }} as total,
    {{ minor_units_to_money('invoices.amount_due', 'invoices.currency') }} as amount_due,
    {{ minor_units_to_money('invoices.amount_paid', 'invoices.currency') }} as amount_paid,
    {{ minor_units_to_money('invoices.amount_remaining', 'invoices.currency') }} as amount_remaining
from invoices
left join tenants on tenants.tenant_id = invoices.tenant_id
