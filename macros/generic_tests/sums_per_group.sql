{#-
    Generic test: within each group of `group_by` columns, the column sums to one of
    `allowed_sums` (e.g. attribution credits sum to 0 or 1 per order and model). Fails with
    one row per group whose sum is another value.
-#}
{% test sums_per_group(model, column_name, group_by, allowed_sums) %}

select
    {{ group_by | join(', ') }},
    sum({{ column_name }}) as column_sum
from {{ model }}
group by {{ group_by | join(', ') }}
having sum({{ column_name }}) not in ({{ allowed_sums | join(', ') }})
    or sum({{ column_name }}) is null

{% endtest %}
