"""Serving snapshots: whole versions only, one tenant per reader, a few versions kept, staleness.

A real DuckDB warehouse holds marts-like tables for two tenants; `aya.snapshots` publishes them as
Parquet under a temporary AYA_DATA_DIR and readers open them the way the app will.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from aya import snapshots
from aya.snapshots import SnapshotError, current_manifest, open_tenant_snapshot, publish_snapshot

TENANT = "acme_shoes"
OTHER = "bolt_bikes"
TABLES = {"fct_orders_daily": "marts.fct_orders_daily", "fct_spend_daily": "marts.fct_spend_daily"}
LOADED_AT = {"shopify": datetime(2026, 11, 20, 2, 5, tzinfo=UTC)}


@pytest.fixture
def warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Two mart tables, both tenants' rows stamped with a `generation` the tests bump."""
    monkeypatch.setenv("AYA_DATA_DIR", str(tmp_path))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute("create schema marts")
        for table in TABLES.values():
            connection.execute(
                f"create table {table} as select tenant_id, day, 0 as generation "
                f"from (values ('{TENANT}'), ('{OTHER}')) as t(tenant_id), "
                "range(date '2026-11-01', date '2026-11-08', interval 1 day) as d(day)"
            )
        yield connection


def bump(connection: duckdb.DuckDBPyConnection, generation: int) -> None:
    for table in TABLES.values():
        connection.execute(f"update {table} set generation = {generation}")


def publish(connection: duckdb.DuckDBPyConnection, tenant: str = TENANT, keep: int = 3) -> dict:
    return publish_snapshot(tenant, connection, TABLES, LOADED_AT, run_id="run-1", keep=keep)


def versions(tenant: str) -> list[str]:
    return sorted(p.name for p in snapshots.tenant_dir(tenant).iterdir() if p.is_dir())


def test_a_snapshot_holds_the_tenants_rows_with_a_manifest(warehouse) -> None:
    manifest = publish(warehouse)

    assert manifest["tenant_id"] == TENANT
    assert manifest["run_id"] == "run-1"
    assert manifest["data_as_of"] == {"shopify": "2026-11-20T02:05:00+00:00"}
    assert manifest["tables"] == {name: {"file": f"{name}.parquet", "rows": 7} for name in TABLES}
    assert manifest["stale"] is None
    assert current_manifest(TENANT) == manifest
    root = snapshots.tenant_dir(TENANT)
    assert (root / "CURRENT").read_text() == manifest["version"]
    assert json.loads((root / manifest["version"] / "manifest.json").read_text()) == manifest
    reader = open_tenant_snapshot(TENANT)
    assert reader.sql("select distinct tenant_id from fct_orders_daily").fetchall() == [(TENANT,)]
    assert reader.sql("select count(*) from fct_spend_daily").fetchall() == [(7,)]


def test_a_reader_during_publishes_sees_one_whole_version(warehouse) -> None:
    publish(warehouse)
    done = threading.Event()

    def publish_generations() -> None:
        for generation in range(1, 21):
            bump(warehouse, generation)
            publish(warehouse)
            time.sleep(0.03)
        done.set()

    publisher = threading.Thread(target=publish_generations)
    publisher.start()
    seen: set[int] = set()
    try:
        while not done.is_set():
            reader = open_tenant_snapshot(TENANT)
            generations = reader.sql(
                "select distinct generation from fct_orders_daily "
                "union select distinct generation from fct_spend_daily"
            ).fetchall()
            assert len(generations) == 1, f"a mix of versions: {generations}"
            seen.add(generations[0][0])
            reader.close()
    finally:
        publisher.join()
    assert len(seen) >= 5, f"the reader saw too few publishes to prove anything: {seen}"
    assert open_tenant_snapshot(TENANT).sql(
        "select distinct generation from fct_orders_daily"
    ).fetchall() == [(20,)]


def test_a_reader_sees_only_its_tenants_files(warehouse) -> None:
    publish(warehouse, TENANT)
    other = publish(warehouse, OTHER)
    other_file = snapshots.tenant_dir(OTHER) / other["version"] / "fct_orders_daily.parquet"
    reader = open_tenant_snapshot(TENANT)

    assert reader.sql("select distinct tenant_id from fct_orders_daily").fetchall() == [(TENANT,)]
    forbidden = [
        f"select * from read_parquet('{other_file}')",
        f"select * from read_parquet('{snapshots.tenant_dir(TENANT)}/../{OTHER}/*/*.parquet')",
        "select * from read_csv('/etc/hostname')",
        f"attach '{snapshots.serving_dir().parent / 'warehouse.duckdb'}' as warehouse",
        "set enable_external_access = true",
        f"copy fct_orders_daily to '{snapshots.tenant_dir(TENANT)}/leak.csv'",
    ]
    for statement in forbidden:
        with pytest.raises(duckdb.Error):
            reader.execute(statement)
    for bad_id in ("../bolt_bikes", "Acme", "acme/../bolt_bikes", "a", ""):
        with pytest.raises(SnapshotError, match="not a tenant id"):
            open_tenant_snapshot(bad_id)


def test_a_tenant_without_a_snapshot_is_told_so(warehouse) -> None:
    assert current_manifest(TENANT) is None
    with pytest.raises(SnapshotError, match="no published snapshot"):
        open_tenant_snapshot(TENANT)


def test_publishing_keeps_the_newest_versions(warehouse) -> None:
    published = [publish(warehouse, keep=3)["version"] for _ in range(5)]

    assert versions(TENANT) == published[-3:]
    assert current_manifest(TENANT)["version"] == published[-1]
    assert not list(snapshots.tenant_dir(TENANT).glob(".tmp-*"))


def test_a_failed_refresh_marks_the_served_version_stale_until_the_next_publish(warehouse) -> None:
    served = publish(warehouse)
    failed_at = datetime.now(UTC)

    assert snapshots.mark_stale(TENANT, "meta_ads: token expired", failed_at)
    stale = current_manifest(TENANT)
    assert stale["version"] == served["version"]
    assert stale["stale"] == {"since": failed_at.isoformat(), "reason": "meta_ads: token expired"}
    assert not snapshots.mark_stale(TENANT, "an older failure", failed_at - timedelta(hours=1))

    fresh = publish(warehouse)
    assert current_manifest(TENANT)["stale"] is None
    assert not snapshots.mark_stale(TENANT, "a failure before this publish", failed_at)
    assert current_manifest(TENANT) == fresh
    assert not snapshots.mark_stale(OTHER, "never published", failed_at)
