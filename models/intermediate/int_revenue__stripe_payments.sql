{#-
    One row per succeeded Stripe charge (a payment), with its revenue in the charge's currency
    and in the tenant's reporting currency at the ECB rate in force on the charge's local day.
    Definitions (the sandbox's truth and DESIGN.md): gross revenue = the amount charged;
    refunds = what stg_stripe__refunds has given back so far (charges are not re-read after a
    late refund, so their own `refunded` is stale); net revenue = gross − refunds; fees = the
    fees of the charge's balance transaction. Failed charges are no revenue. Reporting-currency
    amounts are not rounded: round at the grain you report.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

with charges as (

    select * from {{ ref('stg_stripe__charges') }}
    where status = 'succeeded'

),

refunds as (

    {#- Pending refunds count, as in Stripe's own amount_refunded; failed and canceled do not. #}
    select
        tenant_id,
        charge_id,
        count(*) as refunds_count,
        sum(amount) as refunded,
        max(created_at) as last_refunded_at
    from {{ ref('stg_stripe__refunds') }}
    where status not in ('failed', 'canceled')
    group by tenant_id, charge_id

),

balance_transactions as (

    select
        tenant_id,
        balance_transaction_id,
        currency_code,
        fee,
        exchange_rate
    from {{ ref('stg_stripe__balance_transactions') }}

),

invoices as (

    select tenant_id, invoice_id, subscription_id, billing_reason
    from {{ ref('stg_stripe__invoices') }}

),

tenants as (

    select tenant_id, reporting_currency from {{ ref('stg_registry__tenants') }}

),

payments as (

    select
        charges.tenant_id,
        charges.charge_id,
        charges.created_at,
        charges.charge_date,
        charges.customer_id,
        charges.invoice_id,
        invoices.subscription_id,
        invoices.billing_reason,
        charges.payment_intent_id,
        charges.balance_transaction_id,
        charges.is_livemode,
        charges.currency_code,
        tenants.reporting_currency,
        charges.amount as gross_revenue,
        coalesce(refunds.refunded, 0) as refunds,
        coalesce(refunds.refunds_count, 0) as refunds_count,
        refunds.last_refunded_at,
        {#-
            A fee is in the balance's currency; when that is not the charge's, Stripe's
            exchange_rate (balance units per charge unit) takes it back to the charge's.
        #}
        case
            when balance_transactions.currency_code = charges.currency_code
                then balance_transactions.fee
            else {{ to_money(
                'cast(balance_transactions.fee as double) / cast(balance_transactions.exchange_rate as double)'
            ) }}
        end as fees,
        balance_transactions.balance_transaction_id is not null as is_fee_known,
        {{ fx_cross_rate('charges.currency_code', 'tenants.reporting_currency', 'charges.charge_date') }}
            as fx_rate_to_reporting_currency
    from charges
    inner join tenants on tenants.tenant_id = charges.tenant_id
    left join refunds
        on refunds.tenant_id = charges.tenant_id
        and refunds.charge_id = charges.charge_id
    left join balance_transactions
        on balance_transactions.tenant_id = charges.tenant_id
        and balance_transactions.balance_transaction_id = charges.balance_transaction_id
    left join invoices
        on invoices.tenant_id = charges.tenant_id
        and invoices.invoice_id = charges.invoice_id

)

select
    tenant_id,
    charge_id,
    created_at,
    charge_date,
    customer_id,
    invoice_id,
    subscription_id,
    billing_reason,
    payment_intent_id,
    balance_transaction_id,
    is_livemode,
    refunds_count,
    last_refunded_at,
    is_fee_known,
    currency_code,
    {{ to_money('gross_revenue') }} as gross_revenue,
    {{ to_money('refunds') }} as refunds,
    {{ to_money('gross_revenue - refunds') }} as net_revenue,
    {{ to_money('coalesce(fees, 0)') }} as fees,
    reporting_currency,
    fx_rate_to_reporting_currency,
    {{ apply_fx_rate('gross_revenue', 'fx_rate_to_reporting_currency') }} as gross_revenue_reporting,
    {{ apply_fx_rate('refunds', 'fx_rate_to_reporting_currency') }} as refunds_reporting,
    {{ apply_fx_rate('gross_revenue - refunds', 'fx_rate_to_reporting_currency') }}
        as net_revenue_reporting,
    {{ apply_fx_rate('coalesce(fees, 0)', 'fx_rate_to_reporting_currency') }} as fees_reporting
from payments
