"""The tenant registry as a table: one row per tenant of `tenants.yaml`, validated by aya.tenants.

`tenants.yaml` (path from AYA_TENANTS_FILE, default ./tenants.yaml from the directory dbt runs
in, the repo root) is the one registry of tenants; models join this table for a tenant's
reporting currency, timezone and attribution settings. Secrets never live in the registry, so
none can land here. A run limited by the `tenants` var keeps only those tenants.
"""

import pyarrow as pa

from aya.tenants import load_registry

SCHEMA = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("display_name", pa.string()),
        ("reporting_currency", pa.string()),
        ("timezone", pa.string()),
        ("history_days", pa.int32()),
        ("attribution_model", pa.string()),
        ("attribution_lookback_days", pa.int32()),
        ("attribution_half_life_days", pa.float64()),
        ("brand_primary_color", pa.string()),
        ("brand_logo_path", pa.string()),
        ("report_cron", pa.string()),
    ]
)


def selected_tenant_ids(dbt) -> set[str]:
    """The tenants the run is limited to (config `selected_tenants`, from the `tenants` var)."""
    selected = dbt.config.get("selected_tenants") or ""
    return {tenant.strip() for tenant in selected.split(",") if tenant.strip()}


def model(dbt, session):
    dbt.config(materialized="table")
    selected = selected_tenant_ids(dbt)
    tenants = [
        tenant for tenant in load_registry().tenants if not selected or tenant.id in selected
    ]
    return pa.Table.from_pylist(
        [
            {
                "tenant_id": tenant.id,
                "display_name": tenant.display_name,
                "reporting_currency": tenant.reporting_currency,
                "timezone": tenant.timezone,
                "history_days": tenant.history_days,
                "attribution_model": tenant.attribution.default_model,
                "attribution_lookback_days": tenant.attribution.lookback_days,
                "attribution_half_life_days": tenant.attribution.half_life_days,
                "brand_primary_color": tenant.branding.primary_color,
                "brand_logo_path": tenant.branding.logo,
                "report_cron": tenant.reports.cron,
            }
            for tenant in tenants
        ],
        schema=SCHEMA,
    )
