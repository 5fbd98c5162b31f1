with fee_details as (

    {{ union_tenant_sources('stripe', 'balance_transactions__fee_details', {
        'balance_transaction_id': 'varchar',
        '_dlt_list_idx': 'integer',
        'type': 'varchar',
        'description': 'varchar',
        'application': 'varchar',
        'currency': 'varchar',
        'amount': 'bigint',
    }) }}

)

select
    tenant_id,
    balance_transaction_id,
    _dlt_list_idx as fee_position,
    type as fee_type,
    description,
    application as application_id,
    upper(currency) as currency_code,
    {{ minor_units_to_money('amount', 'currency') }} as amount
from fee_details
