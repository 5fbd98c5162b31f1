"""Serving snapshots: each tenant's marts published as immutable Parquet versions, and the reader.

Layout, under `AYA_DATA_DIR/serving/<tenant>/`:

    <version>/<table>.parquet   one file per table, holding only that tenant's rows
    <version>/manifest.json     build time, run id, data-as-of per source, row counts, staleness
    CURRENT                     the name of the version being served

`publish_snapshot` writes a new version into a hidden temporary directory, fsyncs every file and
the directory, renames it into place, then switches `CURRENT` atomically (write `CURRENT.tmp`,
fsync, rename, fsync the tenant directory) and deletes all but the newest `keep` versions. A
reader resolves `CURRENT` once and reads only that version's files, so it sees the old version or
the new one, never a mix. Publishing reads the warehouse: the caller holds the warehouse lock,
which also makes it the only publisher. A tenant whose refresh failed keeps serving its current
version; `mark_stale` records why in that version's manifest (the one thing ever rewritten).

`open_tenant_snapshot` is how the serving side reads: an in-memory DuckDB holding one view per
table over the current version's Parquet files, with file access then locked down to exactly
those files, so a session cannot read another tenant's data or anything else on disk. Versions
are kept for `keep` publishes: open a connection per request (it is cheap: views only) rather
than holding one across days.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from aya.tenants import TENANT_ID_PATTERN
from ingestion.settings import data_dir

SERVING_DIR_NAME = "serving"
CURRENT_POINTER = "CURRENT"
MANIFEST_FILE = "manifest.json"
KEEP_VERSIONS = 3
VERSION_FORMAT = "%Y%m%dT%H%M%S%fZ"
VERSION_PATTERN = re.compile(r"^\d{8}T\d{12}Z$")
TABLE_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
TEMPORARY_PREFIX = ".tmp-"


class SnapshotError(RuntimeError):
    """A snapshot cannot be published or opened; the message says which tenant and why."""


def serving_dir() -> Path:
    return data_dir() / SERVING_DIR_NAME


def tenant_dir(tenant_id: str) -> Path:
    """`serving/<tenant_id>`, refusing anything that is not a tenant slug or leaves serving/."""
    if not TENANT_ID_PATTERN.match(tenant_id):
        raise SnapshotError(f"{tenant_id!r} is not a tenant id (a slug like 'northwind_fashion')")
    root = serving_dir().resolve()
    path = (root / tenant_id).resolve()
    if not path.is_relative_to(root) or path == root:
        raise SnapshotError(f"tenant {tenant_id!r} resolves outside {root}")
    return path


# --- publishing ---------------------------------------------------------------------------------


def publish_snapshot(
    tenant_id: str,
    warehouse: duckdb.DuckDBPyConnection,
    tables: Mapping[str, str],
    data_as_of: Mapping[str, datetime],
    run_id: str,
    keep: int = KEEP_VERSIONS,
) -> dict[str, Any]:
    """Publish `tenant_id`'s rows of `tables` (name → warehouse relation) as its new current
    version and return its manifest. Every table must have a `tenant_id` column."""
    root = tenant_dir(tenant_id)
    root.mkdir(parents=True, exist_ok=True)
    built_at = datetime.now(UTC)
    version = built_at.strftime(VERSION_FORMAT)
    staging = root / f"{TEMPORARY_PREFIX}{version}"
    staging.mkdir()
    manifest = {
        "tenant_id": tenant_id,
        "version": version,
        "built_at": built_at.isoformat(),
        "run_id": run_id,
        "data_as_of": {source: moment.isoformat() for source, moment in sorted(data_as_of.items())},
        "tables": {
            name: _export_table(warehouse, relation, tenant_id, staging, name)
            for name, relation in sorted(tables.items())
        },
        "stale": None,
    }
    _write_atomically(staging / MANIFEST_FILE, json.dumps(manifest, indent=2))
    _fsync(staging)
    staging.rename(root / version)
    _fsync(root)
    _write_atomically(root / CURRENT_POINTER, version)
    _prune(root, keep)
    return manifest


def _export_table(
    warehouse: duckdb.DuckDBPyConnection, relation: str, tenant_id: str, folder: Path, name: str
) -> dict[str, Any]:
    if not TABLE_NAME_PATTERN.match(name):
        raise SnapshotError(f"tenant {tenant_id!r}: {name!r} is not a plain table name")
    path = folder / f"{name}.parquet"
    warehouse.execute(
        f"copy (select * from {relation} where tenant_id = '{tenant_id}') "
        f"to '{path}' (format parquet)"
    )
    _fsync(path)
    [(rows,)] = warehouse.sql(f"select count(*) from read_parquet('{path}')").fetchall()
    return {"file": path.name, "rows": rows}


def _prune(root: Path, keep: int) -> None:
    """Delete all but the newest `keep` versions, and leftovers of interrupted publishes."""
    for leftover in root.glob(f"{TEMPORARY_PREFIX}*"):
        shutil.rmtree(leftover)
    for version in _versions(root)[:-keep]:
        shutil.rmtree(root / version)


def _versions(root: Path) -> list[str]:
    """The published versions of a tenant, oldest first."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name))


def mark_stale(tenant_id: str, reason: str, failed_at: datetime) -> bool:
    """Record in the current version's manifest that a refresh failed at `failed_at`, unless
    that version was built afterwards. False when there is nothing to mark."""
    version_dir = _current_version_dir(tenant_id)
    if version_dir is None:
        return False
    manifest = json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    if datetime.fromisoformat(manifest["built_at"]) >= failed_at:
        return False
    manifest["stale"] = {"since": failed_at.isoformat(), "reason": reason}
    _write_atomically(version_dir / MANIFEST_FILE, json.dumps(manifest, indent=2))
    return True


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` in one step: write a sibling, fsync it, rename, fsync the dir."""
    temporary = path.with_name(f"{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.rename(path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- reading ------------------------------------------------------------------------------------


def current_manifest(tenant_id: str) -> dict[str, Any] | None:
    """The manifest of the version `tenant_id` serves now, or None before its first publish."""
    version_dir = _current_version_dir(tenant_id)
    if version_dir is None:
        return None
    return json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


def open_tenant_snapshot(tenant_id: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB over `tenant_id`'s current snapshot: one view per table, reading
    only that version's Parquet files; any other file access is refused and cannot be re-enabled.
    """
    version_dir = _current_version_dir(tenant_id)
    if version_dir is None:
        raise SnapshotError(f"tenant {tenant_id!r} has no published snapshot yet")
    manifest = json.loads((version_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    files = {name: _table_file(version_dir, name) for name in manifest["tables"]}
    connection = duckdb.connect(":memory:")
    for name, path in files.items():
        connection.execute(f"create view \"{name}\" as select * from read_parquet('{path}')")
    allowed = ", ".join(f"'{path}'" for path in files.values())
    connection.execute(f"set allowed_paths = [{allowed}]")
    connection.execute("set enable_external_access = false")
    connection.execute("set lock_configuration = true")
    return connection


def _current_version_dir(tenant_id: str) -> Path | None:
    root = tenant_dir(tenant_id)
    try:
        version = (root / CURRENT_POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not VERSION_PATTERN.match(version):
        raise SnapshotError(f"tenant {tenant_id!r}: {root / CURRENT_POINTER} is corrupt")
    return root / version


def _table_file(version_dir: Path, name: str) -> Path:
    if not TABLE_NAME_PATTERN.match(name):
        raise SnapshotError(f"{version_dir / MANIFEST_FILE} lists a bad table name {name!r}")
    return version_dir / f"{name}.parquet"
