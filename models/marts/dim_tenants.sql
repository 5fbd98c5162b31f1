{#-
    The tenants, one row per tenant of the registry (tenants.yaml via stg_registry__tenants):
    name, reporting currency and timezone every mart's money and days are in, the default
    attribution model the marts follow and its settings, branding and report schedule, and
    which sources the tenant enables (stg_registry__tenant_sources), as a list and as one flag
    per source. Incremental by tenant; stored ordered by tenant_id.
-#}
{%- set sources = ['google_ads', 'meta_ads', 'linkedin_ads', 'ga4', 'shopify', 'stripe'] %}

with tenants as (

    select * from {{ ref('stg_registry__tenants') }}

),

sources as (

    select
        tenant_id,
        string_agg(source_name, ', ' order by source_name) as enabled_sources,
        count(*) as enabled_source_count,
        {%- for source in sources %}
        bool_or(source_name = '{{ source }}') as has_{{ source }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_registry__tenant_sources') }}
    group by tenant_id

)

select
    tenants.tenant_id,
    tenants.display_name,
    tenants.reporting_currency,
    tenants.timezone,
    tenants.history_days,
    tenants.attribution_model,
    tenants.attribution_lookback_days,
    tenants.attribution_half_life_days,
    tenants.brand_primary_color,
    tenants.brand_logo_path,
    tenants.report_cron,
    coalesce(sources.enabled_sources, '') as enabled_sources,
    cast(coalesce(sources.enabled_source_count, 0) as integer) as enabled_source_count,
    {%- for source in sources %}
    coalesce(sources.has_{{ source }}, false) as has_{{ source }}{{ ',' if not loop.last }}
    {%- endfor %}
from tenants
left join sources on sources.tenant_id = tenants.tenant_id
order by tenants.tenant_id
