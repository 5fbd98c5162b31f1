"""The runner's promises: failures stay local, secrets stay secret, a kill loses nothing.

These tests drive `aya ingest` the way the data team does (in-process and as a real process),
with Shopify and FX as the sources at hand, and check what a user sees and what the warehouse
holds afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aya.cli import app
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from tests.ingestion.conftest import query

NORTHWIND = "northwind_fashion"
THISTLE = "thistle_and_thread"
WINDOW = (date(2026, 10, 5), date(2026, 10, 11))
WRONG_TOKEN = "shpat_0123456789abcdef0123456789abcdef"


def shopify_token_variable(tenant_id: str) -> str:
    return f"SOURCES__SHOPIFY__{tenant_id.upper()}__ACCESS_TOKEN"


def every_secret() -> list[str]:
    """Every credential value the demo tenants use (all must stay out of output)."""
    from aya.tenants import SourceName

    return [
        value
        for tenant_id in (NORTHWIND, THISTLE, "ledgerly_saas")
        for source in SourceName
        for value in sandbox_credentials(tenant_id, source).values()
    ] + [WRONG_TOKEN]


def order_count(warehouse: Path, tenant_id: str) -> int:
    [(count,)] = query(warehouse, f"select count(*) from raw_shopify__{tenant_id}.orders")
    return count


def test_bad_credentials_for_one_tenant_do_not_stop_the_others(
    run_ingest, warehouse: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(shopify_token_variable(NORTHWIND), WRONG_TOKEN)
    caplog.set_level(logging.DEBUG)

    runs = run_ingest(
        tenant_ids=(NORTHWIND, THISTLE),
        sources=("shopify", "fx"),
        first_day=WINDOW[0],
        last_day=WINDOW[1],
    )

    status = {(run.tenant_id, run.source): run for run in runs}
    failed = status[(NORTHWIND, "shopify")]
    assert failed.failed
    assert f"tenant '{NORTHWIND}', source 'shopify'" in failed.error
    assert f"[sources.shopify.{NORTHWIND}]" in failed.error
    assert not status[(THISTLE, "shopify")].failed, status[(THISTLE, "shopify")].error
    assert not status[("*", "fx")].failed
    assert order_count(warehouse, THISTLE) > 0
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in every_secret():
        assert secret not in failed.error
        assert secret not in logged


def test_missing_credentials_say_which_variable_to_set(
    run_ingest, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(shopify_token_variable(THISTLE))

    [run] = run_ingest(
        tenant_ids=(THISTLE,), sources=("shopify",), first_day=WINDOW[0], last_day=WINDOW[1]
    )

    assert run.failed
    assert shopify_token_variable(THISTLE) in run.error
    assert "aya sandbox credentials" in run.error


def test_the_cli_finishes_every_run_then_exits_non_zero(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shopify_token_variable(NORTHWIND), WRONG_TOKEN)

    result = CliRunner().invoke(
        app,
        [
            *("ingest", "--tenant", NORTHWIND, "--tenant", THISTLE, "--source", "shopify"),
            *("--from", WINDOW[0].isoformat(), "--to", WINDOW[1].isoformat()),
        ],
    )

    assert result.exit_code == 1, result.output
    assert "ingestion summary" in result.output
    assert "1 of 2 tenant × source runs failed" in result.output
    assert f"tenant '{NORTHWIND}', source 'shopify'" in result.output
    assert order_count(warehouse, THISTLE) > 0
    for secret in every_secret():
        assert secret not in result.output


def test_an_unknown_tenant_is_refused_before_anything_runs(warehouse: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "--tenant", "no_such_client"])

    assert result.exit_code == 2
    assert "no_such_client" in result.output
    assert not warehouse.exists()


def test_a_process_killed_while_loading_loses_nothing(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    first = run_ingest(
        tenant_ids=(NORTHWIND,), sources=("shopify",), first_day=WINDOW[0], last_day=WINDOW[1]
    )
    assert not first[0].failed, first[0].error
    loaded_before = order_count(warehouse, NORTHWIND)

    killed = kill_while_loading(warehouse.parent, NORTHWIND)

    assert killed, "the ingest process finished before it could be killed while loading"
    assert order_count(warehouse, NORTHWIND) >= loaded_before
    [again] = run_ingest(
        tenant_ids=(NORTHWIND,), sources=("shopify",), first_day=WINDOW[0], last_day=WINDOW[1]
    )
    assert not again.failed, again.error
    [(orders, distinct)] = query(
        warehouse, f"select count(*), count(distinct id) from raw_shopify__{NORTHWIND}.orders"
    )
    assert orders == distinct == loaded_before
    normalized = warehouse.parent / "dlt_pipelines" / f"aya__shopify__{NORTHWIND}" / "load"
    assert not list((normalized / "normalized").glob("*")), "a package was left unloaded"


def kill_while_loading(data_dir: Path, tenant_id: str) -> bool:
    """Run `aya ingest` in its own process and SIGKILL it once a package is being loaded."""
    loading = data_dir / "dlt_pipelines" / f"aya__shopify__{tenant_id}" / "load" / "normalized"
    command = [str(Path(sys.executable).parent / "aya"), "ingest", "--tenant", tenant_id]
    command += ["--source", "shopify", "--from", WINDOW[0].isoformat()]
    command += ["--to", WINDOW[1].isoformat()]
    process = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while process.poll() is None:
            if loading.exists() and any(loading.iterdir()):
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.002)
        return False
    finally:
        if process.poll() is None:
            process.kill()
