"""`aya demo`: start the sandbox, show what it serves, and load every demo tenant from it.

The demo serves the vendor APIs, prints where each lives and summarises the last days of ground
truth per tenant and source; then it ingests every tenant × source (plus FX) into
`AYA_DATA_DIR/warehouse.duckdb` with the sandbox's credentials, exactly as `aya ingest` does,
and keeps serving until Ctrl+C (`--no-serve` stops after loading).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import httpx
from rich.console import Console
from rich.table import Table

from aya.tenants import TenantRegistry
from ingestion.progress import show_live
from ingestion.runner import IngestRequest, ingest, plan_runs
from ingestion.settings import warehouse_path
from sandbox.app import VENDOR_PREFIXES
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import World
from sandbox.world.truth import truth


def run_demo(
    registry: TenantRegistry, *, port: int, days: int, serve: bool, console: Console
) -> None:
    server = SandboxServer(World(registry), port=port).start()
    os.environ["AYA_SANDBOX_URL"] = server.url
    health = httpx.get(f"{server.url}/_sandbox/health", timeout=10).json()
    console.print(f"[bold]Sandbox[/bold] on {server.url} (today = {health['today']})")
    console.print(f"  export AYA_SANDBOX_URL={server.url}")
    _print_endpoints(registry, server.url, console)
    last = server.world.today_date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    for tenant in registry.tenants:
        _print_tenant_summary(server.world, tenant.id, first, last, console)
    loaded = _load_every_tenant(registry, server, console)
    if not serve:
        server.stop()
        if not loaded:
            raise SystemExit(1)
        return
    console.print("Serving; press Ctrl+C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


def _load_every_tenant(registry: TenantRegistry, server: SandboxServer, console: Console) -> bool:
    """`aya ingest` for every tenant, with the sandbox's credentials; True if all loaded."""
    os.environ.update(credential_variables(registry))
    request = IngestRequest(today=server.world.today_date())
    runs = plan_runs(registry, request)
    console.print(f"[bold]Loading[/bold] every demo tenant into {warehouse_path()}")
    show_live(runs, lambda: ingest(registry, request, runs), console)
    return not any(run.failed for run in runs)


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
