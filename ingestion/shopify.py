"""dlt source for a Shopify store: orders with their lines, refunds and journeys, customers, shop.

Reads the Admin GraphQL API, version 2025-01 (https://shopify.dev/docs/api/admin-graphql/2025-01),
at `https://{shop}.myshopify.com/admin/api/2025-01/graphql.json` with the app's access token in
`X-Shopify-Access-Token`; the shop handle is the tenant's `account_id`. Resources, merged on
(tenant_id, id):

- `orders`, incremental on `updatedAt` (a refund updates its order, so late refunds arrive), paged
  by cursor 250 at a time, sorted by UPDATED_AT; child tables `orders__line_items`,
  `orders__refunds` (+ `__refund_line_items`), `orders__discount_codes` and
  `orders__customer_journey_summary__moments` (the visits of the customer journey, with UTM
  parameters, referrer and landing page). A re-read order replaces its child rows.
- `customers`, incremental on `updatedAt` (ids, dates and state; no names or e-mails);
- `shop`: currency and IANA timezone, which say what the money columns and order days mean.

Money is the shop-currency side of Shopify's MoneyBag (`<field>__shop_money__amount` as DECIMAL,
`__currency_code` beside it); timestamps are UTC. An explicit window (`--from/--to`) reads the
orders and customers created on those shop-local days, as they are now, and leaves the cursors
where they were. Shopify answers an exhausted cost bucket with HTTP 200 and `THROTTLED`: the
retry predicate turns the bucket's state into the `Retry-After` the retrying session honours, so
a retry waits exactly until the query's cost is restored. Any other GraphQL error fails the run.
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import requests
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.source import DltSource

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.errors import SourceError
from ingestion.http import ApiClient

API_VERSION = "2025-01"
API_BASE_URL = "https://{shop}.myshopify.com"  # {shop}: the tenant's account_id (shop handle)
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
PAGE_SIZE = 250
SECONDS_PER_DAY = 86_400
PRIMARY_KEY = ("tenant_id", "id")

TIMESTAMP_FIELDS = frozenset({"createdAt", "updatedAt", "processedAt", "cancelledAt", "occurredAt"})
DECIMAL_FIELDS = frozenset({"amount"})
INTEGER_FIELDS = frozenset({"legacyResourceId"})
UTM_PARAMETERS = ("campaign", "content", "medium", "source", "term")


@dataclasses.dataclass(frozen=True)
class NestedLimits:
    """How many nested records one order query asks for (they price the query)."""

    line_items: int
    refunds: int
    refund_line_items: int
    moments: int

    def variables(self) -> dict[str, int]:
        return {
            "lineItems": self.line_items,
            "refunds": self.refunds,
            "refundLineItems": self.refund_line_items,
            "moments": self.moments,
        }


# A page of 250 orders with these limits is priced 684 points (the maximum is 1000); an order
# with more nested records than that is read again on its own with the larger limits.
PAGE_LIMITS = NestedLimits(line_items=20, refunds=5, refund_line_items=20, moments=20)
SINGLE_ORDER_LIMITS = NestedLimits(line_items=250, refunds=50, refund_line_items=250, moments=250)

_MONEY = "fragment Money on MoneyBag { shopMoney { amount currencyCode } }"
_ORDER_FIELDS = """
fragment OrderFields on Order {
  id legacyResourceId name createdAt updatedAt processedAt cancelledAt confirmed test
  currencyCode presentmentCurrencyCode displayFinancialStatus discountCodes
  subtotalLineItemsQuantity
  subtotalPriceSet { ...Money } currentSubtotalPriceSet { ...Money }
  totalPriceSet { ...Money } currentTotalPriceSet { ...Money }
  totalDiscountsSet { ...Money } currentTotalDiscountsSet { ...Money }
  totalRefundedSet { ...Money } totalShippingPriceSet { ...Money }
  totalTaxSet { ...Money } currentTotalTaxSet { ...Money }
  customer { id }
  lineItems(first: $lineItems) {
    nodes {
      id name sku quantity currentQuantity
      originalUnitPriceSet { ...Money } originalTotalSet { ...Money }
      discountedTotalSet { ...Money } totalDiscountSet { ...Money }
    }
    pageInfo { hasNextPage }
  }
  refunds(first: $refunds) {
    id legacyResourceId createdAt updatedAt note totalRefundedSet { ...Money }
    refundLineItems(first: $refundLineItems) {
      nodes {
        lineItem { id } quantity
        priceSet { ...Money } subtotalSet { ...Money } totalTaxSet { ...Money }
      }
      pageInfo { hasNextPage }
    }
  }
  customerJourneySummary {
    customerOrderIndex daysToConversion ready momentsCount { count precision }
    moments(first: $moments) {
      nodes {
        occurredAt
        ... on CustomerVisit {
          id source sourceType sourceDescription referrerUrl landingPage referralCode
          utmParameters { campaign content medium source term }
        }
      }
      pageInfo { hasNextPage }
    }
  }
}
"""
_LIMIT_VARIABLES = "$lineItems: Int!, $refunds: Int!, $refundLineItems: Int!, $moments: Int!"
ORDERS_QUERY = f"""
query Orders($first: Int!, $after: String, $query: String!, $sortKey: OrderSortKeys!,
             {_LIMIT_VARIABLES}) {{
  orders(first: $first, after: $after, query: $query, sortKey: $sortKey) {{
    nodes {{ ...OrderFields }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
{_ORDER_FIELDS}
{_MONEY}
"""
ORDER_QUERY = f"""
query Order($id: ID!, {_LIMIT_VARIABLES}) {{
  order(id: $id) {{ ...OrderFields }}
}}
{_ORDER_FIELDS}
{_MONEY}
"""
CUSTOMERS_QUERY = """
query Customers($first: Int!, $after: String, $query: String!, $sortKey: CustomerSortKeys!) {
  customers(first: $first, after: $after, query: $query, sortKey: $sortKey) {
    nodes { id legacyResourceId createdAt updatedAt state verifiedEmail tags }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SHOP_QUERY = """
query Shop {
  shop { id name currencyCode ianaTimezone timezoneAbbreviation myshopifyDomain }
}
"""


def shop_base_url(base_url: str, shop: str) -> str:
    """The shop's API root: `API_BASE_URL` filled with the shop handle (a sandbox URL as is)."""
    return base_url.replace("{shop}", shop)


def throttled(response: requests.Response | None, _exception: BaseException | None) -> bool:
    """Retry predicate: True for Shopify's THROTTLED answer (HTTP 200).

    It also sets the response's `Retry-After` to the seconds the cost bucket needs to hold the
    query's requested cost again, which the retrying session waits before the next attempt.
    """
    if response is None or response.status_code != 200 or b"THROTTLED" not in response.content:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if "THROTTLED" not in _error_codes(body):
        return False
    response.headers["Retry-After"] = str(_seconds_until_affordable(body))
    return True


def _seconds_until_affordable(body: dict[str, Any]) -> int:
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(1, math.ceil(missing / float(status["restoreRate"])))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return 1


def _error_codes(body: Any) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        str((error.get("extensions") or {}).get("code"))
        for error in errors
        if isinstance(error, dict)
    ]


def _endpoint(operation: str) -> str:
    return f"POST {GRAPHQL_PATH} ({operation})"


class AdminApi:
    """The shop's Admin GraphQL API for one tenant."""

    def __init__(self, context: SourceContext) -> None:
        handle = context.tenant.sources[SourceName.SHOPIFY].account_id
        shop_context = dataclasses.replace(
            context, base_url=shop_base_url(context.base_url, handle)
        )
        self.client: ApiClient = shop_context.client(
            retry_on=throttled,
            headers={"X-Shopify-Access-Token": context.credentials["access_token"]},
        )

    def query(self, operation: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `data` of a successful answer; a `SourceError` for any GraphQL error."""
        endpoint = _endpoint(operation)
        payload = self.client.request_json(
            "POST",
            GRAPHQL_PATH,
            endpoint=endpoint,
            json_body={"query": document, "variables": variables},
        )
        if isinstance(payload, dict) and payload.get("errors"):
            raise self._refused(endpoint, payload)
        data = self.client.require(payload, "data", endpoint)
        warnings = (payload.get("extensions") or {}).get("search")
        if warnings:  # Shopify ignores a search term it does not understand: all would load
            raise self.client.fail(
                endpoint,
                f"Shopify did not understand the search filter: {warnings}",
                "fix the `query` filter in ingestion/shopify.py; data loaded before is untouched",
            )
        return data

    def pages(
        self, operation: str, document: str, connection: str, variables: dict[str, Any]
    ) -> Iterator[list[dict[str, Any]]]:
        """The nodes of connection `connection`, page by page, following `endCursor`."""
        endpoint = _endpoint(operation)
        after = None
        while True:
            data = self.query(
                operation, document, {**variables, "first": PAGE_SIZE, "after": after}
            )
            page = self.client.require(data, connection, endpoint)
            yield self.client.require(page, "nodes", endpoint)
            info = self.client.require(page, "pageInfo", endpoint)
            if not info.get("hasNextPage"):
                return
            after = self.client.require(info, "endCursor", endpoint)

    @contextmanager
    def expected_shape(self, operation: str) -> Iterator[None]:
        """Turns a record that cannot be read into a `SourceError` on `operation`."""
        try:
            yield
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise self.client.fail(
                _endpoint(operation),
                f"the API answered a record of an unexpected shape ({type(error).__name__}: "
                f"{error})",
                "rerun; if it persists the API changed: update ingestion/shopify.py",
            ) from None

    def _refused(self, endpoint: str, payload: dict[str, Any]) -> SourceError:
        errors = payload["errors"]
        if "THROTTLED" in _error_codes(payload):
            return self.client.fail(
                endpoint,
                "Shopify kept answering THROTTLED (the shop's query cost bucket stayed empty)",
                "rerun later, when other apps on the shop use less of its API; data loaded "
                "before is untouched",
            )
        described = (
            "; ".join(
                f"{error.get('message')} ({(error.get('extensions') or {}).get('code')})"
                if isinstance(error, dict)
                else str(error)
                for error in errors
            )
            if isinstance(errors, list)
            else str(errors)
        )
        return self.client.fail(
            endpoint,
            f"Shopify refused the query: {described}",
            "check that the app has the read_orders and read_customers scopes; otherwise the "
            f"API version {API_VERSION} changed: update ingestion/shopify.py. Data loaded "
            "before is untouched",
        )


# --- rows -------------------------------------------------------------------------------------


def _nullable(
    text: tuple[str, ...] = (), timestamp: tuple[str, ...] = ()
) -> dict[str, TColumnSchema]:
    """Types of columns that may stay empty for a while but which the models read."""
    return {
        **{name: {"name": name, "data_type": "text", "nullable": True} for name in text},
        **{name: {"name": name, "data_type": "timestamp", "nullable": True} for name in timestamp},
    }


def _typed(value: Any) -> Any:
    """Wire encodings to typed values: timestamps, decimal amounts and int64 strings.

    Nulls are left out: dlt treats a missing key as null, and a null object (a visit without
    UTM parameters) would otherwise be proposed as a column of its own.
    """
    if isinstance(value, dict):
        return {key: _typed_field(key, item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return value


def _typed_field(key: str, value: Any) -> Any:
    if key in TIMESTAMP_FIELDS:
        return datetime.fromisoformat(value)
    if key in DECIMAL_FIELDS:
        return Decimal(value)
    if key in INTEGER_FIELDS:
        return int(value)
    return _typed(value)


def _overflows(order: dict[str, Any], limits: NestedLimits) -> bool:
    """Whether `order` has more nested records than `limits` let one query return."""
    journey = order.get("customerJourneySummary")
    return (
        order["lineItems"]["pageInfo"]["hasNextPage"]
        or len(order["refunds"]) >= limits.refunds
        or any(r["refundLineItems"]["pageInfo"]["hasNextPage"] for r in order["refunds"])
        or bool(journey and journey["moments"]["pageInfo"]["hasNextPage"])
    )


def _order_row(tenant_id: str, node: dict[str, Any]) -> dict[str, Any]:
    """An order row; its connections become lists of child rows keyed by tenant and order."""
    order = _typed(node)
    keys = {"tenant_id": tenant_id, "order_id": order["id"]}
    order["lineItems"] = [{**keys, **item} for item in order["lineItems"]["nodes"]]
    order["refunds"] = [
        {**keys, **refund, "refundLineItems": refund["refundLineItems"]["nodes"]}
        for refund in order["refunds"]
    ]
    journey = order.get("customerJourneySummary")
    if journey:
        journey["moments"] = [{**keys, **moment} for moment in journey["moments"]["nodes"]]
    return {"tenant_id": tenant_id, **order}


# --- windows ------------------------------------------------------------------------------------


def _start_of(day: date, context: SourceContext) -> datetime:
    """The instant `day` begins in the tenant's timezone (the shop's days are local days)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(context.tenant.timezone))


def _cursor(context: SourceContext) -> dlt.sources.incremental | None:
    """The `updatedAt` cursor; none for an explicit window, which must not move it."""
    if context.explicit_window:
        return None
    return dlt.sources.incremental(
        "updatedAt",
        initial_value=_start_of(context.first_day, context),
        lag=context.restatement_days * SECONDS_PER_DAY or None,
    )


def _search(context: SourceContext, cursor: dlt.sources.incremental | None) -> tuple[str, str]:
    """(Shopify search filter, sort key): created on the window's days, or updated since."""
    if cursor is None:
        end = context.last_day + timedelta(days=1)
        return f"created_at:>='{context.first_day}' created_at:<'{end}'", "CREATED_AT"
    start = max(cursor.start_value, _start_of(context.first_day, context)).astimezone(UTC)
    return f"updated_at:>='{start:%Y-%m-%dT%H:%M:%SZ}'", "UPDATED_AT"


# --- source -------------------------------------------------------------------------------------


@dlt.source(name="shopify")
def shopify_source(context: SourceContext) -> DltSource:
    api = AdminApi(context)
    return (
        shop(api, context),
        orders(api, context, _cursor(context)),
        customers(api, context, _cursor(context)),
    )


@dlt.resource(name="shop", primary_key=PRIMARY_KEY, write_disposition="merge")
def shop(api: AdminApi, context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    node = api.client.require(api.query("Shop", SHOP_QUERY, {}), "shop", _endpoint("Shop"))
    with api.expected_shape("Shop"):
        row = {"tenant_id": context.tenant_id, **_typed(node)}
    context.run.count_rows(1)
    yield [row]


@dlt.resource(
    name="orders",
    primary_key=PRIMARY_KEY,
    write_disposition="merge",
    columns={"updatedAt": {"dedup_sort": "desc"}, **_nullable(timestamp=("cancelled_at",))},
    nested_hints={
        "refunds": {"columns": _nullable(text=("note",))},
        ("customer_journey_summary", "moments"): {
            "parent_table_name": "orders",
            "columns": _nullable(
                text=(
                    "source_description",
                    "referrer_url",
                    "landing_page",
                    "referral_code",
                    *(f"utm_parameters__{name}" for name in UTM_PARAMETERS),
                )
            ),
        },
    },
)
def orders(
    api: AdminApi, context: SourceContext, cursor: dlt.sources.incremental[datetime] | None
) -> Iterator[list[dict[str, Any]]]:
    search, sort_key = _search(context, cursor)
    variables = {"query": search, "sortKey": sort_key, **PAGE_LIMITS.variables()}
    for nodes in api.pages("Orders", ORDERS_QUERY, "orders", variables):
        with api.expected_shape("Orders"):
            rows = [_order_row(context.tenant_id, _complete(api, node)) for node in nodes]
        context.run.count_rows(len(rows))
        yield rows


def _complete(api: AdminApi, node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or the whole order read on its own when a page could not hold its records."""
    if not _overflows(node, PAGE_LIMITS):
        return node
    variables = {"id": node["id"], **SINGLE_ORDER_LIMITS.variables()}
    endpoint = _endpoint("Order")
    order = api.client.require(api.query("Order", ORDER_QUERY, variables), "order", endpoint)
    if order is None:
        raise api.client.fail(
            endpoint,
            f"order {node['id']} disappeared while it was being read",
            "rerun; data loaded before is untouched",
        )
    if _overflows(order, SINGLE_ORDER_LIMITS):
        raise api.client.fail(
            endpoint,
            f"order {node['id']} has more line items, refunds or journey visits than one query "
            f"reads ({SINGLE_ORDER_LIMITS})",
            "raise SINGLE_ORDER_LIMITS in ingestion/shopify.py; data loaded before is untouched",
        )
    return order


@dlt.resource(
    name="customers",
    primary_key=PRIMARY_KEY,
    write_disposition="merge",
    columns={"updatedAt": {"dedup_sort": "desc"}},
)
def customers(
    api: AdminApi, context: SourceContext, cursor: dlt.sources.incremental[datetime] | None
) -> Iterator[list[dict[str, Any]]]:
    search, sort_key = _search(context, cursor)
    for nodes in api.pages(
        "Customers", CUSTOMERS_QUERY, "customers", {"query": search, "sortKey": sort_key}
    ):
        with api.expected_shape("Customers"):
            rows = [{"tenant_id": context.tenant_id, **_typed(node)} for node in nodes]
        context.run.count_rows(len(rows))
        yield rows
