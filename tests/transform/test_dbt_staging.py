"""The dbt project builds on really ingested data, and its models equal what the sandbox served.

Both demo shops' Shopify data and the ECB rates are ingested from the sandbox (dlt, DuckDB, HTTP)
for a window spanning both clock changes of autumn 2026 (Europe on 25 October, the US on
1 November), `dbt build` runs for real, and the models are compared with the sandbox's ground
truth to the cent: orders, gross revenue, discounts, refunds and net revenue per shop-local day,
in the shop's and in the reporting currency, and the ECB rate in force on every calendar day.
Then the multi-tenant contracts: a run limited to one tenant rewrites only that tenant's rows;
a tenant whose raw dataset lacks tables and columns still builds, and dlt's staging datasets are
no tenants; a mistyped tenant is refused; every model and column is documented.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pytest

from aya.currencies import CURRENCY_EXPONENTS, minor_unit_exponent
from aya.tenants import AD_PLATFORMS, SourceName, TenantRegistry
from sandbox.server import SandboxServer
from sandbox.world.fx import is_publication_day, rate_on
from sandbox.world.truth import truth
from tests.conftest import REPO_ROOT
from tests.transform.conftest import query, run_dbt

pytestmark = pytest.mark.slow

NORTHWIND = "northwind_fashion"
THISTLE = "thistle_and_thread"
SHOPS = (NORTHWIND, THISTLE)
SHOPIFY_WINDOW = (date(2026, 10, 20), date(2026, 11, 5))
FX_WINDOW = (date(2026, 10, 5), date(2026, 11, 19))
FX_CURRENCIES = ("EUR", "GBP", "JPY", "USD")

STAGING_DAY_TOTALS = """
    with lines as (
        select tenant_id, order_id, sum(quantity * original_unit_price) as gross
        from staging.stg_shopify__line_items group by all),
    refunds as (
        select tenant_id, order_id, sum(total_refunded) as refunded
        from staging.stg_shopify__refunds group by all)
    select orders.order_date, count(*), sum(lines.gross), sum(orders.total_discounts),
           sum(coalesce(refunds.refunded, 0)),
           sum(lines.gross - orders.total_discounts - coalesce(refunds.refunded, 0))
    from staging.stg_shopify__orders as orders
    inner join lines using (tenant_id, order_id)
    left join refunds using (tenant_id, order_id)
    where orders.tenant_id = ? and orders.order_date between ? and ?
    group by orders.order_date
"""


def days(window: tuple[date, date]) -> list[date]:
    first, last = window
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def true_shop_days(sandbox: SandboxServer, tenant_id: str) -> dict[date, tuple]:
    rows = truth(sandbox.world, tenant_id, *SHOPIFY_WINDOW, [SourceName.SHOPIFY])
    return {
        row.date: (row.orders, row.gross_revenue, row.discounts, row.refunds, row.net_revenue)
        for row in rows
    }


def staging_shop_days(data_dir: Path, tenant_id: str) -> dict[date, tuple]:
    rows = query(data_dir, STAGING_DAY_TOTALS, [tenant_id, *SHOPIFY_WINDOW])
    return {day: tuple(totals) for day, *totals in rows}


def run_results(data_dir: Path) -> list[dict]:
    return json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]


def test_build_runs_every_model_and_every_test(built_data_dir: Path) -> None:
    results = run_results(built_data_dir)
    broken = [(r["unique_id"], r["status"]) for r in results if r["status"] in {"error", "fail"}]
    assert broken == []
    assert not [r["unique_id"] for r in results if r["status"] == "skipped"]
    unit_tests = [r for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 7
    assert {r["status"] for r in unit_tests} == {"pass"}
    built = {r["unique_id"] for r in results if r["unique_id"].startswith("model.")}
    assert {
        "model.aya.stg_shopify__orders",
        "model.aya.stg_shopify__journey_visits",
        "model.aya.stg_fx__daily_rates",
        "model.aya.stg_registry__tenants",
        "model.aya.int_fx_rates_daily",
        "model.aya.int_shopify__orders",
        "model.aya.int_shopify__touchpoints",
    } <= built


@pytest.mark.parametrize("tenant_id", SHOPS)
def test_shop_days_in_staging_equal_the_truth(
    built_data_dir: Path, sandbox: SandboxServer, tenant_id: str
) -> None:
    expected = true_shop_days(sandbox, tenant_id)
    assert len(expected) == len(days(SHOPIFY_WINDOW))
    assert sum(day[3] for day in expected.values()) > 0  # refunds are in the window
    assert staging_shop_days(built_data_dir, tenant_id) == expected


@pytest.mark.parametrize("tenant_id", SHOPS)
def test_order_revenue_in_reporting_currency_equals_the_truth(
    built_data_dir: Path, sandbox: SandboxServer, registry: TenantRegistry, tenant_id: str
) -> None:
    """Daily sums of int_shopify__orders, rounded half-even to the reporting currency's minor
    unit at the daily grain as the truth rounds them."""
    reporting_currency = registry.get(tenant_id).reporting_currency
    quantum = Decimal(1).scaleb(-minor_unit_exponent(reporting_currency))
    rows = query(
        built_data_dir,
        """select order_date, any_value(reporting_currency), sum(gross_revenue_reporting),
                  sum(discounts_reporting), sum(refunds_reporting), sum(net_revenue_reporting)
           from intermediate.int_shopify__orders
           where tenant_id = ? and order_date between ? and ? group by order_date""",
        [tenant_id, *SHOPIFY_WINDOW],
    )
    actual = {
        day: (currency, *(amount.quantize(quantum, ROUND_HALF_EVEN) for amount in amounts))
        for day, currency, *amounts in rows
    }
    expected = {
        row.date: (
            reporting_currency,
            *(row.reporting[name] for name in ("gross_revenue", "discounts", "refunds")),
            row.reporting["net_revenue"],
        )
        for row in truth(sandbox.world, tenant_id, *SHOPIFY_WINDOW, [SourceName.SHOPIFY])
    }
    assert actual == expected


def test_every_calendar_day_has_the_ecb_rate_in_force(built_data_dir: Path) -> None:
    """Weekends carry Friday's rate; EUR is 1; the days after the last load carry it too."""
    rows = query(
        built_data_dir,
        """select rate_date, currency, units_per_eur, is_carried_forward
           from intermediate.int_fx_rates_daily where rate_date between ? and ?""",
        [FX_WINDOW[0] + timedelta(days=7), FX_WINDOW[1] + timedelta(days=3)],
    )
    actual = {(day, currency): (rate, carried) for day, currency, rate, carried in rows}
    checked_days = days((FX_WINDOW[0] + timedelta(days=7), FX_WINDOW[1] + timedelta(days=3)))
    expected = {
        (day, currency): (
            rate_on(currency, min(day, FX_WINDOW[1])),
            currency != "EUR" and (day > FX_WINDOW[1] or not is_publication_day(day)),
        )
        for day in checked_days
        for currency in FX_CURRENCIES
    }
    assert actual == expected
    assert any(carried for _, carried in actual.values())


def test_journey_visits_are_every_visit_each_in_one_channel(
    built_data_dir: Path, registry: TenantRegistry
) -> None:
    per_order = dict(
        query(
            built_data_dir,
            """select tenant_id, sum(customer_journey_visits_count)
               from staging.stg_shopify__orders group by tenant_id""",
        )
    )
    visits = dict(
        query(
            built_data_dir,
            "select tenant_id, count(*) from staging.stg_shopify__journey_visits group by 1",
        )
    )
    assert visits == per_order
    assert all(count > 0 for count in visits.values())

    classified = query(
        built_data_dir,
        """select v.tenant_id, v.marketing_tactic, v.visit_source, v.utm_source, v.referrer_host,
                  t.channel, t.platform, t.is_paid, count(*)
           from staging.stg_shopify__journey_visits as v
           left join intermediate.int_shopify__touchpoints as t
               using (tenant_id, order_id, visit_position)
           group by all""",
    )
    assert sum(row[-1] for row in classified) == sum(visits.values())
    for tenant_id, tactic, source, utm_source, referrer, channel, platform, paid, _ in classified:
        ad_sources = {s.value for s in registry.get(tenant_id).sources if s in AD_PLATFORMS}
        if tactic == "AD":  # the sandbox's ads carry UTM parameters and click ids
            assert paid and platform in ad_sources, (tenant_id, source, channel, platform)
        else:
            assert channel is not None and not paid, (tenant_id, tactic, source, channel)
        if source == "direct":
            assert (utm_source, referrer, channel) == (None, None, "direct")
        if tactic == "SEO":
            assert channel == "organic_search"


def test_a_run_limited_to_one_tenant_rewrites_only_that_tenant(
    private_warehouse: Path, sandbox: SandboxServer
) -> None:
    with duckdb.connect(str(private_warehouse / "warehouse.duckdb")) as connection:
        connection.execute("update intermediate.int_shopify__orders set net_revenue = -1")
    [(northwind_orders,)] = query(
        private_warehouse,
        "select count(*) from intermediate.int_shopify__orders where tenant_id = ?",
        [NORTHWIND],
    )

    limited = run_dbt(private_warehouse, "build", "--vars", f"{{tenants: [{THISTLE}]}}")
    assert limited.succeeded, limited.output

    rewritten = query(
        private_warehouse,
        """select tenant_id, count(*), count(*) filter (where net_revenue = -1)
           from intermediate.int_shopify__orders group by tenant_id order by tenant_id""",
    )
    assert rewritten[0] == (NORTHWIND, northwind_orders, northwind_orders)  # untouched
    assert rewritten[1][0] == THISTLE
    assert rewritten[1][2] == 0
    [(thistle_net,)] = query(
        private_warehouse,
        """select sum(net_revenue) from intermediate.int_shopify__orders
           where tenant_id = ? and order_date between ? and ?""",
        [THISTLE, *SHOPIFY_WINDOW],
    )
    assert thistle_net == sum(day[4] for day in true_shop_days(sandbox, THISTLE).values())
    for model in ("staging.stg_shopify__orders", "staging.stg_registry__tenants"):
        assert query(private_warehouse, f"select distinct tenant_id from {model}") == [(THISTLE,)]


def test_a_tenant_lacking_tables_and_columns_still_builds(private_warehouse: Path) -> None:
    """A new tenant whose raw dataset has only the shop and a narrow orders table; dlt's
    `_staging` copy of a dataset and a schema that is no tenant id are not read as tenants."""
    with duckdb.connect(str(private_warehouse / "warehouse.duckdb")) as connection:
        connection.execute(
            """
            create schema raw_shopify__acme_outlet;
            create table raw_shopify__acme_outlet._dlt_loads (load_id varchar, status bigint);
            create table raw_shopify__acme_outlet.shop as
                select 'gid://shopify/Shop/1' as id, 'Acme' as name, 'EUR' as currency_code,
                       'Europe/Berlin' as iana_timezone;
            create table raw_shopify__acme_outlet.orders as
                select 'gid://shopify/Order/' || n as id,
                       timestamptz '2026-10-24 22:30:00+00' as created_at, 'EUR' as currency_code
                from range(2) as numbers (n);
            create schema raw_shopify__acme_outlet_staging;
            create table raw_shopify__acme_outlet_staging.orders as
                select * from raw_shopify__acme_outlet.orders;
            create schema "raw_shopify__Not-A-Tenant";
            create table "raw_shopify__Not-A-Tenant"._dlt_loads (load_id varchar);
            create table "raw_shopify__Not-A-Tenant".orders as
                select * from raw_shopify__acme_outlet.orders;
            """
        )

    build = run_dbt(private_warehouse, "build")
    assert build.succeeded, build.output

    acme_orders = query(
        private_warehouse,
        """select order_date, currency_code, total_price, financial_status
           from staging.stg_shopify__orders where tenant_id = 'acme_outlet'""",
    )
    assert acme_orders == [(date(2026, 10, 25), "EUR", None, None)] * 2  # 00:30 in Berlin
    tenants = {
        tenant
        for model in ("stg_shopify__orders", "stg_shopify__line_items", "stg_shopify__shop")
        for (tenant,) in query(private_warehouse, f"select distinct tenant_id from staging.{model}")
    }
    assert tenants == {NORTHWIND, THISTLE, "acme_outlet"}
    assert query(
        private_warehouse,
        "select count(*) from staging.stg_shopify__line_items where tenant_id = 'acme_outlet'",
    ) == [(0,)]
    # not in tenants.yaml: no reporting currency, so not in the intermediate models (a warning)
    assert query(
        private_warehouse,
        "select count(*) from intermediate.int_shopify__orders where tenant_id = 'acme_outlet'",
    ) == [(0,)]
    assert "relationships_stg_shopify__orders_tenant_id" in build.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--vars", "{tenants: [northwind_fashon]}"], "no raw dataset (raw_<source>__<tenant>)"),
        (["--vars", "{tenants: ['Northwind Fashion']}"], "is not a tenant id"),
        (["--full-refresh", "--vars", "{tenants: [northwind_fashion]}"], "--full-refresh rebuilds"),
    ],
    ids=["unknown_tenant", "malformed_tenant", "full_refresh_of_one_tenant"],
)
def test_a_run_for_a_wrong_tenant_selection_is_refused(
    private_warehouse: Path, arguments: list[str], message: str
) -> None:
    before = query(private_warehouse, "select count(*) from intermediate.int_shopify__orders")
    refused = run_dbt(private_warehouse, "run", *arguments)
    assert not refused.succeeded
    assert message in refused.output
    assert query(private_warehouse, "select count(*) from intermediate.int_shopify__orders") == (
        before
    )


def test_every_model_and_column_is_documented(built_data_dir: Path) -> None:
    docs = run_dbt(built_data_dir, "docs", "generate")
    assert docs.succeeded, docs.output
    target = built_data_dir / "dbt_target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in {"model", "seed"} or node["package_name"] != "aya":
            continue
        if not node["description"].strip():
            undocumented.append(unique_id)
        documented = {name for name, c in node["columns"].items() if c["description"].strip()}
        built_columns = catalog["nodes"].get(unique_id, {}).get("columns", {})
        undocumented.extend(
            f"{unique_id}.{name}" for name in built_columns if name not in documented
        )
    assert undocumented == []


def test_currency_seed_equals_the_currencies_the_registry_knows() -> None:
    with (REPO_ROOT / "seeds" / "currencies.csv").open(newline="") as seed:
        exponents = {
            row["currency_code"]: int(row["minor_unit_exponent"]) for row in csv.DictReader(seed)
        }
    assert exponents == CURRENCY_EXPONENTS
