with daily_rates as (

    {{ shared_source('fx', 'daily_rates', {
        'rate_date': 'date',
        'base_currency': 'varchar',
        'currency': 'varchar',
        'rate': 'decimal(18, 6)',
    }) }}

)

select
    rate_date,
    upper(base_currency) as base_currency,
    upper(currency) as currency,
    rate as units_per_eur
from daily_rates
