"""Run a nightly refresh now, in this process, without the daemon: for the demo and scripts.

`refresh_tenants` does what the 02:00 UTC schedule and the `nightly_build` sensor do, with the
same jobs and the same decision (`nightly.build_request`): one `tenant_ingest` run per tenant,
then one `warehouse_build` run for all of them (FX, one dbt invocation, the checks, a snapshot
for each tenant whose ingestion succeeded). A failed run marks its tenants' snapshots stale, as
the failure sensor would. Pass the instance of `DAGSTER_HOME` (`DagsterInstance.get()`) for the
runs to show in `dagster dev`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    RunRequest,
    build_run_status_sensor_context,
)

from aya.tenants import load_registry
from orchestration.jobs import TENANT_INGEST_JOB, WAREHOUSE_BUILD_JOB
from orchestration.nightly import REFRESH_TAG, build_request
from orchestration.partitions import TENANTS, registered_tenants
from orchestration.sensors import mark_snapshots_stale_on_failure


@dataclass(frozen=True)
class Refresh:
    """The runs of one refresh: each tenant's ingestion, and the build (None when no tenant
    loaded, so there was nothing to build)."""

    refresh_id: str
    ingestion: dict[str, ExecuteInProcessResult]
    build: ExecuteInProcessResult | None

    def published(self, tenant_id: str) -> bool:
        """Did this refresh publish a new snapshot of the tenant?"""
        return self.ingestion[tenant_id].success and self.build is not None and self.build.success

    @property
    def failed_tenants(self) -> list[str]:
        return [tenant for tenant in self.ingestion if not self.published(tenant)]


def refresh_tenants(
    definitions: Definitions,
    instance: DagsterInstance,
    tenant_ids: Sequence[str] | None = None,
    console_log_level: str = "DEBUG",
) -> Refresh:
    """Refresh `tenant_ids` (default: every tenant of tenants.yaml); the runs' console logs from
    `console_log_level` up (the instance keeps every event)."""
    tenants = list(tenant_ids or load_registry().ids)
    known = registered_tenants(instance)
    instance.add_dynamic_partitions(TENANTS.name, [t for t in tenants if t not in known])
    refresh_id = f"manual-{datetime.now(UTC).isoformat(timespec='microseconds')}"
    run_config = {"loggers": {"console": {"config": {"log_level": console_log_level}}}}

    def execute(job_name: str, **run: object) -> ExecuteInProcessResult:
        result = definitions.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config, **run
        )
        if not result.success:
            _mark_stale(instance, result)
        return result

    ingestion = {
        tenant: execute(TENANT_INGEST_JOB, partition_key=tenant, tags={REFRESH_TAG: refresh_id})
        for tenant in tenants
    }
    request = build_request(instance, refresh_id)
    build = (
        execute(WAREHOUSE_BUILD_JOB, tags=request.tags) if isinstance(request, RunRequest) else None
    )
    return Refresh(refresh_id, ingestion, build)


def _mark_stale(instance: DagsterInstance, result: ExecuteInProcessResult) -> None:
    mark_snapshots_stale_on_failure(
        build_run_status_sensor_context(
            sensor_name=mark_snapshots_stale_on_failure.name,
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
    )
