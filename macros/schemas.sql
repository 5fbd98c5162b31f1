{#-
    Schema names: a model's custom schema (`staging`, `intermediate`, `marts`, `seeds`, set per
    folder in dbt_project.yml) is used as is, not prefixed with the target schema, so the
    warehouse reads `staging.stg_shopify__orders` next to the `raw_<source>__<tenant>` datasets.
    There is one target (the local warehouse), so no prefix is needed to keep environments apart.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
