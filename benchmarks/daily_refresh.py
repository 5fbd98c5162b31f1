"""Benchmark: the nightly refresh through Dagster, for many sandbox tenants.

N synthetic tenants (`sandbox.synthetic_tenants`, each modelled on a demo tenant, with its own
world) with `history_days` of history are refreshed twice through
`orchestration.refresh.refresh_tenants`, on a throwaway Dagster instance and data directory:

1. **First night** (sandbox day D): every tenant's first load backfills its history.
2. **Next night** (the sandbox's clock moves to D + 1): what the 02:00 UTC schedule and the build
   sensor do every night. Each source re-reads its restatement window (ads ~30 days, GA4 3,
   Shopify by updatedAt, Stripe by creation, FX 5), then one dbt build for all tenants, then a
   snapshot per tenant.

Each night is one `tenant_ingest` run per tenant, one after another (in-process; the daemon's run
queue would overlap them, which on 2 cores with an in-process sandbox gains little), then one
`warehouse_build` run. The sandbox serves from a thread of this process. The lines printed are
what docs/benchmarks.md records: wall time per night, split into ingestion and the build's steps.
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
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from sandbox.synthetic_tenants import synthetic_registry
from sandbox.world.calendar import SandboxClock
from sandbox.world.tenant_world import World

FIRST_NIGHT = date(2026, 11, 20)
NO_TELEMETRY = {"telemetry": {"enabled": False}}
BUILD_STEPS = ("raw_fx", "dbt_models", "serving__tenant_snapshot")


def run_refresh_benchmark(
    template: TenantRegistry,
    tenants: int,
    history_days: int,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Lines with the wall time of a first and a next nightly refresh of `tenants` tenants."""
    registry = synthetic_registry(template, tenants)
    registry = registry.model_copy(
        update={
            "tenants": [
                tenant.model_copy(update={"history_days": history_days})
                for tenant in registry.tenants
            ]
        }
    )
    clock = SandboxClock(FIRST_NIGHT)
    server = SandboxServer(World(registry, clock=clock)).start()
    lines = [
        f"nightly refresh through Dagster, {tenants} synthetic tenants, {history_days} days of "
        f"history, sandbox days {FIRST_NIGHT} and {FIRST_NIGHT + timedelta(days=1)}"
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="aya-bench-refresh-") as scratch_name:
            scratch = Path(scratch_name)
            with _environment(registry, server, scratch):
                for night, label in ((FIRST_NIGHT, "first night"), (None, "next night")):
                    if night is None:
                        clock.set(FIRST_NIGHT + timedelta(days=1))
                    progress(f"{label}: refreshing {tenants} tenants")
                    lines += _timed_night(label, clock.today(), scratch)
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


def _timed_night(label: str, today: date, scratch: Path) -> list[str]:
    # imported here: loading the code location parses the dbt project, once the environment is set
    from orchestration.definitions import build_definitions
    from orchestration.refresh import refresh_tenants
    from orchestration.resources import Ingestion

    definitions = build_definitions(ingestion=Ingestion(today=today.isoformat()))
    home = scratch / "dagster_home"
    home.mkdir(exist_ok=True)
    with DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY) as instance:
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
    return [
        f"  {label} ({today}): {seconds:.1f} s wall = {seconds / 60:.1f} min; "
        f"{published} of {len(refresh.ingestion)} tenants published"
        + (f" (failed: {', '.join(refresh.failed_tenants)})" if refresh.failed_tenants else ""),
        f"    ingestion: {len(refresh.ingestion)} tenant_ingest runs, {ingestion_seconds:.1f} s "
        f"({ingestion_seconds / len(refresh.ingestion):.1f} s per tenant)",
        f"    build: one warehouse_build run, {build_seconds:.1f} s ({build})",
        f"    the rest (loading the code location, run bookkeeping, stale marks): "
        f"{seconds - ingestion_seconds - build_seconds:.1f} s",
    ]


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
