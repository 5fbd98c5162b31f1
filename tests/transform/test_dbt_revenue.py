"""Revenue and attribution models build on really ingested data and equal the sandbox's truth.

The demo tenants' Shopify orders, Stripe payments (Ledgerly's subscriptions in EUR, Thistle's
card payments in GBP and JPY), the ECB rates and the ad platforms' campaigns are ingested from
the sandbox (dlt, DuckDB, HTTP), and the revenue side of the dbt project is built for real.
Then, per tenant × source × day × currency: orders, gross revenue, discounts, refunds, fees and
net revenue equal the truth to the cent, in the original and in the reporting currency, both
in int_revenue__daily and summed from fct_orders. Attribution: every order has every model;
per order and model the credits sum to exactly 1, or the order is unattributed; attributed
revenue sums to exactly the order's revenue; credited touches lie in the tenant's lookback
window, and unattributed orders have none there. Paid touchpoints carry the campaign the
sandbox's ad really belongs to. A run limited to one tenant rewrites only its rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pytest

from aya.currencies import minor_unit_exponent
from aya.tenants import AD_PLATFORMS, SourceName, TenantRegistry
from ingestion.runner import IngestRequest, ingest
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.transform.conftest import copy_warehouse, query, run_dbt

pytestmark = pytest.mark.slow

NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
THISTLE = "thistle_and_thread"
REVENUE_TENANTS = (NORTHWIND, LEDGERLY, THISTLE)
# Read by the conftest's `ingested_data_dir` (Shopify and FX); Stripe uses the same window,
# which ends on the sandbox's yesterday so that every refund made by now is loaded.
SHOPIFY_WINDOW = (date(2026, 11, 10), date(2026, 11, 19))
STRIPE_WINDOW = SHOPIFY_WINDOW
FX_WINDOW = (date(2026, 10, 27), date(2026, 11, 19))
CAMPAIGNS_DAY = date(2026, 11, 19)  # ad platforms: the campaign lists, one day of metrics
MODELS = (
    "first_click",
    "last_click",
    "last_non_direct_click",
    "linear",
    "time_decay",
    "position_based",
)
MONEY = ("gross_revenue", "discounts", "refunds", "net_revenue", "fees")
SELECTION = (
    "--select",
    "+fct_orders",
    "+fct_attribution_credits",
    "+int_revenue__daily",
    "path:models/staging/stripe",
    "--indirect-selection",
    "cautious",
)
UNIT_TESTS = {
    "stripe_minor_units_become_major_units_and_yen_stay_whole",
    "stripe_payments_take_refunds_from_the_refunds_table_and_fees_in_the_charge_currency",
    "daily_revenue_is_summed_before_it_is_rounded_half_even",
    "touchpoints_match_utm_campaign_to_a_campaign_of_their_platform",
}


@pytest.fixture(scope="module")
def revenue_data_dir(
    ingested_data_dir: Path, sandbox: SandboxServer, registry: TenantRegistry
) -> Iterator[Path]:
    """The conftest's Shopify and FX warehouse plus Stripe and the ad platforms' campaigns,
    after `dbt build` of the revenue models and everything they read, which must pass."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AYA_DATA_DIR", str(ingested_data_dir))
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
                    sources=("stripe",),
                    first_day=STRIPE_WINDOW[0],
                    last_day=STRIPE_WINDOW[1],
                    today=SANDBOX_TODAY,
                ),
            ),
            *ingest(
                registry,
                IngestRequest(
                    sources=tuple(platform.value for platform in AD_PLATFORMS),
                    first_day=CAMPAIGNS_DAY,
                    last_day=CAMPAIGNS_DAY,
                    today=SANDBOX_TODAY,
                ),
            ),
        ]
    failed = [f"{run.tenant_id}/{run.source}: {run.error}" for run in runs if run.failed]
    assert not failed, failed
    build = run_dbt(ingested_data_dir, "build", *SELECTION)
    assert build.succeeded, build.output
    yield ingested_data_dir


def true_days(sandbox: SandboxServer, tenant_id: str) -> dict[tuple, tuple]:
    """(source, day, currency) → orders, the money in original and in reporting currency."""
    sources = [SourceName.SHOPIFY, SourceName.STRIPE]
    return {
        (row.source, row.date, row.currency): (
            row.orders,
            *(getattr(row, name) for name in MONEY),
            *(row.reporting[name] for name in MONEY),
        )
        for row in truth(sandbox.world, tenant_id, *SHOPIFY_WINDOW, sources)
    }


def half_even(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_unit_exponent(currency)), ROUND_HALF_EVEN)


def test_the_revenue_models_build_with_their_tests(revenue_data_dir: Path) -> None:
    results = json.loads((revenue_data_dir / "dbt_target" / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    assert [(node, s) for node, s in statuses.items() if s in {"error", "fail", "skipped"}] == []
    built = {node.split(".")[-1] for node in statuses if node.startswith("model.")}
    assert {
        "stg_stripe__charges",
        "stg_stripe__refunds",
        "stg_stripe__balance_transactions",
        "stg_stripe__balance_transaction_fee_details",
        "stg_stripe__invoices",
        "stg_stripe__subscriptions",
        "stg_stripe__subscription_items",
        "int_revenue__stripe_payments",
        "int_revenue__orders",
        "int_revenue__daily",
        "int_touchpoints",
        "int_attribution_credits",
        "fct_orders",
        "fct_attribution_credits",
    } <= built
    unit_tests = {node.split(".")[-1]: s for node, s in statuses.items() if node.startswith("unit")}
    assert {name: unit_tests.get(name) for name in UNIT_TESTS} == dict.fromkeys(UNIT_TESTS, "pass")
    grain_tests = [node for node in statuses if "unique_combination_of_columns_fct_" in node]
    assert len(grain_tests) == 2


@pytest.mark.parametrize("tenant_id", REVENUE_TENANTS)
def test_daily_revenue_equals_the_truth_to_the_cent(
    revenue_data_dir: Path, sandbox: SandboxServer, tenant_id: str
) -> None:
    """int_revenue__daily at the truth's grain, original and reporting currency (rounded
    half-even at that grain, as the truth rounds)."""
    expected = true_days(sandbox, tenant_id)
    rows = query(
        revenue_data_dir,
        f"""select source, order_date, currency_code, orders,
                   {", ".join(MONEY)}, {", ".join(f"{name}_reporting" for name in MONEY)}
            from intermediate.int_revenue__daily
            where tenant_id = ? and order_date between ? and ?""",
        [tenant_id, *SHOPIFY_WINDOW],
    )
    actual = {(source, day, currency): tuple(values) for source, day, currency, *values in rows}
    assert actual == expected
    # the comparison covers what can go wrong: refunds, fees, and Thistle's Stripe yen
    assert sum(values[3] for values in expected.values()) > 0
    if tenant_id != NORTHWIND:
        assert sum(values[5] for values in expected.values()) > 0
    if tenant_id == THISTLE:
        assert {key[2] for key in expected if key[0] == "stripe"} == {"GBP", "JPY"}


@pytest.mark.parametrize("tenant_id", REVENUE_TENANTS)
def test_orders_mart_sums_to_the_truth(
    revenue_data_dir: Path,
    sandbox: SandboxServer,
    registry: TenantRegistry,
    tenant_id: str,
) -> None:
    """fct_orders summed per tenant × source × day × currency: the exact original amounts, and
    the reporting amounts summed, then rounded half-even once."""
    reporting_currency = registry.get(tenant_id).reporting_currency
    rows = query(
        revenue_data_dir,
        f"""select source, order_date, currency_code, count(*),
                   {", ".join(f"sum({name})" for name in MONEY)},
                   {", ".join(f"sum({name}_reporting)" for name in MONEY)}
            from marts.fct_orders
            where tenant_id = ? and order_date between ? and ?
            group by all""",
        [tenant_id, *SHOPIFY_WINDOW],
    )
    actual = {
        (source, day, currency): (
            orders,
            *original,
            *(half_even(amount, reporting_currency) for amount in reporting),
        )
        for source, day, currency, orders, *amounts in rows
        for original, reporting in [(amounts[: len(MONEY)], amounts[len(MONEY) :])]
    }
    assert actual == true_days(sandbox, tenant_id)


def test_every_order_has_every_model_with_credits_summing_to_one_or_none(
    revenue_data_dir: Path,
) -> None:
    per_order_model = query(
        revenue_data_dir,
        """select orders.tenant_id, orders.source, orders.order_id, orders.attributable_revenue,
                  credits.attribution_model, count(credits.order_id), sum(credits.credit),
                  sum(credits.attributed_revenue), bool_and(credits.is_attributed),
                  bool_or(credits.is_attributed), bool_and(credits.credit >= 0)
           from marts.fct_orders as orders
           left join marts.fct_attribution_credits as credits using (tenant_id, source, order_id)
           group by all""",
    )
    models_per_order: dict[tuple, set[str]] = defaultdict(set)
    attributed = unattributed = 0
    for (tenant_id, source, order_id, revenue, model, touches, credit, attributed_revenue,
         all_attributed, any_attributed, non_negative) in per_order_model:  # fmt: skip
        key = (tenant_id, source, order_id, model)
        models_per_order[(tenant_id, source, order_id)].add(model)
        assert non_negative, key
        if any_attributed:
            assert all_attributed, key
            assert credit == 1, key
            assert attributed_revenue == revenue, key
            attributed += 1
        else:
            assert (touches, credit, attributed_revenue) == (1, 0, 0), key
            unattributed += 1
    assert set(map(frozenset, models_per_order.values())) == {frozenset(MODELS)}
    assert attributed > 0 and unattributed > 0
    [(orders, credited_orders)] = query(
        revenue_data_dir,
        """select (select count(*) from marts.fct_orders),
                  (select count(distinct (tenant_id, source, order_id))
                   from marts.fct_attribution_credits)""",
    )
    assert orders == credited_orders == len(models_per_order)


def test_attributable_revenue_is_the_order_revenue_rounded_half_even(
    revenue_data_dir: Path,
) -> None:
    rows = query(
        revenue_data_dir,
        """select reporting_currency, net_revenue_reporting, attributable_revenue,
                  is_attributed, attributed_revenue
           from marts.fct_orders""",
    )
    assert rows
    for currency, revenue, attributable, is_attributed, attributed in rows:
        assert attributable == half_even(revenue, currency)
        assert attributed == (attributable if is_attributed else 0)


def test_credited_touches_lie_in_the_lookback_window(
    revenue_data_dir: Path, registry: TenantRegistry
) -> None:
    """Credited touches happened in the tenant's lookback window before the order; an
    unattributed order has no touchpoint there; Stripe payments have no journey at all."""
    lookback = {tenant.id: tenant.attribution.lookback_days for tenant in registry.tenants}
    credited = query(
        revenue_data_dir,
        """select tenant_id, ordered_at - touched_at from marts.fct_attribution_credits
           where is_attributed""",
    )
    assert credited
    for tenant_id, age in credited:
        assert timedelta(0) <= age <= timedelta(days=lookback[tenant_id])
    touches_of_unattributed = query(
        revenue_data_dir,
        """select orders.tenant_id, orders.ordered_at - touchpoints.touched_at
           from marts.fct_orders as orders
           inner join intermediate.int_touchpoints as touchpoints
               using (tenant_id, source, order_id)
           where not orders.is_attributed""",
    )
    for tenant_id, age in touches_of_unattributed:
        assert not timedelta(0) <= age <= timedelta(days=lookback[tenant_id])
    assert query(
        revenue_data_dir,
        """select source, bool_or(is_attributed), count(*) > 0 from marts.fct_orders
           group by source order by source""",
    ) == [("shopify", True, True), ("stripe", False, True)]


def test_orders_mart_follows_the_default_model(
    revenue_data_dir: Path, registry: TenantRegistry
) -> None:
    rows = query(
        revenue_data_dir,
        """select orders.tenant_id, orders.attribution_model, orders.is_attributed,
                  orders.first_touch_channel, orders.last_touch_channel,
                  count(*) filter (where credits.is_attributed) as credited_touches,
                  orders.eligible_touchpoints,
                  any_value(credits.channel) filter (where credits.credit = 1
                      and credits.attribution_model = 'last_click') as last_click_channel
           from marts.fct_orders as orders
           inner join marts.fct_attribution_credits as credits
               using (tenant_id, source, order_id)
           where credits.is_default_model
              or credits.attribution_model = 'last_click'
           group by all""",
    )
    assert rows
    for tenant_id, model, is_attributed, first, last, _, eligible, last_click in rows:
        assert model == registry.get(tenant_id).attribution.default_model
        if is_attributed:
            assert eligible > 0 and last == last_click and first != "(unattributed)"
        else:
            assert (eligible, first, last) == (0, "(unattributed)", "(unattributed)")


def test_paid_touchpoints_carry_the_campaign_of_their_ad(
    revenue_data_dir: Path, sandbox: SandboxServer, registry: TenantRegistry
) -> None:
    """The sandbox's ads tag utm_campaign with the campaign's name: each paid touch matches
    that campaign's id on its own platform."""
    rows = query(
        revenue_data_dir,
        """select tenant_id, platform, utm_campaign, campaign_platform, campaign_id,
                  campaign_matched_on, count(*)
           from intermediate.int_touchpoints where is_paid group by all""",
    )
    assert sum(row[-1] for row in rows) > 100
    for tenant_id, platform, utm_campaign, campaign_platform, campaign_id, matched_on, _ in rows:
        account = sandbox.world.ad_account(registry.get(tenant_id), SourceName(platform))
        [campaign] = [c for c in account.campaigns if c.utm_campaign == utm_campaign]
        assert (campaign_platform, campaign_id, matched_on) == (platform, campaign.id, "name")
    assert query(
        revenue_data_dir,
        """select count(*) from intermediate.int_touchpoints
           where not is_paid and campaign_id is not null""",
    ) == [(0,)]


def test_stripe_staging_tolerates_a_missing_child_table(revenue_data_dir: Path) -> None:
    """Thistle's account never had a subscription: dlt created no subscriptions__items."""
    [(has_items,)] = query(
        revenue_data_dir,
        """select count(*) from information_schema.tables
           where table_schema = 'raw_stripe__thistle_and_thread'
             and table_name = 'subscriptions__items'""",
    )
    assert has_items == 0
    assert query(
        revenue_data_dir,
        "select distinct tenant_id from staging.stg_stripe__subscription_items",
    ) == [(LEDGERLY,)]


def test_a_run_limited_to_one_tenant_rewrites_only_its_orders_and_credits(
    revenue_data_dir: Path, tmp_path: Path
) -> None:
    """Every row is marked stale (in a column no data test reads); a run for Thistle rebuilds
    Thistle's rows only and leaves the other tenants' stale rows as they were."""
    warehouse = copy_warehouse(revenue_data_dir, tmp_path / "data")
    with duckdb.connect(str(warehouse / "warehouse.duckdb")) as connection:
        for mart in ("fct_orders", "fct_attribution_credits"):
            connection.execute(f"update marts.{mart} set ordered_at = timestamptz '2000-01-01'")
    before = {
        mart: dict(query(warehouse, f"select tenant_id, count(*) from marts.{mart} group by 1"))
        for mart in ("fct_orders", "fct_attribution_credits")
    }

    limited = run_dbt(warehouse, "build", *SELECTION, "--vars", f"{{tenants: [{THISTLE}]}}")
    assert limited.succeeded, limited.output

    for mart, counts in before.items():
        stale = query(
            warehouse,
            f"""select tenant_id, count(*),
                       count(*) filter (where ordered_at = timestamptz '2000-01-01')
                from marts.{mart} group by tenant_id order by tenant_id""",
        )
        assert stale == [
            (tenant_id, count, 0 if tenant_id == THISTLE else count)
            for tenant_id, count in sorted(counts.items())
        ], mart
    assert query(
        warehouse, "select distinct tenant_id from intermediate.int_attribution_credits"
    ) == [(THISTLE,)]
