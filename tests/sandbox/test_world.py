"""The synthetic world is deterministic, restates only recent days, and links its parts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from aya.tenants import SourceName, TenantRegistry
from sandbox.world.ad_metrics import RESTATEMENT_DAYS, final_day, reported_day
from sandbox.world.calendar import SandboxClock, add_months, day_number
from sandbox.world.fx import is_publication_day, published_rate, rate_on
from sandbox.world.payments import day_charges, object_position, stripe_account_of
from sandbox.world.shop import day_orders, order_position, shop_of
from sandbox.world.tenant_world import World
from sandbox.world.truth import truth

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def world(registry: TenantRegistry) -> World:
    return World(registry, SandboxClock(TODAY))


def test_ad_days_do_not_depend_on_what_else_was_asked(world: World) -> None:
    tenant = world.registry.get("northwind_fashion")
    account = world.ad_account(tenant, SourceName.GOOGLE_ADS)
    day = day_number(date(2026, 10, 3))
    first = reported_day(account, day, world.today())
    final_day.cache_clear()
    for other in range(day - 20, day + 5):  # touch other days in between
        reported_day(account, other, world.today())
    again = reported_day(account, day, world.today())
    np.testing.assert_array_equal(first.spend_micros, again.spend_micros)
    np.testing.assert_array_equal(first.clicks, again.clicks)


def test_only_the_last_days_restate(world: World) -> None:
    account = world.ad_account(world.registry.get("thistle_and_thread"), SourceName.META_ADS)
    today = world.today()
    for age in range(1, RESTATEMENT_DAYS + 4):
        early = reported_day(account, today - age, today)
        late = reported_day(account, today - age, today + 10)
        if age <= RESTATEMENT_DAYS and len(early):
            assert early.spend_micros.sum() > late.spend_micros.sum()
            assert early.conversions.sum() <= late.conversions.sum()
        else:
            np.testing.assert_array_equal(early.spend_micros, late.spend_micros)
    assert len(reported_day(account, today, today)) == 0  # today is not over


def test_each_account_has_an_outage_day_with_no_delivery(world: World) -> None:
    account = world.ad_account(world.registry.get("northwind_fashion"), SourceName.META_ADS)
    outages = [d for d in range(600, 700) if account.is_outage(d)]
    assert len(outages) >= 1
    assert all(len(final_day(account, d)) == 0 for d in outages)


def test_creative_fatigue_lowers_click_through_with_ad_age(world: World) -> None:
    account = world.ad_account(world.registry.get("northwind_fashion"), SourceName.GOOGLE_ADS)
    young, old = [], []
    for day in range(500, 700):
        delivery = final_day(account, day)
        age = day - account.ad_start[delivery.ad_index]
        ctr = delivery.clicks / np.maximum(delivery.impressions, 1)
        young.extend(ctr[age < 7])
        old.extend(ctr[age > 30])
    assert np.mean(old) < 0.85 * np.mean(young)


def test_platforms_claim_more_conversions_than_the_orders_their_ads_drove(world: World) -> None:
    tenant = world.registry.get("northwind_fashion")
    for platform in (SourceName.GOOGLE_ADS, SourceName.META_ADS):
        account = world.ad_account(tenant, platform)
        days = [final_day(account, d) for d in range(600, 660)]
        claimed = sum(d.conversions.sum() for d in days)
        driven = sum(d.driven_orders.sum() for d in days)
        assert claimed > 1.1 * driven > 0


def test_orders_point_at_the_tenants_own_campaigns(world: World) -> None:
    tenant = world.registry.get("northwind_fashion")
    accounts = tuple(world.ad_accounts(tenant))
    campaign_ids = {c.id for a in accounts for c in a.campaigns}
    orders = day_orders(shop_of(tenant), accounts, day_number(date(2026, 10, 10)))
    paid_visits = [v for o in orders if o.visits for v in o.visits if v.kind == "paid"]
    assert paid_visits
    assert {v.campaign_id for v in paid_visits} <= campaign_ids
    assert all(("gclid=" in v.landing_page) or ("fbclid=" in v.landing_page) for v in paid_visits)
    assert any(o.visits is None for o in orders) or len(orders) < 50
    assert all(1 <= len(o.visits) <= 5 for o in orders if o.visits)
    assert all(order_position(o.id) == (o.day, i) for i, o in enumerate(orders))


def test_zero_decimal_payments_and_ids_that_decode(world: World) -> None:
    tenant = world.registry.get("thistle_and_thread")
    account = stripe_account_of(tenant)
    charges = [
        c
        for d in range(day_number(date(2026, 9, 1)), day_number(date(2026, 10, 1)))
        for c in day_charges(account, (), d)
    ]
    currencies = {c.currency for c in charges}
    assert currencies == {"GBP", "JPY"}
    assert all(c.amount % 10 == 0 for c in charges if c.currency == "JPY")
    assert all(object_position(c.id)[0] == c.day for c in charges)


def test_subscriptions_renew_on_their_anniversary_with_month_end_clipping() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)


def test_fx_has_no_weekend_rows_and_carries_forward(world: World) -> None:
    saturday = date(2026, 10, 3)
    assert not is_publication_day(saturday)
    assert published_rate("USD", saturday) is None
    assert rate_on("USD", saturday) == published_rate("USD", date(2026, 10, 2))
    assert not is_publication_day(date(2025, 12, 25))
    assert published_rate("EUR", saturday) == Decimal(1)


def test_truth_is_the_sum_of_world_rows(world: World) -> None:
    tenant = world.registry.get("northwind_fashion")
    day = date(2026, 11, 18)
    rows = truth(world, tenant.id, day, day, [SourceName.GOOGLE_ADS, SourceName.SHOPIFY])
    by_source = {row.source: row for row in rows}
    account = world.ad_account(tenant, SourceName.GOOGLE_ADS)
    delivery = reported_day(account, day_number(day), world.today())
    assert by_source["google_ads"].spend == Decimal(int(delivery.spend_micros.sum())) / 10**6
    orders = day_orders(shop_of(tenant), tuple(world.ad_accounts(tenant)), day_number(day))
    assert by_source["shopify"].orders == len(orders)
    shop_row = by_source["shopify"]
    assert shop_row.net_revenue == shop_row.gross_revenue - shop_row.discounts - shop_row.refunds


def test_truth_converts_to_the_reporting_currency(world: World) -> None:
    day = date(2026, 11, 14)  # a Saturday: the Friday rate is in force
    rows = truth(world, "thistle_and_thread", day, day, [SourceName.META_ADS, SourceName.STRIPE])
    meta = next(r for r in rows if r.source == "meta_ads")
    assert meta.currency == "EUR" and meta.reporting_currency == "GBP"
    friday = day - timedelta(days=1)
    expected = meta.spend / published_rate("EUR", friday) * published_rate("GBP", friday)
    assert abs(meta.reporting["spend"] - expected) <= Decimal("0.005")
    jpy = next(r for r in rows if r.source == "stripe" and r.currency == "JPY")
    assert jpy.gross_revenue == jpy.gross_revenue.to_integral_value()
    assert jpy.reporting["gross_revenue"] < jpy.gross_revenue / 100
