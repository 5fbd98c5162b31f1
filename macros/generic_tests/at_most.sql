{#-
    Generic test: every non-NULL value of the column is at most `maximum` (e.g. how many days
    an FX rate has been carried forward). Fails with the offending rows.
-#}
{% test at_most(model, column_name, maximum) %}

select *
from {{ model }}
where {{ column_name }} > {{ maximum }}

{% endtest %}
