{#-
    Money: one DECIMAL type for every amount, conversions from the units vendors send, and
    conversion between currencies at the day's ECB rate.

    DuckDB divides DECIMALs into DOUBLEs, so unit conversions here only ever multiply by exact
    DECIMAL factors; only the FX cross rate (a quotient of two published rates) is a DOUBLE.
    Lookups are correlated subqueries whose aliases (money_macro_*, fx_macro_*) must not be
    used by the calling model, or the subquery would bind the caller's column to itself.
-#}

{% macro money_type() %}
    {#-
        DECIMAL(18, 6): exact for every unit we receive (Google micros need 6 decimals; ISO 4217
        minor units at most 3), up to 999,999,999,999 per row, int64-backed; sums widen to
        DECIMAL(38, 6) by themselves.
    -#}
    {{- return('decimal(18, 6)') -}}
{% endmacro %}


{% macro to_money(amount) %}
    {#- An amount already in major units (Shopify's "12.50"), as money. -#}
    cast({{ amount }} as {{ money_type() }})
{%- endmacro %}


{% macro micros_to_money(amount_micros) %}
    {#- Google Ads / Meta micros (1,000,000 per major unit) to money. -#}
    cast(cast({{ amount_micros }} as decimal(38, 0)) * 0.000001 as {{ money_type() }})
{%- endmacro %}


{% macro minor_units_to_money(amount_minor_units, currency_code) %}
    {#-
        Minor units (Stripe's cents, pence; yen are already whole) to money, by the ISO 4217
        exponent of `currency_code` (any case) in seed `currencies`: 1999 USD → 19.99,
        1999 JPY → 1999, 1999 KWD → 1.999. An unknown currency gives NULL, which the
        `relationships` test on the currency column reports.
    -#}
    cast(
        cast({{ amount_minor_units }} as decimal(38, 0))
        * (
            select cast(power(10, -money_macro_currency.minor_unit_exponent) as decimal(9, 6))
            from {{ ref('currencies') }} as money_macro_currency
            where money_macro_currency.currency_code = upper({{ currency_code }})
        )
        as {{ money_type() }}
    )
{%- endmacro %}


{% macro fx_cross_rate(from_currency, to_currency, on_date) %}
    {#-
        DOUBLE: units of `to_currency` per unit of `from_currency` on `on_date`, from
        int_fx_rates_daily (ECB rates per EUR, carried forward over days without publication);
        1 when both are the same currency, NULL when a rate is missing for that day. Compute it
        once per row and apply it with apply_fx_rate() to several amounts.
    -#}
    case
        when {{ from_currency }} = {{ to_currency }} then cast(1 as double)
        else
            cast((
                select fx_macro_to_rate.units_per_eur
                from {{ ref('int_fx_rates_daily') }} as fx_macro_to_rate
                where fx_macro_to_rate.currency = {{ to_currency }}
                    and fx_macro_to_rate.rate_date = {{ on_date }}
            ) as double)
            / cast((
                select fx_macro_from_rate.units_per_eur
                from {{ ref('int_fx_rates_daily') }} as fx_macro_from_rate
                where fx_macro_from_rate.currency = {{ from_currency }}
                    and fx_macro_from_rate.rate_date = {{ on_date }}
            ) as double)
    end
{%- endmacro %}


{% macro apply_fx_rate(amount, cross_rate) %}
    {#- `amount` converted with a rate from fx_cross_rate(), as money (not yet rounded). -#}
    cast(cast({{ amount }} as double) * {{ cross_rate }} as {{ money_type() }})
{%- endmacro %}


{% macro convert_currency(amount, from_currency, to_currency, on_date) %}
    {#-
        `amount` of `from_currency` in `to_currency` at the rate in force on `on_date`, as money,
        not rounded: round at the grain you report (round_money), as sums of rounded rows drift.
        Example, revenue in the tenant's reporting currency on the order's local day:
            {{ convert_currency('orders.net_revenue', 'orders.currency_code',
                                'tenants.reporting_currency', 'orders.order_date') }}
    -#}
    {{ apply_fx_rate(amount, fx_cross_rate(from_currency, to_currency, on_date)) }}
{%- endmacro %}


{% macro round_money(amount, currency_code) %}
    {#-
        `amount` rounded half-even (as the ECB and the sandbox's truth round) to the minor unit of
        `currency_code`: cents, whole yen. Looks the exponent up per row; a large model that
        already joins `currencies` should call round_money_to_exponent with its column instead.
    -#}
    {{ round_money_to_exponent(amount, "(
            select money_macro_currency.minor_unit_exponent
            from " ~ ref('currencies') ~ " as money_macro_currency
            where money_macro_currency.currency_code = upper(" ~ currency_code ~ ")
        )") }}
{%- endmacro %}


{% macro round_money_to_exponent(amount, minor_unit_exponent) %}
    {#-
        `amount` rounded half-even to `minor_unit_exponent` decimals (0-3, an expression such as
        currencies.minor_unit_exponent). DuckDB wants a constant precision, hence the CASE.
    -#}
    cast(
        case {{ minor_unit_exponent }}
            {%- for exponent in range(0, 4) %}
            when {{ exponent }} then round_even(cast({{ amount }} as {{ money_type() }}), {{ exponent }})
            {%- endfor %}
        end
        as {{ money_type() }}
    )
{%- endmacro %}


{% macro local_date(instant, timezone) %}
    {#- The calendar day a TIMESTAMPTZ `instant` falls on in IANA `timezone` (a column or literal). -#}
    cast(({{ instant }} at time zone {{ timezone }}) as date)
{%- endmacro %}
