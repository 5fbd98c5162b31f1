"""Jobs: the nightly refresh in two steps, the whole refresh of a tenant, and freshness checks.

The nightly refresh (schedules, `nightly`) is `tenant_ingest` once per tenant, so each tenant's
API extraction overlaps the others' and fails alone, then one `warehouse_build` over all of them,
so dbt runs once per night however many tenants there are:

- `tenant_ingest`: every raw source asset of the tenants of its partition.
- `warehouse_build`: the shared FX feed, every dbt model with its tests, the reconciliation checks
  and the serving snapshots, for the tenants of its partition or partition range.
- `tenant_refresh`: both at once for a partition, as a new tenant's first load or a hand-started
  backfill wants it.
- `freshness_checks`: the freshness checks alone, evaluated hourly whatever runs happened.
"""

from collections.abc import Sequence

from dagster import AssetChecksDefinition, AssetsDefinition, AssetSelection, define_asset_job

TENANT_INGEST_JOB = "tenant_ingest"
WAREHOUSE_BUILD_JOB = "warehouse_build"
TENANT_REFRESH_JOB = "tenant_refresh"
FRESHNESS_JOB = "freshness_checks"


def refresh_jobs(
    tenant_sources: Sequence[AssetsDefinition], freshness_checks: Sequence[AssetChecksDefinition]
) -> list:
    """The asset jobs (unresolved until Definitions binds them to the asset graph)."""
    freshness = AssetSelection.checks(*freshness_checks)
    ingest = AssetSelection.assets(*tenant_sources) - freshness
    everything = AssetSelection.all() - freshness
    return [
        define_asset_job(
            TENANT_INGEST_JOB,
            selection=ingest,
            description="Load a tenant's sources (each through its own dlt pipelines).",
        ),
        define_asset_job(
            WAREHOUSE_BUILD_JOB,
            selection=everything - ingest,
            description="Load FX, build the dbt models once for the run's tenants, check them "
            "and publish each tenant's serving snapshot.",
        ),
        define_asset_job(
            TENANT_REFRESH_JOB,
            selection=everything,
            description="Load a tenant's sources and FX, build its models, publish its snapshot.",
        ),
        define_asset_job(
            FRESHNESS_JOB,
            selection=freshness,
            description="Is every tenant × source loaded within its expected cadence?",
        ),
    ]
