"""The nightly refresh: which tenants' ingestion a refresh ran, and the one build that follows it.

A refresh is a set of `tenant_ingest` runs sharing the tag `aya/refresh` (the schedule uses the
tick's date; `orchestration.refresh` a fresh id). Once every one of them has finished,
`build_request` asks for one `warehouse_build` run over the partition range spanning the
refresh's tenants: FX, one dbt invocation for all of them, then the snapshots. A tenant whose
latest ingestion run of the refresh did not succeed (and a tenant inside the range that the
refresh did not cover) is listed in the tag `aya/hold_snapshot`: dbt leaves its rows as they are
and its snapshot is not published, so it keeps serving its previous version, which the failure
sensor marks stale. (A failed load commits nothing, so its raw data is whole either way; holding
it back keeps its marts equal to what it serves, and a tenant that never loaded cannot break the
others' build.)
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from dagster import DagsterInstance, DagsterRun, RunRequest, RunsFilter, SkipReason

from orchestration.jobs import TENANT_INGEST_JOB, WAREHOUSE_BUILD_JOB
from orchestration.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    PARTITION_TAG,
    registered_tenants,
)

NIGHTLY_SCHEDULE = "daily_refresh"
REFRESH_TAG = "aya/refresh"
HOLD_SNAPSHOT_TAG = "aya/hold_snapshot"
SCHEDULE_TAG = "dagster/schedule_name"  # Dagster's tag on runs a schedule requested


def scheduled_refreshes(instance: DagsterInstance, schedule: str, since: datetime) -> list[str]:
    """Ids of the refreshes `schedule` started since `since`, oldest first."""
    runs = instance.get_runs(
        RunsFilter(job_name=TENANT_INGEST_JOB, tags={SCHEDULE_TAG: schedule}, created_after=since)
    )
    return sorted({run.tags[REFRESH_TAG] for run in runs if REFRESH_TAG in run.tags})


def ingestion_runs(instance: DagsterInstance, refresh_id: str) -> list[DagsterRun]:
    """The `tenant_ingest` runs of a refresh, newest first."""
    return list(
        instance.get_runs(RunsFilter(job_name=TENANT_INGEST_JOB, tags={REFRESH_TAG: refresh_id}))
    )


def build_request(instance: DagsterInstance, refresh_id: str) -> RunRequest | SkipReason:
    """The `warehouse_build` run that completes a refresh, once all its ingestion has finished."""
    runs = ingestion_runs(instance, refresh_id)
    if not runs:
        return SkipReason(f"refresh {refresh_id} has no ingestion run")
    waiting = [run for run in runs if not run.is_finished]
    if waiting:
        return SkipReason(f"refresh {refresh_id}: {len(waiting)} ingestion runs still going")
    latest = _latest_run_per_tenant(runs)
    loaded = {tenant for tenant, run in latest.items() if run.is_success}
    if not loaded:
        return SkipReason(f"refresh {refresh_id}: no tenant loaded, nothing to build")
    span = _partition_span(registered_tenants(instance), latest)
    return RunRequest(
        run_key=f"build:{refresh_id}",
        job_name=WAREHOUSE_BUILD_JOB,
        tags={
            PARTITION_RANGE_START_TAG: span[0],
            PARTITION_RANGE_END_TAG: span[-1],
            REFRESH_TAG: refresh_id,
            HOLD_SNAPSHOT_TAG: ",".join(t for t in span if t not in loaded),
        },
    )


def held_tenants(run: DagsterRun) -> set[str]:
    """Tenants of `run` to leave out of dbt and publishing (their ingestion failed)."""
    return {t for t in run.tags.get(HOLD_SNAPSHOT_TAG, "").split(",") if t}


def _latest_run_per_tenant(runs: Iterable[DagsterRun]) -> dict[str, DagsterRun]:
    latest: dict[str, DagsterRun] = {}
    for run in runs:  # newest first: a re-execution supersedes the run it retried
        latest.setdefault(run.tags[PARTITION_TAG], run)
    return latest


def _partition_span(partitions: Sequence[str], tenants: Iterable[str]) -> list[str]:
    """The contiguous run of partitions from the first to the last of `tenants`."""
    positions = [partitions.index(tenant) for tenant in tenants]
    return list(partitions[min(positions) : max(positions) + 1])
