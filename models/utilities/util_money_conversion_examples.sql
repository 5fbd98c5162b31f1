{#-
    Executable examples of the money macros (macros/money.sql), so that dbt unit tests can pin
    their behaviour (JPY stays whole, KWD has three decimals, half-even rounding): every
    currency of seed `currencies` × a few amounts. Ephemeral: nothing is built in the warehouse.
    The macros' real users are the staging models of sources that send minor units (Stripe) or
    micros (Google Ads, Meta); their own unit tests can follow `_utilities__models.yml`.
-#}
with amounts as (

    select * from (values (1999), (-5), (0), (123456789)) as amounts (amount_in_smallest_unit)

)

select
    currencies.currency_code,
    amounts.amount_in_smallest_unit,
    {{ minor_units_to_money('amounts.amount_in_smallest_unit', 'lower(currencies.currency_code)') }}
        as amount_from_minor_units,
    {{ micros_to_money('amounts.amount_in_smallest_unit') }} as amount_from_micros,
    {{ round_money('amounts.amount_in_smallest_unit / 8', 'currencies.currency_code') }}
        as eighth_rounded_to_minor_unit
from {{ ref('currencies') }} as currencies
cross join amounts
