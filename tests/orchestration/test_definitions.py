"""The code location loads, its graph reads naturally, and its schedule and sensor ask for the
right tenants. Nothing is materialised here."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from aya.tenants import SourceName, TenantRegistry
from tests.conftest import REPO_ROOT

CONNECTOR_RESOURCES = {
    "google_ads": {"customer", "campaigns", "ad_groups", "ads", "ad_daily_metrics"},
    "meta_ads": {"account", "campaigns", "ad_sets", "ads", "insights"},
    "linkedin_ads": {"account", "campaign_groups", "campaigns", "creatives"}
    | {"creative_daily_analytics"},
    "ga4": {"property", "traffic_daily"},
    "shopify": {"shop", "orders", "customers"},
    "stripe": {"charges", "refunds", "balance_transactions", "invoices", "subscriptions"},
    "fx": {"daily_rates"},
}


@pytest.fixture(scope="module")
def dbt_nodes(definitions: Definitions) -> list[dict]:
    manifest = json.loads((REPO_ROOT / "target" / "dagster" / "manifest.json").read_text())
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed")
        and node["config"]["materialized"] != "ephemeral"
    ]


def test_definitions_load(definitions: Definitions) -> None:
    Definitions.validate_loadable(definitions)
    assert {job.name for job in definitions.resolve_all_job_defs()} >= {
        "tenant_ingest",
        "warehouse_build",
        "tenant_refresh",
        "freshness_checks",
    }


def test_raw_assets_are_grouped_by_source_one_per_resource(definitions: Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    raw = {key for key in graph.get_all_asset_keys() if key.path[0] == "raw"}

    assert raw == {
        AssetKey(["raw", source, resource])
        for source, resources in CONNECTOR_RESOURCES.items()
        for resource in resources
    }
    for key in raw:
        node = graph.get(key)
        assert node.group_name == f"raw_{key.path[1]}"
        assert node.kinds >= {"dlt", "duckdb"}
        assert node.partitions_def is None if key.path[1] == "fx" else node.partitions_def


def test_dbt_assets_are_keyed_by_layer_and_read_the_raw_assets(
    definitions: Definitions, dbt_nodes: list[dict]
) -> None:
    graph = definitions.resolve_asset_graph()
    for node in dbt_nodes:
        layer = "seeds" if node["resource_type"] == "seed" else node["fqn"][1]
        key = AssetKey([layer, node["name"]])
        assert graph.get(key).group_name == layer
    orders = graph.get(AssetKey(["staging", "stg_shopify__line_items"]))
    assert AssetKey(["raw", "shopify", "orders"]) in orders.parent_keys
    rates = graph.get(AssetKey(["staging", "stg_fx__daily_rates"]))
    assert AssetKey(["raw", "fx", "daily_rates"]) in rates.parent_keys
    assert any(key.path[0] == "staging" for key, _ in _check_keys(definitions))


def _check_keys(definitions: Definitions) -> list[tuple[AssetKey, str]]:
    graph = definitions.resolve_asset_graph()
    return [(check.asset_key, check.name) for check in graph.asset_check_keys]


def test_the_serving_snapshot_follows_the_marts(
    definitions: Definitions, dbt_nodes: list[dict]
) -> None:
    snapshot = definitions.resolve_asset_graph().get(AssetKey(["serving", "tenant_snapshot"]))
    marts = {AssetKey(["marts", n["name"]]) for n in dbt_nodes if n["fqn"][1] == "marts"}

    assert snapshot.group_name == "serving"
    assert set(snapshot.parent_keys) == marts


def test_every_raw_table_has_a_freshness_check(definitions: Definitions) -> None:
    fresh = {key for key, name in _check_keys(definitions) if name == "fresh"}
    raw = {k for k in definitions.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"}
    assert fresh == raw


def test_specs_are_built_without_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.raw import source_for_specs

    def refuse(*_: object) -> None:
        raise AssertionError("a connector was built with network I/O")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for source in (*SourceName, "fx"):
        source_for_specs(str(source))


def test_the_sensor_adds_new_tenants_and_asks_for_their_first_load(
    definitions: Definitions, environment: Path, registry: TenantRegistry
) -> None:
    sensor = definitions.resolve_sensor_def("tenant_registry")
    with instance_for_test() as instance:
        first = sensor(build_sensor_context(instance=instance))
        assert isinstance(first, SensorResult)
        [added] = first.dynamic_partitions_requests
        assert list(added.partition_keys) == registry.ids
        assert [request.partition_key for request in first.run_requests] == registry.ids
        instance.add_dynamic_partitions("tenants", list(added.partition_keys))

        assert isinstance(sensor(build_sensor_context(instance=instance)), SkipReason)

        tenants_file = environment / "tenants.yaml"
        document = yaml.safe_load(tenants_file.read_text())
        newcomer = {**document["tenants"][0], "id": "harbour_coffee", "display_name": "Harbour"}
        grown = {**document, "tenants": [*document["tenants"], newcomer]}
        tenants_file.write_text(yaml.safe_dump(grown))
        try:
            result = sensor(build_sensor_context(instance=instance))
        finally:
            tenants_file.write_text(yaml.safe_dump(document))
        assert [r.partition_key for r in result.run_requests] == ["harbour_coffee"]
        assert list(result.dynamic_partitions_requests[0].partition_keys) == ["harbour_coffee"]


def test_the_02_utc_schedule_asks_for_every_tenant(
    definitions: Definitions, environment: Path, registry: TenantRegistry
) -> None:
    schedule = definitions.resolve_schedule_def("daily_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    tick = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with instance_for_test() as instance:
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=definitions.get_repository_def(),
        )
        assert isinstance(schedule.evaluate_tick(context).skip_message, str)

        instance.add_dynamic_partitions("tenants", registry.ids)
        requests = schedule.evaluate_tick(context).run_requests

    assert sorted(request.partition_key for request in requests) == sorted(registry.ids)
    assert len({request.run_key for request in requests}) == len(registry.ids)
    assert {request.tags["aya/refresh"] for request in requests} == {"2026-11-20"}
    assert schedule.job_name == "tenant_ingest"


def _ingestion_run(instance: DagsterInstance, tenant: str, night: str, status: str) -> None:
    instance.add_run(
        DagsterRun(
            job_name="tenant_ingest",
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus[status],
            tags={
                "dagster/partition": tenant,
                "dagster/schedule_name": "daily_refresh",
                "aya/refresh": night,
            },
        )
    )


def test_the_nightly_build_waits_for_ingestion_then_builds_once_holding_failed_tenants(
    definitions: Definitions, environment: Path
) -> None:
    sensor = definitions.resolve_sensor_def("nightly_build")
    northwind, ledgerly, thistle = "northwind_fashion", "ledgerly_saas", "thistle_and_thread"
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("tenants", [northwind, ledgerly, thistle])
        assert isinstance(sensor(build_sensor_context(instance=instance)), SkipReason)

        _ingestion_run(instance, northwind, "2026-11-19", "SUCCESS")
        _ingestion_run(instance, thistle, "2026-11-19", "STARTED")
        waiting = sensor(build_sensor_context(instance=instance))
        assert isinstance(waiting, SkipReason)
        assert "1 ingestion runs still going" in str(waiting.skip_message)

        _ingestion_run(instance, northwind, "2026-11-20", "FAILURE")
        _ingestion_run(instance, northwind, "2026-11-20", "SUCCESS")  # its retry
        _ingestion_run(instance, ledgerly, "2026-11-20", "FAILURE")
        _ingestion_run(instance, thistle, "2026-11-20", "SUCCESS")
        [build] = sensor(build_sensor_context(instance=instance))

    assert build.job_name == "warehouse_build"
    assert build.run_key == "build:2026-11-20"
    assert build.tags["dagster/asset_partition_range_start"] == northwind
    assert build.tags["dagster/asset_partition_range_end"] == thistle
    assert build.tags["aya/hold_snapshot"] == ledgerly
