"""Fixtures for the dbt project's tests: a warehouse ingested from the sandbox, and dbt runs on it.

dbt runs for real, as analysts run it: the project's own `dbt` executable in a subprocess from
the repo root, with AYA_DATA_DIR pointing at the test's warehouse. Its target/ and logs/ go next
to that warehouse, so parallel test runs never share dbt's artifacts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aya.tenants import TenantRegistry
from ingestion.runner import IngestRequest, ingest
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import REPO_ROOT, SANDBOX_TODAY

DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
DEFAULT_SHOPIFY_WINDOW = (date(2026, 10, 20), date(2026, 11, 5))
DEFAULT_FX_WINDOW = (date(2026, 10, 5), date(2026, 11, 19))


@dataclass(frozen=True)
class DbtRun:
    """One finished dbt invocation."""

    args: tuple[str, ...]
    returncode: int
    output: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


def run_dbt(data_dir: Path, *args: str, timeout: float = 600) -> DbtRun:
    """`dbt <args>` from the repo root on the warehouse in `data_dir`."""
    environment = {
        **os.environ,
        "AYA_DATA_DIR": str(data_dir),
        "DBT_TARGET_PATH": str(data_dir / "dbt_target"),
        "DBT_LOG_PATH": str(data_dir / "dbt_logs"),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
        "DBT_USE_COLORS": "false",
        "DBT_VERSION_CHECK": "false",
    }
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return DbtRun(tuple(args), completed.returncode, completed.stdout + completed.stderr)


def query(data_dir: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    """Rows of `sql` on the warehouse in `data_dir`, opened read-only."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def copy_warehouse(source_dir: Path, target_dir: Path) -> Path:
    """A private copy of the warehouse in `source_dir`, for a test that changes it."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (source_dir / name).exists():
            shutil.copy2(source_dir / name, target_dir / name)
    return target_dir


@pytest.fixture(scope="module")
def ingested_data_dir(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: SandboxServer,
    registry: TenantRegistry,
    request: pytest.FixtureRequest,
) -> Iterator[Path]:
    """A data dir whose warehouse holds the demo tenants' Shopify data and FX rates.

    A module may set `SHOPIFY_WINDOW` and `FX_WINDOW` (first, last day) for what to load.
    """
    shopify_window: tuple[date, date] = getattr(
        request.module, "SHOPIFY_WINDOW", DEFAULT_SHOPIFY_WINDOW
    )
    fx_window: tuple[date, date] = getattr(request.module, "FX_WINDOW", DEFAULT_FX_WINDOW)
    data_dir = tmp_path_factory.mktemp("dbt_warehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AYA_DATA_DIR", str(data_dir))
        patch.setenv("AYA_SANDBOX_URL", sandbox.url)
        for tenant in registry.tenants:
            for source in tenant.sources:
                for key, value in sandbox_credentials(tenant.id, source).items():
                    name = f"SOURCES__{source.value.upper()}__{tenant.id.upper()}__{key.upper()}"
                    patch.setenv(name, value)
        runs = [
            *ingest(
                registry,
                IngestRequest(
                    sources=("fx",),
                    first_day=fx_window[0],
                    last_day=fx_window[1],
                    today=SANDBOX_TODAY,
                ),
            ),
            *ingest(
                registry,
                IngestRequest(
                    sources=("shopify",),
                    first_day=shopify_window[0],
                    last_day=shopify_window[1],
                    today=SANDBOX_TODAY,
                ),
            ),
        ]
    failed = [f"{run.tenant_id}/{run.source}: {run.error}" for run in runs if run.failed]
    assert not failed, failed
    yield data_dir


@pytest.fixture(scope="module")
def built_data_dir(ingested_data_dir: Path) -> Path:
    """The ingested warehouse after a plain `dbt build` (every tenant), which must pass."""
    build = run_dbt(ingested_data_dir, "build")
    assert build.succeeded, build.output
    return ingested_data_dir


@pytest.fixture
def private_warehouse(built_data_dir: Path, tmp_path: Path) -> Path:
    """A copy of the built warehouse that a test may change without disturbing the others."""
    return copy_warehouse(built_data_dir, tmp_path / "data")
