"""`aya demo`: the whole pipeline for the demo tenants, from the sandbox to the Dagster UI.

1. Start the sandbox and show what it serves: where each vendor API lives and the last days of
   ground truth per tenant and source.
2. Refresh every tenant through Dagster (`orchestration.refresh`), exactly as the 02:00 UTC
   schedule and the nightly build sensor do: one ingestion run per tenant with the sandbox's
   credentials, then one build (FX, dbt for all tenants, a serving snapshot per tenant); then
   evaluate the freshness checks once. Runs are recorded in `$DAGSTER_HOME` (default
   `AYA_DATA_DIR/dagster_home`), so the UI shows them; failure alerts go to the sandbox's Slack
   stand-in unless `AYA_SLACK_WEBHOOK_URL` is set.
3. Print each tenant's snapshot, then serve the Dagster UI (`dagster dev`) with the sandbox still
   running, until Ctrl+C. `--no-serve` stops after step 2 and exits 1 if a tenant failed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from aya.snapshots import current_manifest
from aya.tenants import TenantRegistry
from ingestion.settings import data_dir
from sandbox.app import VENDOR_PREFIXES
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import World
from sandbox.world.truth import truth

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER_UI_PORT = 3000


def run_demo(
    registry: TenantRegistry, *, port: int, days: int, serve: bool, console: Console
) -> None:
    server = SandboxServer(World(registry), port=port).start()
    try:
        _configure_environment(registry, server)
        health = httpx.get(f"{server.url}/_sandbox/health", timeout=10).json()
        console.print(f"[bold]Sandbox[/bold] on {server.url} (today = {health['today']})")
        console.print(f"  export AYA_SANDBOX_URL={server.url}")
        _print_endpoints(registry, server.url, console)
        last = server.world.today_date() - timedelta(days=1)
        first = last - timedelta(days=days - 1)
        for tenant in registry.tenants:
            _print_tenant_summary(server.world, tenant.id, first, last, console)
        failed = _refresh_every_tenant(registry, console)
        if serve:
            _serve_dagster_ui(console)
        elif failed:
            raise SystemExit(1)
    finally:
        server.stop()


def _configure_environment(registry: TenantRegistry, server: SandboxServer) -> None:
    """Sandbox URL and credentials, a Dagster home with the project's instance settings, and a
    Slack webhook: what both this process and `dagster dev` need."""
    os.environ["AYA_SANDBOX_URL"] = server.url
    os.environ.update(credential_variables(registry))
    os.environ.setdefault("AYA_SLACK_WEBHOOK_URL", f"{server.url}/_sandbox/slack")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir() / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")


def _refresh_every_tenant(registry: TenantRegistry, console: Console) -> list[str]:
    """Refresh every tenant through Dagster, then evaluate the freshness checks once, as the
    hourly schedule would; the ids of the tenants that did not publish."""
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions
    from orchestration.jobs import FRESHNESS_JOB
    from orchestration.refresh import refresh_tenants

    log = data_dir() / "logs" / "demo_refresh.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Refreshing[/bold] {len(registry.tenants)} tenants through Dagster (one ingestion "
        "run per tenant, then one build: FX, dbt, snapshots); this takes a few minutes… "
        f"(dbt's output: {log})"
    )
    definitions = build_definitions()
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    # dagster-dbt echoes every dbt log line to stdout: keep it in the log file, not the console
    with log.open("w") as sink, redirect_stdout(sink), DagsterInstance.get() as instance:
        refresh = refresh_tenants(definitions, instance, registry.ids, console_log_level="ERROR")
        definitions.resolve_job_def(FRESHNESS_JOB).execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet
        )
    table = Table("tenant", "run", "snapshot", "tables", "rows", "stale", title="serving snapshots")
    for tenant_id in refresh.ingestion:
        manifest = current_manifest(tenant_id) or {}
        tables = manifest.get("tables", {})
        table.add_row(
            tenant_id,
            "[green]published[/green]" if refresh.published(tenant_id) else "[red]failed[/red]",
            manifest.get("version", "—"),
            str(len(tables)),
            str(sum(t.get("rows", 0) for t in tables.values())),
            str(manifest.get("stale") or "no"),
        )
    console.print(table)
    return refresh.failed_tenants


def _serve_dagster_ui(console: Console) -> None:
    """`dagster dev` on the project's workspace until Ctrl+C (the sandbox keeps serving)."""
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml"]
    command += ["--port", str(DAGSTER_UI_PORT)]
    console.print(f"[bold]Dagster UI[/bold] on http://127.0.0.1:{DAGSTER_UI_PORT} — Ctrl+C stops.")
    process = subprocess.Popen(command, cwd=REPO_ROOT, start_new_session=True)
    try:
        process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGINT)  # dagster dev stops its children on SIGINT
        process.wait()


def _print_endpoints(registry: TenantRegistry, url: str, console: Console) -> None:
    table = Table("tenant", "source", "account", "base URL")
    for tenant in registry.tenants:
        for source, config in tenant.sources.items():
            base = config.resolved_base_url(f"{url}{VENDOR_PREFIXES[source.value]}")
            table.add_row(tenant.id, source.value, config.account_id, base)
    console.print(table)


def _print_tenant_summary(world: World, tenant_id, first, last, console: Console) -> None:
    rows = truth(world, tenant_id, first, last)
    table = Table(
        "source",
        "currency",
        "days",
        "spend",
        "clicks",
        "platform conv.",
        "orders",
        "net revenue",
        "fees",
        "sessions",
        title=f"{tenant_id}: served {first} .. {last} (reporting currency amounts)",
    )
    by_source: dict[tuple[str, str], list] = {}
    for row in rows:
        by_source.setdefault((row.source, row.currency), []).append(row)
    for (source, currency), group in by_source.items():
        table.add_row(
            source,
            currency,
            str(len(group)),
            str(sum(r.reporting["spend"] for r in group)),
            str(sum(r.clicks for r in group)),
            str(sum(r.platform_conversions for r in group)),
            str(sum(r.orders for r in group)),
            str(sum(r.reporting["net_revenue"] for r in group)),
            str(sum(r.reporting["fees"] for r in group)),
            str(sum(r.sessions for r in group)),
        )
    console.print(table)
