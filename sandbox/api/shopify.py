"""Shopify's Admin GraphQL API (version 2025-01) over each tenant's synthetic shop.

Mounted at `/shopify/{shop}`: `POST /admin/api/2025-01/graphql.json` with the
`X-Shopify-Access-Token` header, answering a faithful subset of the Admin schema
(`shopify_schema.graphql`: shop, orders with line items, refunds and customer journeys,
customers) through graphql-core, so queries are validated as Shopify validates them
(`Field 'x' doesn't exist on type 'Order'`, code `undefinedField`, HTTP 200). It follows
shopify.dev's Admin GraphQL reference and rate-limit pages and responses measured on live shops:
connections page with opaque base64 cursors `{"last_id", "last_value"}` (`first` at most 250),
`query` takes Shopify's search syntax for `created_at`/`updated_at`/`processed_at` (a value with
a colon must be quoted, as on Shopify: unquoted, it is cut at the colon and the rest is reported
as an invalid field under `extensions.search`), money amounts are decimal strings as Shopify
prints them ("129.99", "129.0", "0.0"), timestamps are UTC seconds. Every query is priced before
it runs (scalars and money objects 0, objects 1, a connection 2 + m(first) x its node, with
m(n) = floor(2 ln n), which reproduces the measured costs), refused over 1000 with
`MAX_COST_EXCEEDED`, and charged to a per-tenant leaky bucket (2000 points, 100 restored per
second): the requested cost must fit, the difference to the actual cost is refunded, and an empty
bucket answers `THROTTLED` with HTTP 200. Schema drift makes `Order.statusPageUrl` exist and puts
it into every order node even when the client did not select it, the way a client sees a field
it has never heard of.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from graphql import (
    DocumentNode,
    ExecutionContext,
    FieldNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSyntaxError,
    NameNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    execute,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    parse,
    validate,
    visit,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aya.currencies import ISO_4217_CODES, minor_unit_exponent
from aya.tenants import SourceName, Tenant
from sandbox.api.common import faults_of, take_fault, world_of
from sandbox.faults import Fault, FaultKind
from sandbox.world.calendar import day_number, world_now
from sandbox.world.catalog import AdAccount
from sandbox.world.randomness import stable_digits
from sandbox.world.shop import (
    CUSTOMER_ID_BASE,
    MAX_REFUND_DELAY_DAYS,
    Customer,
    LineItem,
    Order,
    Refund,
    Shop,
    Visit,
    customer,
    day_orders,
    order_position,
    shop_of,
)
from sandbox.world.tenant_world import World, sandbox_credentials

API_VERSION = "2025-01"
MAX_PAGE_SIZE = 250
MAX_QUERY_COST = 1000
BUCKET_SIZE = 2000.0
RESTORE_RATE = 100.0  # points per second
RATE_LIMITS_DOCS = "https://shopify.dev/api/usage/rate-limits"
# An order updated on shop-local day d was created on one of the days d - LATEST_UPDATE_DAYS .. d.
LATEST_UPDATE_DAYS = MAX_REFUND_DELAY_DAYS + 1
# Objects Shopify prices at 0: money values and page info (a 22-money-bag order costs 36).
FREE_OBJECTS = frozenset({"MoneyBag", "MoneyV2", "PageInfo"})
DRIFT_FIELD = "statusPageUrl"

_SDL = (Path(__file__).with_name("shopify_schema.graphql")).read_text()
_CURRENCY_SDL = "enum CurrencyCode {\n" + "\n".join(sorted(ISO_4217_CODES)) + "\n}\n"
_DRIFT_SDL = f"extend type Order {{\n  {DRIFT_FIELD}: URL!\n}}\n"
SCHEMA = build_schema(_SDL + _CURRENCY_SDL)
DRIFT_SCHEMA = build_schema(_SDL + _CURRENCY_SDL + _DRIFT_SDL)

_UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}
_BAD_REQUEST = {"errors": {"query": "Required parameter missing or invalid"}}
_SERVER_ERROR = {"errors": "An unexpected error occurred"}
_NOT_FOUND = {"errors": "Not Found"}


# --- money and time as Shopify prints them ------------------------------------------------


def _amount(minor: int, currency: str) -> str:
    """A Decimal scalar: exact, without trailing zeros, at least one decimal ("129.0")."""
    text = format(Decimal(minor).scaleb(-minor_unit_exponent(currency)).normalize(), "f")
    return text if "." in text else f"{text}.0"


def _money_bag(minor: int, currency: str) -> dict[str, Any]:
    money = {"amount": _amount(minor, currency), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _epoch(instant: datetime) -> int:
    """Whole UTC seconds: the precision Shopify serves, sorts and filters timestamps at."""
    return math.floor(instant.timestamp())


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _gid_number(gid: str, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    number = gid.removeprefix(prefix)
    return int(number) if gid.startswith(prefix) and number.isdigit() else None


# --- the tenant's shop as one request sees it ---------------------------------------------


@dataclass(frozen=True)
class ShopView:
    """A tenant's shop at the sandbox's current day: what one request may see."""

    tenant: Tenant
    shop: Shop
    accounts: tuple[AdAccount, ...]
    today: int
    drifting: bool

    @classmethod
    def of(cls, world: World, tenant: Tenant, drifting: bool) -> ShopView:
        today = world.today()
        return cls(tenant, shop_of(tenant), tuple(world.ad_accounts(tenant)), today, drifting)

    @property
    def now(self) -> datetime:
        return world_now(self.today)

    def orders_of_day(self, day: int) -> tuple[Order, ...]:
        return day_orders(self.shop, self.accounts, day) if 0 <= day < self.today else ()

    def order(self, order_id: int) -> Order | None:
        try:
            day, index = order_position(order_id)
        except ValueError:
            return None
        orders = self.orders_of_day(day)
        return orders[index] if index < len(orders) else None

    def customer_count(self) -> int:
        """Customers that exist: each past day opened its block of ids."""
        return self.today * self.shop.customers_per_day

    def local_day(self, seconds: int) -> int:
        """The shop-local world day that UTC instant `seconds` falls on."""
        local = datetime.fromtimestamp(seconds, ZoneInfo(self.shop.timezone))
        return day_number(local.date())


# --- Shopify's search syntax (`query:` argument) -------------------------------------------

_TERM = re.compile(r"""(?P<field>[\w.]+):(?P<op>[<>]=?)?(?P<value>'[^']*'|"[^"]*"|[^\s():]*)""")
_RANGE_NAMES = {">=": "range_gte", ">": "range_gt", "<=": "range_lte", "<": "range_lt"}


@dataclass(frozen=True)
class TimeRange:
    """Whole UTC seconds in [lo, hi); None is unbounded."""

    lo: int | None = None
    hi: int | None = None

    def __contains__(self, seconds: int) -> bool:
        return (self.lo is None or seconds >= self.lo) and (self.hi is None or seconds < self.hi)

    def narrowed(self, lo: int | None, hi: int | None) -> TimeRange:
        """The part of this range also inside [lo, hi)."""
        los = [bound for bound in (self.lo, lo) if bound is not None]
        his = [bound for bound in (self.hi, hi) if bound is not None]
        return TimeRange(max(los) if los else None, min(his) if his else None)


@dataclass(frozen=True)
class Search:
    """A parsed `query:` string: time ranges per field, and what Shopify would warn about."""

    ranges: dict[str, TimeRange]
    report: dict[str, Any] | None = None  # the `extensions.search` entry, when it warns

    def range(self, name: str) -> TimeRange:
        return self.ranges.get(name, TimeRange())


def parse_search(text: str | None, timezone: str, fields: dict[str, str]) -> Search:
    """Parse `field:>=value` terms; `fields` maps accepted search fields to the range they set.

    Terms are ANDed (spaces or AND). A value without an offset is shop-local time; a bare date
    with no comparison means that whole shop-local day.
    """
    if not text:
        return Search({})
    ranges: dict[str, TimeRange] = {}
    parsed: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    for name, op, value in _search_terms(text):
        bounds = _term_bounds(op, value, timezone)
        parsed.append(_parsed_term(name, op, value, bounds, timezone))
        if name not in fields or bounds is None:
            message = "Invalid search field for this query." if name not in fields else None
            warnings.append(
                {
                    "field": name,
                    "message": message or "Invalid value for this search field.",
                    "code": "invalid_field" if message else "invalid_value",
                }
            )
            continue
        target = fields[name]
        ranges[target] = ranges.get(target, TimeRange()).narrowed(*bounds)
    report = None
    if warnings:
        report = {
            "query": text,
            "parsed": parsed[0] if len(parsed) == 1 else {"and": parsed},
            "warnings": warnings,
        }
    return Search(ranges, report)


def _search_terms(text: str) -> Iterator[tuple[str, str, str]]:
    """(field, comparison, value) per term; an unquoted value ends at a colon, as on Shopify."""
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None:
            position += 1  # spaces, AND, and words the sandbox does not search on
            continue
        yield match["field"], match["op"] or "", match["value"]
        position = match.end() + (1 if text[match.end() : match.end() + 1] == ":" else 0)


def _instant(value: str, timezone: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip("'\""))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def _term_bounds(op: str, value: str, timezone: str) -> tuple[int | None, int | None] | None:
    instant = _instant(value, timezone)
    if instant is None:
        return None
    seconds = instant.timestamp()
    match op:
        case ">=":
            return math.ceil(seconds), None
        case ">":
            return math.floor(seconds) + 1, None
        case "<":
            return None, math.ceil(seconds)
        case "<=":
            return None, math.floor(seconds) + 1
    if len(value.strip("'\"")) == len("2026-01-01"):
        return math.floor(seconds), _epoch(instant + timedelta(days=1))
    return math.floor(seconds), math.floor(seconds) + 1


def _parsed_term(name: str, op: str, value: str, bounds: object, timezone: str) -> dict[str, Any]:
    instant = _instant(value, timezone) if bounds is not None else None
    shown = instant.isoformat() if instant else value.strip("'\"")
    return {"field": name, _RANGE_NAMES.get(op, "match_all"): shown}


_ORDER_SEARCH_FIELDS = {
    "created_at": "created_at",
    "processed_at": "created_at",
    "updated_at": "updated_at",
}
_CUSTOMER_SEARCH_FIELDS = {"created_at": "created_at", "updated_at": "created_at"}


# --- cursors and pages ----------------------------------------------------------------------


def _cursor(last_id: int, last_value: int | str) -> str:
    text = json.dumps({"last_id": last_id, "last_value": last_value}, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def _invalid_cursor() -> GraphQLError:
    return GraphQLError(
        "Invalid cursor for current pagination sort.", extensions={"code": "BAD_REQUEST"}
    )


def _read_cursor(cursor: str) -> tuple[int, int | str]:
    try:
        content = json.loads(base64.b64decode(cursor, validate=True))
        last_id, last_value = content["last_id"], content["last_value"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise _invalid_cursor() from None
    if not isinstance(last_id, int) or not isinstance(last_value, int | str):
        raise _invalid_cursor()
    return last_id, last_value


def _page_size(first: int | None) -> int:
    if first is None:
        raise GraphQLError(
            "you must provide one of first or last", extensions={"code": "BAD_REQUEST"}
        )
    if first > MAX_PAGE_SIZE:
        raise GraphQLError(
            f"first cannot exceed {MAX_PAGE_SIZE}. To query larger amounts of data with fewer "
            "limits, bulk operations should be used instead.",
            extensions={"code": "BAD_REQUEST"},
        )
    if first < 0:
        raise GraphQLError("first cannot be negative", extensions={"code": "BAD_REQUEST"})
    return first


T = TypeVar("T")


@dataclass(frozen=True)
class PageItem:
    cursor: str
    node: dict[str, Any]


def _connection(items: list[PageItem], has_next: bool, has_previous: bool) -> dict[str, Any]:
    return {
        "edges": [{"cursor": item.cursor, "node": item.node} for item in items],
        "nodes": [item.node for item in items],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": items[0].cursor if items else None,
            "endCursor": items[-1].cursor if items else None,
        },
    }


def _list_connection(
    items: Sequence[T],
    first: int | None,
    after: str | None,
    id_of: Callable[[T], int],
    node_of: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """A connection over a short in-memory list (line items, refund lines, moments), by id."""
    size = _page_size(first)
    start = 0
    if after is not None:
        last_id, _ = _read_cursor(after)
        start = next((i + 1 for i, item in enumerate(items) if id_of(item) == last_id), len(items))
    page = items[start : start + size]
    return _connection(
        [PageItem(_cursor(id_of(item), id_of(item)), node_of(item)) for item in page],
        has_next=start + size < len(items),
        has_previous=start > 0,
    )


def _first_page(
    ordered: Iterator[T], first: int | None, after: str | None, item_of: Callable[[T], PageItem]
) -> dict[str, Any]:
    """The first `first` of `ordered` (one more is peeked at to know whether a page follows)."""
    size = _page_size(first)
    taken = list(islice(ordered, size + 1))
    return _connection(
        [item_of(value) for value in taken[:size]],
        has_next=len(taken) > size,
        has_previous=after is not None,
    )


# --- orders: sorting lazily over day buckets --------------------------------------------------

OrderKey = tuple[int, ...]


@dataclass(frozen=True)
class OrderSort:
    """How `orders` is ordered: by creation (CREATED_AT, PROCESSED_AT, ID) or by updatedAt.

    Orders are walked bucket by bucket (a shop-local day of creation, or of the last update),
    each bucket sorted by key, so a page only generates the days it touches.
    """

    by_update: bool
    reverse: bool

    def cursor(self, view: ShopView, order: Order) -> str:
        if self.by_update:
            return _cursor(order.id, _iso(order.updated_at(view.now)))
        return _cursor(order.id, order.id)

    def key_of_cursor(self, cursor: str) -> OrderKey:
        last_id, last_value = _read_cursor(cursor)
        try:
            order_position(last_id)
            if not self.by_update:
                return (last_id,)
            return (_epoch(datetime.fromisoformat(str(last_value))), last_id)
        except ValueError:
            raise _invalid_cursor() from None

    def bucket_of(self, view: ShopView, key: OrderKey) -> int:
        return view.local_day(key[0]) if self.by_update else order_position(key[-1])[0]

    def bucket(self, view: ShopView, day: int) -> list[tuple[OrderKey, Order]]:
        if self.by_update:
            return _updated_bucket(view.shop, view.accounts, view.today, day)
        return [((order.id,), order) for order in view.orders_of_day(day)]

    def buckets(self, view: ShopView, search: Search) -> range:
        created, updated = search.range("created_at"), search.range("updated_at")
        if self.by_update:
            lo = _max_day(view, 0, updated.lo, created.lo)
            hi = _min_day(view, view.today, updated.hi, created.hi, slack=LATEST_UPDATE_DAYS)
        else:
            lo = _max_day(view, 0, created.lo, updated.lo, slack=-LATEST_UPDATE_DAYS)
            hi = _min_day(view, view.today - 1, created.hi, updated.hi)
        return range(lo, hi + 1)


def _max_day(view: ShopView, floor: int, own: int | None, other: int | None, slack: int = 0) -> int:
    days = [floor]
    if own is not None:
        days.append(view.local_day(own))
    if other is not None:
        days.append(view.local_day(other) + slack)
    return max(days)


def _min_day(
    view: ShopView, ceiling: int, own: int | None, other: int | None, slack: int = 0
) -> int:
    days = [ceiling]
    if own is not None:
        days.append(view.local_day(own - 1))
    if other is not None:
        days.append(view.local_day(other - 1) + slack)
    return min(days)


@lru_cache(maxsize=4096)
def _updated_bucket(
    shop: Shop, accounts: tuple[AdAccount, ...], today: int, day: int
) -> list[tuple[OrderKey, Order]]:
    """Orders whose updatedAt falls on shop-local day `day`, by (updatedAt, id)."""
    now = world_now(today)
    zone = ZoneInfo(shop.timezone)
    found = []
    for created_day in range(max(0, day - LATEST_UPDATE_DAYS), min(day, today - 1) + 1):
        for order in day_orders(shop, accounts, created_day):
            updated = order.updated_at(now)
            if day_number(updated.astimezone(zone).date()) == day:
                found.append(((_epoch(updated), order.id), order))
    return sorted(found, key=lambda pair: pair[0])


def _sorted_orders(
    view: ShopView, sort: OrderSort, search: Search, after: OrderKey | None
) -> Iterator[tuple[OrderKey, Order]]:
    """Matching orders in sort order, strictly after the key `after`."""
    days = sort.buckets(view, search)
    if after is not None:
        start = sort.bucket_of(view, after)
        if sort.reverse:
            days = range(days.start, min(days.stop, start + 1))
        else:
            days = range(max(days.start, start), days.stop)
    created, updated = search.range("created_at"), search.range("updated_at")
    for day in reversed(days) if sort.reverse else days:
        bucket = sort.bucket(view, day)
        for key, order in reversed(bucket) if sort.reverse else bucket:
            if after is not None and (key >= after if sort.reverse else key <= after):
                continue
            if (
                _epoch(order.created_at) in created
                and _epoch(order.updated_at(view.now)) in updated
            ):
                yield key, order


# --- order nodes ------------------------------------------------------------------------------


def _order_node(view: ShopView, order: Order) -> dict[str, Any]:
    currency = order.currency
    refund = order.visible_refund(view.now)
    refunded = refund.amount if refund else 0
    refunded_item = next(
        (i for i in order.line_items if refund and i.id == refund.line_item_id), None
    )
    subtotal = order.gross - order.discount
    total = subtotal + order.shipping
    node: dict[str, Any] = {
        "id": _gid("Order", order.id),
        "legacyResourceId": str(order.id),
        "name": order.name,
        "email": lambda _info: customer(view.shop, order.customer_index).email,
        "createdAt": _iso(order.created_at),
        "updatedAt": _iso(order.updated_at(view.now)),
        "processedAt": _iso(order.created_at),
        "cancelledAt": None,
        "confirmed": True,
        "test": False,
        "currencyCode": currency,
        "presentmentCurrencyCode": currency,
        "displayFinancialStatus": (
            "PAID" if not refund else "REFUNDED" if refunded >= total else "PARTIALLY_REFUNDED"
        ),
        "discountCode": order.discount_code,
        "discountCodes": [order.discount_code] if order.discount_code else [],
        "subtotalLineItemsQuantity": sum(item.quantity for item in order.line_items),
        "subtotalPriceSet": _money_bag(subtotal, currency),
        "currentSubtotalPriceSet": _money_bag(subtotal - refunded, currency),
        "totalPriceSet": _money_bag(total, currency),
        "currentTotalPriceSet": _money_bag(total - refunded, currency),
        "totalDiscountsSet": _money_bag(order.discount, currency),
        "currentTotalDiscountsSet": _money_bag(
            order.discount - (refunded_item.discount if refunded_item else 0), currency
        ),
        "totalRefundedSet": _money_bag(refunded, currency),
        "totalShippingPriceSet": _money_bag(order.shipping, currency),
        "totalTaxSet": _money_bag(0, currency),
        "currentTotalTaxSet": _money_bag(0, currency),
        "customer": lambda _info: _customer_node(customer(view.shop, order.customer_index)),
        "lineItems": lambda _info, first=None, after=None: _list_connection(
            order.line_items,
            first,
            after,
            lambda item: item.id,
            lambda item: _line_node(view, order, item),
        ),
        "refunds": lambda _info, first=None: _refunds(view, order, first),
        "customerJourneySummary": lambda _info: _journey_node(view, order),
    }
    if view.drifting:
        node[DRIFT_FIELD] = f"https://{view.shop.domain}/account/orders/{order.id}"
    return node


def _line_node(view: ShopView, order: Order, item: LineItem) -> dict[str, Any]:
    refund = order.visible_refund(view.now)
    returned = refund.quantity if refund and refund.line_item_id == item.id else 0
    currency = order.currency
    return {
        "id": _gid("LineItem", item.id),
        "name": item.title,
        "title": item.title,
        "sku": item.sku,
        "quantity": item.quantity,
        "currentQuantity": item.quantity - returned,
        "refundableQuantity": item.quantity - returned,
        "originalUnitPriceSet": _money_bag(item.unit_price, currency),
        "originalTotalSet": _money_bag(item.gross, currency),
        "discountedTotalSet": _money_bag(item.gross - item.discount, currency),
        "totalDiscountSet": _money_bag(item.discount, currency),
    }


def _refunds(view: ShopView, order: Order, first: int | None) -> list[dict[str, Any]]:
    """Order.refunds: the refund once the sandbox's now has passed it."""
    refund = order.visible_refund(view.now)
    return ([_refund_node(view, order, refund)] if refund else [])[:first]


def _refund_node(view: ShopView, order: Order, refund: Refund) -> dict[str, Any]:
    item = next(i for i in order.line_items if i.id == refund.line_item_id)
    currency = order.currency
    refund_line = {
        "lineItem": _line_node(view, order, item),
        "quantity": refund.quantity,
        "priceSet": _money_bag(item.unit_price, currency),
        "subtotalSet": _money_bag(refund.amount, currency),
        "totalTaxSet": _money_bag(0, currency),
    }
    return {
        "id": _gid("Refund", refund.id),
        "legacyResourceId": str(refund.id),
        "createdAt": _iso(refund.created_at),
        "updatedAt": _iso(refund.created_at),
        "note": None,
        "totalRefundedSet": _money_bag(refund.amount, currency),
        "refundLineItems": lambda _info, first=None, after=None: _list_connection(
            [refund_line], first, after, lambda _line: item.id, lambda line: line
        ),
    }


def _journey_node(view: ShopView, order: Order) -> dict[str, Any] | None:
    visits = order.visits
    if not visits:
        return None
    return {
        "customerOrderIndex": lambda _info: _customer_order_index(view, order),
        "daysToConversion": (order.created_at - visits[0].occurred_at).days,
        "firstVisit": _visit_node(visits[0]),
        "lastVisit": _visit_node(visits[-1]),
        "moments": lambda _info, first=None, after=None: _list_connection(
            visits, first, after, lambda visit: visit.id, _visit_node
        ),
        "momentsCount": {"count": len(visits), "precision": "EXACT"},
        "ready": True,
    }


def _customer_order_index(view: ShopView, order: Order) -> int | None:
    """1 + the customer's earlier orders, known for a customer whose first day this is.

    A returning customer's history would need every earlier day of the shop generated, so
    Shopify's nullable field stays null for them.
    """
    first_of_day = order.day * view.shop.customers_per_day
    if order.customer_index < first_of_day:
        return None
    same_day = view.orders_of_day(order.day)[: order_position(order.id)[1]]
    return 1 + sum(other.customer_index == order.customer_index for other in same_day)


_TACTICS = {"SEARCH": "SEO", "SOCIAL": "POST", "EMAIL": "NEWSLETTER"}


def _visit_node(visit: Visit) -> dict[str, Any]:
    """A CustomerVisit; the world's channel (SEARCH/SOCIAL/EMAIL) maps to a MarketingTactic."""
    has_utm = visit.utm_source is not None
    paid = visit.kind == "paid"
    return {
        "__typename": "CustomerVisit",
        "id": _gid("CustomerVisit", visit.id),
        "landingPage": visit.landing_page,
        "occurredAt": _iso(visit.occurred_at),
        "referralCode": None,
        "referrerUrl": visit.referrer_url,
        "source": visit.source,
        "sourceDescription": f"{visit.source} ad" if paid else None,
        "sourceType": "AD" if paid else _TACTICS.get(visit.source_type or ""),
        "utmParameters": {
            "campaign": visit.utm_campaign,
            "content": visit.utm_content,
            "medium": visit.utm_medium,
            "source": visit.utm_source,
            "term": None,
        }
        if has_utm
        else None,
    }


def _customer_node(person: Customer) -> dict[str, Any]:
    return {
        "id": _gid("Customer", person.id),
        "legacyResourceId": str(person.id),
        "createdAt": _iso(person.created_at),
        "updatedAt": _iso(person.created_at),
        "displayName": f"{person.first_name} {person.last_name}",
        "email": person.email,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "defaultEmailAddress": {"emailAddress": person.email},
        "state": "DISABLED",
        "verifiedEmail": True,
        "tags": [],
    }


# --- root fields --------------------------------------------------------------------------------


@dataclass
class RequestState:
    """What resolvers of one request report back: `extensions.search` entries."""

    searches: list[dict[str, Any]] = field(default_factory=list)

    def note(self, info: Any, search: Search) -> None:
        if search.report:
            self.searches.append({"path": list(info.path.as_list()), **search.report})


def _orders(view: ShopView, info: Any, **args: Any) -> dict[str, Any]:
    search = parse_search(args.get("query"), view.shop.timezone, _ORDER_SEARCH_FIELDS)
    info.context.note(info, search)
    sort = OrderSort(
        by_update=args.get("sortKey") == "UPDATED_AT", reverse=bool(args.get("reverse"))
    )
    after = args.get("after")
    ordered = _sorted_orders(view, sort, search, sort.key_of_cursor(after) if after else None)
    return _first_page(
        (order for _, order in ordered),
        args.get("first"),
        after,
        lambda order: PageItem(sort.cursor(view, order), _order_node(view, order)),
    )


def _customers(view: ShopView, info: Any, **args: Any) -> dict[str, Any]:
    search = parse_search(args.get("query"), view.shop.timezone, _CUSTOMER_SEARCH_FIELDS)
    info.context.note(info, search)
    created = search.range("created_at")
    per_day = view.shop.customers_per_day
    lo = 0 if created.lo is None else max(0, (view.local_day(created.lo) - 1) * per_day)
    hi = view.customer_count()
    if created.hi is not None:
        hi = min(hi, (view.local_day(created.hi - 1) + 2) * per_day)
    after = args.get("after")
    if after is not None:
        last_index = _read_cursor(after)[0] - CUSTOMER_ID_BASE
        lo, hi = (lo, min(hi, last_index)) if args.get("reverse") else (max(lo, last_index + 1), hi)
    indices = reversed(range(lo, hi)) if args.get("reverse") else range(lo, hi)
    people = (customer(view.shop, index) for index in indices)
    return _first_page(
        (person for person in people if _epoch(person.created_at) in created),
        args.get("first"),
        after,
        lambda person: PageItem(_cursor(person.id, person.id), _customer_node(person)),
    )


def _shop_node(view: ShopView) -> dict[str, Any]:
    zone = ZoneInfo(view.shop.timezone)
    return {
        "id": _gid("Shop", int(stable_digits(11, "shopify-shop", view.shop.handle))),
        "name": view.tenant.display_name,
        "email": f"owner@{view.shop.handle}.example",
        "currencyCode": view.shop.currency,
        "ianaTimezone": view.shop.timezone,
        "timezoneAbbreviation": view.now.astimezone(zone).tzname(),
        "myshopifyDomain": view.shop.domain,
    }


def _root(view: ShopView) -> dict[str, Any]:
    def order_by_gid(_info: Any, id: str) -> dict[str, Any] | None:
        number = _gid_number(id, "Order")
        order = view.order(number) if number is not None else None
        return _order_node(view, order) if order else None

    def customer_by_gid(_info: Any, id: str) -> dict[str, Any] | None:
        number = _gid_number(id, "Customer")
        index = None if number is None else number - CUSTOMER_ID_BASE
        if index is None or not 0 <= index < view.customer_count():
            return None
        return _customer_node(customer(view.shop, index))

    return {
        "shop": lambda _info: _shop_node(view),
        "order": order_by_gid,
        "orders": lambda info, **args: _orders(view, info, **args),
        "customer": customer_by_gid,
        "customers": lambda info, **args: _customers(view, info, **args),
    }


# --- query cost -------------------------------------------------------------------------------


def _multiplier(count: int) -> int:
    """How many times a connection of `count` nodes charges its node: floor(2 ln n), at least 1.

    Fitted to costs Shopify reports (first: 1, 100, 200, 250 charge 1, 9, 10, 11 nodes).
    """
    return 0 if count <= 0 else max(1, math.floor(2 * math.log(count)))


@dataclass(frozen=True)
class CostWalk:
    """Prices one operation: as requested (before it runs) or as answered (from its data).

    Requested cost counts `first` nodes per connection; actual cost counts the nodes returned
    and charges nothing for objects that came back null.
    """

    context: ExecutionContext

    def requested(self) -> int:
        return round(self._selection(self._root(), self._root_fields(), _REQUESTED))

    def actual(self, data: dict[str, Any] | None) -> int:
        return round(self._selection(self._root(), self._root_fields(), data))

    def _root(self) -> GraphQLObjectType:
        root = self.context.schema.query_type
        assert root is not None
        return root

    def _root_fields(self) -> dict[str, list[FieldNode]]:
        context = self.context
        return collect_fields(
            context.schema,
            context.fragments,
            context.variable_values,
            self._root(),
            context.operation.selection_set,
        )

    def _selection(
        self, parent: GraphQLObjectType, fields: dict[str, list[FieldNode]], value: Any
    ) -> float:
        """Cost of `fields` selected on `parent`; `value` is the answer, or _REQUESTED."""
        if value is None:
            return 0
        return sum(
            self._field(parent, nodes, value if value is _REQUESTED else value.get(key))
            for key, nodes in fields.items()
            if nodes[0].name.value in parent.fields
        )

    def _field(self, parent: GraphQLObjectType, nodes: list[FieldNode], value: Any) -> float:
        definition = parent.fields[nodes[0].name.value]
        named = get_named_type(definition.type)
        if is_leaf_type(named) or value is None:
            return 0
        if named.name.endswith("Connection"):
            return self._connection(named, nodes, self._first(definition, nodes), value)
        if not is_list_type(get_nullable_type(definition.type)):
            return self._object(named, nodes, value)
        if value is _REQUESTED:
            return _multiplier(self._first(definition, nodes)) * self._object(named, nodes, value)
        return _multiplier(len(value)) * _mean([self._object(named, nodes, v) for v in value])

    def _first(self, definition: Any, nodes: list[FieldNode]) -> int:
        args = get_argument_values(definition, nodes[0], self.context.variable_values)
        return args.get("first") or 1

    def _object(self, named: GraphQLNamedType, nodes: list[FieldNode], value: Any) -> float:
        if value is None:
            return 0
        own = 0 if named.name in FREE_OBJECTS else 1
        return own + max(
            self._selection(runtime, self.context.collect_subfields(runtime, nodes), value)
            for runtime in self._runtime_types(named)
        )

    def _connection(
        self, named: GraphQLNamedType, nodes: list[FieldNode], first: int, value: Any
    ) -> float:
        """2 + m(nodes) x the cost of one node, however it is reached (edges.node or nodes)."""
        assert isinstance(named, GraphQLObjectType)
        node_type = get_named_type(named.fields["nodes"].type)
        edge_type = get_named_type(named.fields["edges"].type)
        assert isinstance(edge_type, GraphQLObjectType)
        paths: list[tuple[str, str | None, list[FieldNode]]] = []
        for key, part in self.context.collect_subfields(named, nodes).items():
            if part[0].name.value == "nodes":
                paths.append((key, None, part))
            elif part[0].name.value == "edges":
                inner = self.context.collect_subfields(edge_type, part)
                paths += [(key, k, n) for k, n in inner.items() if n[0].name.value == "node"]

        def node_cost(index: int | None) -> float:
            total = 0.0
            for key, edge_key, part in paths:
                item = _REQUESTED if index is None else value[key][index]
                node = item[edge_key] if edge_key and item is not _REQUESTED else item
                total += self._object(node_type, part, node)
            return total

        if value is _REQUESTED:
            return 2 + _multiplier(first) * node_cost(None)
        count = len(value[paths[0][0]]) if paths else 0
        return 2 + _multiplier(count) * _mean([node_cost(index) for index in range(count)])

    def _runtime_types(self, named: GraphQLNamedType) -> Sequence[GraphQLObjectType]:
        if is_abstract_type(named):
            return self.context.schema.get_possible_types(named)  # type: ignore[arg-type]
        assert isinstance(named, GraphQLObjectType)
        return (named,)


_REQUESTED = object()  # the value a walk over a query, not an answer, sees


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# --- the leaky bucket --------------------------------------------------------------------------


@dataclass
class _Bucket:
    available: float
    at: float


class CostThrottle:
    """Per-tenant leaky buckets of query cost points, restored continuously in real time."""

    def __init__(self, size: float = BUCKET_SIZE, restore_rate: float = RESTORE_RATE) -> None:
        self.size = size
        self.restore_rate = restore_rate
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def spend(self, tenant_id: str, cost: float) -> tuple[bool, float]:
        """Take `cost` points if they are there; (whether taken, points left)."""
        with self._lock:
            bucket = self._restored(tenant_id)
            if bucket.available < cost:
                return False, bucket.available
            bucket.available -= cost
            return True, bucket.available

    def refund(self, tenant_id: str, points: float) -> float:
        with self._lock:
            bucket = self._restored(tenant_id)
            bucket.available = min(self.size, bucket.available + points)
            return bucket.available

    def drain_to(self, tenant_id: str, points: float) -> float:
        with self._lock:
            bucket = self._restored(tenant_id)
            bucket.available = min(bucket.available, max(0.0, points))
            return bucket.available

    def reset(self) -> None:
        """Fill every bucket again (tests, the demo)."""
        with self._lock:
            self._buckets.clear()

    def status(self, available: float) -> dict[str, Any]:
        return {
            "maximumAvailable": self.size,
            "currentlyAvailable": math.floor(available),
            "restoreRate": self.restore_rate,
        }

    def _restored(self, tenant_id: str) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.setdefault(tenant_id, _Bucket(self.size, now))
        bucket.available = min(self.size, bucket.available + (now - bucket.at) * self.restore_rate)
        bucket.at = now
        return bucket


THROTTLE = CostThrottle()


def reset_throttle() -> None:
    """Refill every tenant's cost bucket, so one test's spending does not throttle the next."""
    THROTTLE.reset()


def _cost_extension(requested: int, actual: int | None, available: float) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": THROTTLE.status(available),
        }
    }


def _throttled(requested: int, available: float) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOCS},
            }
        ],
        "extensions": _cost_extension(requested, None, available),
    }


def _max_cost_exceeded(requested: int) -> dict[str, Any]:
    message = (
        f"Query cost is {requested}, which exceeds the single query max cost limit "
        f"({MAX_QUERY_COST}).\n\nSee https://shopify.dev/docs/api/usage/rate-limits for more "
        "information on how the\ncost of a query is calculated.\n\nTo query larger amounts of "
        "data with fewer limits, bulk operations should be used instead.\nSee "
        "https://shopify.dev/docs/api/usage/bulk-operations/queries for usage details.\n"
    )
    extensions = {
        "code": "MAX_COST_EXCEEDED",
        "cost": requested,
        "maxCost": MAX_QUERY_COST,
        "documentation": RATE_LIMITS_DOCS,
    }
    return {"errors": [{"message": message, "extensions": extensions}]}


# --- errors in graphql-ruby's words -------------------------------------------------------------

_VALIDATION_MESSAGES: tuple[
    tuple[re.Pattern[str], Callable[[re.Match[str]], dict[str, Any]]], ...
] = (
    (
        re.compile(r"Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'\."),
        lambda m: {
            "message": f"Field '{m['field']}' doesn't exist on type '{m['type']}'",
            "extensions": {
                "code": "undefinedField",
                "typeName": m["type"],
                "fieldName": m["field"],
            },
        },
    ),
    (
        re.compile(r"Unknown argument '(?P<arg>\w+)' on field '\w+\.(?P<field>\w+)'\."),
        lambda m: {
            "message": f"Field '{m['field']}' doesn't accept argument '{m['arg']}'",
            "extensions": {
                "code": "argumentNotAccepted",
                "name": m["field"],
                "typeName": "Field",
                "argumentName": m["arg"],
            },
        },
    ),
    (
        re.compile(r"Field '(?P<field>\w+)' argument '(?P<arg>\w+)' of type .* is required"),
        lambda m: {
            "message": f"Field '{m['field']}' is missing required arguments: {m['arg']}",
            "extensions": {
                "code": "missingRequiredArguments",
                "className": "Field",
                "name": m["field"],
                "arguments": m["arg"],
            },
        },
    ),
    (
        re.compile(r"Field '(?P<field>\w+)' of type '(?P<type>.+)' must have a selection"),
        lambda m: {
            "message": (
                f"Field must have selections (field '{m['field']}' returns {m['type']} but has "
                f"no selections. Did you mean '{m['field']} {{ ... }}'?)"
            ),
            "extensions": {"code": "selectionMismatch", "nodeName": f"field '{m['field']}'"},
        },
    ),
)


def _error_entry(error: GraphQLError) -> dict[str, Any]:
    entry = dict(error.formatted)
    for pattern, translate in _VALIDATION_MESSAGES:
        match = pattern.match(error.message)
        if match:
            entry.update(translate(match))
            break
    return entry


def _syntax_error(error: GraphQLSyntaxError) -> dict[str, Any]:
    where = error.locations[0] if error.locations else None
    at = f" at [{where.line}, {where.column}]" if where else ""
    description = error.message.removeprefix("Syntax Error: ").rstrip(".")
    return {"message": f"Parse error: {description}{at}", "locations": error.formatted["locations"]}


# --- schema drift: a field the client never asked for ----------------------------------------


class _DriftField(Visitor):
    """Adds `statusPageUrl` to every selection on an Order."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info

    def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> SelectionSetNode | None:
        parent = self.type_info.get_parent_type()
        if parent is None or parent.name != "Order":
            return None
        extra = FieldNode(name=NameNode(value=DRIFT_FIELD), arguments=(), directives=())
        return SelectionSetNode(selections=(*node.selections, extra))


def _with_drift_field(document: DocumentNode) -> DocumentNode:
    type_info = TypeInfo(DRIFT_SCHEMA)
    return visit(document, TypeInfoVisitor(type_info, _DriftField(type_info)))


# --- one request --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def _answer(view: ShopView, request: GraphQLRequest, fault: Fault | None) -> dict[str, Any]:
    """Validate, price, admit and run one GraphQL request; the JSON body to send back."""
    schema = DRIFT_SCHEMA if view.drifting else SCHEMA
    try:
        document = parse(request.query)
    except GraphQLSyntaxError as error:
        return {"errors": [_syntax_error(error)]}
    invalid = validate(schema, document)
    if invalid:
        return {"errors": [_error_entry(error) for error in invalid]}
    context = ExecutionContext.build(
        schema,
        document,
        raw_variable_values=request.variables,
        operation_name=request.operation_name,
    )
    if isinstance(context, list):
        return {"errors": [_error_entry(error) for error in context]}
    walk = CostWalk(context)
    requested = walk.requested()
    if requested > MAX_QUERY_COST:
        return _max_cost_exceeded(requested)
    tenant_id = view.tenant.id
    if fault is not None and fault.kind is FaultKind.RATE_LIMIT:
        hint = requested - fault.seconds * THROTTLE.restore_rate
        return _throttled(requested, THROTTLE.drain_to(tenant_id, hint))
    admitted, available = THROTTLE.spend(tenant_id, requested)
    if not admitted:
        return _throttled(requested, available)
    state = RequestState()
    result = execute(
        schema,
        _with_drift_field(document) if view.drifting else document,
        root_value=_root(view),
        context_value=state,
        variable_values=request.variables,
        operation_name=request.operation_name,
    )
    assert not isinstance(result, Awaitable)
    actual = walk.actual(result.data)
    available = THROTTLE.refund(tenant_id, requested - actual)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_error_entry(error) for error in result.errors]
    body["data"] = result.data
    body["extensions"] = _cost_extension(requested, actual, available)
    if state.searches:
        body["extensions"]["search"] = state.searches
    return body


async def _graphql_request(request: Request) -> GraphQLRequest | None:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/graphql"):
        return GraphQLRequest(raw.decode(), None, None) if raw.strip() else None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    query, variables = payload.get("query"), payload.get("variables")
    if not isinstance(query, str) or not query.strip():
        return None
    if variables is not None and not isinstance(variables, dict):
        return None
    return GraphQLRequest(query, variables, payload.get("operationName"))


def _json(payload: object, status: int = 200, cut: bool = False) -> Response:
    """A JSON response; `cut` sends only the first half of it (a malformed answer)."""
    body = json.dumps(payload).encode()
    return Response(
        body[: len(body) // 2] if cut else body,
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers={"X-Shopify-API-Version": API_VERSION},
    )


async def graphql_endpoint(request: Request) -> Response:
    """`POST /shopify/{shop}/admin/api/2025-01/graphql.json`."""
    world = world_of(request)
    tenant = world.tenant_for_account(SourceName.SHOPIFY, request.path_params["shop"])
    if tenant is None or request.path_params["version"] != API_VERSION:
        return _json(_NOT_FOUND, 404)
    expected = sandbox_credentials(tenant.id, SourceName.SHOPIFY)["access_token"]
    token = request.headers.get("X-Shopify-Access-Token", "")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return _json(_UNAUTHORIZED, 401)
    fault = await take_fault(request, tenant.id, SourceName.SHOPIFY)
    if fault is not None and fault.kind is FaultKind.EXPIRED_TOKEN:
        return _json(_UNAUTHORIZED, 401)
    if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
        return _json(_SERVER_ERROR, 503)
    graphql_request = await _graphql_request(request)
    if graphql_request is None:
        return _json(_BAD_REQUEST, 400)
    drifting = faults_of(request).drifting(tenant.id, SourceName.SHOPIFY)
    view = ShopView.of(world, tenant, drifting)
    body = await run_in_threadpool(_answer, view, graphql_request, fault)
    return _json(body, cut=fault is not None and fault.kind is FaultKind.MALFORMED)


routes = [Route("/admin/api/{version}/graphql.json", graphql_endpoint, methods=["POST"])]
