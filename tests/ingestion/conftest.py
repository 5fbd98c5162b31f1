"""Fixtures for ingestion tests: an empty warehouse per test, wired to the running sandbox.

Credentials reach dlt the way they would in production, as environment variables
(`SOURCES__<SOURCE>__<TENANT>__<KEY>`), here holding the sandbox's values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from aya.tenants import TenantRegistry
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, ingest
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from tests.conftest import SANDBOX_TODAY


@pytest.fixture
def warehouse(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox: SandboxServer,
    registry: TenantRegistry,
) -> Path:
    """Path of a fresh warehouse; AYA_DATA_DIR, AYA_SANDBOX_URL and credentials are set."""
    monkeypatch.setenv("AYA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AYA_SANDBOX_URL", sandbox.url)
    for variable, value in credential_variables(registry).items():
        monkeypatch.setenv(variable, value)
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def run_ingest(registry: TenantRegistry, warehouse: Path) -> Callable[..., list[SourceRun]]:
    """Run `aya ingest` in-process; keyword arguments are those of `IngestRequest`."""

    def run(**request: object) -> list[SourceRun]:
        request.setdefault("today", SANDBOX_TODAY)
        return ingest(registry, IngestRequest(**request))

    return run


def query(warehouse: Path, sql: str) -> list[tuple]:
    """Rows of `sql` on the warehouse, opened read-only."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).fetchall()
