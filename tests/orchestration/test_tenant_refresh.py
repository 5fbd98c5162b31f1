"""The nightly job for real: Dagster runs dlt against the sandbox, dbt, and publishes snapshots.

Each tenant's refresh runs in-process as `tenant_refresh` for its partition. One tenant is
refreshed and published; then a token expires for that tenant and its next run fails while
another tenant's succeeds; a run over two tenants makes one dbt invocation; freshness and
reconciliation checks are evaluated on what was loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    build_run_status_sensor_context,
    instance_for_test,
)

from aya.snapshots import current_manifest, open_tenant_snapshot
from aya.tenants import SourceName, TenantRegistry
from aya.warehouse import read_only_warehouse
from orchestration.checks import Reconciliation, reconciliation_mismatches
from orchestration.dbt_models import dbt_manifest, serving_models
from orchestration.definitions import build_definitions
from orchestration.resources import Ingestion, SlackWebhook, SourceFreshness
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import SANDBOX_TODAY
from tests.orchestration.conftest import NORTHWIND, THISTLE, SlackInbox, refresh

pytestmark = pytest.mark.slow

Refresh = Callable[[str], ExecuteInProcessResult]
DBT_LAYERS = ("seeds", "staging", "intermediate", "marts")
ORDERS_STAGING = AssetKey(["staging", "stg_shopify__orders"])


@pytest.fixture(scope="module")
def refresh_once(definitions: Definitions, instance: DagsterInstance) -> Refresh:
    """Refresh a tenant successfully, once per module."""
    done: dict[str, ExecuteInProcessResult] = {}

    def run(tenant_id: str) -> ExecuteInProcessResult:
        if tenant_id not in done:
            result = refresh(definitions, instance, tenant_id)
            assert result.success, _failures(result)
            done[tenant_id] = result
        return done[tenant_id]

    return run


def _failures(result: ExecuteInProcessResult) -> str:
    return "\n".join(
        f"{event.step_key}: {event.event_specific_data.error.message}"
        for event in result.all_events
        if event.is_step_failure
    )


def _materializations(result: ExecuteInProcessResult) -> dict[AssetKey, list]:
    events: dict[AssetKey, list] = {}
    for event in result.get_asset_materialization_events():
        events.setdefault(event.asset_key, []).append(event.event_specific_data.materialization)
    return events


def _value(metadata: dict, name: str) -> object:
    return metadata[name].value


def _relation(model: str) -> str:
    [node] = [n for n in dbt_manifest()["nodes"].values() if n["name"] == model]
    return node["relation_name"]


def test_a_tenant_refresh_loads_builds_and_publishes(
    refresh_once: Refresh, registry: TenantRegistry, environment: Path
) -> None:
    result = refresh_once(NORTHWIND)
    materialized = _materializations(result)
    sources = {source.value for source in registry.get(NORTHWIND).sources}

    raw = {key: events for key, events in materialized.items() if key.path[0] == "raw"}
    assert {key.path[1] for key in raw} == {*(s.value for s in SourceName), "fx"}
    for key, [materialization] in raw.items():
        source = key.path[1]
        assert materialization.partition == (None if source == "fx" else NORTHWIND)
        if source != "fx":
            assert _value(materialization.metadata, "enabled") is (source in sources)
    for source in (*sources, "fx"):
        rows = [_value(e[0].metadata, "rows") for k, e in raw.items() if k.path[1] == source]
        assert sum(rows) > 0, f"{source} loaded no rows"

    dbt_keys = {key for key in materialized if key.path[0] in DBT_LAYERS}
    assert AssetKey(["intermediate", "int_shopify__orders"]) in dbt_keys
    assert result.get_asset_check_evaluations(), "dbt tests did not report as asset checks"
    with read_only_warehouse() as warehouse:
        [(orders,)] = warehouse.sql(
            f"select count(*) from {_relation('int_shopify__orders')} "
            f"where tenant_id = '{NORTHWIND}'"
        ).fetchall()
    assert orders > 0

    manifest = current_manifest(NORTHWIND)
    assert manifest["run_id"] == result.run_id
    assert set(manifest["data_as_of"]) == sources | {"fx"}
    assert set(manifest["tables"]) == set(serving_models())
    snapshot = open_tenant_snapshot(NORTHWIND)
    for table, entry in manifest["tables"].items():
        assert snapshot.sql(f'select count(*) from "{table}"').fetchall() == [(entry["rows"],)]


def test_a_failed_tenant_keeps_its_snapshot_marked_stale_and_alerts_once(
    refresh_once: Refresh,
    definitions: Definitions,
    instance: DagsterInstance,
    sandbox: SandboxServer,
    slack: SlackInbox,
) -> None:
    refresh_once(NORTHWIND)
    served = current_manifest(NORTHWIND)
    sandbox.faults.arm(NORTHWIND, SourceName.META_ADS.value, Fault(FaultKind.EXPIRED_TOKEN))
    try:
        failed = refresh(definitions, instance, NORTHWIND)
    finally:
        sandbox.faults.clear()
    other = refresh_once(THISTLE)

    assert not failed.success
    assert [e.step_key for e in failed.all_events if e.is_step_failure] == ["raw_meta_ads"]
    already_posted = len(slack.messages)
    context = build_run_status_sensor_context(
        sensor_name="slack_on_run_failure",
        dagster_event=failed.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=failed.dagster_run,
        resources={"slack": SlackWebhook(url=slack.url)},
    ).for_run_failure()
    definitions.resolve_sensor_def("slack_on_run_failure")(context)

    [message] = slack.messages[already_posted:]
    assert f"tenant {NORTHWIND}" in message
    assert "step `raw_meta_ads`, source meta_ads" in message
    assert "expired" in message.lower()
    token = sandbox_credentials(NORTHWIND, SourceName.META_ADS)["access_token"]
    assert token not in message

    stale = current_manifest(NORTHWIND)
    assert stale["version"] == served["version"]
    assert stale["stale"] is not None
    assert "raw_meta_ads" in stale["stale"]["reason"]
    published = current_manifest(THISTLE)
    assert (published["run_id"], published["stale"]) == (other.run_id, None)


def test_a_run_over_many_tenants_makes_one_dbt_invocation(
    refresh_once: Refresh, definitions: Definitions, environment: Path
) -> None:
    tenants = [NORTHWIND, THISTLE]
    for tenant in tenants:
        refresh_once(tenant)
    job = definitions.resolve_job_def("tenant_refresh")
    shopify_staging = [AssetKey(["staging", "stg_shopify__shop"]), ORDERS_STAGING]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("tenants", tenants)
        result = job.execute_in_process(
            instance=instance,
            asset_selection=shopify_staging,
            tags={
                "dagster/asset_partition_range_start": tenants[0],
                "dagster/asset_partition_range_end": tenants[-1],
            },
        )

    assert result.success
    materialized = _materializations(result)
    assert set(materialized) == set(shopify_staging)
    for events in materialized.values():
        assert {m.partition for m in events} == set(tenants)
    invocations = {_value(m.metadata, "invocation_id") for e in materialized.values() for m in e}
    assert len(invocations) == 1
    with read_only_warehouse() as warehouse:
        covered = warehouse.sql(
            f"select distinct tenant_id from {_relation('stg_shopify__orders')} order by 1"
        ).fetchall()
    assert [tenant for (tenant,) in covered] == sorted(tenants)


def test_a_freshness_check_fails_when_a_source_is_stale(
    refresh_once: Refresh, instance: DagsterInstance, slack: SlackInbox
) -> None:
    refresh_once(NORTHWIND)

    def evaluate(freshness: SourceFreshness) -> dict[tuple[str, str], object]:
        definitions = build_definitions(
            ingestion=Ingestion(today=SANDBOX_TODAY.isoformat()),
            slack=SlackWebhook(url=slack.url),
            freshness=freshness,
        )
        result = definitions.resolve_job_def("freshness_checks").execute_in_process(
            instance=instance
        )
        return {
            (e.asset_key.path[1], e.asset_key.path[2]): e
            for e in result.get_asset_check_evaluations()
        }

    daily = evaluate(SourceFreshness())
    assert daily[("fx", "daily_rates")].passed
    insights = daily[("meta_ads", "insights")].metadata
    assert NORTHWIND not in _value(insights, "stale")
    assert NORTHWIND in _value(insights, "last_complete_load")
    never = daily[("linkedin_ads", "creative_daily_analytics")]
    assert not never.passed
    assert _value(never.metadata, "last_complete_load") == {"ledgerly_saas": "never"}

    overdue = evaluate(SourceFreshness(expected_cadence_hours=0, grace_hours=0))
    assert not overdue[("fx", "daily_rates")].passed
    assert not overdue[("meta_ads", "insights")].passed
    assert NORTHWIND in _value(overdue[("meta_ads", "insights")].metadata, "stale")


def test_reconciliation_compares_totals_per_tenant_day(refresh_once: Refresh) -> None:
    refresh_once(NORTHWIND)
    rule = Reconciliation(
        model="int_shopify__orders",
        staging_model="stg_shopify__orders",
        day="order_date",
        staging_day="order_date",
        measures={"count(*)": "count(*)", "sum(discounts)": "sum(total_discounts)"},
    )
    off_by_one = dataclasses.replace(rule, measures={"count(*)": "count(*) + 1"})
    relations = (_relation(rule.model), _relation(rule.staging_model))

    with read_only_warehouse() as warehouse:
        mismatches, tenants = reconciliation_mismatches(warehouse, rule, *relations)
        wrong, _ = reconciliation_mismatches(warehouse, off_by_one, *relations)
        [(days,)] = warehouse.sql(
            f"select count(distinct (tenant_id, order_date)) from {relations[1]}"
        ).fetchall()

    assert NORTHWIND in tenants
    assert mismatches == []
    assert len(wrong) == days
