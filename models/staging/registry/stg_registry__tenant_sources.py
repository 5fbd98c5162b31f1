"""The sources each tenant enables, from `tenants.yaml`: one row per tenant × source.

Which vendor account each source reads and how many days its incremental loads re-read. A
source a tenant does not list has no row, which tells "not enabled" apart from "no data yet".
A run limited by the `tenants` var keeps only those tenants.
"""

import pyarrow as pa

from aya.tenants import load_registry

SCHEMA = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("source_name", pa.string()),
        ("account_id", pa.string()),
        ("restatement_days", pa.int32()),
    ]
)


def selected_tenant_ids(dbt) -> set[str]:
    """The tenants the run is limited to (config `selected_tenants`, from the `tenants` var)."""
    selected = dbt.config.get("selected_tenants") or ""
    return {tenant.strip() for tenant in selected.split(",") if tenant.strip()}


def model(dbt, session):
    dbt.config(materialized="table")
    selected = selected_tenant_ids(dbt)
    return pa.Table.from_pylist(
        [
            {
                "tenant_id": tenant.id,
                "source_name": source.value,
                "account_id": config.account_id,
                "restatement_days": tenant.restatement_days(source),
            }
            for tenant in load_registry().tenants
            if not selected or tenant.id in selected
            for source, config in tenant.sources.items()
        ],
        schema=SCHEMA,
    )
