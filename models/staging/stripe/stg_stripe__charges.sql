with charges as (

    {{ union_tenant_sources('stripe', 'charges', {
        'id': 'varchar',
        'created': 'timestamptz',
        'status': 'varchar',
        'paid': 'boolean',
        'captured': 'boolean',
        'refunded': 'boolean',
        'disputed': 'boolean',
        'livemode': 'boolean',
        'currency': 'varchar',
        'amount': 'bigint',
        'amount_captured': 'bigint',
        'amount_refunded': 'bigint',
        'customer': 'varchar',
        'invoice': 'varchar',
        'payment_intent': 'varchar',
        'payment_method': 'varchar',
        'balance_transaction': 'varchar',
        'failure_code': 'varchar',
        'description': 'varchar',
        'payment_method_details__type': 'varchar',
        'payment_method_details__card__brand': 'varchar',
        'payment_method_details__card__country': 'varchar',
    }) }}

),

tenants as (

    select tenant_id, timezone from {{ ref('stg_registry__tenants') }}

)

select
    charges.tenant_id,
    charges.id as charge_id,
    charges.created as created_at,
    {{ local_date('charges.created', 'tenants.timezone') }} as charge_date,
    charges.status,
    charges.paid as is_paid,
    charges.captured as is_captured,
    charges.refunded as is_refunded_when_read,
    charges.disputed as is_disputed,
    charges.livemode as is_livemode,
    upper(charges.currency) as currency_code,
    {{ minor_units_to_money('charges.amount', 'charges.currency') }} as amount,
    {{ minor_units_to_money('charges.amount_captured', 'charges.currency') }} as amount_captured,
    {{ minor_units_to_money('charges.amount_refunded', 'charges.currency') }} as amount_refunded_when_read,
    charges.customer as customer_id,
    charges.invoice as invoice_id,
    charges.payment_intent as payment_intent_id,
    charges.payment_method as payment_method_id,
    charges.balance_transaction as balance_transaction_id,
    charges.failure_code,
    charges.description,
    charges.payment_method_details__type as payment_method_type,
    charges.payment_method_details__card__brand as card_brand,
    upper(charges.payment_method_details__card__country) as card_country
from charges
left join tenants on tenants.tenant_id = charges.tenant_id
