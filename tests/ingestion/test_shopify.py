"""Shopify orders land per shop-local day exactly as the shop sold them, refunds included.

Every test loads the sandbox's Admin GraphQL API through the real runner (dlt, DuckDB, HTTP)
and compares the raw tables with the sandbox's ground truth: orders, gross revenue (line items'
original price × quantity), discounts, refunds already made and net revenue per day of order
creation in the shop's timezone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from aya.tenants import SourceName, TenantRegistry
from ingestion import shopify
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, connector, ingest
from sandbox.api.shopify import reset_throttle
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.calendar import day_number, world_now
from sandbox.world.shop import MAX_REFUND_DELAY_DAYS, day_orders, shop_of
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.ingestion.conftest import query

NORTHWIND = "northwind_fashion"
THISTLE = "thistle_and_thread"
FIRST_DAY = date(2026, 10, 1)
LAST_DAY = date(2026, 10, 14)
CHILD_TABLES = (
    "orders__line_items",
    "orders__refunds",
    "orders__refunds__refund_line_items",
    "orders__discount_codes",
    "orders__customer_journey_summary__moments",
)


@dataclass(frozen=True)
class DayTotals:
    orders: int
    gross_revenue: Decimal
    discounts: Decimal
    refunds: Decimal
    net_revenue: Decimal


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox: SandboxServer) -> Iterator[None]:
    """A full cost bucket, no faults and the fixed clock, before and after each test."""
    sandbox.faults.clear()
    reset_throttle()
    yield
    sandbox.faults.clear()
    sandbox.world.clock.set(SANDBOX_TODAY)
    reset_throttle()


def load(run_ingest, tenant_id: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> SourceRun:
    [run] = run_ingest(
        tenant_ids=(tenant_id,), sources=("shopify",), first_day=first, last_day=last
    )
    return run


def schema(tenant_id: str) -> str:
    return f"raw_shopify__{tenant_id}"


def raw_days(warehouse: Path, tenant_id: str, first: date, last: date) -> dict[date, DayTotals]:
    """Totals per shop-local day of creation, from the raw tables joined as dlt links them."""
    raw = schema(tenant_id)
    [(zone,)] = query(warehouse, f"select iana_timezone from {raw}.shop")
    orders = query(
        warehouse,
        f"""
        with lines as (
          select _dlt_parent_id, sum(quantity * original_unit_price_set__shop_money__amount) gross
          from {raw}.orders__line_items group by 1),
        refunds as (
          select _dlt_parent_id, sum(total_refunded_set__shop_money__amount) refunded
          from {raw}.orders__refunds group by 1)
        select o.created_at, l.gross, o.total_discounts_set__shop_money__amount,
               coalesce(r.refunded, 0)
        from {raw}.orders o
        join lines l on l._dlt_parent_id = o._dlt_id
        left join refunds r on r._dlt_parent_id = o._dlt_id
        """,
    )
    days: dict[date, list[tuple[Decimal, Decimal, Decimal]]] = {}
    for created_at, gross, discounts, refunds in orders:
        day = created_at.astimezone(ZoneInfo(zone)).date()
        if first <= day <= last:
            days.setdefault(day, []).append((gross, discounts, refunds))
    return {
        day: DayTotals(
            orders=len(amounts),
            gross_revenue=sum(a[0] for a in amounts),
            discounts=sum(a[1] for a in amounts),
            refunds=sum(a[2] for a in amounts),
            net_revenue=sum(a[0] - a[1] - a[2] for a in amounts),
        )
        for day, amounts in days.items()
    }


def true_days(sandbox: SandboxServer, tenant_id: str, first: date, last: date) -> dict:
    rows = truth(sandbox.world, tenant_id, first, last, [SourceName.SHOPIFY])
    return {
        row.date: DayTotals(
            row.orders, row.gross_revenue, row.discounts, row.refunds, row.net_revenue
        )
        for row in rows
    }


def snapshot(warehouse: Path, tenant_id: str) -> list[tuple]:
    """Row counts and money sums of every table, to prove a failed run changed nothing."""
    raw = schema(tenant_id)
    return query(
        warehouse,
        f"""
        select (select count(*) from {raw}.orders),
               (select sum(current_total_price_set__shop_money__amount) from {raw}.orders),
               (select count(*) from {raw}.orders__line_items),
               (select count(*) from {raw}.orders__refunds),
               (select count(*) from {raw}.orders__customer_journey_summary__moments),
               (select count(*) from {raw}.customers),
               (select count(*) from {raw}._dlt_loads)
        """,
    )


def assert_no_duplicate_children(warehouse: Path, tenant_id: str) -> None:
    """Every child row once, under an order that exists, carrying that order's id."""
    raw = schema(tenant_id)
    [(orders, distinct)] = query(
        warehouse, f"select count(*), count(distinct id) from {raw}.orders"
    )
    assert orders == distinct
    for table in CHILD_TABLES:
        [(rows, distinct, orphans)] = query(
            warehouse,
            f"""select count(*), count(distinct (_dlt_parent_id, _dlt_list_idx)),
                       count(*) filter (
                         where _dlt_root_id not in (select _dlt_id from {raw}.orders))
                from {raw}.{table}""",
        )
        assert (rows, orphans) == (distinct, 0), table
    for table in ("orders__line_items", "orders__refunds"):
        [(mismatched,)] = query(
            warehouse,
            f"""select count(*) from {raw}.{table} c join {raw}.orders o
                on c._dlt_parent_id = o._dlt_id where c.order_id <> o.id""",
        )
        assert mismatched == 0


@pytest.mark.parametrize(("tenant_id", "currency"), [(NORTHWIND, "USD"), (THISTLE, "GBP")])
def test_orders_per_shop_day_equal_the_truth(
    run_ingest, warehouse: Path, sandbox: SandboxServer, tenant_id: str, currency: str
) -> None:
    run = load(run_ingest, tenant_id)
    assert not run.failed, run.error

    expected = true_days(sandbox, tenant_id, FIRST_DAY, LAST_DAY)
    assert len(expected) == 14
    assert sum(day.refunds for day in expected.values()) > 0
    assert raw_days(warehouse, tenant_id, FIRST_DAY, LAST_DAY) == expected

    raw = schema(tenant_id)
    shop = query(warehouse, f"select currency_code, iana_timezone from {raw}.shop")
    assert shop == [(currency, sandbox.world.registry.get(tenant_id).timezone)]
    currencies = query(
        warehouse,
        f"""select distinct total_price_set__shop_money__currency_code from {raw}.orders
            union select distinct original_unit_price_set__shop_money__currency_code
            from {raw}.orders__line_items""",
    )
    assert currencies == [(currency,)]
    assert_no_duplicate_children(warehouse, tenant_id)


def test_journey_visits_land_with_their_utm_parameters(run_ingest, warehouse: Path) -> None:
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    raw = schema(NORTHWIND)
    [(mismatched,)] = query(
        warehouse,
        f"""select count(*) from {raw}.orders o left join (
              select _dlt_root_id, count(*) visits
              from {raw}.orders__customer_journey_summary__moments group by 1) m
            on m._dlt_root_id = o._dlt_id
            where coalesce(m.visits, 0)
                  <> coalesce(o.customer_journey_summary__moments_count__count, 0)""",
    )
    assert mismatched == 0
    paid = query(
        warehouse,
        f"""select distinct utm_parameters__source
            from {raw}.orders__customer_journey_summary__moments
            where source_type = 'AD' order by 1""",
    )
    assert paid == [("facebook",), ("google",)]
    [(untagged,)] = query(
        warehouse,
        f"""select count(*) from {raw}.orders__customer_journey_summary__moments
            where occurred_at is null or landing_page is null""",
    )
    assert untagged == 0


def test_reloading_the_window_changes_nothing(run_ingest, warehouse: Path) -> None:
    first = load(run_ingest, THISTLE)
    assert not first.failed, first.error
    before = snapshot(warehouse, THISTLE)
    again = load(run_ingest, THISTLE)
    assert not again.failed, again.error
    assert again.rows == first.rows
    after = snapshot(warehouse, THISTLE)
    assert after[0][:-1] == before[0][:-1]  # only _dlt_loads grew
    assert_no_duplicate_children(warehouse, THISTLE)


def test_incremental_run_reads_updates_since_the_cursor_and_restates_refunds(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    """A later run fetches exactly the orders updated since the cursor: new ones and those
    refunded in between, whose days then equal the new truth; a backfill in between does not
    move the cursor."""
    tenant = registry.get(THISTLE).model_copy(update={"history_days": 14})
    short = registry.model_copy(update={"tenants": [tenant]})
    first_today, second_today = date(2026, 10, 20), date(2026, 10, 27)
    history = (first_today - timedelta(days=14), first_today - timedelta(days=1))
    raw = schema(THISTLE)

    def incremental(today: date) -> SourceRun:
        sandbox.world.clock.set(today)
        [run] = ingest(short, IngestRequest(sources=("shopify",), today=today))
        assert not run.failed, run.error
        return run

    incremental(first_today)
    assert raw_days(warehouse, THISTLE, *history) == true_days(sandbox, THISTLE, *history)
    [(cursor,)] = query(warehouse, f"select max(updated_at) from {raw}.orders")
    refunds_before = sum(d.refunds for d in raw_days(warehouse, THISTLE, *history).values())

    sandbox.world.clock.set(second_today)
    backfill = ingest(
        short,
        IngestRequest(
            sources=("shopify",),
            first_day=history[0] - timedelta(days=7),
            last_day=history[0] - timedelta(days=1),
            today=second_today,
        ),
    )
    assert not backfill[0].failed, backfill[0].error

    incremental(second_today)
    new_truth = true_days(sandbox, THISTLE, history[0], second_today - timedelta(days=1))
    assert sum(d.refunds for d in true_days(sandbox, THISTLE, *history).values()) > refunds_before
    assert raw_days(warehouse, THISTLE, history[0], second_today - timedelta(days=1)) == new_truth
    assert_no_duplicate_children(warehouse, THISTLE)

    fetched = {
        number
        for (number,) in query(
            warehouse,
            f"""select legacy_resource_id from {raw}.orders
                where _dlt_load_id = (select max(load_id) from {raw}._dlt_loads)""",
        )
    }
    assert fetched == orders_updated_after(sandbox, THISTLE, cursor, second_today)


def orders_updated_after(
    sandbox: SandboxServer, tenant_id: str, cursor: datetime, today: date
) -> set[int]:
    """Ids of the world's orders whose updatedAt (whole seconds) is after `cursor` on `today`."""
    world = sandbox.world
    tenant = world.registry.get(tenant_id)
    shop, accounts = shop_of(tenant), tuple(world.ad_accounts(tenant))
    now = world_now(day_number(today))
    oldest = day_number(cursor.date()) - MAX_REFUND_DELAY_DAYS - 1
    return {
        order.id
        for day in range(oldest, day_number(today))
        for order in day_orders(shop, accounts, day)
        if int(order.updated_at(now).timestamp()) > cursor.timestamp()
    }


def test_throttled_answers_are_waited_out(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, SourceName.SHOPIFY, Fault(FaultKind.RATE_LIMIT, count=2))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(NORTHWIND, SourceName.SHOPIFY, FaultKind.RATE_LIMIT) == 2
    assert raw_days(warehouse, NORTHWIND, LAST_DAY, LAST_DAY) == true_days(
        sandbox, NORTHWIND, LAST_DAY, LAST_DAY
    )


def throttled_answer(requested: int, available: int, restore_rate: float) -> requests.Response:
    """Shopify's answer to a query its cost bucket cannot pay for yet (shopify.dev, rate limits)."""
    body = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": available,
                    "restoreRate": restore_rate,
                },
            }
        },
    }
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    return response


def test_throttled_is_retried_after_the_time_the_bucket_needs() -> None:
    answer = throttled_answer(requested=684, available=100, restore_rate=100.0)
    assert shopify.throttled(answer, None)
    assert answer.headers["Retry-After"] == "6"  # 584 points at 100 per second
    small = throttled_answer(requested=13, available=12, restore_rate=50.0)
    assert shopify.throttled(small, None)
    assert small.headers["Retry-After"] == "1"
    data = requests.Response()
    data.status_code = 200
    data._content = b'{"data": {"shop": {"name": "THROTTLED"}}}'
    assert not shopify.throttled(data, None)
    assert not shopify.throttled(None, requests.ConnectionError())


def test_a_bucket_that_stays_empty_fails_the_run_clearly(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, SourceName.SHOPIFY, Fault(FaultKind.RATE_LIMIT, seconds=0.01))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "Shopify kept answering THROTTLED" in run.error
    assert "rerun later" in run.error


def test_a_burst_of_server_errors_is_retried(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, SourceName.SHOPIFY, Fault(FaultKind.SERVER_ERROR, count=3))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert raw_days(warehouse, THISTLE, LAST_DAY, LAST_DAY) == true_days(
        sandbox, THISTLE, LAST_DAY, LAST_DAY
    )


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault(FaultKind.EXPIRED_TOKEN), "refused the credentials (HTTP 401"),
        (Fault(FaultKind.MALFORMED, count=1, skip=2), "malformed page"),
    ],
    ids=["expired_token", "malformed_page"],
)
def test_a_failing_run_says_why_and_keeps_the_loaded_rows(
    run_ingest, warehouse: Path, sandbox: SandboxServer, fault: Fault, problem: str
) -> None:
    window = {"first": LAST_DAY - timedelta(days=3), "last": LAST_DAY}
    assert not load(run_ingest, THISTLE, **window).failed
    before = snapshot(warehouse, THISTLE)

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))  # what a new run would change
    sandbox.faults.arm(THISTLE, SourceName.SHOPIFY, fault)
    failed = load(run_ingest, THISTLE, **window)
    assert failed.failed
    assert f"tenant '{THISTLE}', source 'shopify'" in failed.error
    assert f"endpoint 'POST /admin/api/{shopify.API_VERSION}/graphql.json" in failed.error
    assert problem in failed.error
    assert sandbox_credentials(THISTLE, SourceName.SHOPIFY)["access_token"] not in failed.error
    assert snapshot(warehouse, THISTLE) == before

    sandbox.faults.clear()
    recovered = load(run_ingest, THISTLE, **window)
    assert not recovered.failed, recovered.error
    assert raw_days(warehouse, THISTLE, window["first"], window["last"]) == true_days(
        sandbox, THISTLE, window["first"], window["last"]
    )


def test_a_graphql_error_fails_the_run_with_shopifys_message(
    run_ingest, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shopify, "PAGE_LIMITS", shopify.SINGLE_ORDER_LIMITS)  # > 1000 points
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "endpoint 'POST /admin/api/2025-01/graphql.json (Orders)'" in run.error
    assert "Shopify refused the query: Query cost is " in run.error
    assert "(MAX_COST_EXCEEDED)" in run.error
    assert not warehouse.exists() or not query(
        warehouse,
        f"select 1 from information_schema.tables where table_schema = '{schema(THISTLE)}'"
        " and table_name = 'orders'",
    )


def test_orders_too_big_for_a_page_are_read_on_their_own(
    run_ingest, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shopify, "PAGE_LIMITS", shopify.NestedLimits(1, 1, 1, 1))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert raw_days(warehouse, THISTLE, LAST_DAY, LAST_DAY) == true_days(
        sandbox, THISTLE, LAST_DAY, LAST_DAY
    )
    raw = schema(THISTLE)
    [(multi_line,)] = query(
        warehouse,
        f"select count(*) from (select 1 from {raw}.orders__line_items group by order_id "
        "having count(*) > 1)",
    )
    assert multi_line > 0
    assert_no_duplicate_children(warehouse, THISTLE)


def test_schema_drift_lands_as_a_column(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, SourceName.SHOPIFY, Fault(FaultKind.SCHEMA_DRIFT))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    [(orders, with_url)] = query(
        warehouse, f"select count(*), count(status_page_url) from {schema(THISTLE)}.orders"
    )
    assert orders == with_url > 0


def test_the_real_api_is_the_tenants_shop(registry: TenantRegistry) -> None:
    builder, base_url = connector("shopify")
    assert builder is shopify.shopify_source
    config = (
        registry.get(NORTHWIND).sources[SourceName.SHOPIFY].model_copy(update={"base_url": None})
    )
    resolved = shopify.shop_base_url(config.resolved_base_url(base_url), config.account_id)
    assert resolved == "https://northwind-fashion.myshopify.com"
    sandbox_url = "http://127.0.0.1:8000/shopify/northwind-fashion"
    assert shopify.shop_base_url(sandbox_url, config.account_id) == sandbox_url
