{#-
    One row per calendar day × currency: the ECB rate in force that day. The ECB publishes on
    TARGET business days only; on other days the last published rate stays in force (ASOF
    join). The calendar runs from the first publication to the later of the last publication
    and `fx_calendar_end` (default: tomorrow, so every timezone's today has a rate).
-#}
{%- set calendar_end = var('fx_calendar_end', none) -%}

with published as (

    select rate_date, currency, units_per_eur
    from {{ ref('stg_fx__daily_rates') }}
    where currency <> 'EUR'

),

first_publication as (

    select currency, min(rate_date) as first_rate_date
    from published
    group by currency

),

calendar as (

    select cast(day as date) as rate_date
    from range(
        (select min(rate_date) from published),
        greatest(
            (select max(rate_date) from published),
            {{ "date '" ~ calendar_end ~ "'" if calendar_end else 'current_date + 1' }}
        ) + 1,
        interval 1 day
    ) as days (day)

),

currency_days as (

    select calendar.rate_date, first_publication.currency
    from calendar
    inner join first_publication on calendar.rate_date >= first_publication.first_rate_date

),

carried_forward as (

    select
        currency_days.rate_date,
        currency_days.currency,
        published.units_per_eur,
        published.rate_date as published_on
    from currency_days
    asof inner join published
        on published.currency = currency_days.currency
        and published.rate_date <= currency_days.rate_date

),

euro as (

    select
        rate_date,
        'EUR' as currency,
        cast(1 as decimal(18, 6)) as units_per_eur,
        rate_date as published_on
    from calendar

)

select
    rate_date,
    currency,
    units_per_eur,
    published_on,
    cast(rate_date - published_on as integer) as days_since_publication,
    published_on <> rate_date as is_carried_forward
from (
    select * from carried_forward
    union all
    select * from euro
) as rates
