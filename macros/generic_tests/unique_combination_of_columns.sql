{#-
    Generic test: no two rows share the same values of `combination_of_columns` (a grain of
    several keys, like tenant_id + order_id). Same name and argument as dbt_utils' test, which
    we do not install (no hub packages). Fails with one row per duplicated key.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as duplicate_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
