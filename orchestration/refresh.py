"""Run the nightly refresh now, in this process, without the daemon: for the demo and scripts.

`refresh_tenants` runs `tenant_refresh` once per tenant (load its sources and FX, build the
models, publish its snapshot), exactly as the 02:00 schedule asks for it, and marks the snapshot
of a tenant whose run failed stale, as the failure sensor would. Pass the instance of
`DAGSTER_HOME` (`DagsterInstance.get()`) for the runs to show in `dagster dev`.
"""

from collections.abc import Sequence

from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    build_run_status_sensor_context,
)

from aya.tenants import load_registry
from orchestration.jobs import TENANT_REFRESH_JOB
from orchestration.partitions import TENANTS, registered_tenants
from orchestration.sensors import mark_snapshots_stale_on_failure


def refresh_tenants(
    definitions: Definitions,
    instance: DagsterInstance,
    tenant_ids: Sequence[str] | None = None,
    console_log_level: str = "DEBUG",
) -> dict[str, ExecuteInProcessResult]:
    """tenant → result of its run, for `tenant_ids` (default: every tenant of tenants.yaml);
    the runs' console logs from `console_log_level` up (the instance keeps every event)."""
    tenants = list(tenant_ids or load_registry().ids)
    known = registered_tenants(instance)
    instance.add_dynamic_partitions(TENANTS.name, [t for t in tenants if t not in known])
    run_config = {"loggers": {"console": {"config": {"log_level": console_log_level}}}}
    return {tenant: _refresh(definitions, instance, tenant, run_config) for tenant in tenants}


def _refresh(
    definitions: Definitions, instance: DagsterInstance, tenant_id: str, run_config: dict
) -> ExecuteInProcessResult:
    result = definitions.resolve_job_def(TENANT_REFRESH_JOB).execute_in_process(
        partition_key=tenant_id, instance=instance, raise_on_error=False, run_config=run_config
    )
    if not result.success:
        mark_snapshots_stale_on_failure(
            build_run_status_sensor_context(
                sensor_name=mark_snapshots_stale_on_failure.name,
                dagster_event=result.get_run_failure_event(),
                dagster_instance=instance,
                dagster_run=result.dagster_run,
            ).for_run_failure()
        )
    return result
