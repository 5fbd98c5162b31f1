{#-
    The metrics of DESIGN.md ("Metrics"), one macro each, so that every mart computes a metric
    with the same formula. They are ratios of sums at the grain the caller aggregated to (pass
    the summed columns, never average daily ratios) and give NULL, shown as "—", when the
    denominator is zero or NULL: never 0, never infinity.

        {{ roas('attributed_revenue', 'spend') }}   -- attributed_revenue / spend

    | macro          | formula                                      |
    |----------------|----------------------------------------------|
    | roas           | attributed_revenue / spend                   |
    | platform_roas  | platform_conversion_value / spend            |
    | mer            | revenue / spend (blended ROAS, all channels) |
    | cpa            | spend / attributed_orders                    |
    | platform_cpa   | spend / platform_conversions                 |
    | rpmo           | attributed_revenue / impressions × 1000      |
    | ctr            | clicks / impressions                         |
    | cpc            | spend / clicks                               |
    | cpm            | spend / impressions × 1000                   |
    | aov            | revenue / orders                             |

    The result is a DOUBLE: DuckDB has no exact DECIMAL division (DECIMAL / DECIMAL is a DOUBLE
    anyway), and a ratio is read, never summed. Money inputs are the mart's rounded amounts, so
    a metric equals the formula applied to the columns shown next to it.
-#}

{% macro safe_ratio(numerator, denominator, multiplier=none) %}
    {#-
        `numerator` / `denominator` (× `multiplier`) as a DOUBLE; NULL when the denominator is
        0 or NULL (or the numerator is NULL). The multiplier is applied to the numerator first,
        so per-mille metrics (CPM, RPMo) divide once.
    -#}
    case
        when {{ denominator }} is null or {{ denominator }} = 0 then cast(null as double)
        else cast({{ numerator }} as double)
            {%- if multiplier is not none %} * {{ multiplier }}{% endif %}
            / cast({{ denominator }} as double)
    end
{%- endmacro %}


{% macro roas(attributed_revenue, spend) %}
    {#- Return on ad spend: attributed revenue per unit of spend. -#}
    {{ safe_ratio(attributed_revenue, spend) }}
{%- endmacro %}


{% macro platform_roas(platform_conversion_value, spend) %}
    {#- ROAS as the ad platform sees it: its reported conversion value per unit of spend. -#}
    {{ safe_ratio(platform_conversion_value, spend) }}
{%- endmacro %}


{% macro mer(revenue, spend) %}
    {#- Marketing efficiency ratio (blended ROAS): all revenue per unit of all spend. -#}
    {{ safe_ratio(revenue, spend) }}
{%- endmacro %}


{% macro cpa(spend, attributed_orders) %}
    {#- Cost per acquisition: spend per attributed order (orders are sums of credits). -#}
    {{ safe_ratio(spend, attributed_orders) }}
{%- endmacro %}


{% macro platform_cpa(spend, platform_conversions) %}
    {#- CPA as the ad platform sees it: spend per platform-reported conversion. -#}
    {{ safe_ratio(spend, platform_conversions) }}
{%- endmacro %}


{% macro rpmo(attributed_revenue, impressions) %}
    {#- Attributed order revenue per 1,000 impressions. -#}
    {{ safe_ratio(attributed_revenue, impressions, 1000) }}
{%- endmacro %}


{% macro ctr(clicks, impressions) %}
    {#- Click-through rate: clicks per impression (a fraction, not a percentage). -#}
    {{ safe_ratio(clicks, impressions) }}
{%- endmacro %}


{% macro cpc(spend, clicks) %}
    {#- Cost per click. -#}
    {{ safe_ratio(spend, clicks) }}
{%- endmacro %}


{% macro cpm(spend, impressions) %}
    {#- Cost per 1,000 impressions. -#}
    {{ safe_ratio(spend, impressions, 1000) }}
{%- endmacro %}


{% macro aov(revenue, orders) %}
    {#- Average order value: revenue per order. -#}
    {{ safe_ratio(revenue, orders) }}
{%- endmacro %}


{% macro attribution_models() %}
    {#-
        The attribution models transform.attribution computes (ALL_MODELS there; a pytest keeps
        both equal), as a SQL list literal: marts that show every model for a channel or
        campaign, even where a model gives it no credit, cross join it.
    -#}
    {{- return("['first_click', 'last_click', 'last_non_direct_click', 'linear', 'time_decay', 'position_based']") -}}
{% endmacro %}


{% macro paid_channel_of_platforms() %}
    {#-
        SQL relation (platform, channel): the channel an ad platform's spend is bought for, the
        paid channel seed `channel_mapping` gives the platform's touchpoints (the rule with the
        lowest priority among the paid rules naming the platform): google_ads → paid_search,
        meta_ads and linkedin_ads → paid_social. Spend sits on that channel's rows in the marts.
    -#}
    select
        nullif(trim(platform), '') as platform,
        arg_min(channel, priority) as channel
    from {{ ref('channel_mapping') }}
    where is_paid and nullif(trim(platform), '') is not null
    group by nullif(trim(platform), '')
{%- endmacro %}


{% macro attributed_orders_type() %}
    {#-
        Type of attributed_orders in the marts: a sum of attribution credits, fractional under
        the linear, time-decay and position-based models; the credit's own DECIMAL(18, 10).
    -#}
    {{- return('decimal(18, 10)') -}}
{% endmacro %}


{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
    {#-
        Generic test: every non-NULL value of the column lies in [min_value, max_value] (either
        bound may be left out), e.g. a share between 0 and 1. Same name and arguments as
        dbt_utils' test, which we do not install. Fails with the offending rows.
    -#}
select *
from {{ model }}
where {{ column_name }} is not null
    and (
        false
        {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
        {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
    )
{% endtest %}
