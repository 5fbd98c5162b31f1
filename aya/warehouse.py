"""Access to `warehouse.duckdb`: one process at a time, and what dlt recorded about loads.

DuckDB lets one process open a database file for writing, and a process that opens it while
another holds it fails. So everything that opens the warehouse (dlt's normalize and load, dbt
invocations, snapshot exports, checks reading it) does so inside `warehouse_lock()`: an
exclusive `fcntl.flock` on `AYA_DATA_DIR/warehouse.lock` keeps other processes out, and a thread
lock keeps other threads of this process out (flock alone would not: it is per open file). API
extraction runs outside the lock, so tenants' extractions overlap. The lock is not re-entrant.

`last_successful_loads` reads dlt's bookkeeping (`_dlt_loads` of each raw dataset): when each
source of a tenant last loaded completely. Snapshots record it as their data-as-of time, and
freshness checks compare it with the expected cadence. `rows_loaded_since` counts what recent
loads wrote, table by table.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb

from aya.tenants import SourceName
from ingestion.settings import FX_DATASET, FX_SOURCE, data_dir, dataset_name, warehouse_path

LOCK_FILE_NAME = "warehouse.lock"
_THREADS = threading.Lock()


def lock_path() -> Path:
    return data_dir() / LOCK_FILE_NAME


@contextmanager
def warehouse_lock() -> Iterator[None]:
    """Hold the warehouse exclusively: no other thread or process opens it meanwhile."""
    with _THREADS:
        path = lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def read_only_warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, opened and closed under `warehouse_lock()`."""
    with warehouse_lock(), duckdb.connect(str(warehouse_path()), read_only=True) as connection:
        yield connection


def last_successful_loads(
    connection: duckdb.DuckDBPyConnection, tenant_id: str
) -> dict[str, datetime]:
    """source → when its last complete load for `tenant_id` was committed; `fx` (shared) too.
    Sources never loaded for the tenant are absent."""
    datasets = {source.value: dataset_name(source.value, tenant_id) for source in SourceName}
    datasets[FX_SOURCE] = FX_DATASET
    loads = {source: last_successful_load(connection, ds) for source, ds in datasets.items()}
    return {source: loaded_at for source, loaded_at in loads.items() if loaded_at is not None}


def last_successful_load(connection: duckdb.DuckDBPyConnection, dataset: str) -> datetime | None:
    """When the last complete load of `dataset` was committed; None if it never loaded.

    dlt writes a `_dlt_loads` row with status 0 when a load package is fully committed; a failed
    or aborted load leaves none.
    """
    if not _has_table(connection, dataset, "_dlt_loads"):
        return None
    [(loaded_at,)] = connection.sql(
        f'select max(inserted_at) from "{dataset}"._dlt_loads where status = 0'
    ).fetchall()
    return loaded_at


def rows_loaded_since(
    connection: duckdb.DuckDBPyConnection, dataset: str, since: datetime
) -> dict[str, int]:
    """table → rows written into it by the loads of `dataset` committed at or after `since`.

    Counts the root tables (those carrying `_dlt_load_id`); dlt's nested tables and its own
    bookkeeping tables are left out.
    """
    if not _has_table(connection, dataset, "_dlt_loads"):
        return {}
    tables = connection.sql(
        "select table_name from information_schema.columns where table_schema = $dataset "
        "and column_name = '_dlt_load_id' and not starts_with(table_name, '_dlt')",
        params={"dataset": dataset},
    ).fetchall()
    loads = f'select load_id from "{dataset}"._dlt_loads where status = 0 and inserted_at >= $since'
    counts: dict[str, int] = {}
    for (table,) in tables:
        [(rows,)] = connection.sql(
            f'select count(*) from "{dataset}"."{table}" where _dlt_load_id in ({loads})',
            params={"since": since},
        ).fetchall()
        counts[table] = rows
    return counts


def _has_table(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = connection.sql(
        "select 1 from information_schema.tables where table_schema = $schema "
        "and table_name = $table",
        params={"schema": schema, "table": table},
    ).fetchall()
    return bool(rows)
