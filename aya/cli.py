"""The `aya` command line: one entry point for the data team's everyday commands.

Subcommands are grouped by what they act on: `aya tenants` (the registry), `aya sandbox` (the
local vendor emulator), `aya bench` (measurements) and `aya demo`. Each group's logic lives in
its own module; this file only parses arguments and prints.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aya.tenants import SourceName, TenantRegistryError, load_registry, tenants_file_path

app = typer.Typer(no_args_is_help=True, help="Ask Your Ads: the agency's marketing warehouse.")
tenants_app = typer.Typer(no_args_is_help=True, help="Inspect and validate tenants.yaml.")
sandbox_app = typer.Typer(no_args_is_help=True, help="The local emulator of the vendor APIs.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (figures go to docs/benchmarks.md).")
app.add_typer(tenants_app, name="tenants")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(bench_app, name="bench")

console = Console()
TenantsFile = Annotated[
    Path | None, typer.Option("--tenants-file", help="Registry path (default: $AYA_TENANTS_FILE).")
]


def _registry(tenants_file: Path | None):
    try:
        return load_registry(tenants_file or tenants_file_path())
    except TenantRegistryError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


@tenants_app.command("validate")
def tenants_validate(tenants_file: TenantsFile = None) -> None:
    """Validate the registry; print every problem with file, tenant and field."""
    registry = _registry(tenants_file)
    console.print(f"[green]OK[/green]: {len(registry.tenants)} tenants: {', '.join(registry.ids)}")


@tenants_app.command("list")
def tenants_list(tenants_file: TenantsFile = None) -> None:
    """One line per tenant: currency, timezone and enabled sources."""
    table = Table("tenant", "name", "currency", "timezone", "sources")
    for tenant in _registry(tenants_file).tenants:
        table.add_row(
            tenant.id,
            tenant.display_name,
            tenant.reporting_currency,
            tenant.timezone,
            ", ".join(source.value for source in tenant.sources),
        )
    console.print(table)


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    today: Annotated[
        str | None, typer.Option(help="Fix the sandbox's today (YYYY-MM-DD); default: real date.")
    ] = None,
    tenants_file: TenantsFile = None,
) -> None:
    """Serve every vendor API for the registry's tenants until interrupted."""
    from sandbox.server import serve_forever
    from sandbox.world.calendar import SandboxClock
    from sandbox.world.tenant_world import World

    clock = SandboxClock(date.fromisoformat(today) if today else None)
    world = World(_registry(tenants_file), clock)
    console.print(f"Sandbox for {', '.join(world.registry.ids)} on http://127.0.0.1:{port}")
    console.print(f"  export AYA_SANDBOX_URL=http://127.0.0.1:{port}")
    serve_forever(world, port)


@sandbox_app.command("truth")
def sandbox_truth(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD).")],
    source: Annotated[list[SourceName] | None, typer.Option(help="Limit to sources.")] = None,
    today: Annotated[str | None, typer.Option(help="The sandbox's today (YYYY-MM-DD).")] = None,
    output: Annotated[str, typer.Option(help="table, csv or json.")] = "table",
    tenants_file: TenantsFile = None,
) -> None:
    """True daily totals per source, in original and reporting currency."""
    from sandbox.world.calendar import SandboxClock
    from sandbox.world.tenant_world import World
    from sandbox.world.truth import truth

    registry = _registry(tenants_file)
    if tenant not in registry.ids:
        console.print(f"[red]unknown tenant {tenant!r}; known: {', '.join(registry.ids)}[/red]")
        raise typer.Exit(2)
    world = World(registry, SandboxClock(date.fromisoformat(today) if today else None))
    rows = [row.as_dict() for row in truth(world, tenant, _day(from_), _day(to), source)]
    _print_rows(rows, output)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date like 2026-11-01") from None


def _print_rows(rows: list[dict[str, object]], output: str) -> None:
    if not rows:
        console.print("no data in that range")
        return
    if output == "json":
        print(json.dumps(rows, default=str, indent=1))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        shown = [k for k in rows[0] if any(row[k] not in (0, None, "0") for row in rows)]
        table = Table(*shown)
        for row in rows:
            table.add_row(*(str(row[key]) for key in shown))
        console.print(table)


@sandbox_app.command("credentials")
def sandbox_credentials_command(
    write: Annotated[
        Path | None, typer.Option(help="Write them as dlt secrets to this TOML file.")
    ] = None,
    tenants_file: TenantsFile = None,
) -> None:
    """The credentials the sandbox accepts for each tenant × source, as dlt secrets."""
    from sandbox.credentials import secrets_toml

    text = secrets_toml(_registry(tenants_file))
    if write is None:
        print(text)
        return
    write.parent.mkdir(parents=True, exist_ok=True)
    write.write_text(text, encoding="utf-8")
    write.chmod(0o600)
    console.print(f"wrote sandbox credentials to {write}")


@app.command("ingest")
def ingest_command(
    tenant: Annotated[list[str] | None, typer.Option(help="Tenant id (repeatable).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Source, or fx (repeatable).")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD).")] = None,
    workers: Annotated[int, typer.Option(help="Parallel extractions.")] = 4,
    tenants_file: TenantsFile = None,
) -> None:
    """Load tenants' sources into the warehouse; exit 1 if any tenant × source failed."""
    from ingestion.progress import show_live
    from ingestion.runner import IngestRequest, ingest, plan_runs

    known = {s.value for s in SourceName} | {"fx"}
    for name in source or []:
        if name not in known:
            raise typer.BadParameter(f"unknown source {name!r}; choose from {sorted(known)}")
    registry = _registry(tenants_file)
    request = IngestRequest(
        tenant_ids=tuple(tenant or ()),
        sources=tuple(source or ()),
        first_day=_day(from_) if from_ else None,
        last_day=_day(to) if to else None,
    )
    try:
        runs = plan_runs(registry, request)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    show_live(runs, lambda: ingest(registry, request, runs, workers), console)
    if any(run.failed for run in runs):
        raise typer.Exit(1)


@bench_app.command("sandbox")
def bench_sandbox(
    days: Annotated[int, typer.Option(help="Days per tenant to page through.")] = 365,
    tenants_file: TenantsFile = None,
) -> None:
    """Time paging one tenant-period through every sandbox endpoint."""
    from benchmarks.sandbox_serving import run_sandbox_benchmark

    for line in run_sandbox_benchmark(_registry(tenants_file), days):
        console.print(line)


@bench_app.command("ingest")
def bench_ingest(
    tenants: Annotated[int, typer.Option(help="Synthetic tenants to load.")] = 3,
    days: Annotated[int, typer.Option(help="Days per tenant to load.")] = 30,
    tenants_file: TenantsFile = None,
) -> None:
    """Rows/s and peak memory per source, next to a json → Arrow → DuckDB baseline."""
    from benchmarks.ingest_throughput import run_ingest_benchmark

    for line in run_ingest_benchmark(_registry(tenants_file), tenants, days):
        console.print(line, soft_wrap=True)


@bench_app.command("dbt")
def bench_dbt(
    tenants: Annotated[int, typer.Option(help="Synthetic tenants cloned from the demo.")] = 10,
    days: Annotated[int, typer.Option(help="Days of raw data per tenant.")] = 90,
    raw_cache: Annotated[
        Path | None,
        typer.Option(help="Keep the demo tenants' ingested raw data here and reuse it."),
    ] = None,
    tenants_file: TenantsFile = None,
) -> None:
    """dbt build time for the demo tenants and for many tenants, next to plain DuckDB."""
    from benchmarks.dbt_build import run_dbt_benchmark

    def progress(message: str) -> None:
        console.log(message)

    for line in run_dbt_benchmark(_registry(tenants_file), tenants, days, raw_cache, progress):
        console.print(line, soft_wrap=True)


@bench_app.command("refresh")
def bench_refresh(
    tenants: Annotated[int, typer.Option(help="Synthetic sandbox tenants.")] = 100,
    history_days: Annotated[
        int, typer.Option(help="Days each tenant's first load backfills.")
    ] = 30,
    tenants_file: TenantsFile = None,
) -> None:
    """Wall time of a first and a next nightly refresh through Dagster for many tenants."""
    from benchmarks.daily_refresh import run_refresh_benchmark

    def progress(message: str) -> None:
        console.log(message)

    registry = _registry(tenants_file)
    for line in run_refresh_benchmark(registry, tenants, history_days, progress):
        console.print(line, soft_wrap=True)


@app.command("demo")
def demo(
    serve: Annotated[
        bool, typer.Option(help="Serve the Dagster UI (and the sandbox) after the refresh.")
    ] = True,
    port: Annotated[int, typer.Option(help="Sandbox port.")] = 8765,
    days: Annotated[int, typer.Option(help="Days of truth to summarise.")] = 7,
    tenants_file: TenantsFile = None,
) -> None:
    """Sandbox → Dagster refresh of every tenant (load, dbt, snapshots) → the Dagster UI."""
    from aya.demo import run_demo

    run_demo(_registry(tenants_file), port=port, days=days, serve=serve, console=console)
