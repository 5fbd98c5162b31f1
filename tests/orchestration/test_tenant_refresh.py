"""The nightly refresh for real: Dagster runs dlt against the sandbox, dbt, and publishes snapshots.

A refresh runs in-process as the schedule and the build sensor run it: `tenant_ingest` per
tenant, then one `warehouse_build`. Two tenants are refreshed and published by one dbt
invocation; then a token expires for one of them and the next refresh publishes only the other;
freshness and reconciliation checks are evaluated on what was loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_run_status_sensor_context

from aya.snapshots import current_manifest, open_tenant_snapshot
from aya.tenants import SourceName, TenantRegistry
from aya.warehouse import read_only_warehouse
from orchestration.checks import Reconciliation, reconciliation_mismatches
from orchestration.dbt_models import dbt_manifest, serving_models
from orchestration.definitions import build_definitions
from orchestration.refresh import Refresh
from orchestration.resources import Ingestion, SlackWebhook, SourceFreshness
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import SANDBOX_TODAY
from tests.orchestration.conftest import LEDGERLY, NORTHWIND, THISTLE, SlackInbox, refresh

pytestmark = pytest.mark.slow

DBT_LAYERS = ("seeds", "staging", "intermediate", "marts")
NIGHTLY_TENANTS = (NORTHWIND, THISTLE)


@pytest.fixture(scope="module")
def refresh_once(definitions: Definitions, instance: DagsterInstance) -> Callable[[], Refresh]:
    """The first nightly refresh of NORTHWIND and THISTLE, run once per module."""
    done: list[Refresh] = []

    def run() -> Refresh:
        if not done:
            nightly = refresh(definitions, instance, *NIGHTLY_TENANTS)
            assert nightly.failed_tenants == [], _failures(nightly)
            done.append(nightly)
        return done[0]

    return run


def _failures(nightly: Refresh) -> str:
    results = [*nightly.ingestion.values(), *([nightly.build] if nightly.build else [])]
    return "\n".join(
        f"{event.step_key}: {event.event_specific_data.error.message}"
        for result in results
        for event in result.all_events
        if event.is_step_failure
    )


def _materializations(*results) -> dict[AssetKey, list]:
    events: dict[AssetKey, list] = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            events.setdefault(event.asset_key, []).append(materialization)
    return events


def _value(metadata: dict, name: str) -> object:
    return metadata[name].value


def _relation(model: str) -> str:
    [node] = [n for n in dbt_manifest()["nodes"].values() if n["name"] == model]
    return node["relation_name"]


def test_a_nightly_refresh_loads_each_tenant_then_builds_once_and_publishes(
    refresh_once: Callable[[], Refresh], registry: TenantRegistry, environment: Path
) -> None:
    nightly = refresh_once()
    sources = {source.value for source in registry.get(NORTHWIND).sources}

    raw = _materializations(nightly.ingestion[NORTHWIND])
    assert {tuple(key.path[:2]) for key in raw} == {("raw", s.value) for s in SourceName}
    for key, [materialization] in raw.items():
        assert materialization.partition == NORTHWIND
        assert _value(materialization.metadata, "enabled") is (key.path[1] in sources)
    for source in sources:
        rows = [_value(e[0].metadata, "rows") for k, e in raw.items() if k.path[1] == source]
        assert sum(rows) > 0, f"{source} loaded no rows"

    assert nightly.build is not None
    built = _materializations(nightly.build)
    [fx] = [events for key, events in built.items() if key.path[:2] == ["raw", "fx"]]
    assert fx[0].partition is None and _value(fx[0].metadata, "rows") > 0
    dbt = {key: events for key, events in built.items() if key.path[0] in DBT_LAYERS}
    assert AssetKey(["intermediate", "int_shopify__orders"]) in dbt
    for events in dbt.values():  # the range spans LEDGERLY, which this refresh did not cover
        assert {m.partition for m in events} == {NORTHWIND, LEDGERLY, THISTLE}
    invocations = {_value(m.metadata, "invocation_id") for e in dbt.values() for m in e}
    assert len(invocations) == 1, "the build made more than one dbt invocation"
    evaluations = nightly.build.get_asset_check_evaluations()
    assert any(e.check_name.startswith("not_null") for e in evaluations), "no dbt test as check"
    reconciled = {
        (e.asset_key.path[-1], e.check_name): e.passed
        for e in evaluations
        if e.check_name.startswith("reconciles_with_")
    }
    assert reconciled == {
        ("fct_ad_performance_daily", "reconciles_with_stg_google_ads__ad_daily_metrics"): True,
        ("fct_ad_performance_daily", "reconciles_with_stg_meta_ads__insights"): True,
        (
            "fct_ad_performance_daily",
            "reconciles_with_stg_linkedin_ads__creative_daily_analytics",
        ): True,
        ("fct_orders", "reconciles_with_stg_shopify__orders"): True,
        ("fct_orders", "reconciles_with_stg_stripe__charges"): True,
    }
    with read_only_warehouse() as warehouse:
        covered = warehouse.sql(
            f"select distinct tenant_id from {_relation('int_shopify__orders')} order by 1"
        ).fetchall()
    assert [tenant for (tenant,) in covered] == sorted(NIGHTLY_TENANTS)

    snapshots = built[AssetKey(["serving", "tenant_snapshot"])]
    assert sorted(m.partition for m in snapshots) == sorted(NIGHTLY_TENANTS)
    assert current_manifest(LEDGERLY) is None
    manifest = current_manifest(NORTHWIND)
    assert manifest["run_id"] == nightly.build.run_id
    assert set(manifest["data_as_of"]) == sources | {"fx"}
    assert set(manifest["tables"]) == set(serving_models())
    snapshot = open_tenant_snapshot(NORTHWIND)
    for table, entry in manifest["tables"].items():
        assert snapshot.sql(f'select count(*) from "{table}"').fetchall() == [(entry["rows"],)]


def test_a_failed_tenant_keeps_its_snapshot_marked_stale_and_alerts_once(
    refresh_once: Callable[[], Refresh],
    definitions: Definitions,
    instance: DagsterInstance,
    sandbox: SandboxServer,
    slack: SlackInbox,
) -> None:
    first = refresh_once()
    served = current_manifest(NORTHWIND)
    sandbox.faults.arm(NORTHWIND, SourceName.META_ADS.value, Fault(FaultKind.EXPIRED_TOKEN))
    try:
        nightly = refresh(definitions, instance, *NIGHTLY_TENANTS)
    finally:
        sandbox.faults.clear()

    failed = nightly.ingestion[NORTHWIND]
    assert nightly.failed_tenants == [NORTHWIND]
    assert [e.step_key for e in failed.all_events if e.is_step_failure] == ["raw_meta_ads"]
    assert nightly.build is not None and nightly.build.success
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
    assert stale["run_id"] == first.build.run_id
    assert stale["stale"] is not None
    assert "raw_meta_ads" in stale["stale"]["reason"]
    published = current_manifest(THISTLE)
    assert (published["run_id"], published["stale"]) == (nightly.build.run_id, None)


def test_a_freshness_check_fails_when_a_source_is_stale(
    refresh_once: Callable[[], Refresh], instance: DagsterInstance, slack: SlackInbox
) -> None:
    refresh_once()

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


def test_reconciliation_compares_totals_per_tenant_day(
    refresh_once: Callable[[], Refresh],
) -> None:
    refresh_once()
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

    assert THISTLE in tenants  # staging holds the last build's tenants; THISTLE is in every one
    assert mismatches == []
    assert len(wrong) == days
