"""The code location: every asset, check, job, schedule, sensor and resource of Ask Your Ads.

`workspace.yaml` at the repo root loads `defs` from here (`dagster dev` from the root).
`build_definitions` lets tests replace resources, e.g. `Ingestion(today=...)` for a sandbox whose
clock is fixed, or a Slack webhook on a local server.
"""

from typing import Any

from dagster import Definitions, EnvVar

from orchestration.checks import freshness_checks, reconciliation_checks
from orchestration.dbt_models import dbt_cli, dbt_models
from orchestration.jobs import refresh_jobs
from orchestration.raw import fx_assets, tenant_raw_assets
from orchestration.resources import Ingestion, SlackWebhook, SourceFreshness
from orchestration.schedules import daily_refresh, hourly_freshness_checks
from orchestration.sensors import (
    mark_snapshots_stale_on_failure,
    nightly_build,
    slack_on_run_failure,
    tenant_registry,
)
from orchestration.serving import tenant_snapshot


def default_resources() -> dict[str, Any]:
    return {
        "ingestion": Ingestion(),
        "dbt": dbt_cli(),
        "slack": SlackWebhook(url=EnvVar("AYA_SLACK_WEBHOOK_URL")),
        "freshness": SourceFreshness(),
    }


def build_definitions(**resource_overrides: Any) -> Definitions:
    tenant_sources = tenant_raw_assets()
    freshness = freshness_checks()
    return Definitions(
        assets=[*tenant_sources, fx_assets(), dbt_models, tenant_snapshot],
        asset_checks=[*freshness, *reconciliation_checks()],
        jobs=refresh_jobs(tenant_sources, freshness),
        schedules=[daily_refresh, hourly_freshness_checks],
        sensors=[
            tenant_registry,
            nightly_build,
            mark_snapshots_stale_on_failure,
            slack_on_run_failure,
        ],
        resources={**default_resources(), **resource_overrides},
    )


defs = build_definitions()
