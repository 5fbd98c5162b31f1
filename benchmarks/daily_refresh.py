"""Benchmark: the nightly refresh through Dagster, for many sandbox tenants.

N synthetic tenants (`sandbox.synthetic_tenants`, each modelled on a demo tenant, with its own
world) with `history_days` of history, on a throwaway Dagster instance and data directory:

1. **Setup, sandbox day D** (reported, not the figure): every tenant's history is loaded with
   `ingestion.runner` directly (8 extraction threads, so the tenants' Shopify cost-throttle waits
   overlap), then one `warehouse_build` run builds the models and first snapshots of all tenants.
2. **The night, sandbox day D + 1** (the figure): `orchestration.refresh.refresh_tenants`, i.e.
   what the 02:00 UTC schedule and the build sensor do every night with the same jobs: one
   `tenant_ingest` run per tenant (each source re-reads its restatement window: ads ~30 days,
   GA4 3, Shopify by updatedAt, Stripe by creation, FX 5), then one `warehouse_build` run (FX,
   one dbt build for all tenants, a snapshot per tenant).

The night's ingestion runs go one after another, in-process; the daemon's run queue
(`max_concurrent_runs: 4`) overlaps them, so this is an upper bound. The sandbox serves from a
thread of this process. The lines printed are what docs/benchmarks.md records.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import yaml
from dagster import DagsterEventType, DagsterInstance

from aya.tenants import TenantRegistry
from ingestion.runner import IngestRequest, ingest
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from sandbox.synthetic_tenants import synthetic_registry
from sandbox.world.calendar import SandboxClock
from sandbox.world.tenant_world import World

SETUP_DAY = date(2026, 11, 20)
SETUP_WORKERS = 8
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
NO_TELEMETRY = {"telemetry": {"enabled": False}}
BUILD_STEPS = ("raw_fx", "dbt_models", "serving__tenant_snapshot")


def run_refresh_benchmark(
    template: TenantRegistry,
    tenants: int,
    history_days: int,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Lines with the set-up and the wall time of a nightly refresh of `tenants` tenants."""
    registry = synthetic_registry(template, tenants)
    registry = registry.model_copy(
        update={
            "tenants": [
                tenant.model_copy(update={"history_days": history_days})
                for tenant in registry.tenants
            ]
        }
    )
    clock = SandboxClock(SETUP_DAY)
    server = SandboxServer(World(registry, clock=clock)).start()
    night = SETUP_DAY + timedelta(days=1)
    lines = [
        f"nightly refresh through Dagster, {tenants} synthetic tenants with {history_days} days "
        f"of history loaded on sandbox day {SETUP_DAY}, refreshed on {night}"
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="aya-bench-refresh-") as scratch_name:
            scratch = Path(scratch_name)
            home = scratch / "dagster_home"
            home.mkdir()
            with (
                _environment(registry, server, scratch),
                DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY) as instance,
            ):
                progress(f"setup: loading {tenants} tenants' history, then one build")
                lines += _setup(registry, instance)
                clock.set(night)
                progress(f"the night: refreshing {tenants} tenants through Dagster")
                lines += _timed_night(night, instance)
    finally:
        server.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    lines.append(f"  peak RSS of this process (sandbox included): {peak:.1f} GiB")
    return lines


@contextmanager
def _environment(registry: TenantRegistry, server: SandboxServer, data: Path) -> Iterator[None]:
    """A data directory holding the registry, the sandbox's URL and credentials."""
    tenants_file = data / "tenants.yaml"
    tenants_file.write_text(
        yaml.safe_dump(registry.model_dump(mode="json", exclude_none=True)), encoding="utf-8"
    )
    saved = dict(os.environ)
    os.environ.update(
        {
            "AYA_DATA_DIR": str(data),
            "AYA_TENANTS_FILE": str(tenants_file),
            "AYA_SANDBOX_URL": server.url,
            "AYA_SLACK_WEBHOOK_URL": f"{server.url}/_sandbox/slack",
            **credential_variables(registry),
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _setup(registry: TenantRegistry, instance: DagsterInstance) -> list[str]:
    # imported here: loading the code location parses the dbt project, once the environment is set
    from orchestration.jobs import WAREHOUSE_BUILD_JOB
    from orchestration.partitions import (
        PARTITION_RANGE_END_TAG,
        PARTITION_RANGE_START_TAG,
        TENANTS,
    )

    started = time.perf_counter()
    runs = ingest(registry, IngestRequest(today=SETUP_DAY), max_workers=SETUP_WORKERS)
    load_seconds = time.perf_counter() - started
    failed = sorted({run.tenant_id for run in runs if run.failed})
    if failed:
        raise RuntimeError(
            f"setup: loading failed for {failed}: {[r.error for r in runs if r.failed]}"
        )
    instance.add_dynamic_partitions(TENANTS.name, registry.ids)
    started = time.perf_counter()
    build = (
        _definitions(SETUP_DAY)
        .resolve_job_def(WAREHOUSE_BUILD_JOB)
        .execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={
                PARTITION_RANGE_START_TAG: registry.ids[0],
                PARTITION_RANGE_END_TAG: registry.ids[-1],
            },
        )
    )
    build_seconds = time.perf_counter() - started
    rows = sum(run.rows for run in runs)
    return [
        f"  setup ({SETUP_DAY}): history loaded with ingestion.runner in {load_seconds:.1f} s "
        f"({len(runs)} tenant x source runs, {rows:,} rows, {SETUP_WORKERS} threads); first "
        f"build {build_seconds:.1f} s ({'succeeded' if build.success else 'FAILED'})"
    ]


def _timed_night(night: date, instance: DagsterInstance) -> list[str]:
    from orchestration.refresh import refresh_tenants

    definitions = _definitions(night)
    started = time.perf_counter()
    refresh = refresh_tenants(definitions, instance, console_log_level="ERROR")
    seconds = time.perf_counter() - started
    ingestion_seconds = sum(
        _run_seconds(instance, result.run_id) for result in refresh.ingestion.values()
    )
    build_seconds = _run_seconds(instance, refresh.build.run_id) if refresh.build else 0.0
    steps = _step_seconds(instance, refresh.build.run_id) if refresh.build else {}
    published = len(refresh.ingestion) - len(refresh.failed_tenants)
    build = ", ".join(f"{step} {steps.get(step, 0):.1f} s" for step in BUILD_STEPS)
    failed = f" (failed: {', '.join(refresh.failed_tenants)})" if refresh.failed_tenants else ""
    return [
        f"  the night ({night}): {seconds:.1f} s wall = {seconds / 60:.1f} min; "
        f"{published} of {len(refresh.ingestion)} tenants published{failed}",
        f"    ingestion: {len(refresh.ingestion)} tenant_ingest runs, {ingestion_seconds:.1f} s "
        f"({ingestion_seconds / len(refresh.ingestion):.1f} s per tenant)",
        f"    build: one warehouse_build run, {build_seconds:.1f} s ({build})",
        f"    the rest (run bookkeeping, stale marks): "
        f"{seconds - ingestion_seconds - build_seconds:.1f} s",
    ]


def _definitions(today: date):
    from orchestration.definitions import build_definitions
    from orchestration.resources import Ingestion

    return build_definitions(ingestion=Ingestion(today=today.isoformat()))


def _run_seconds(instance: DagsterInstance, run_id: str) -> float:
    record = instance.get_run_record_by_id(run_id)
    return (record.end_time or 0) - (record.start_time or 0)


def _step_seconds(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """step key → seconds from its start to its success or failure."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            seconds[entry.step_key] = entry.timestamp - started.get(entry.step_key, entry.timestamp)
    return seconds
