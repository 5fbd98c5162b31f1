{#-
    Reading raw dlt datasets: the one way staging models read raw data.

    Ingestion writes one dataset per tenant and source, `raw_<source>__<tenant>` (plus the shared
    `raw_fx`). Which tenants exist is only known at run time, so staging models do not select from
    `source()` directly; they call

        {{ union_tenant_sources('shopify', 'orders', {'id': 'varchar', 'created_at': 'timestamptz'}) }}

    which discovers every tenant's `raw_shopify__<tenant>.orders` in information_schema when the
    model runs and unions them, with a `tenant_id` column first and then exactly the listed
    columns, each cast to the listed type. A tenant whose table lacks a listed column gets NULL of
    that type; a tenant lacking the table contributes no rows; if no tenant has it, the result is
    empty but typed, so downstream models still build. Only the tenants selected by the `tenants`
    var are read (macros/tenants.sql).

    The source table must be declared in the source's `_<source>__sources.yml`: the macro calls
    `source()` so that lineage and docs show it, and so that unit tests can replace it with a
    fixture (`format: sql`, one fixture holding every tenant's rows with a tenant_id column;
    columns left out of the fixture are NULL).
-#}

{% macro union_tenant_sources(source_name, table_name, columns) %}
    {%- set declared = source(source_name, table_name) -%}
    {%- if declared.is_cte -%}
        {{ return(_columns_from_fixture(declared, columns, with_tenant=true)) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(_empty_typed_select(columns, with_tenant=true)) }}
    {%- endif -%}

    {%- set datasets = raw_tenant_datasets(source_name, table_name) -%}
    {%- set selected = selected_tenants() -%}
    {%- set parts = [] -%}
    {%- for dataset in datasets if (selected | length == 0) or dataset.tenant_id in selected -%}
        {%- set relation = api.Relation.create(
                database=target.database, schema=dataset.schema, identifier=table_name) -%}
        {%- set missing = [] -%}
        {%- for name in columns if name | lower not in dataset.columns -%}
            {%- do missing.append(name) -%}
        {%- endfor -%}
        {%- if missing -%}
            {%- do log(relation ~ " lacks " ~ missing | join(', ') ~ ": read as NULL", info=false) -%}
        {%- endif -%}
        {%- do parts.append(
            "select '" ~ dataset.tenant_id ~ "' as tenant_id, "
            ~ _typed_column_list(columns, dataset.columns) ~ " from " ~ relation) -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}
        {%- do log("no selected tenant has " ~ source_name ~ "." ~ table_name ~ ": empty", info=false) -%}
        {{ return(_empty_typed_select(columns, with_tenant=true)) }}
    {%- endif -%}
    {{ return(parts | join('\nunion all\n')) }}
{% endmacro %}


{% macro shared_source(source_name, table_name, columns) %}
    {#-
        Like union_tenant_sources, for a dataset shared by all tenants (raw_fx): the source
        table with exactly the listed columns and types, NULL where the table lacks a column,
        and empty but typed while the table does not exist yet. No tenant_id.
    -#}
    {%- set declared = source(source_name, table_name) -%}
    {%- if declared.is_cte -%}
        {{ return(_columns_from_fixture(declared, columns, with_tenant=false)) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(_empty_typed_select(columns, with_tenant=false)) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
            database=declared.database, schema=declared.schema, identifier=declared.identifier) -%}
    {%- if relation is none -%}
        {%- do log(declared ~ " does not exist yet: empty", info=false) -%}
        {{ return(_empty_typed_select(columns, with_tenant=false)) }}
    {%- endif -%}
    {%- set present = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do present.append(column.name | lower) -%}
    {%- endfor -%}
    {{ return("select " ~ _typed_column_list(columns, present) ~ " from " ~ relation) }}
{% endmacro %}


{% macro raw_tenant_datasets(source_name=none, table_name=none) %}
    {#-
        The raw datasets in the warehouse, as a list of {schema, source, tenant_id, columns},
        sorted by schema; optionally only those of one source, and only those holding
        `table_name` (then `columns` lists that table's lower-cased column names).

        A dataset is `raw_<source>__<tenant>` with a valid tenant id that holds dlt's `_dlt_loads`
        table. That last condition leaves out the `<dataset>_staging` copies dlt keeps for merge
        loads, which never have one (and which would otherwise read as a tenant "<tenant>_staging").
    -#}
    {%- set prefix = 'raw_' ~ (source_name ~ '__' if source_name else '') -%}
    {%- set table = table_name if table_name else '_dlt_loads' -%}
    {%- set query -%}
        select c.table_schema, lower(c.column_name) as column_name
        from information_schema.columns as c
        where c.table_catalog = '{{ target.database }}'
          and c.table_name = '{{ table }}'
          and starts_with(c.table_schema, '{{ prefix }}')
          and c.table_schema in (
              select t.table_schema from information_schema.tables as t
              where t.table_catalog = '{{ target.database }}' and t.table_name = '_dlt_loads')
        order by c.table_schema, c.ordinal_position
    {%- endset -%}
    {%- set datasets = [] -%}
    {%- set by_schema = {} -%}
    {%- for row in run_query(query).rows -%}
        {%- set schema = row[0] -%}
        {%- if schema not in by_schema -%}
            {%- set source_and_tenant = schema[4:].split('__', 1) -%}
            {%- if source_and_tenant | length == 2 and is_tenant_id(source_and_tenant[1]) -%}
                {%- set dataset = {'schema': schema, 'source': source_and_tenant[0],
                                   'tenant_id': source_and_tenant[1], 'columns': []} -%}
                {%- do by_schema.update({schema: dataset}) -%}
                {%- do datasets.append(dataset) -%}
            {%- else -%}
                {%- do by_schema.update({schema: none}) -%}
                {%- do log("ignoring " ~ schema ~ ": not raw_<source>__<tenant id>", info=false) -%}
            {%- endif -%}
        {%- endif -%}
        {%- if by_schema[schema] is not none -%}
            {%- do by_schema[schema].columns.append(row[1]) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(datasets) }}
{% endmacro %}


{% macro _typed_column_list(columns, present_columns) %}
    {#- `cast(col as type) as col` for each listed column; `cast(null as type)` if absent. -#}
    {%- set items = [] -%}
    {%- for name, data_type in columns.items() -%}
        {%- set quoted = adapter.quote(name) -%}
        {%- if name | lower in present_columns -%}
            {%- do items.append("cast(" ~ quoted ~ " as " ~ data_type ~ ") as " ~ quoted) -%}
        {%- else -%}
            {%- do items.append("cast(null as " ~ data_type ~ ") as " ~ quoted) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(items | join(', ')) }}
{% endmacro %}


{% macro _empty_typed_select(columns, with_tenant) %}
    {%- set items = ["cast(null as varchar) as tenant_id"] if with_tenant else [] -%}
    {%- for name, data_type in columns.items() -%}
        {%- do items.append("cast(null as " ~ data_type ~ ") as " ~ adapter.quote(name)) -%}
    {%- endfor -%}
    {{ return("select " ~ items | join(', ') ~ " where false") }}
{% endmacro %}


{% macro _columns_from_fixture(fixture, columns, with_tenant) %}
    {#-
        Unit tests: `fixture` is the CTE dbt built from the test's rows. UNION ALL BY NAME with
        an empty typed row fills the columns the fixture leaves out with NULL. Every fixture row
        is kept whatever the run's `tenants` var: a unit test pins logic, and must pass in a run
        limited to any tenant.
    -#}
    {%- set items = ["cast(tenant_id as varchar) as tenant_id"] if with_tenant else [] -%}
    {%- for name, data_type in columns.items() -%}
        {%- do items.append("cast(" ~ adapter.quote(name) ~ " as " ~ data_type ~ ") as " ~ adapter.quote(name)) -%}
    {%- endfor -%}
    {%- set filled -%}
        select * from {{ fixture }}
        union all by name
        {{ _empty_typed_select(columns, with_tenant) }}
    {%- endset -%}
    {{ return("select " ~ items | join(', ') ~ " from (" ~ filled ~ ") as fixture") }}
{% endmacro %}
