{#-
    Incremental strategy `tenant_delete_insert`: rewrite the rows of the tenants this run is
    limited to, and leave every other tenant's rows alone.

        {{ config(materialized='incremental', incremental_strategy='tenant_delete_insert') }}

    (marts get it from dbt_project.yml). In one transaction it deletes the selected tenants'
    rows (every row, when the run is not limited) and inserts the model's new rows of those
    tenants. Unlike delete+insert on unique_key tenant_id, a selected tenant whose new result is
    empty loses its old rows too, and a plain `dbt build` also drops tenants that no longer have
    data. The model must carry tenant_id. --full-refresh with a tenant selection is refused by
    the on-run-start check (macros/tenants.sql), as it would rebuild the table with those tenants
    only.
-#}
{% macro get_incremental_tenant_delete_insert_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}

    delete from {{ target }}
    where {{ tenant_filter() }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ new_rows }}
    where {{ tenant_filter() }}
{% endmacro %}
