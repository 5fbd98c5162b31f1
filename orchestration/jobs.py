"""Jobs: the per-tenant refresh of everything, and the freshness checks on their own.

`tenant_refresh` materialises every asset for the tenants of its partition (raw loads, FX, dbt,
the serving snapshot) with their checks, except freshness, which `freshness_checks` evaluates
hourly whatever runs happened.
"""

from collections.abc import Sequence

from dagster import AssetChecksDefinition, AssetSelection, define_asset_job

TENANT_REFRESH_JOB = "tenant_refresh"
FRESHNESS_JOB = "freshness_checks"


def refresh_jobs(freshness_checks: Sequence[AssetChecksDefinition]) -> list:
    """The asset jobs (unresolved until Definitions binds them to the asset graph)."""
    freshness = AssetSelection.checks(*freshness_checks)
    return [
        define_asset_job(
            TENANT_REFRESH_JOB,
            selection=AssetSelection.all() - freshness,
            description="Load a tenant's sources (and FX), build its models, publish its snapshot.",
        ),
        define_asset_job(
            FRESHNESS_JOB,
            selection=freshness,
            description="Is every tenant × source loaded within its expected cadence?",
        ),
    ]
