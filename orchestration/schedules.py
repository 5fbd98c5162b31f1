"""Schedules: the nightly refresh of every tenant, and hourly freshness checks.

`daily_refresh` fires at 02:00 UTC and asks for one `tenant_ingest` run per tenant of the
registry (each tenant's failure stays its own), tagged with the refresh (the tick's date); the
`nightly_build` sensor then asks for the one `warehouse_build` run (`nightly`). No window is
passed, so each source re-reads its restatement lag before the last loaded day (Google Ads 30
days, Meta 28, LinkedIn 30, GA4 3, Shopify and Stripe by update or creation time, FX 5;
`restatement_days` in tenants.yaml overrides).
"""

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from aya.tenants import load_registry
from orchestration.jobs import FRESHNESS_JOB, TENANT_INGEST_JOB
from orchestration.nightly import NIGHTLY_SCHEDULE, REFRESH_TAG
from orchestration.partitions import registered_tenants

DAILY_REFRESH_CRON = "0 2 * * *"


@schedule(
    name=NIGHTLY_SCHEDULE,
    cron_schedule=DAILY_REFRESH_CRON,
    execution_timezone="UTC",
    job_name=TENANT_INGEST_JOB,
    default_status=DefaultScheduleStatus.RUNNING,
)
def daily_refresh(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
    """One ingestion run per registry tenant that has its partition (the tenant_registry sensor
    adds it)."""
    registered = set(registered_tenants(context.instance))
    tenants = [tenant for tenant in load_registry().ids if tenant in registered]
    if not tenants:
        return SkipReason("no tenant partition yet: the tenant_registry sensor adds them")
    day = context.scheduled_execution_time.date().isoformat()
    return [
        RunRequest(run_key=f"{tenant}:{day}", partition_key=tenant, tags={REFRESH_TAG: day})
        for tenant in tenants
    ]


hourly_freshness_checks = ScheduleDefinition(
    name="hourly_freshness_checks",
    cron_schedule="30 * * * *",
    execution_timezone="UTC",
    job_name=FRESHNESS_JOB,
    default_status=DefaultScheduleStatus.RUNNING,
)
