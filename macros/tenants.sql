{#-
    Which tenants a run is limited to: the `tenants` var.

    `dbt build` works on every tenant that has raw data; `dbt build --vars '{tenants: [a, b]}'`
    (or `--vars 'tenants: a,b'`) limits every model to tenants a and b: staging reads only their
    raw datasets, and tenant-incremental models (marts) delete and re-insert only their rows.
-#}

{% macro selected_tenants() %}
    {#- The validated list of tenant ids this run is limited to; [] means every tenant. -#}
    {%- set requested = var('tenants', []) -%}
    {%- if requested is none or requested == '' -%}
        {%- set requested = [] -%}
    {%- elif requested is string -%}
        {%- set requested = requested.split(',') -%}
    {%- elif requested is not iterable or requested is mapping -%}
        {{ exceptions.raise_compiler_error(
            "var 'tenants' must be a list of tenant ids, like --vars '{tenants: [northwind_fashion]}'; got "
            ~ requested) }}
    {%- endif -%}
    {%- set tenants = [] -%}
    {%- for item in requested -%}
        {%- set tenant = (item | string).strip() -%}
        {%- if not is_tenant_id(tenant) -%}
            {{ exceptions.raise_compiler_error(
                "var 'tenants': " ~ (tenant | tojson) ~ " is not a tenant id (2-40 lowercase letters, "
                ~ "digits or '_', starting with a letter, as in tenants.yaml)") }}
        {%- endif -%}
        {%- if tenant not in tenants -%}
            {%- do tenants.append(tenant) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tenants | sort) }}
{% endmacro %}


{% macro is_tenant_id(text) %}
    {#- True when `text` is a tenant slug, the pattern aya/tenants.py enforces. -#}
    {{ return(modules.re.fullmatch('[a-z][a-z0-9_]{1,39}', text) is not none) }}
{% endmacro %}


{% macro tenant_filter(column='tenant_id') %}
    {#- SQL predicate: `column` is one of the selected tenants (`true` when none is selected). -#}
    {%- set tenants = selected_tenants() -%}
    {%- if tenants | length == 0 -%}
        true
    {%- else -%}
        {{ column }} in ({% for tenant in tenants %}'{{ tenant }}'{{ ', ' if not loop.last }}{% endfor %})
    {%- endif -%}
{% endmacro %}


{% macro check_tenant_selection() %}
    {#-
        on-run-start hook. Refuses, before anything is built:
        - a selected tenant that has no raw dataset at all (a typo would otherwise build an
          empty, "successful" run);
        - --full-refresh together with a tenant selection: a full refresh rebuilds a
          tenant-incremental table from scratch, which would drop every other tenant's rows.
    -#}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tenants = selected_tenants() -%}
    {%- if tenants | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- if flags.FULL_REFRESH -%}
        {{ exceptions.raise_compiler_error(
            "--full-refresh rebuilds tenant-incremental models for every tenant: run it without "
            ~ "--vars tenants (the run was limited to " ~ tenants | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set known = tenants_with_raw_data() -%}
    {%- set unknown = [] -%}
    {%- for tenant in tenants if tenant not in known -%}
        {%- do unknown.append(tenant) -%}
    {%- endfor -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error(
            "var 'tenants': no raw dataset (raw_<source>__<tenant>) exists for "
            ~ unknown | join(', ') ~ "; tenants with raw data: "
            ~ (known | join(', ') if known else 'none (run `aya ingest` first)')) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{% macro tenants_with_raw_data() %}
    {#- Sorted ids of the tenants that have at least one raw dataset of any source. -#}
    {%- set tenants = [] -%}
    {%- for dataset in raw_tenant_datasets() -%}
        {%- if dataset.tenant_id not in tenants -%}
            {%- do tenants.append(dataset.tenant_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tenants | sort) }}
{% endmacro %}
