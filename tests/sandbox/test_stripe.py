"""The sandbox's Stripe API pages the world's payments as Stripe's REST API v1 would serve them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.calendar import day_number, world_now
from sandbox.world.payments import (
    Charge,
    Subscription,
    day_charges,
    day_subscriptions,
    object_position,
    stripe_account_of,
)
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import SANDBOX_TODAY

LEDGERLY = "ledgerly_saas"
THISTLE = "thistle_and_thread"
STRIPE = SourceName.STRIPE.value
WINDOW_START = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
WINDOW_END = int(datetime(2026, 10, 15, tzinfo=UTC).timestamp())
WINDOW = {"created[gte]": WINDOW_START, "created[lt]": WINDOW_END}
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")
ENDPOINTS = (
    "charges",
    "refunds",
    "balance_transactions",
    "subscriptions",
    "invoices",
    "customers",
)


def key_of(tenant_id: str) -> str:
    return sandbox_credentials(tenant_id, SourceName.STRIPE)["api_key"]


def get(
    client: httpx.Client, tenant_id: str, endpoint: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key_of(tenant_id)}"}
    return client.get(f"/stripe/v1/{endpoint}", params=params or {}, headers=headers)


def page_of(
    client: httpx.Client, tenant_id: str, endpoint: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = get(client, tenant_id, endpoint, params)
    assert response.status_code == 200, response.text
    assert REQUEST_ID.match(response.headers["Request-Id"])
    return response.json()


def all_objects(
    client: httpx.Client, tenant_id: str, endpoint: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every object of a list, paged forward with `starting_after` as Stripe's clients do."""
    objects: list[dict[str, Any]] = []
    cursor: dict[str, Any] = {}
    while True:
        page = page_of(client, tenant_id, endpoint, {"limit": 100, **params, **cursor})
        assert page["object"] == "list"
        assert page["url"] == f"/v1/{endpoint}"
        objects.extend(page["data"])
        if not page["has_more"]:
            return objects
        assert len(page["data"]) == 100
        cursor = {"starting_after": page["data"][-1]["id"]}


@dataclass(frozen=True)
class WorldPayments:
    """The tenant's Stripe account read straight from the world, at the sandbox's today."""

    charges: tuple[Charge, ...]  # every charge that exists, oldest first
    subscriptions: tuple[Subscription, ...]
    now: int

    @classmethod
    def of(cls, sandbox: SandboxServer, tenant_id: str) -> WorldPayments:
        world = sandbox.world
        tenant = world.registry.get(tenant_id)
        account, accounts = stripe_account_of(tenant), tuple(world.ad_accounts(tenant))
        first = day_number(date(2026, 9, 15))
        now = int(world_now(world.today()).timestamp())
        days = range(first, world.today())
        charges = [c for d in days for c in day_charges(account, accounts, d) if c.created < now]
        subscriptions = [s for d in days for s in day_subscriptions(account, accounts, d)]
        return cls(tuple(charges), tuple(subscriptions), now)

    def charges_between(self, start: int, end: int) -> list[Charge]:
        return [c for c in self.charges if start <= c.created < end]

    def refunded_between(self, start: int, end: int) -> list[Charge]:
        return [
            c for c in self.charges if c.refunded_by(self.now) and start <= c.refund_created < end
        ]


def newest_first(charges: list[Charge]) -> list[str]:
    """Charge ids in Stripe's list order: newest first, ties in the order they were made."""
    ordered = sorted(charges, key=lambda c: (c.created, object_position(c.id)), reverse=True)
    return [c.id for c in ordered]


def assert_newest_first(objects: list[dict[str, Any]]) -> None:
    created = [obj["created"] for obj in objects]
    assert created == sorted(created, reverse=True)
    assert len({obj["id"] for obj in objects}) == len(objects)


@pytest.fixture(scope="module")
def ledgerly_charges(sandbox: SandboxServer) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.url, timeout=60) as client:
        return all_objects(client, LEDGERLY, "charges", WINDOW)


@pytest.fixture(scope="module")
def ledgerly_world(sandbox: SandboxServer) -> WorldPayments:
    return WorldPayments.of(sandbox, LEDGERLY)


# --- paging ---------------------------------------------------------------------------------


def test_paging_charges_by_created_returns_each_once_newest_first(
    ledgerly_charges: list[dict[str, Any]], ledgerly_world: WorldPayments
) -> None:
    expected = ledgerly_world.charges_between(WINDOW_START, WINDOW_END)
    assert len(expected) > 1000
    assert [c["id"] for c in ledgerly_charges] == newest_first(expected)
    assert_newest_first(ledgerly_charges)


def test_charge_fields_match_the_world(
    ledgerly_charges: list[dict[str, Any]], ledgerly_world: WorldPayments
) -> None:
    world = {c.id: c for c in ledgerly_world.charges}
    assert {c["status"] for c in ledgerly_charges} == {"succeeded", "failed"}
    for charge in ledgerly_charges:
        truth = world[charge["id"]]
        assert charge["object"] == "charge"
        assert charge["amount"] == truth.amount
        assert isinstance(charge["amount"], int)
        assert charge["currency"] == "eur"
        assert charge["created"] == truth.created
        assert charge["customer"] == truth.customer_id
        assert charge["livemode"] is False
        assert charge["invoice"] == truth.invoice_id
        assert charge["payment_intent"].startswith("pi_")
        refunded = truth.refunded_by(ledgerly_world.now)
        assert charge["refunded"] is refunded
        assert charge["amount_refunded"] == (truth.amount if refunded else 0)
        if truth.succeeded:
            assert charge["status"] == "succeeded"
            assert charge["paid"] is charge["captured"] is True
            assert charge["amount_captured"] == truth.amount
            assert charge["balance_transaction"] == truth.balance_transaction_id
            assert charge["failure_code"] is None
            assert charge["outcome"]["type"] == "authorized"
        else:
            assert charge["status"] == "failed"
            assert charge["paid"] is charge["captured"] is False
            assert charge["balance_transaction"] is None
            assert charge["failure_code"] == "card_declined"
            assert charge["outcome"]["network_status"] == "declined_by_network"


def test_ending_before_pages_back_to_the_newest(
    sandbox_client: httpx.Client, ledgerly_charges: list[dict[str, Any]]
) -> None:
    """From the oldest charge, `ending_before` walks towards the newest, each page newest first."""
    collected: list[dict[str, Any]] = [ledgerly_charges[-1]]
    while True:
        params = {"limit": 100, **WINDOW, "ending_before": collected[0]["id"]}
        page = page_of(sandbox_client, LEDGERLY, "charges", params)
        assert_newest_first(page["data"])
        collected = page["data"] + collected
        if not page["has_more"]:
            break
    assert [c["id"] for c in collected] == [c["id"] for c in ledgerly_charges]


def test_small_pages_in_both_directions_meet(
    sandbox_client: httpx.Client, ledgerly_charges: list[dict[str, Any]]
) -> None:
    first = page_of(sandbox_client, LEDGERLY, "charges", {"limit": 7, **WINDOW})
    assert [c["id"] for c in first["data"]] == [c["id"] for c in ledgerly_charges[:7]]
    assert first["has_more"] is True
    after = page_of(
        sandbox_client,
        LEDGERLY,
        "charges",
        {"limit": 3, **WINDOW, "starting_after": ledgerly_charges[6]["id"]},
    )
    assert [c["id"] for c in after["data"]] == [c["id"] for c in ledgerly_charges[7:10]]
    before = page_of(
        sandbox_client,
        LEDGERLY,
        "charges",
        {"limit": 3, **WINDOW, "ending_before": ledgerly_charges[6]["id"]},
    )
    assert [c["id"] for c in before["data"]] == [c["id"] for c in ledgerly_charges[3:6]]
    assert before["has_more"] is True
    newest = page_of(
        sandbox_client,
        LEDGERLY,
        "charges",
        {"limit": 10, **WINDOW, "ending_before": ledgerly_charges[2]["id"]},
    )
    assert [c["id"] for c in newest["data"]] == [c["id"] for c in ledgerly_charges[:2]]
    assert newest["has_more"] is False


def test_created_bounds_are_inclusive_or_exclusive_as_asked(
    sandbox_client: httpx.Client, ledgerly_charges: list[dict[str, Any]]
) -> None:
    moment = ledgerly_charges[50]["created"]
    same_second = {c["id"] for c in ledgerly_charges if c["created"] == moment}
    exact = page_of(sandbox_client, LEDGERLY, "charges", {"created": moment, "limit": 100})
    assert {c["id"] for c in exact["data"]} == same_second
    closed = {"created[gte]": moment, "created[lte]": moment, "limit": 100}
    assert page_of(sandbox_client, LEDGERLY, "charges", closed)["data"] == exact["data"]
    opened = {"created[gt]": moment - 1, "created[lt]": moment + 1, "limit": 100}
    assert page_of(sandbox_client, LEDGERLY, "charges", opened)["data"] == exact["data"]
    for far in ({"created[lt]": -(10**15)}, {"created[gte]": 10**15}, {"created": 0}):
        assert page_of(sandbox_client, LEDGERLY, "charges", far)["data"] == []


def test_refunds_page_once_and_match_their_charges(
    sandbox_client: httpx.Client, ledgerly_world: WorldPayments
) -> None:
    refunds = all_objects(sandbox_client, LEDGERLY, "refunds", WINDOW)
    expected = ledgerly_world.refunded_between(WINDOW_START, WINDOW_END)
    assert expected
    assert sorted(r["id"] for r in refunds) == sorted(c.refund_id for c in expected)
    assert_newest_first(refunds)
    charges = {c.id: c for c in expected}
    for refund in refunds:
        charge = charges[refund["charge"]]
        assert refund["object"] == "refund"
        assert refund["status"] == "succeeded"
        assert refund["amount"] == charge.amount
        assert refund["currency"] == "eur"
        assert refund["created"] == charge.refund_created
        assert refund["balance_transaction"].startswith("txn_")


def test_balance_transactions_add_up_to_charges_and_refunds(
    sandbox_client: httpx.Client, ledgerly_world: WorldPayments
) -> None:
    txns = all_objects(sandbox_client, LEDGERLY, "balance_transactions", WINDOW)
    assert_newest_first(txns)
    charges = [c for c in ledgerly_world.charges_between(WINDOW_START, WINDOW_END) if c.succeeded]
    refunded = ledgerly_world.refunded_between(WINDOW_START, WINDOW_END)
    by_type = {kind: [t for t in txns if t["type"] == kind] for kind in ("charge", "refund")}
    assert len(txns) == len(by_type["charge"]) + len(by_type["refund"])
    assert sorted(t["source"] for t in by_type["charge"]) == sorted(c.id for c in charges)
    assert sorted(t["source"] for t in by_type["refund"]) == sorted(c.refund_id for c in refunded)
    assert sum(t["amount"] for t in by_type["charge"]) == sum(c.amount for c in charges)
    assert sum(t["fee"] for t in by_type["charge"]) == sum(c.fee for c in charges)
    assert sum(t["amount"] for t in by_type["refund"]) == -sum(c.amount for c in refunded)
    for txn in txns:
        assert txn["object"] == "balance_transaction"
        assert txn["net"] == txn["amount"] - txn["fee"]
        assert txn["fee"] == sum(detail["amount"] for detail in txn["fee_details"])
        assert txn["reporting_category"] == txn["type"]
        assert txn["exchange_rate"] is None
        assert txn["status"] == (
            "available" if txn["available_on"] <= ledgerly_world.now else "pending"
        )
    charge_txn = by_type["charge"][0]
    assert charge_txn["fee_details"][0]["type"] == "stripe_fee"
    assert charge_txn["id"] == "txn_" + charge_txn["source"][3:]
    assert all(t["amount"] < 0 and t["fee"] == 0 for t in by_type["refund"])


def test_invoices_and_customers_page_once(
    sandbox_client: httpx.Client, ledgerly_world: WorldPayments
) -> None:
    invoices = all_objects(sandbox_client, LEDGERLY, "invoices", WINDOW)
    charges = ledgerly_world.charges_between(WINDOW_START, WINDOW_END)
    assert [i["id"] for i in invoices] == [f"in_{cid[3:]}" for cid in newest_first(charges)]
    truth = {c.invoice_id: c for c in charges}
    for invoice in invoices:
        charge = truth[invoice["id"]]
        assert invoice["charge"] == charge.id
        assert invoice["subscription"] == charge.subscription.id
        assert invoice["amount_due"] == charge.amount
        assert invoice["amount_paid"] == (charge.amount if charge.succeeded else 0)
        assert invoice["status"] == ("paid" if charge.succeeded else "open")
        assert invoice["period_start"] <= invoice["period_end"]
    started = [s for s in ledgerly_world.subscriptions if WINDOW_START <= s.created < WINDOW_END]
    customers = all_objects(sandbox_client, LEDGERLY, "customers", WINDOW)
    assert sorted(c["id"] for c in customers) == sorted(s.customer_id for s in started)
    assert_newest_first(customers)
    assert all("@" in c["email"] and c["object"] == "customer" for c in customers)


def test_subscriptions_status_filter(
    sandbox_client: httpx.Client, ledgerly_world: WorldPayments
) -> None:
    window = {
        "created[gte]": int(datetime(2026, 9, 15, tzinfo=UTC).timestamp()),
        "created[lt]": int(datetime(2026, 10, 1, tzinfo=UTC).timestamp()),
    }
    every = all_objects(sandbox_client, LEDGERLY, "subscriptions", {**window, "status": "all"})
    default = all_objects(sandbox_client, LEDGERLY, "subscriptions", window)
    canceled = all_objects(
        sandbox_client, LEDGERLY, "subscriptions", {**window, "status": "canceled"}
    )
    active = all_objects(sandbox_client, LEDGERLY, "subscriptions", {**window, "status": "active"})
    started = [s for s in ledgerly_world.subscriptions if window["created[gte]"] <= s.created]
    started = [s for s in started if s.created < window["created[lt]"]]
    assert sorted(s["id"] for s in every) == sorted(s.id for s in started)
    assert canceled and active
    assert {s["status"] for s in canceled} == {"canceled"}
    assert {s["status"] for s in active} == {"active"}
    assert [s["id"] for s in default] == [s["id"] for s in active]
    assert sorted(s["id"] for s in canceled + active) == sorted(s["id"] for s in every)
    for subscription in canceled:
        assert subscription["ended_at"] == subscription["canceled_at"] <= ledgerly_world.now
    for subscription in every:
        item = subscription["items"]["data"][0]
        assert item["price"]["currency"] == subscription["currency"] == "eur"
        assert item["price"]["recurring"]["interval"] in ("month", "year")
        assert isinstance(item["price"]["unit_amount"], int)
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        assert subscription["start_date"] <= start < end


def test_thistle_charges_in_pounds_and_zero_decimal_yen(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    charges = all_objects(sandbox_client, THISTLE, "charges", WINDOW)
    world = {c.id: c for c in WorldPayments.of(sandbox, THISTLE).charges}
    assert {c["currency"] for c in charges} == {"gbp", "jpy"}
    assert minor_unit_exponent("JPY") == 0
    yen = [c for c in charges if c["currency"] == "jpy"]
    for charge in charges:
        assert charge["amount"] == world[charge["id"]].amount
    # Whole yen: a ¥4,800 charge is 4800, not 480000; the world rounds yen prices to tens.
    assert yen
    assert all(c["amount"] % 10 == 0 and 5_000 <= c["amount"] <= 50_000 for c in yen)
    paid = next(c for c in yen if c["paid"])
    txn = page_of(
        sandbox_client,
        THISTLE,
        "charges",
        {"created": paid["created"], "expand[]": "data.balance_transaction"},
    )["data"]
    txn = next(c for c in txn if c["id"] == paid["id"])["balance_transaction"]
    assert txn["currency"] == "jpy"
    assert txn["amount"] == paid["amount"]
    assert txn["fee"] == world[paid["id"]].fee
    assert txn["net"] == paid["amount"] - txn["fee"]


def test_paging_across_the_clock_change_misses_nothing(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    """London's and Berlin's 25-hour day (2026-10-25) neither drops nor repeats an object."""
    start = int(datetime(2026, 10, 20, tzinfo=UTC).timestamp())
    end = int(datetime(2026, 10, 30, tzinfo=UTC).timestamp())
    window = {"created[gte]": start, "created[lt]": end}
    for tenant_id in (THISTLE, LEDGERLY):
        world = WorldPayments.of(sandbox, tenant_id)
        charges = all_objects(sandbox_client, tenant_id, "charges", window)
        assert [c["id"] for c in charges] == newest_first(world.charges_between(start, end))
        refunds = all_objects(sandbox_client, tenant_id, "refunds", window)
        expected = world.refunded_between(start, end)
        assert sorted(r["id"] for r in refunds) == sorted(c.refund_id for c in expected)
        assert_newest_first(refunds)


def test_expanding_balance_transactions_on_charges(
    sandbox_client: httpx.Client, ledgerly_charges: list[dict[str, Any]]
) -> None:
    params = {"limit": 20, **WINDOW, "expand[]": "data.balance_transaction"}
    page = page_of(sandbox_client, LEDGERLY, "charges", params)
    assert [c["id"] for c in page["data"]] == [c["id"] for c in ledgerly_charges[:20]]
    for charge in page["data"]:
        txn = charge["balance_transaction"]
        if charge["paid"]:
            assert txn["object"] == "balance_transaction"
            assert txn["source"] == charge["id"]
            assert txn["amount"] == charge["amount"]
        else:
            assert txn is None
    indexed = {"limit": 20, **WINDOW, "expand[0]": "data.customer"}
    customer = page_of(sandbox_client, LEDGERLY, "charges", indexed)["data"][0]["customer"]
    assert customer["object"] == "customer"
    assert customer["id"] == ledgerly_charges[0]["customer"]


# --- the clock ------------------------------------------------------------------------------


def test_refunds_appear_as_the_clock_passes_them(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    before, after = date(2026, 11, 10), date(2026, 11, 13)
    world = WorldPayments.of(sandbox, LEDGERLY)
    start = int(world_now(day_number(before)).timestamp())
    end = int(world_now(day_number(after)).timestamp())
    charge = next(c for c in world.refunded_between(start, end) if c.created < start)
    exact_refund = {"created": charge.refund_created, "limit": 100}
    exact_charge = {"created": charge.created, "limit": 100}

    sandbox.world.clock.set(before)
    refunds = page_of(sandbox_client, LEDGERLY, "refunds", exact_refund)["data"]
    assert charge.refund_id not in [r["id"] for r in refunds]
    shown = page_of(sandbox_client, LEDGERLY, "charges", exact_charge)["data"]
    shown = next(c for c in shown if c["id"] == charge.id)
    assert shown["refunded"] is False
    assert shown["amount_refunded"] == 0
    old_window = page_of(sandbox_client, LEDGERLY, "charges", {"limit": 100, **WINDOW})

    sandbox.world.clock.set(after)
    refunds = page_of(sandbox_client, LEDGERLY, "refunds", exact_refund)["data"]
    assert charge.refund_id in [r["id"] for r in refunds]
    shown = page_of(sandbox_client, LEDGERLY, "charges", exact_charge)["data"]
    shown = next(c for c in shown if c["id"] == charge.id)
    assert shown["refunded"] is True
    assert shown["amount_refunded"] == charge.amount
    # October's charges were refunded, if ever, long before either day: nothing changed.
    assert page_of(sandbox_client, LEDGERLY, "charges", {"limit": 100, **WINDOW}) == old_window


def test_nothing_exists_from_the_sandbox_now_on(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    now = int(world_now(day_number(SANDBOX_TODAY)).timestamp())
    for endpoint in ENDPOINTS:
        params = {"limit": 5, **({"status": "all"} if endpoint == "subscriptions" else {})}
        newest = page_of(sandbox_client, LEDGERLY, endpoint, params)
        assert newest["data"]
        assert all(obj["created"] < now for obj in newest["data"])
        assert newest["data"][0]["created"] >= now - 2 * 86_400


def test_same_request_twice_and_overlapping_windows_agree(
    sandbox_client: httpx.Client, ledgerly_charges: list[dict[str, Any]]
) -> None:
    params = {"limit": 100, **WINDOW}
    first = get(sandbox_client, LEDGERLY, "charges", params)
    second = get(sandbox_client, LEDGERLY, "charges", params)
    assert first.content == second.content
    assert first.headers["Request-Id"] != second.headers["Request-Id"]
    middle = int(datetime(2026, 10, 8, tzinfo=UTC).timestamp())
    later = {"created[gte]": middle, "created[lt]": WINDOW_END + 3 * 86_400}
    overlap = [
        c
        for c in all_objects(sandbox_client, LEDGERLY, "charges", later)
        if c["created"] < WINDOW_END
    ]
    assert overlap == [c for c in ledgerly_charges if c["created"] >= middle]


# --- errors -----------------------------------------------------------------------------------


def test_missing_key_is_unauthorized(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get("/stripe/v1/charges")
    assert response.status_code == 401
    assert REQUEST_ID.match(response.headers["Request-Id"])
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key.")


def test_wrong_key_is_unauthorized_and_masked(sandbox_client: httpx.Client) -> None:
    wrong = "sk_test_" + "x" * 40 + "abcd"
    response = sandbox_client.get(
        "/stripe/v1/charges", headers={"Authorization": f"Bearer {wrong}"}
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error == {
        "message": f"Invalid API Key provided: sk_test_{'*' * 40}abcd",
        "type": "invalid_request_error",
    }
    assert wrong not in response.text


def test_the_key_works_as_basic_auth_username(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get(
        "/stripe/v1/charges", params={"limit": 1}, auth=(key_of(LEDGERLY), "")
    )
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1
    other = sandbox_client.get("/stripe/v1/charges", auth=("sk_test_nope1234", ""))
    assert other.status_code == 401


def test_each_key_sees_only_its_own_account(sandbox_client: httpx.Client) -> None:
    thistle = page_of(sandbox_client, THISTLE, "charges", {"limit": 100, **WINDOW})
    own = get(sandbox_client, LEDGERLY, "charges", {"starting_after": thistle["data"][0]["id"]})
    assert own.status_code == 400
    assert own.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_limit_must_be_an_integer_from_1_to_100(sandbox_client: httpx.Client, limit: str) -> None:
    response = get(sandbox_client, LEDGERLY, "charges", {"limit": limit})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "limit"
    assert error["code"] == "parameter_invalid_integer"


def test_unknown_cursor_is_resource_missing(sandbox_client: httpx.Client) -> None:
    for param in ("starting_after", "ending_before"):
        response = get(sandbox_client, LEDGERLY, "charges", {param: "ch_doesnotexist"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "resource_missing"
        assert error["param"] == param
        assert error["message"] == "No such charge: 'ch_doesnotexist'"
    refund_as_charge = get(sandbox_client, LEDGERLY, "refunds", {"starting_after": "ch_x"})
    assert refund_as_charge.json()["error"]["message"] == "No such refund: 'ch_x'"


def test_unknown_parameters_and_bad_values_are_refused(sandbox_client: httpx.Client) -> None:
    unknown = get(sandbox_client, LEDGERLY, "charges", {"colour": "blue"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Received unknown parameter: colour"
    assert unknown.json()["error"]["param"] == "colour"
    created = get(sandbox_client, LEDGERLY, "charges", {"created[gte]": "yesterday"})
    assert created.json()["error"]["param"] == "created[gte]"
    status = get(sandbox_client, LEDGERLY, "subscriptions", {"status": "happy"})
    assert status.status_code == 400
    assert status.json()["error"]["param"] == "status"
    expand = get(sandbox_client, LEDGERLY, "charges", {"expand[]": "data.nothing"})
    assert expand.status_code == 400
    both = get(
        sandbox_client, LEDGERLY, "charges", {"starting_after": "ch_a", "ending_before": "ch_b"}
    )
    assert both.status_code == 400


def test_unknown_paths_answer_stripes_404(sandbox_client: httpx.Client) -> None:
    response = get(sandbox_client, LEDGERLY, "payouts_of_the_moon")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/payouts_of_the_moon)."
    )


# --- faults ----------------------------------------------------------------------------------


def test_rate_limit_fault(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.faults.arm(LEDGERLY, STRIPE, Fault(FaultKind.RATE_LIMIT, count=1))
    response = get(sandbox_client, LEDGERLY, "charges")
    assert response.status_code == 429
    assert response.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert REQUEST_ID.match(response.headers["Request-Id"])
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "rate_limit"
    assert error["message"].startswith("Request rate limit exceeded.")
    assert get(sandbox_client, LEDGERLY, "charges").status_code == 200


def test_server_error_fault(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.faults.arm(LEDGERLY, STRIPE, Fault(FaultKind.SERVER_ERROR, count=1))
    response = get(sandbox_client, LEDGERLY, "refunds")
    assert response.status_code == 500
    assert response.headers["Stripe-Should-Retry"] == "true"
    assert response.json()["error"]["type"] == "api_error"
    assert get(sandbox_client, LEDGERLY, "refunds").status_code == 200


def test_expired_token_fault(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.faults.arm(LEDGERLY, STRIPE, Fault(FaultKind.EXPIRED_TOKEN, count=1))
    response = get(sandbox_client, LEDGERLY, "invoices")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "api_key_expired"
    assert error["type"] == "invalid_request_error"
    key = key_of(LEDGERLY)
    assert error["message"] == f"Expired API Key provided: sk_test_{'*' * 36}{key[-4:]}"
    assert key not in response.text


def test_malformed_fault_cuts_the_json(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(LEDGERLY, STRIPE, Fault(FaultKind.MALFORMED, count=1))
    response = get(sandbox_client, LEDGERLY, "balance_transactions")
    assert response.status_code == 200
    assert response.text.startswith('{\n  "object": "list"')
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_faults_hit_only_their_tenant(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.faults.arm(LEDGERLY, STRIPE, Fault(FaultKind.SERVER_ERROR))
    assert get(sandbox_client, THISTLE, "charges").status_code == 200
    assert get(sandbox_client, LEDGERLY, "charges").status_code == 500


def test_schema_drift_adds_a_field_to_every_object(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    drift_fields = {
        "charges": "presentment_details",
        "refunds": "presentment_details",
        "balance_transactions": "balance_type",
        "subscriptions": "billing_mode",
        "invoices": "parent",
        "customers": "business_name",
    }
    params = {"limit": 20, "created[lt]": WINDOW_END}
    clean = {e: page_of(sandbox_client, LEDGERLY, e, params)["data"] for e in ENDPOINTS}
    sandbox.faults.arm(LEDGERLY, STRIPE, Fault(FaultKind.SCHEMA_DRIFT))
    for endpoint, field in drift_fields.items():
        drifted = page_of(sandbox_client, LEDGERLY, endpoint, params)["data"]
        assert [o["id"] for o in drifted] == [o["id"] for o in clean[endpoint]]
        assert all(field not in o for o in clean[endpoint])
        assert all(o[field] is not None for o in drifted)
        assert [{k: v for k, v in o.items() if k != field} for o in drifted] == clean[endpoint]
