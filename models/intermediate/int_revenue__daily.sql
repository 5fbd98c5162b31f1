{#-
    Revenue per tenant × source × order day × order currency: orders, gross revenue, discounts,
    refunds, net revenue and fees, in the order currency (exact) and in the reporting currency.
    The day's sums are converted at the day's rate and then rounded half-even to the reporting
    currency's minor unit, once, at this grain: exactly how the sandbox's truth rounds
    (sandbox/world/truth.py), and free of the drift a sum of rounded orders has.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='tenant_delete_insert',
    on_schema_change='fail',
) }}

{%- set amounts = ['gross_revenue', 'discounts', 'refunds', 'net_revenue', 'fees'] %}

with daily as (

    select
        tenant_id,
        source,
        order_date,
        currency_code,
        any_value(reporting_currency) as reporting_currency,
        any_value(fx_rate_to_reporting_currency) as fx_rate_to_reporting_currency,
        count(*) as orders,
        {%- for amount in amounts %}
        sum({{ amount }}) as {{ amount }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_revenue__orders') }}
    where {{ tenant_filter_for(ref('int_revenue__orders')) }}
    group by tenant_id, source, order_date, currency_code

)

select
    tenant_id,
    source,
    order_date,
    currency_code,
    orders,
    {%- for amount in amounts %}
    {{ to_money(amount) }} as {{ amount }},
    {%- endfor %}
    reporting_currency,
    fx_rate_to_reporting_currency,
    {%- for amount in amounts %}
    {{ round_money(apply_fx_rate(amount, 'fx_rate_to_reporting_currency'), 'reporting_currency') }}
        as {{ amount }}_reporting{{ ',' if not loop.last }}
    {%- endfor %}
from daily
