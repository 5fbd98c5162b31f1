with subscriptions as (

    {{ union_tenant_sources('stripe', 'subscriptions', {
        'id': 'varchar',
        'created': 'timestamptz',
        'status': 'varchar',
        'customer': 'varchar',
        'latest_invoice': 'varchar',
        'collection_method': 'varchar',
        'currency': 'varchar',
        'quantity': 'bigint',
        'livemode': 'boolean',
        'start_date': 'timestamptz',
        'billing_cycle_anchor': 'timestamptz',
        'current_period_start': 'timestamptz',
        'current_period_end': 'timestamptz',
        'cancel_at_period_end': 'boolean',
        'cancel_at': 'timestamptz',
        'canceled_at': 'timestamptz',
        'ended_at': 'timestamptz',
        'trial_start': 'timestamptz',
        'trial_end': 'timestamptz',
        'cancellation_details__reason': 'varchar',
    }) }}

),

tenants as (

    select tenant_id, timezone from {{ ref('stg_registry__tenants') }}

)

select
    subscriptions.tenant_id,
    subscriptions.id as subscription_id,
    subscriptions.customer as customer_id,
    subscriptions.latest_invoice as latest_invoice_id,
    subscriptions.status,
    subscriptions.collection_method,
    upper(subscriptions.currency) as currency_code,
    subscriptions.quantity,
    subscriptions.livemode as is_livemode,
    subscriptions.created as created_at,
    {{ local_date('subscriptions.created', 'tenants.timezone') }} as created_date,
    subscriptions.start_date as started_at,
    {{ local_date('subscriptions.start_date', 'tenants.timezone') }} as start_date,
    subscriptions.billing_cycle_anchor as billing_cycle_anchor_at,
    subscriptions.current_period_start as current_period_start_at,
    subscriptions.current_period_end as current_period_end_at,
    subscriptions.cancel_at_period_end as is_cancel_at_period_end,
    subscriptions.cancel_at,
    subscriptions.canceled_at,
    subscriptions.ended_at,
    {{ local_date('subscriptions.ended_at', 'tenants.timezone') }} as ended_date,
    subscriptions.trial_start as trial_start_at,
    subscriptions.trial_end as trial_end_at,
    subscriptions.cancellation_details__reason as cancellation_reason
from subscriptions
left join tenants on tenants.tenant_id = subscriptions.tenant_id
