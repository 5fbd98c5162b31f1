"""Stripe payments land per tenant-local charge day and currency exactly as Stripe served them.

Every test loads the sandbox's Stripe API through the real runner (dlt, DuckDB, HTTP) and
compares the raw tables with the sandbox's ground truth: succeeded payments, gross revenue,
refunds already made, fees and net revenue (gross − refunds) per day of charge creation in the
tenant's timezone and per charge currency, to the minor unit (whole yen for JPY). Refunds and
fees are joined to their charge from `refunds` and `balance_transactions`, as staging will.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName, TenantRegistry
from ingestion import stripe
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, connector, ingest
from sandbox.api.stripe import StripeView
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.calendar import day_number, world_now
from sandbox.world.payments import day_charges, day_subscriptions, stripe_account_of
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.ingestion.conftest import query

LEDGERLY = "ledgerly_saas"
THISTLE = "thistle_and_thread"
FIRST_DAY = date(2026, 10, 1)
LAST_DAY = date(2026, 10, 14)
# A refund comes up to 10 days after its charge: loading 11 more days brings every refund
# made by the sandbox's today of the charges of [FIRST_DAY, LAST_DAY].
REFUND_TAIL = timedelta(days=11)
TABLES = ("charges", "refunds", "balance_transactions", "balance_transactions__fee_details")


@dataclass(frozen=True)
class DayTotals:
    payments: int
    gross_revenue: Decimal
    refunds: Decimal
    fees: Decimal
    net_revenue: Decimal


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox: SandboxServer) -> Iterator[None]:
    """No faults and the fixed clock, after each test."""
    yield
    sandbox.faults.clear()
    sandbox.world.clock.set(SANDBOX_TODAY)


def load(run_ingest, tenant_id: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> SourceRun:
    [run] = run_ingest(tenant_ids=(tenant_id,), sources=("stripe",), first_day=first, last_day=last)
    return run


def schema(tenant_id: str) -> str:
    return f"raw_stripe__{tenant_id}"


def raw_days(
    warehouse: Path, registry: TenantRegistry, tenant_id: str, first: date, last: date
) -> dict[tuple[date, str], DayTotals]:
    """Totals per tenant-local charge day and currency, refunds and fees joined to charges."""
    raw = schema(tenant_id)
    zone = registry.get(tenant_id).zone
    charges = query(
        warehouse,
        f"""
        with refunded as (
          select charge, sum(amount) amount from {raw}.refunds
          where status = 'succeeded' group by 1),
        fees as (
          select source, sum(fee) fee from {raw}.balance_transactions
          where type = 'charge' group by 1)
        select c.created, c.currency, c.amount, coalesce(r.amount, 0), f.fee
        from {raw}.charges c
        left join refunded r on r.charge = c.id
        left join fees f on f.source = c.id
        where c.status = 'succeeded'
        """,
    )
    days: dict[tuple[date, str], list[tuple[int, int, int]]] = {}
    for created, currency, amount, refunded, fee in charges:
        day = created.astimezone(zone).date()
        if first <= day <= last:
            days.setdefault((day, currency.upper()), []).append((amount, refunded, fee))
    return {key: _totals(key[1], amounts) for key, amounts in days.items()}


def _totals(currency: str, amounts: list[tuple[int, int, int]]) -> DayTotals:
    exponent = minor_unit_exponent(currency)

    def major(minor: int) -> Decimal:
        return Decimal(minor).scaleb(-exponent)

    gross, refunds = sum(a[0] for a in amounts), sum(a[1] for a in amounts)
    return DayTotals(
        payments=len(amounts),
        gross_revenue=major(gross),
        refunds=major(refunds),
        fees=major(sum(a[2] for a in amounts)),
        net_revenue=major(gross - refunds),
    )


def true_days(
    sandbox: SandboxServer, tenant_id: str, first: date, last: date
) -> dict[tuple[date, str], DayTotals]:
    rows = truth(sandbox.world, tenant_id, first, last, [SourceName.STRIPE])
    return {
        (row.date, row.currency): DayTotals(
            row.orders, row.gross_revenue, row.refunds, row.fees, row.net_revenue
        )
        for row in rows
    }


def snapshot(warehouse: Path, tenant_id: str) -> list[tuple]:
    """Row counts and money sums of every table, to prove a failed run changed nothing."""
    raw = schema(tenant_id)
    counts = ", ".join(f"(select count(*) from {raw}.{table})" for table in TABLES)
    return query(
        warehouse,
        f"""select {counts},
                   (select sum(amount) from {raw}.charges),
                   (select sum(amount) from {raw}.refunds),
                   (select sum(fee) from {raw}.balance_transactions),
                   (select count(*) from {raw}._dlt_loads)""",
    )


def assert_each_object_once(warehouse: Path, tenant_id: str, tables: tuple[str, ...]) -> None:
    raw = schema(tenant_id)
    for table in tables:
        [(rows, distinct)] = query(
            warehouse, f"select count(*), count(distinct (tenant_id, id)) from {raw}.{table}"
        )
        assert rows == distinct > 0, table


def assert_no_personal_data(warehouse: Path, tenant_id: str) -> None:
    columns = [
        name
        for (name,) in query(
            warehouse,
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema(tenant_id)}'",
        )
    ]
    assert "payment_method_details__card__brand" in columns
    personal = (
        "billing_details",
        "customer_name",
        "email",
        "phone",
        "address",
        "shipping",
        "last4",
        "fingerprint",
        "exp_month",
        "receipt",
        "invoice_pdf",
    )
    assert [c for c in columns if any(word in c for word in personal)] == []


def test_thistles_pounds_and_yen_per_charge_day_equal_the_truth(
    run_ingest, warehouse: Path, sandbox: SandboxServer, registry: TenantRegistry
) -> None:
    run = load(run_ingest, THISTLE, FIRST_DAY, LAST_DAY + REFUND_TAIL)
    assert not run.failed, run.error

    expected = true_days(sandbox, THISTLE, FIRST_DAY, LAST_DAY)
    assert {currency for _, currency in expected} == {"GBP", "JPY"}
    assert sum(day.refunds for day in expected.values()) > 0
    assert raw_days(warehouse, registry, THISTLE, FIRST_DAY, LAST_DAY) == expected

    raw = schema(THISTLE)
    yen = query(
        warehouse,
        f"select amount, fee, net from {raw}.balance_transactions "
        "where currency = 'jpy' and type = 'charge'",
    )
    assert yen
    assert all(amount % 10 == 0 and amount >= 5_000 for amount, _, _ in yen)  # whole yen
    assert all(net == amount - fee for amount, fee, net in yen)
    [(mismatched,)] = query(
        warehouse,
        f"""select count(*) from {raw}.balance_transactions t
            left join (select _dlt_parent_id, sum(amount) amount
                       from {raw}.balance_transactions__fee_details group by 1) d
              on d._dlt_parent_id = t._dlt_id
            where coalesce(d.amount, 0) <> t.fee""",
    )
    assert mismatched == 0
    assert_each_object_once(warehouse, THISTLE, ("charges", "refunds", "balance_transactions"))
    assert_no_personal_data(warehouse, THISTLE)


def test_ledgerlys_subscription_payments_and_subscriptions_equal_the_world(
    run_ingest, warehouse: Path, sandbox: SandboxServer, registry: TenantRegistry
) -> None:
    """Charges per day equal the truth; every subscription, canceled ones too, lands with the
    status, price and interval MRR needs; invoices and charges reference what landed; and a
    reload changes nothing (a subscription's items are replaced, not appended)."""
    first, last = FIRST_DAY, FIRST_DAY + timedelta(days=6)
    run = load(run_ingest, LEDGERLY, first, last + REFUND_TAIL)
    assert not run.failed, run.error

    expected = true_days(sandbox, LEDGERLY, first, last)
    assert {currency for _, currency in expected} == {"EUR"}
    assert sum(day.refunds for day in expected.values()) > 0
    assert raw_days(warehouse, registry, LEDGERLY, first, last) == expected

    raw = schema(LEDGERLY)
    landed = query(
        warehouse,
        f"""select s.id, s.status, i.price__unit_amount, i.price__recurring__interval,
                   i.price__currency, s.canceled_at is not null
            from {raw}.subscriptions s join {raw}.subscriptions__items i
              on i._dlt_parent_id = s._dlt_id""",
    )
    assert {row[0]: row[1:] for row in landed} == world_subscriptions(sandbox, registry)
    assert len(landed) == len({row[0] for row in landed})
    [(orphan_invoices, orphan_charges, charges_without_txn)] = query(
        warehouse,
        f"""select
              (select count(*) from {raw}.invoices
               where subscription not in (select id from {raw}.subscriptions)),
              (select count(*) from {raw}.charges
               where invoice not in (select id from {raw}.invoices)),
              (select count(*) from {raw}.charges where status = 'succeeded'
               and balance_transaction not in (select id from {raw}.balance_transactions))""",
    )
    assert (orphan_invoices, orphan_charges, charges_without_txn) == (0, 0, 0)

    before = snapshot(warehouse, LEDGERLY)
    again = load(run_ingest, LEDGERLY, first, last + REFUND_TAIL)
    assert not again.failed, again.error
    assert again.rows == run.rows
    assert snapshot(warehouse, LEDGERLY)[0][:-1] == before[0][:-1]
    [(items,)] = query(warehouse, f"select count(*) from {raw}.subscriptions__items")
    assert items == len(landed)
    assert_each_object_once(warehouse, LEDGERLY, ("subscriptions", "invoices", *TABLES[:3]))
    assert_no_personal_data(warehouse, LEDGERLY)


def world_subscriptions(
    sandbox: SandboxServer, registry: TenantRegistry
) -> dict[str, tuple[str, int, str, str, bool]]:
    """Every subscription the world has started by now: (status, unit amount, interval,
    currency, canceled)."""
    tenant = registry.get(LEDGERLY)
    view = StripeView.of(sandbox.world, tenant, drifting=False)
    account, ad_accounts = stripe_account_of(tenant), tuple(sandbox.world.ad_accounts(tenant))
    subscriptions = {}
    for day in range(view.today):
        for subscription in day_subscriptions(account, ad_accounts, day):
            if subscription.created >= view.now:
                continue
            canceled = view.period_instant(subscription, subscription.periods) < view.now
            subscriptions[subscription.id] = (
                "canceled" if canceled else "active",
                subscription.unit_amount,
                subscription.interval,
                subscription.currency.lower(),
                canceled,
            )
    return subscriptions


def test_reloading_the_window_changes_nothing(run_ingest, warehouse: Path) -> None:
    first = load(run_ingest, THISTLE)
    assert not first.failed, first.error
    before = snapshot(warehouse, THISTLE)
    again = load(run_ingest, THISTLE)
    assert not again.failed, again.error
    assert again.rows == first.rows
    assert snapshot(warehouse, THISTLE)[0][:-1] == before[0][:-1]  # only _dlt_loads grew
    assert_each_object_once(warehouse, THISTLE, TABLES[:3])


def test_an_incremental_run_reads_from_the_cursor_and_brings_late_refunds(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    """A later run re-reads only the safety overlap before the cursor plus the new days; the
    refunds made in between, of charges loaded by the first run, arrive through the refunds
    list, so every day equals the new truth; a backfill in between does not move the cursor."""
    tenant = registry.get(THISTLE).model_copy(update={"history_days": 14})
    short = registry.model_copy(update={"tenants": [tenant]})
    # A yen charge of the first run's days is refunded between the two runs.
    first_today, second_today = date(2026, 10, 15), date(2026, 10, 22)
    history = (first_today - timedelta(days=14), first_today - timedelta(days=1))
    everything = (history[0], second_today - timedelta(days=1))
    raw = schema(THISTLE)

    def incremental(today: date) -> SourceRun:
        sandbox.world.clock.set(today)
        [run] = ingest(short, IngestRequest(sources=("stripe",), today=today))
        assert not run.failed, run.error
        return run

    incremental(first_today)
    old_truth = true_days(sandbox, THISTLE, *history)
    assert raw_days(warehouse, registry, THISTLE, *history) == old_truth
    [(cursor,)] = query(warehouse, f"select max(created) from {raw}.charges")

    sandbox.world.clock.set(second_today)
    [backfill] = ingest(
        short,
        IngestRequest(
            sources=("stripe",),
            first_day=history[0] - timedelta(days=7),
            last_day=history[0] - timedelta(days=1),
            today=second_today,
        ),
    )
    assert not backfill.failed, backfill.error

    incremental(second_today)
    new_truth = true_days(sandbox, THISTLE, *everything)
    assert {key: d for key, d in new_truth.items() if key[0] <= history[1]} != old_truth
    assert raw_days(warehouse, registry, THISTLE, *everything) == new_truth

    last_load = f"_dlt_load_id = (select max(load_id) from {raw}._dlt_loads)"
    fetched = {
        cid for (cid,) in query(warehouse, f"select id from {raw}.charges where {last_load}")
    }
    assert fetched == charges_created_between(
        sandbox, registry, cursor - stripe.SAFETY_OVERLAP, second_today
    )
    [(late_refunds,)] = query(
        warehouse,
        f"""select count(*) from {raw}.refunds r join {raw}.charges c on c.id = r.charge
            where r.{last_load} and c.created < '{cursor.isoformat()}'""",
    )
    assert late_refunds > 0
    assert_each_object_once(warehouse, THISTLE, TABLES[:3])


def charges_created_between(
    sandbox: SandboxServer, registry: TenantRegistry, start: datetime, today: date
) -> set[str]:
    """Ids of the world's charges created from `start` to the end of the day before `today`."""
    tenant = registry.get(THISTLE)
    account, ad_accounts = stripe_account_of(tenant), tuple(sandbox.world.ad_accounts(tenant))
    end = datetime.combine(today, datetime.min.time(), tzinfo=tenant.zone)
    return {
        charge.id
        for day in range(day_number(start.date()) - 1, day_number(today))
        for charge in day_charges(account, ad_accounts, day)
        if start.timestamp() <= charge.created < min(end, world_now(day_number(today))).timestamp()
    }


@pytest.mark.parametrize(
    "fault",
    [Fault(FaultKind.RATE_LIMIT, count=3), Fault(FaultKind.SERVER_ERROR, count=3)],
    ids=["rate_limit", "server_error"],
)
def test_bursts_of_429_and_500_are_retried(
    run_ingest, warehouse: Path, sandbox: SandboxServer, registry: TenantRegistry, fault: Fault
) -> None:
    sandbox.faults.arm(THISTLE, SourceName.STRIPE, fault)
    run = load(run_ingest, THISTLE, FIRST_DAY, LAST_DAY + REFUND_TAIL)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(THISTLE, SourceName.STRIPE, fault.kind) == 3
    assert raw_days(warehouse, registry, THISTLE, FIRST_DAY, LAST_DAY) == true_days(
        sandbox, THISTLE, FIRST_DAY, LAST_DAY
    )


def test_a_rate_limit_that_does_not_end_fails_the_run_clearly(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, SourceName.STRIPE, Fault(FaultKind.RATE_LIMIT))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "Stripe answered HTTP 429 invalid_request_error (rate_limit)" in run.error
    assert "still rate limited (global-rate) after 6 attempts" in run.error
    assert "rerun later" in run.error


def test_stripe_should_retry_decides_retries_of_other_statuses() -> None:
    def answer(status: int, should_retry: str | None) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        if should_retry is not None:
            response.headers["Stripe-Should-Retry"] = should_retry
        return response

    assert stripe.should_retry(answer(409, "true"), None)
    assert not stripe.should_retry(answer(409, "false"), None)
    assert not stripe.should_retry(answer(400, None), None)
    assert not stripe.should_retry(None, requests.ConnectionError())


WRONG_KEY = "sk_test_" + "Wr0ngKey" * 5 + "9z9z"


@pytest.mark.parametrize(
    ("fault", "api_key", "problem", "action"),
    [
        (
            Fault(FaultKind.EXPIRED_TOKEN),
            None,
            "HTTP 401 invalid_request_error (api_key_expired): Expired API Key provided: sk_test_",
            "create a new restricted key for Stripe account acct_1ThistleDemo002",
        ),
        (
            None,
            WRONG_KEY,
            "HTTP 401 invalid_request_error: Invalid API Key provided: sk_test_****",
            "set it as api_key under [sources.stripe.thistle_and_thread]",
        ),
        (
            Fault(FaultKind.MALFORMED, count=1, skip=2),
            None,
            "malformed page (not valid JSON",
            "rerun; nothing of this window was committed",
        ),
    ],
    ids=["expired_key", "wrong_key", "malformed_page"],
)
def test_a_failing_run_says_why_and_keeps_the_loaded_rows(
    run_ingest,
    warehouse: Path,
    sandbox: SandboxServer,
    registry: TenantRegistry,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault | None,
    api_key: str | None,
    problem: str,
    action: str,
) -> None:
    window = {"first": LAST_DAY - timedelta(days=3), "last": LAST_DAY}
    assert not load(run_ingest, THISTLE, **window).failed
    before = snapshot(warehouse, THISTLE)

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))  # what a new run would change
    variable = "SOURCES__STRIPE__THISTLE_AND_THREAD__API_KEY"
    right_key = sandbox_credentials(THISTLE, SourceName.STRIPE)["api_key"]
    if api_key is not None:
        monkeypatch.setenv(variable, api_key)
    if fault is not None:
        sandbox.faults.arm(THISTLE, SourceName.STRIPE, fault)
    failed = load(run_ingest, THISTLE, **window)
    assert failed.failed
    assert f"tenant '{THISTLE}', source 'stripe', endpoint 'GET /v1/" in failed.error
    assert problem in failed.error
    assert action in failed.error
    assert right_key not in failed.error
    assert WRONG_KEY not in failed.error
    assert snapshot(warehouse, THISTLE) == before

    sandbox.faults.clear()
    monkeypatch.setenv(variable, right_key)
    recovered = load(run_ingest, THISTLE, **window)
    assert not recovered.failed, recovered.error
    after = snapshot(warehouse, THISTLE)
    assert after[0][:-1] == before[0][:-1]
    assert after[0][-1] == before[0][-1] + 1  # the recovered run loaded


def test_schema_drift_lands_as_new_columns(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, SourceName.STRIPE, Fault(FaultKind.SCHEMA_DRIFT))
    run = load(run_ingest, THISTLE, LAST_DAY - timedelta(days=3), LAST_DAY)
    assert not run.failed, run.error
    raw = schema(THISTLE)
    [(charges, presented)] = query(
        warehouse,
        f"""select count(*), count(*) filter (
              where presentment_details__presentment_amount = amount
              and presentment_details__presentment_currency = currency)
            from {raw}.charges""",
    )
    assert charges == presented > 0
    [(transactions, typed)] = query(
        warehouse,
        f"select count(*), count(*) filter (where balance_type = 'payments') "
        f"from {raw}.balance_transactions",
    )
    assert transactions == typed > 0


def test_the_real_api_is_stripes(registry: TenantRegistry) -> None:
    builder, base_url = connector("stripe")
    assert builder is stripe.stripe_source
    assert base_url == "https://api.stripe.com"
    config = registry.get(LEDGERLY).sources[SourceName.STRIPE].model_copy(update={"base_url": None})
    assert config.resolved_base_url(base_url) == "https://api.stripe.com"


def test_an_empty_window_loads_nothing_and_fails_nothing(run_ingest, warehouse: Path) -> None:
    future = SANDBOX_TODAY + timedelta(days=5)
    run = load(run_ingest, THISTLE, future, future)
    assert not run.failed, run.error
    assert run.rows == 0
