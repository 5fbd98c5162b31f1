{#-
    `tenant_filter()` for the rows a model reads from `relation`, a ref() of a model that keeps
    every tenant's rows (an incremental-by-tenant model): `where {{ tenant_filter_for(orders) }}`
    reads only the run's tenants. In a unit test the ref is the test's fixture (a CTE), whose
    rows are all kept whatever the run's `tenants` var, as union_tenant_sources keeps them: a
    unit test pins logic, and must pass in a run limited to any tenant.
-#}
{% macro tenant_filter_for(relation, column='tenant_id') %}
    {%- if relation.is_cte -%}
        true
    {%- else -%}
        {{ tenant_filter(column) }}
    {%- endif -%}
{% endmacro %}
