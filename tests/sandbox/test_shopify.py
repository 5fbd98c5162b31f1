"""The sandbox's Shopify Admin GraphQL API pages the world's orders as Shopify would serve them."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName
from sandbox.api import shopify
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.calendar import day_number, world_now
from sandbox.world.shop import Order, customer, day_orders, shop_of
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import SANDBOX_TODAY

NORTHWIND = "northwind_fashion"
THISTLE = "thistle_and_thread"
WINDOW = "updated_at:>='2026-10-01T00:00:00Z' AND updated_at:<'2026-10-15T00:00:00Z'"
WINDOW_START = datetime(2026, 10, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 10, 15, tzinfo=UTC)
UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}

ORDER_FIELDS = """
  id legacyResourceId name createdAt updatedAt processedAt cancelledAt test
  currencyCode presentmentCurrencyCode displayFinancialStatus discountCodes
  subtotalPriceSet { shopMoney { amount currencyCode } }
  totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
  currentTotalPriceSet { shopMoney { amount } }
  totalDiscountsSet { shopMoney { amount } }
  totalRefundedSet { shopMoney { amount } }
  totalShippingPriceSet { shopMoney { amount } }
  totalTaxSet { shopMoney { amount } }
  customer { id email firstName lastName createdAt }
  lineItems(first: 10) {
    nodes {
      id title sku quantity
      originalUnitPriceSet { shopMoney { amount } }
      discountedTotalSet { shopMoney { amount } }
      totalDiscountSet { shopMoney { amount } }
    }
  }
  refunds(first: 5) {
    id createdAt totalRefundedSet { shopMoney { amount } }
    refundLineItems(first: 5) {
      nodes { quantity lineItem { id } subtotalSet { shopMoney { amount } } }
    }
  }
  customerJourneySummary {
    customerOrderIndex daysToConversion ready momentsCount { count precision }
    firstVisit { id occurredAt source }
    lastVisit {
      id occurredAt source sourceType utmParameters { source medium campaign content term }
    }
    moments(first: 10) {
      nodes {
        occurredAt
        ... on CustomerVisit {
          id source sourceType referrerUrl landingPage
          utmParameters { source medium campaign content term }
        }
      }
    }
  }
"""

ORDERS_QUERY = f"""
query Orders($first: Int!, $after: String, $query: String, $sortKey: OrderSortKeys) {{
  orders(first: $first, after: $after, query: $query, sortKey: $sortKey) {{
    edges {{ cursor node {{ {ORDER_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}
"""


@pytest.fixture(scope="module")
def northwind_window(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """Every northwind order updated in the two weeks of WINDOW, paged by updatedAt."""
    with httpx.Client(base_url=sandbox.url, timeout=60) as client:
        return all_orders(client, sandbox, NORTHWIND, WINDOW)


@pytest.fixture(autouse=True)
def fresh_cost_bucket() -> Iterator[None]:
    shopify.reset_throttle()
    yield
    shopify.reset_throttle()


def handle_of(sandbox: SandboxServer, tenant_id: str) -> str:
    return sandbox.world.registry.get(tenant_id).sources[SourceName.SHOPIFY].account_id


def token_of(tenant_id: str) -> str:
    return sandbox_credentials(tenant_id, SourceName.SHOPIFY)["access_token"]


def post(
    client: httpx.Client,
    sandbox: SandboxServer,
    tenant_id: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> httpx.Response:
    headers = {} if token == "" else {"X-Shopify-Access-Token": token or token_of(tenant_id)}
    return client.post(
        f"/shopify/{handle_of(sandbox, tenant_id)}/admin/api/{shopify.API_VERSION}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers=headers,
    )


def graphql(
    client: httpx.Client,
    sandbox: SandboxServer,
    tenant_id: str,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a successful answer, waiting out THROTTLED as a well-behaved client does."""
    while True:
        response = post(client, sandbox, tenant_id, query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if "THROTTLED" not in codes:
            assert "errors" not in body, body
            return body
        cost = body["extensions"]["cost"]
        status = cost["throttleStatus"]
        missing = cost["requestedQueryCost"] - status["currentlyAvailable"]
        time.sleep(max(missing, 1) / status["restoreRate"])


def all_orders(
    client: httpx.Client,
    sandbox: SandboxServer,
    tenant_id: str,
    query: str,
    sort_key: str = "UPDATED_AT",
    page_size: int = 250,
) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        variables = {"first": page_size, "after": after, "query": query, "sortKey": sort_key}
        page = graphql(client, sandbox, tenant_id, ORDERS_QUERY, variables)["data"]["orders"]
        nodes.extend(edge["node"] for edge in page["edges"])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]


def world_orders_updated_between(
    sandbox: SandboxServer, tenant_id: str, start: datetime, end: datetime
) -> list[Order]:
    world = sandbox.world
    tenant = world.registry.get(tenant_id)
    shop, accounts = shop_of(tenant), tuple(world.ad_accounts(tenant))
    now = world_now(world.today())
    first_day = day_number(start.date()) - 30  # refunds come at most 20 days later
    orders = []
    for day in range(first_day, world.today()):
        for order in day_orders(shop, accounts, day):
            updated = order.updated_at(now).replace(microsecond=0)
            if start <= updated < end:
                orders.append(order)
    return orders


def amount(node: dict[str, Any], field: str) -> Decimal:
    return Decimal(node[field]["shopMoney"]["amount"])


def decimal_of(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_unit_exponent(currency))


def gid_number(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


def test_shop_identity_and_currency(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    query = "{ shop { name currencyCode ianaTimezone myshopifyDomain } }"
    northwind = graphql(sandbox_client, sandbox, NORTHWIND, query)["data"]["shop"]
    thistle = graphql(sandbox_client, sandbox, THISTLE, query)["data"]["shop"]
    assert northwind == {
        "name": "Northwind Fashion",
        "currencyCode": "USD",
        "ianaTimezone": "America/New_York",
        "myshopifyDomain": "northwind-fashion.myshopify.com",
    }
    assert (thistle["currencyCode"], thistle["ianaTimezone"]) == ("GBP", "Europe/London")


def test_paging_by_updated_at_returns_every_order_once_with_exact_money(
    sandbox: SandboxServer, northwind_window: list[dict[str, Any]]
) -> None:
    nodes = northwind_window
    expected = world_orders_updated_between(sandbox, NORTHWIND, WINDOW_START, WINDOW_END)

    ids = [gid_number(node["id"]) for node in nodes]
    assert len(ids) == len(set(ids)) > 1000
    assert set(ids) == {order.id for order in expected}
    updated = [(node["updatedAt"], gid_number(node["id"])) for node in nodes]
    assert updated == sorted(updated)

    world_total = sum(o.gross - o.discount + o.shipping for o in expected)
    assert sum(amount(node, "totalPriceSet") for node in nodes) == decimal_of(world_total, "USD")
    now = world_now(sandbox.world.today())
    refunded = sum(o.visible_refund(now).amount for o in expected if o.visible_refund(now))
    assert sum(amount(node, "totalRefundedSet") for node in nodes) == decimal_of(refunded, "USD")
    for node in nodes:
        assert amount(node, "currentTotalPriceSet") == amount(node, "totalPriceSet") - amount(
            node, "totalRefundedSet"
        )
        assert node["totalPriceSet"]["shopMoney"]["currencyCode"] == "USD"
        assert node["legacyResourceId"] == str(gid_number(node["id"]))


def test_order_fields_match_the_world(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    day = day_number(date(2026, 10, 6))
    nodes = all_orders(
        sandbox_client,
        sandbox,
        NORTHWIND,
        "created_at:>='2026-10-06T00:00:00-04:00' created_at:<'2026-10-07T00:00:00-04:00'",
        sort_key="CREATED_AT",
    )
    world = sandbox.world
    tenant = world.registry.get(NORTHWIND)
    shop = shop_of(tenant)
    orders = day_orders(shop, tuple(world.ad_accounts(tenant)), day)
    assert [gid_number(node["id"]) for node in nodes] == [order.id for order in orders]
    for node, order in zip(nodes, orders, strict=True):
        assert node["name"] == order.name
        assert node["createdAt"] == order.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert node["discountCodes"] == ([order.discount_code] if order.discount_code else [])
        assert amount(node, "subtotalPriceSet") == decimal_of(order.gross - order.discount, "USD")
        assert amount(node, "totalShippingPriceSet") == decimal_of(order.shipping, "USD")
        assert amount(node, "totalTaxSet") == 0
        buyer = customer(shop, order.customer_index)
        assert node["customer"]["email"] == buyer.email
        lines = node["lineItems"]["nodes"]
        assert [line["sku"] for line in lines] == [item.sku for item in order.line_items]
        assert [Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"]) for line in lines] == [
            decimal_of(item.unit_price, "USD") for item in order.line_items
        ]


def test_money_strings_are_printed_as_shopify_prints_decimals(
    northwind_window: list[dict[str, Any]],
) -> None:
    nodes = northwind_window
    amounts = {node["totalTaxSet"]["shopMoney"]["amount"] for node in nodes}
    assert amounts == {"0.0"}
    prices = [node["totalPriceSet"]["shopMoney"]["amount"] for node in nodes]
    assert all(re.fullmatch(r"\d+\.(\d*[1-9]|0)", price) for price in prices)
    assert any(price.endswith(".99") for price in prices)


def test_journeys_carry_the_worlds_visits_and_utm_parameters(
    sandbox: SandboxServer, northwind_window: list[dict[str, Any]]
) -> None:
    nodes = northwind_window
    expected = {
        o.id: o for o in world_orders_updated_between(sandbox, NORTHWIND, WINDOW_START, WINDOW_END)
    }
    per_day = shop_of(sandbox.world.registry.get(NORTHWIND)).customers_per_day
    paid_sources = set()
    without_journey = 0
    for node in nodes:
        order = expected[gid_number(node["id"])]
        journey = node["customerJourneySummary"]
        if order.visits is None:
            assert journey is None
            without_journey += 1
            continue
        visits = journey["moments"]["nodes"]
        assert [gid_number(v["id"]) for v in visits] == [visit.id for visit in order.visits]
        assert journey["momentsCount"] == {"count": len(order.visits), "precision": "EXACT"}
        assert journey["lastVisit"]["id"] == visits[-1]["id"]
        assert journey["ready"] is True
        first_time = order.customer_index >= order.day * per_day
        assert (journey["customerOrderIndex"] is not None) is first_time
        for seen, visit in zip(visits, order.visits, strict=True):
            utm = seen["utmParameters"]
            if visit.utm_source is None:
                assert utm is None
                continue
            assert (utm["source"], utm["medium"], utm["campaign"], utm["content"]) == (
                visit.utm_source,
                visit.utm_medium,
                visit.utm_campaign,
                visit.utm_content,
            )
            if visit.kind == "paid":
                assert seen["sourceType"] == "AD"
                paid_sources.add(utm["source"])
    assert paid_sources == {"google", "facebook"}
    assert 0 < without_journey < len(nodes) / 10


def test_refunds_become_visible_as_the_clock_passes_them(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    world = sandbox.world
    tenant = world.registry.get(NORTHWIND)
    orders = day_orders(
        shop_of(tenant), tuple(world.ad_accounts(tenant)), day_number(date(2026, 10, 20))
    )
    order = next(o for o in orders if o.refund and o.refund.created_at.date() > date(2026, 10, 24))
    refund = order.refund
    assert refund is not None
    query = f"""{{ order(id: "gid://shopify/Order/{order.id}") {{
        updatedAt displayFinancialStatus totalRefundedSet {{ shopMoney {{ amount }} }}
        refunds {{ createdAt totalRefundedSet {{ shopMoney {{ amount }} }} }} }} }}"""

    world.clock.set(refund.created_at.date())  # the world's now is that day's UTC midnight
    before = graphql(sandbox_client, sandbox, NORTHWIND, query)["data"]["order"]
    world.clock.set(refund.created_at.date() + timedelta(days=1))
    after = graphql(sandbox_client, sandbox, NORTHWIND, query)["data"]["order"]

    assert before["displayFinancialStatus"] == "PAID"
    assert before["refunds"] == []
    assert before["totalRefundedSet"]["shopMoney"]["amount"] == "0.0"
    assert after["displayFinancialStatus"] in {"PARTIALLY_REFUNDED", "REFUNDED"}
    assert Decimal(after["totalRefundedSet"]["shopMoney"]["amount"]) == decimal_of(
        refund.amount, "USD"
    )
    assert after["refunds"][0]["createdAt"] == refund.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert after["updatedAt"] == after["refunds"][0]["createdAt"] > before["updatedAt"]


def test_thistle_and_thread_sells_in_pounds(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    nodes = all_orders(sandbox_client, sandbox, THISTLE, WINDOW)
    assert nodes
    assert {node["currencyCode"] for node in nodes} == {"GBP"}
    assert {node["totalPriceSet"]["presentmentMoney"]["currencyCode"] for node in nodes} == {"GBP"}
    expected = world_orders_updated_between(sandbox, THISTLE, WINDOW_START, WINDOW_END)
    assert {gid_number(node["id"]) for node in nodes} == {order.id for order in expected}


def test_small_pages_in_either_direction_return_the_same_orders(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = "created_at:>='2026-10-03' created_at:<'2026-10-05'"
    big = all_orders(sandbox_client, sandbox, THISTLE, query, sort_key="CREATED_AT")
    small = all_orders(sandbox_client, sandbox, THISTLE, query, sort_key="CREATED_AT", page_size=7)
    assert [node["id"] for node in small] == [node["id"] for node in big]
    backwards, after = [], None
    while True:
        page = graphql(
            sandbox_client,
            sandbox,
            THISTLE,
            """query($after: String, $query: String) {
                orders(first: 9, after: $after, query: $query, reverse: true) {
                  nodes { id } pageInfo { hasNextPage endCursor } } }""",
            {"after": after, "query": query},
        )["data"]["orders"]
        backwards.extend(node["id"] for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert backwards == [node["id"] for node in reversed(big)]


def test_cursors_are_opaque_base64_of_the_last_sort_value(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    page = graphql(
        sandbox_client,
        sandbox,
        NORTHWIND,
        f"""{{ orders(first: 2, sortKey: UPDATED_AT, query: "{WINDOW}") {{
              edges {{ cursor node {{ id updatedAt }} }} }} }}""",
    )["data"]["orders"]
    edge = page["edges"][0]
    decoded = json.loads(base64.b64decode(edge["cursor"]))
    assert decoded == {
        "last_id": gid_number(edge["node"]["id"]),
        "last_value": edge["node"]["updatedAt"],
    }


def test_same_request_twice_and_overlapping_windows_agree(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = "created_at:>='2026-10-02T00:00:00Z' created_at:<'2026-10-04T00:00:00Z'"
    first = all_orders(sandbox_client, sandbox, NORTHWIND, query, sort_key="CREATED_AT")
    again = all_orders(sandbox_client, sandbox, NORTHWIND, query, sort_key="CREATED_AT")
    assert first == again
    wider = all_orders(
        sandbox_client,
        sandbox,
        NORTHWIND,
        "created_at:>='2026-10-03T00:00:00Z' created_at:<'2026-10-06T00:00:00Z'",
        sort_key="CREATED_AT",
    )
    shared = {node["id"] for node in first} & {node["id"] for node in wider}
    assert len(shared) > 100
    assert [n for n in first if n["id"] in shared] == [n for n in wider if n["id"] in shared]


def test_customers_page_by_creation(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    query = """query($after: String) {
      customers(first: 100, after: $after,
                query: "created_at:>='2026-10-01' created_at:<'2026-10-03'") {
        nodes { id email firstName lastName createdAt updatedAt }
        pageInfo { hasNextPage endCursor } } }"""
    nodes, after = [], None
    while True:
        page = graphql(sandbox_client, sandbox, THISTLE, query, {"after": after})["data"][
            "customers"
        ]
        nodes.extend(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    shop = shop_of(sandbox.world.registry.get(THISTLE))
    first_day = day_number(date(2026, 10, 1))
    expected = [
        customer(shop, index)
        for index in range(
            first_day * shop.customers_per_day, (first_day + 2) * shop.customers_per_day
        )
    ]
    assert [gid_number(node["id"]) for node in nodes] == [person.id for person in expected]
    assert nodes[0]["email"] == expected[0].email


def test_missing_or_wrong_token_is_unauthorized(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    for token in ("", "shpat_wrong", token_of(THISTLE)):
        response = post(sandbox_client, sandbox, NORTHWIND, "{ shop { name } }", token=token)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


def test_unknown_shop_is_not_found(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.post(
        f"/shopify/no-such-shop/admin/api/{shopify.API_VERSION}/graphql.json",
        json={"query": "{ shop { name } }"},
        headers={"X-Shopify-Access-Token": token_of(NORTHWIND)},
    )
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


def test_an_unknown_field_fails_validation_like_shopify(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    response = post(
        sandbox_client, sandbox, NORTHWIND, "{ orders(first: 1) { nodes { id fooBar } } }"
    )
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["message"] == "Field 'fooBar' doesn't exist on type 'Order'"
    assert error["extensions"] == {
        "code": "undefinedField",
        "typeName": "Order",
        "fieldName": "fooBar",
    }
    assert "data" not in response.json()


def test_pages_are_capped_at_250(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    body = post(
        sandbox_client, sandbox, NORTHWIND, "{ orders(first: 251) { nodes { id } } }"
    ).json()
    assert body["errors"][0]["message"].startswith("first cannot exceed 250.")
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_an_unquoted_timestamp_is_cut_at_its_colon_and_reported(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    body = graphql(
        sandbox_client,
        sandbox,
        NORTHWIND,
        '{ orders(first: 1, query: "updated_at:>=2026-10-01T00:00:00Z") { nodes { id } } }',
    )
    (search,) = body["extensions"]["search"]
    assert search["path"] == ["orders"]
    assert search["warnings"] == [
        {"field": "00", "message": "Invalid search field for this query.", "code": "invalid_field"}
    ]


def test_every_answer_reports_its_cost(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    body = graphql(sandbox_client, sandbox, NORTHWIND, "{ orders(first: 250) { nodes { id } } }")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 13  # Shopify's measured price of this query
    assert cost["actualQueryCost"] == 13
    status = cost["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (2000.0, 100.0)
    assert 1987 <= status["currentlyAvailable"] <= 2000


def test_a_query_over_1000_points_is_refused(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = """{ orders(first: 250) { nodes { id
        lineItems(first: 250) { nodes { id } }
        refunds(first: 250) { refundLineItems(first: 250) { nodes { lineItem { id } } } } } } }"""
    response = post(sandbox_client, sandbox, NORTHWIND, query)
    assert response.status_code == 200
    body = response.json()
    (error,) = body["errors"]
    assert error["message"].startswith("Query cost is ")
    assert "exceeds the single query max cost limit (1000)" in error["message"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["maxCost"] == 1000
    assert error["extensions"]["cost"] > 1000
    assert "data" not in body


def assert_throttled(body: dict[str, Any]) -> None:
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    cost = body["extensions"]["cost"]
    assert cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] < cost["requestedQueryCost"]
    assert "data" not in body


def test_costly_queries_empty_the_bucket_until_throttled(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    one = f"""orders(first: 250, query: "{WINDOW}") {{ nodes {{ id customer {{ id }}
        customerJourneySummary {{ firstVisit {{ utmParameters {{ source }} }}
          lastVisit {{ utmParameters {{ source }} }} momentsCount {{ count }} }} }} }}"""
    query = "{ " + " ".join(f"a{n}: {one}" for n in range(8)) + " }"
    answers = [post(sandbox_client, sandbox, NORTHWIND, query) for _ in range(6)]
    bodies = [answer.json() for answer in answers]
    assert all(answer.status_code == 200 for answer in answers)
    assert "data" in bodies[0]
    assert bodies[0]["extensions"]["cost"]["actualQueryCost"] > 600
    throttled = [body for body in bodies if "errors" in body]
    assert throttled, [body["extensions"]["cost"] for body in bodies]
    assert_throttled(throttled[0])


def test_rate_limit_fault_answers_throttled(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(
        NORTHWIND, SourceName.SHOPIFY, Fault(FaultKind.RATE_LIMIT, count=1, seconds=3)
    )
    response = post(sandbox_client, sandbox, NORTHWIND, "{ orders(first: 250) { nodes { id } } }")
    assert response.status_code == 200
    assert_throttled(response.json())
    assert "data" in graphql(sandbox_client, sandbox, NORTHWIND, "{ shop { name } }")


def test_server_error_fault(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.faults.arm(NORTHWIND, SourceName.SHOPIFY, Fault(FaultKind.SERVER_ERROR, count=1))
    response = post(sandbox_client, sandbox, NORTHWIND, "{ shop { name } }")
    assert response.status_code == 503
    assert response.json() == {"errors": "An unexpected error occurred"}
    assert post(sandbox_client, sandbox, NORTHWIND, "{ shop { name } }").status_code == 200


def test_expired_token_fault(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.faults.arm(NORTHWIND, SourceName.SHOPIFY, Fault(FaultKind.EXPIRED_TOKEN, count=1))
    response = post(sandbox_client, sandbox, NORTHWIND, "{ shop { name } }")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_malformed_fault_cuts_the_json(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, SourceName.SHOPIFY, Fault(FaultKind.MALFORMED, count=1))
    response = post(
        sandbox_client, sandbox, NORTHWIND, "{ orders(first: 5) { nodes { id name } } }"
    )
    assert response.status_code == 200
    assert response.text.startswith('{"data": {"orders"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_schema_drift_adds_a_field_to_every_order(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = """{ orders(first: 3) { edges { node { id } } nodes { name } } }"""
    plain = graphql(sandbox_client, sandbox, NORTHWIND, query)["data"]["orders"]
    sandbox.faults.arm(NORTHWIND, SourceName.SHOPIFY, Fault(FaultKind.SCHEMA_DRIFT))
    drifted = graphql(sandbox_client, sandbox, NORTHWIND, query)["data"]["orders"]
    assert all(set(edge["node"]) == {"id"} for edge in plain["edges"])
    assert all(set(edge["node"]) == {"id", "statusPageUrl"} for edge in drifted["edges"])
    assert all(set(node) == {"name", "statusPageUrl"} for node in drifted["nodes"])
    asked = graphql(
        sandbox_client, sandbox, NORTHWIND, "{ orders(first: 1) { nodes { statusPageUrl } } }"
    )
    assert asked["data"]["orders"]["nodes"][0]["statusPageUrl"].startswith("https://")
    sandbox.faults.clear()
    assert (
        post(
            sandbox_client, sandbox, NORTHWIND, "{ orders(first: 1) { nodes { statusPageUrl } } }"
        ).json()["errors"][0]["extensions"]["code"]
        == "undefinedField"
    )


def test_no_orders_exist_from_the_sandbox_today_on(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = f"created_at:>='{SANDBOX_TODAY.isoformat()}'"
    body = graphql(
        sandbox_client,
        sandbox,
        NORTHWIND,
        """query($query: String) { orders(first: 5, query: $query) { nodes { id } } }""",
        {"query": query},
    )
    assert body["data"]["orders"]["nodes"] == []
