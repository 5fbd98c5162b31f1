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

Fields are answered by one resolver per type and field (`_FIELDS`, over the world's own objects),
which both executors call: a validated query (parsed and validated once per query text) runs on
`_FastExecution`, which gives graphql-core's exact `data` for a clean answer without its
per-field bookkeeping (a page of orders has tens of thousands of fields); an answer with errors
or nulls in non-null fields is run again by graphql-core itself, so errors keep its exact shape.
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
from functools import cached_property, lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from graphql import (
    DocumentNode,
    ExecutionContext,
    ExecutionResult,
    FieldNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLID,
    GraphQLInt,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    GraphQLSyntaxError,
    NameNode,
    OperationType,
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
    is_non_null_type,
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
    exponent = minor_unit_exponent(currency)
    whole, fraction = divmod(abs(minor), 10**exponent)
    decimals = f"{fraction:0{exponent}d}".rstrip("0") if exponent else ""
    return f"{'-' if minor < 0 else ''}{whole}.{decimals or '0'}"


def _epoch(instant: datetime) -> int:
    """Whole UTC seconds: the precision Shopify serves, sorts and filters timestamps at."""
    return math.floor(instant.timestamp())


def _iso(instant: datetime) -> str:
    """UTC to the second, as "2026-01-31T23:59:59Z"."""
    return instant.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


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

    @cached_property
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


def _id_cursor(last_id: int) -> str:
    """The cursor of a connection paged by id alone."""
    return _cursor(last_id, last_id)


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


@dataclass(frozen=True)
class Page:
    """One page of a connection: its nodes, how a node's cursor reads, and what lies around it.

    Cursors are made only when the query selects them.
    """

    nodes: Sequence[Any]
    cursor_of: Callable[[Any], str]
    has_next: bool
    has_previous: bool


def _list_page(
    items: Sequence[Any], first: int | None, after: str | None, id_of: Callable[[Any], int]
) -> Page:
    """A page of a short in-memory list (line items, refund lines, moments), by id."""
    size = _page_size(first)
    start = 0
    if after is not None:
        last_id, _ = _read_cursor(after)
        start = next((i + 1 for i, item in enumerate(items) if id_of(item) == last_id), len(items))
    return Page(
        items[start : start + size],
        lambda item: _id_cursor(id_of(item)),
        has_next=start + size < len(items),
        has_previous=start > 0,
    )


def _first_page(
    ordered: Iterator[Any], first: int | None, after: str | None, cursor_of: Callable[[Any], str]
) -> Page:
    """The first `first` of `ordered` (one more is peeked at to know whether a page follows)."""
    size = _page_size(first)
    taken = list(islice(ordered, size + 1))
    return Page(taken[:size], cursor_of, has_next=len(taken) > size, has_previous=after is not None)


# --- orders: sorting lazily over day buckets --------------------------------------------------

OrderKey = tuple[int, ...]


class _Stamped(NamedTuple):
    """An order with the whole UTC seconds it is filtered and sorted by, at one sandbox today."""

    order: Order
    created: int
    updated: int
    updated_day: int  # the shop-local day of `updated`


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
        return _id_cursor(order.id)

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

    def bucket(self, view: ShopView, day: int) -> list[tuple[OrderKey, _Stamped]]:
        if self.by_update:
            return _updated_bucket(view.shop, view.accounts, view.today, day)
        if not 0 <= day < view.today:
            return []
        return [((s.order.id,), s) for s in _stamped(view.shop, view.accounts, view.today, day)]

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


@lru_cache(maxsize=8192)
def _stamped(
    shop: Shop, accounts: tuple[AdAccount, ...], today: int, day: int
) -> tuple[_Stamped, ...]:
    """The orders created on world day `day`, stamped as they stand on world day `today`."""
    now = world_now(today)
    zone = ZoneInfo(shop.timezone)
    stamped = []
    for order in day_orders(shop, accounts, day):
        updated = order.updated_at(now)
        updated_day = day_number(updated.astimezone(zone).date())
        stamped.append(_Stamped(order, _epoch(order.created_at), _epoch(updated), updated_day))
    return tuple(stamped)


@lru_cache(maxsize=4096)
def _updated_bucket(
    shop: Shop, accounts: tuple[AdAccount, ...], today: int, day: int
) -> list[tuple[OrderKey, _Stamped]]:
    """Orders whose updatedAt falls on shop-local day `day`, by (updatedAt, id)."""
    found = [
        ((stamped.updated, stamped.order.id), stamped)
        for created_day in range(max(0, day - LATEST_UPDATE_DAYS), min(day, today - 1) + 1)
        for stamped in _stamped(shop, accounts, today, created_day)
        if stamped.updated_day == day
    ]
    return sorted(found, key=lambda pair: pair[0])


def _sorted_orders(
    view: ShopView, sort: OrderSort, search: Search, after: OrderKey | None
) -> Iterator[Order]:
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
        for key, stamped in reversed(bucket) if sort.reverse else bucket:
            if after is not None and (key >= after if sort.reverse else key <= after):
                continue
            if stamped.created in created and stamped.updated in updated:
                yield stamped.order


# --- resolvers: one per type and field, over the world's objects --------------------------------
#
# A resolver takes its parent's value (the source) and the field's coerced arguments. Sources:
# Shop a `ShopView`, Order and CustomerJourneySummary an `_OrderAt`, LineItem and RefundLineItem
# a `_LineAt`, Refund a `_RefundAt`, CustomerVisit and UTMParameters a `Visit`, Customer and
# CustomerEmailAddress a `Customer`, MoneyBag and MoneyV2 a `_Money`, Count an int, connections
# a `Page`, edges an `_Edge`. A field without a resolver is null. Root fields are below.

Resolver = Callable[[Any, dict[str, Any]], Any]


@dataclass
class RequestState:
    """One request: the shop view it answers from, and its `extensions.search` entries."""

    view: ShopView
    searches: list[dict[str, Any]] = field(default_factory=list)

    def note(self, key: str, search: Search) -> None:
        """Report `search`'s warnings for the root field answered under `key`."""
        if search.report:
            self.searches.append({"path": [key], **search.report})


class _OrderAt:
    """An order as one request sees it: its refund if that has happened by the view's now, the
    amounts that follow (minor units), and its line items and visits."""

    __slots__ = (
        "line_items",
        "order",
        "refund",
        "refunded",
        "subtotal",
        "total",
        "view",
        "visits",
    )

    def __init__(self, view: ShopView, order: Order) -> None:
        self.view = view
        self.order = order
        self.refund = order.visible_refund(view.now)
        self.refunded = self.refund.amount if self.refund else 0
        self.subtotal = order.subtotal
        self.total = self.subtotal + order.shipping
        self.line_items = order.line_items
        self.visits = order.visits

    def returned(self, item: LineItem) -> int:
        """Units of `item` refunded so far."""
        refund = self.refund
        return refund.quantity if refund and refund.line_item_id == item.id else 0

    def money(self, minor: int) -> _Money:
        return _Money(minor, self.order.currency)


class _LineAt(NamedTuple):
    order_at: _OrderAt
    item: LineItem


class _RefundAt(NamedTuple):
    order_at: _OrderAt
    refund: Refund


class _Money(NamedTuple):
    minor: int
    currency: str


class _Edge(NamedTuple):
    page: Page
    node: Any


def _financial_status(order: _OrderAt) -> str:
    if not order.refund:
        return "PAID"
    return "REFUNDED" if order.refunded >= order.total else "PARTIALLY_REFUNDED"


def _refunded_discount(order: _OrderAt) -> int:
    refund = order.refund
    item = next((i for i in order.line_items if refund and i.id == refund.line_item_id), None)
    return item.discount if item else 0


def _line_items(order: _OrderAt, args: dict[str, Any]) -> Page:
    lines = [_LineAt(order, item) for item in order.line_items]
    return _list_page(lines, args.get("first"), args.get("after"), lambda line: line.item.id)


def _refunds(order: _OrderAt, args: dict[str, Any]) -> list[_RefundAt]:
    """Order.refunds: the refund once the sandbox's now has passed it."""
    return ([_RefundAt(order, order.refund)] if order.refund else [])[: args.get("first")]


def _refund_lines(refund: _RefundAt, args: dict[str, Any]) -> Page:
    """A refund's one line: all units of one line item (a RefundLineItem is a `_LineAt`)."""
    order = refund.order_at
    item = next(i for i in order.line_items if i.id == refund.refund.line_item_id)
    return _list_page(
        [_LineAt(order, item)], args.get("first"), args.get("after"), lambda _: item.id
    )


def _moments(order: _OrderAt, args: dict[str, Any]) -> Page:
    visits = order.visits or ()
    return _list_page(visits, args.get("first"), args.get("after"), lambda visit: visit.id)


def _customer_order_index(order: _OrderAt, _: dict[str, Any]) -> int | None:
    """1 + the customer's earlier orders, known for a customer whose first day this is.

    A returning customer's history would need every earlier day of the shop generated, so
    Shopify's nullable field stays null for them.
    """
    view, placed = order.view, order.order
    if placed.customer_index < placed.day * view.shop.customers_per_day:
        return None
    return _nth_orders(view.shop, view.accounts, placed.day)[order_position(placed.id)[1]]


@lru_cache(maxsize=4096)
def _nth_orders(shop: Shop, accounts: tuple[AdAccount, ...], day: int) -> tuple[int, ...]:
    """For each order of `day`: 1 + that day's earlier orders by the same customer."""
    seen: dict[int, int] = {}
    nth = []
    for placed in day_orders(shop, accounts, day):
        seen[placed.customer_index] = seen.get(placed.customer_index, 0) + 1
        nth.append(seen[placed.customer_index])
    return tuple(nth)


_TACTICS = {"SEARCH": "SEO", "SOCIAL": "POST", "EMAIL": "NEWSLETTER"}


def _source_type(visit: Visit) -> str | None:
    """The world's channel (SEARCH/SOCIAL/EMAIL) as a MarketingTactic; paid visits are AD."""
    return "AD" if visit.kind == "paid" else _TACTICS.get(visit.source_type or "")


def _shop_id(view: ShopView) -> str:
    return _gid("Shop", int(stable_digits(11, "shopify-shop", view.shop.handle)))


def _timezone_abbreviation(view: ShopView) -> str | None:
    return view.now.astimezone(ZoneInfo(view.shop.timezone)).tzname()


_CONNECTION: dict[str, Resolver] = {
    "edges": lambda page, _: [_Edge(page, node) for node in page.nodes],
    "nodes": lambda page, _: page.nodes,
    "pageInfo": lambda page, _: page,
}
_EDGE: dict[str, Resolver] = {
    "cursor": lambda edge, _: edge.page.cursor_of(edge.node),
    "node": lambda edge, _: edge.node,
}
_FIELDS: dict[str, dict[str, Resolver]] = {
    "Shop": {
        "id": lambda view, _: _shop_id(view),
        "name": lambda view, _: view.tenant.display_name,
        "email": lambda view, _: f"owner@{view.shop.handle}.example",
        "currencyCode": lambda view, _: view.shop.currency,
        "ianaTimezone": lambda view, _: view.shop.timezone,
        "timezoneAbbreviation": lambda view, _: _timezone_abbreviation(view),
        "myshopifyDomain": lambda view, _: view.shop.domain,
    },
    "Order": {
        "id": lambda o, _: _gid("Order", o.order.id),
        "legacyResourceId": lambda o, _: str(o.order.id),
        "name": lambda o, _: o.order.name,
        "email": lambda o, _: customer(o.view.shop, o.order.customer_index).email,
        "createdAt": lambda o, _: _iso(o.order.created_at),
        "updatedAt": lambda o, _: _iso(o.order.updated_at(o.view.now)),
        "processedAt": lambda o, _: _iso(o.order.created_at),
        "cancelledAt": lambda o, _: None,
        "confirmed": lambda o, _: True,
        "test": lambda o, _: False,
        "currencyCode": lambda o, _: o.order.currency,
        "presentmentCurrencyCode": lambda o, _: o.order.currency,
        "displayFinancialStatus": lambda o, _: _financial_status(o),
        "discountCode": lambda o, _: o.order.discount_code,
        "discountCodes": lambda o, _: [o.order.discount_code] if o.order.discount_code else [],
        "subtotalLineItemsQuantity": lambda o, _: sum(i.quantity for i in o.line_items),
        "subtotalPriceSet": lambda o, _: o.money(o.subtotal),
        "currentSubtotalPriceSet": lambda o, _: o.money(o.subtotal - o.refunded),
        "totalPriceSet": lambda o, _: o.money(o.total),
        "currentTotalPriceSet": lambda o, _: o.money(o.total - o.refunded),
        "totalDiscountsSet": lambda o, _: o.money(o.order.discount),
        "currentTotalDiscountsSet": lambda o, _: o.money(o.order.discount - _refunded_discount(o)),
        "totalRefundedSet": lambda o, _: o.money(o.refunded),
        "totalShippingPriceSet": lambda o, _: o.money(o.order.shipping),
        "totalTaxSet": lambda o, _: o.money(0),
        "currentTotalTaxSet": lambda o, _: o.money(0),
        "customer": lambda o, _: customer(o.view.shop, o.order.customer_index),
        "lineItems": _line_items,
        "refunds": _refunds,
        "customerJourneySummary": lambda o, _: o if o.visits else None,
        DRIFT_FIELD: lambda o, _: f"https://{o.view.shop.domain}/account/orders/{o.order.id}",
    },
    "LineItem": {
        "id": lambda line, _: _gid("LineItem", line.item.id),
        "name": lambda line, _: line.item.title,
        "title": lambda line, _: line.item.title,
        "sku": lambda line, _: line.item.sku,
        "quantity": lambda line, _: line.item.quantity,
        "currentQuantity": lambda line, _: line.item.quantity - line.order_at.returned(line.item),
        "refundableQuantity": lambda line, _: (
            line.item.quantity - line.order_at.returned(line.item)
        ),
        "originalUnitPriceSet": lambda line, _: line.order_at.money(line.item.unit_price),
        "originalTotalSet": lambda line, _: line.order_at.money(line.item.gross),
        "discountedTotalSet": lambda line, _: line.order_at.money(
            line.item.gross - line.item.discount
        ),
        "totalDiscountSet": lambda line, _: line.order_at.money(line.item.discount),
    },
    "Refund": {
        "id": lambda r, _: _gid("Refund", r.refund.id),
        "legacyResourceId": lambda r, _: str(r.refund.id),
        "createdAt": lambda r, _: _iso(r.refund.created_at),
        "updatedAt": lambda r, _: _iso(r.refund.created_at),
        "note": lambda r, _: None,
        "totalRefundedSet": lambda r, _: r.order_at.money(r.refund.amount),
        "refundLineItems": _refund_lines,
    },
    "RefundLineItem": {
        "lineItem": lambda line, _: line,
        "quantity": lambda line, _: line.order_at.refund.quantity,
        "priceSet": lambda line, _: line.order_at.money(line.item.unit_price),
        "subtotalSet": lambda line, _: line.order_at.money(line.order_at.refund.amount),
        "totalTaxSet": lambda line, _: line.order_at.money(0),
    },
    "CustomerJourneySummary": {
        "customerOrderIndex": _customer_order_index,
        "daysToConversion": lambda o, _: (o.order.created_at - o.visits[0].occurred_at).days,
        "firstVisit": lambda o, _: o.visits[0],
        "lastVisit": lambda o, _: o.visits[-1],
        "moments": _moments,
        "momentsCount": lambda o, _: len(o.visits),
        "ready": lambda o, _: True,
    },
    "Count": {
        "count": lambda count, _: count,
        "precision": lambda count, _: "EXACT",
    },
    "CustomerVisit": {
        "id": lambda visit, _: _gid("CustomerVisit", visit.id),
        "landingPage": lambda visit, _: visit.landing_page,
        "occurredAt": lambda visit, _: _iso(visit.occurred_at),
        "referralCode": lambda visit, _: None,
        "referrerUrl": lambda visit, _: visit.referrer_url,
        "source": lambda visit, _: visit.source,
        "sourceDescription": lambda visit, _: (
            f"{visit.source} ad" if visit.kind == "paid" else None
        ),
        "sourceType": lambda visit, _: _source_type(visit),
        "utmParameters": lambda visit, _: visit if visit.utm_source is not None else None,
    },
    "UTMParameters": {
        "campaign": lambda visit, _: visit.utm_campaign,
        "content": lambda visit, _: visit.utm_content,
        "medium": lambda visit, _: visit.utm_medium,
        "source": lambda visit, _: visit.utm_source,
        "term": lambda visit, _: None,
    },
    "Customer": {
        "id": lambda person, _: _gid("Customer", person.id),
        "legacyResourceId": lambda person, _: str(person.id),
        "createdAt": lambda person, _: _iso(person.created_at),
        "updatedAt": lambda person, _: _iso(person.created_at),
        "displayName": lambda person, _: f"{person.first_name} {person.last_name}",
        "email": lambda person, _: person.email,
        "firstName": lambda person, _: person.first_name,
        "lastName": lambda person, _: person.last_name,
        "defaultEmailAddress": lambda person, _: person,
        "state": lambda person, _: "DISABLED",
        "verifiedEmail": lambda person, _: True,
        "tags": lambda person, _: [],
    },
    "CustomerEmailAddress": {"emailAddress": lambda person, _: person.email},
    "MoneyBag": {
        "shopMoney": lambda money, _: money,
        "presentmentMoney": lambda money, _: money,
    },
    "MoneyV2": {
        "amount": lambda money, _: _amount(money.minor, money.currency),
        "currencyCode": lambda money, _: money.currency,
    },
    "PageInfo": {
        "hasNextPage": lambda page, _: page.has_next,
        "hasPreviousPage": lambda page, _: page.has_previous,
        "startCursor": lambda page, _: page.cursor_of(page.nodes[0]) if page.nodes else None,
        "endCursor": lambda page, _: page.cursor_of(page.nodes[-1]) if page.nodes else None,
    },
    **{
        name: _EDGE if name.endswith("Edge") else _CONNECTION
        for name in DRIFT_SCHEMA.type_map
        if name.endswith(("Connection", "Edge"))
    },
}


def _null(_source: Any, _args: dict[str, Any]) -> None:
    return None


def _resolver(type_name: str, field_name: str) -> Resolver:
    """The resolver of `type_name.field_name`; a field the sandbox does not serve is null."""
    return _FIELDS.get(type_name, {}).get(field_name, _null)


# --- root fields --------------------------------------------------------------------------------
#
# Root resolvers take the request's `RequestState`, the arguments, and the response key their
# field is answered under (the path of its `extensions.search` entry).

RootResolver = Callable[[RequestState, dict[str, Any], str], Any]


def _orders(state: RequestState, args: dict[str, Any], key: str) -> Page:
    view = state.view
    search = parse_search(args.get("query"), view.shop.timezone, _ORDER_SEARCH_FIELDS)
    state.note(key, search)
    sort = OrderSort(
        by_update=args.get("sortKey") == "UPDATED_AT", reverse=bool(args.get("reverse"))
    )
    after = args.get("after")
    ordered = _sorted_orders(view, sort, search, sort.key_of_cursor(after) if after else None)
    return _first_page(
        (_OrderAt(view, order) for order in ordered),
        args.get("first"),
        after,
        lambda node: sort.cursor(view, node.order),
    )


def _customers(state: RequestState, args: dict[str, Any], key: str) -> Page:
    view = state.view
    search = parse_search(args.get("query"), view.shop.timezone, _CUSTOMER_SEARCH_FIELDS)
    state.note(key, search)
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
        lambda person: _id_cursor(person.id),
    )


def _order_by_gid(state: RequestState, args: dict[str, Any], _key: str) -> _OrderAt | None:
    number = _gid_number(args["id"], "Order")
    order = state.view.order(number) if number is not None else None
    return _OrderAt(state.view, order) if order else None


def _customer_by_gid(state: RequestState, args: dict[str, Any], _key: str) -> Customer | None:
    number = _gid_number(args["id"], "Customer")
    index = None if number is None else number - CUSTOMER_ID_BASE
    if index is None or not 0 <= index < state.view.customer_count():
        return None
    return customer(state.view.shop, index)


_ROOT_FIELDS: dict[str, RootResolver] = {
    "shop": lambda state, _args, _key: state.view,
    "order": _order_by_gid,
    "orders": _orders,
    "customer": _customer_by_gid,
    "customers": _customers,
}


def _graphql_core_resolver(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """graphql-core's field resolver: the same resolvers, called the way the fast path does."""
    if info.parent_type is info.schema.query_type:
        return _ROOT_FIELDS[info.field_name](source, args, info.path.key)
    return _resolver(info.parent_type.name, info.field_name)(source, args)


def _moment_type(_value: Any, _info: GraphQLResolveInfo, _type: Any) -> str:
    """Every CustomerMoment the sandbox has is a CustomerVisit."""
    return "CustomerVisit"


# --- the fast path ------------------------------------------------------------------------------


def _root_fields(
    context: ExecutionContext,
) -> tuple[GraphQLObjectType, dict[str, list[FieldNode]]]:
    """The query root type and the fields the operation selects on it, by response key."""
    root = context.schema.query_type
    assert root is not None
    fields = collect_fields(
        context.schema,
        context.fragments,
        context.variable_values,
        root,
        context.operation.selection_set,
    )
    return root, fields


class _NotCleanError(Exception):
    """The answer is not clean (an error, or a null where the schema promises a value)."""


# How a step completes a resolved value that is not null:
_TEXT = 0  # a String or ID: kept if it is a str
_SCALAR = 1  # one of the schema's own scalars (DateTime, Decimal ...): graphql-core passes it on
_LEAF = 2  # an Int, Boolean or enum: kept if `extra(value)` (graphql-core serializes it unchanged)
_OBJECT = 3  # an object: answered by the plan `extra`
_LIST = 4  # a list: each item completed as `extra` (nullable, shape, extra) says
_VALUE = 5  # money: answered by the plan `extra[0]`, once per value (memo `extra[1]`)
_VALUE_TYPES = frozenset({"MoneyBag", "MoneyV2"})  # answers that follow from an equal source
_Step = tuple[str, Resolver, dict[str, Any], bool, int, Any]  # key, resolver, args, nullable ...
_INT_RANGE = range(-(2**31), 2**31)


class _FastExecution:
    """Computes graphql-core's `data` for a clean answer, without its per-field bookkeeping.

    graphql-core builds a path, a resolve info and an awaitable check for every field of every
    node; this compiles each selection once per request into steps (response key, resolver,
    arguments, how to complete the value), with graphql-core's own field collection and argument
    coercion, and applies them node by node. Leaves pass only when graphql-core's serializer would
    return them as they are. Anything else raises `_NotCleanError` (an error, a null in a non-null
    field, introspection, a mutation or subscription, a resolver's exception), and the caller runs
    graphql-core, which answers it exactly.
    """

    def __init__(self, context: ExecutionContext) -> None:
        self.context = context
        self._plans: dict[tuple[Any, ...], list[_Step]] = {}

    def data(self, state: RequestState) -> dict[str, Any]:
        context = self.context
        if context.operation.operation is not OperationType.QUERY:
            raise _NotCleanError  # a mutation or subscription: graphql-core refuses it
        root, fields = _root_fields(context)
        data = {}
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                data[key] = root.name
                continue
            definition = root.fields.get(name)
            if definition is None:
                raise _NotCleanError  # introspection
            args = get_argument_values(definition, nodes[0], context.variable_values)
            value = _ROOT_FIELDS[name](state, args, key)
            data[key] = self._complete(*self._completion(definition.type, nodes), value)
        return data

    def _completion(
        self, type_: GraphQLOutputType, nodes: list[FieldNode]
    ) -> tuple[bool, int, Any]:
        """(nullable, shape, extra): how a resolved value of `type_` is completed."""
        nullable = not is_non_null_type(type_)
        type_ = get_nullable_type(type_)  # type: ignore[assignment]
        if is_list_type(type_):
            return nullable, _LIST, self._completion(type_.of_type, nodes)  # type: ignore
        if type_ is GraphQLString or type_ is GraphQLID:
            return nullable, _TEXT, None
        if type_ is GraphQLInt or type_ is GraphQLBoolean or isinstance(type_, GraphQLEnumType):
            return nullable, _LEAF, _serializes_unchanged(type_)
        if is_leaf_type(type_):
            return nullable, _SCALAR, None
        if is_abstract_type(type_):  # CustomerMoment: its one runtime type
            type_ = self.context.schema.get_type(_moment_type(None, None, type_))  # type: ignore
        assert isinstance(type_, GraphQLObjectType)
        if type_.name in _VALUE_TYPES:
            return nullable, _VALUE, (self._plan(type_, nodes), {})
        return nullable, _OBJECT, self._plan(type_, nodes)

    def _complete(self, nullable: bool, shape: int, extra: Any, value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise _NotCleanError
        if shape == _OBJECT:
            return self._object(extra, value)
        if shape == _VALUE:
            plan, answers = extra
            answer = answers.get(value)
            if answer is None:
                answer = answers[value] = self._object(plan, value)
            return answer
        if shape == _LIST:
            return [self._complete(*extra, item) for item in value]
        if shape == _SCALAR or (type(value) is str if shape == _TEXT else extra(value)):
            return value
        raise _NotCleanError

    def _plan(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> list[_Step]:
        """The steps that answer the selection `nodes` make on `parent`, made once."""
        plan_key = (parent.name, *map(id, nodes))
        plan = self._plans.get(plan_key)
        if plan is None:
            plan = []

            def type_name(_source: Any, _args: dict[str, Any]) -> str:
                return parent.name

            for key, field_nodes in self.context.collect_subfields(parent, nodes).items():
                name = field_nodes[0].name.value
                if name == "__typename":
                    plan.append((key, type_name, {}, False, _TEXT, None))
                    continue
                definition = parent.fields[name]
                args = get_argument_values(definition, field_nodes[0], self.context.variable_values)
                completion = self._completion(definition.type, field_nodes)
                plan.append((key, _resolver(parent.name, name), args, *completion))
            self._plans[plan_key] = plan
        return plan

    def _object(self, plan: list[_Step], source: Any) -> dict[str, Any]:
        answer = {}
        for key, resolve, args, nullable, shape, extra in plan:
            value = resolve(source, args)
            if (shape == _TEXT and type(value) is str) or (shape == _SCALAR and value is not None):
                answer[key] = value  # most fields: nothing to complete
            else:
                answer[key] = self._complete(nullable, shape, extra, value)
        return answer


def _serializes_unchanged(type_: GraphQLNamedType) -> Callable[[Any], bool]:
    """Whether graphql-core's serializer of an Int, Boolean or enum keeps a value as it is."""
    if type_ is GraphQLInt:
        return lambda value: type(value) is int and value in _INT_RANGE
    if type_ is GraphQLBoolean:
        return lambda value: type(value) is bool
    assert isinstance(type_, GraphQLEnumType)
    names = type_.values
    return lambda value: type(value) is str and value in names


def _execute(
    schema: Any, document: DocumentNode, request: GraphQLRequest, state: RequestState
) -> ExecutionResult:
    """Run the validated `document`: the fast path when its answer is clean, else graphql-core."""
    run: dict[str, Any] = {
        "root_value": state,
        "context_value": state,
        "operation_name": request.operation_name,
        "field_resolver": _graphql_core_resolver,
        "type_resolver": _moment_type,
    }
    context = ExecutionContext.build(schema, document, raw_variable_values=request.variables, **run)
    assert isinstance(context, ExecutionContext)
    try:
        return ExecutionResult(_FastExecution(context).data(state))
    except Exception:  # graphql-core answers it, errors included
        state.searches.clear()
    result = execute(schema, document, variable_values=request.variables, **run)
    assert not isinstance(result, Awaitable)
    return result


# --- query cost -------------------------------------------------------------------------------


def _multiplier(count: int) -> int:
    """How many times a connection of `count` nodes charges its node: floor(2 ln n), at least 1.

    Fitted to costs Shopify reports (first: 1, 100, 200, 250 charge 1, 9, 10, 11 nodes).
    """
    return 0 if count <= 0 else max(1, math.floor(2 * math.log(count)))


_REQUESTED = object()  # the value a walk over a query, not an answer, sees

# Prices a value (an answer's data, or _REQUESTED); None stands for a price that is always 0.
Pricer = Callable[[Any], float] | None


class CostWalk:
    """Prices one operation: as requested (before it runs) or as answered (from its data).

    Requested cost counts `first` nodes per connection; actual cost counts the nodes returned
    and charges nothing for objects that came back null. The selection is compiled once into
    pricers, one per selection, which leave out what always costs 0 (leaves, money) and
    otherwise add up in the order the fields are selected.
    """

    def __init__(self, context: ExecutionContext) -> None:
        self.context = context
        self._objects: dict[tuple[Any, ...], Pricer] = {}
        self._root = self._selection(*_root_fields(context))

    def requested(self) -> int:
        return round(self._root(_REQUESTED)) if self._root else 0

    def actual(self, data: dict[str, Any] | None) -> int:
        return round(self._root(data)) if self._root else 0

    def _selection(self, parent: GraphQLObjectType, fields: dict[str, list[FieldNode]]) -> Pricer:
        """Cost of `fields` selected on `parent`: the sum of the fields' costs."""
        priced: list[tuple[str, Callable[[Any], float]]] = []
        for key, nodes in fields.items():
            definition = parent.fields.get(nodes[0].name.value)
            pricer = self._field(definition, nodes) if definition else None
            if pricer is not None:
                priced.append((key, pricer))
        if not priced:
            return None

        def price(value: Any) -> float:
            if value is None:
                return 0
            if value is _REQUESTED:
                return sum(pricer(value) for _, pricer in priced)
            return sum(pricer(value.get(key)) for key, pricer in priced)

        return price

    def _field(self, definition: Any, nodes: list[FieldNode]) -> Pricer:
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return None
        if named.name.endswith("Connection"):
            connection = self._connection(named, nodes, self._first(definition, nodes))
            return lambda value: 0 if value is None else connection(value)
        item = self._object(named, nodes)
        if item is None or not is_list_type(get_nullable_type(definition.type)):
            return item
        first = self._first(definition, nodes)

        def price_list(value: Any) -> float:
            if value is None:
                return 0
            if value is _REQUESTED:
                return _multiplier(first) * item(value)
            return _multiplier(len(value)) * _mean([item(each) for each in value])

        return price_list

    def _first(self, definition: Any, nodes: list[FieldNode]) -> int:
        args = get_argument_values(definition, nodes[0], self.context.variable_values)
        return args.get("first") or 1

    def _object(self, named: GraphQLNamedType, nodes: list[FieldNode]) -> Pricer:
        """1 for the object (0 for money and page info) + the dearest reading of its selection."""
        memo_key = (named.name, *map(id, nodes))
        if memo_key in self._objects:
            return self._objects[memo_key]
        own = 0 if named.name in FREE_OBJECTS else 1
        selections = [
            self._selection(runtime, self.context.collect_subfields(runtime, nodes))
            for runtime in self._runtime_types(named)
        ]
        pricer: Pricer = None
        if own or any(selections):

            def pricer(value: Any) -> float:
                if value is None:
                    return 0
                return own + max(selection(value) if selection else 0 for selection in selections)

        self._objects[memo_key] = pricer
        return pricer

    def _connection(
        self, named: GraphQLNamedType, nodes: list[FieldNode], first: int
    ) -> Callable[[Any], float]:
        """2 + m(nodes) x the cost of one node, however it is reached (edges.node or nodes)."""
        assert isinstance(named, GraphQLObjectType)
        node_type = get_named_type(named.fields["nodes"].type)
        edge_type = get_named_type(named.fields["edges"].type)
        assert isinstance(edge_type, GraphQLObjectType)
        paths: list[tuple[str, str | None, Pricer]] = []
        for key, part in self.context.collect_subfields(named, nodes).items():
            if part[0].name.value == "nodes":
                paths.append((key, None, self._object(node_type, part)))
            elif part[0].name.value == "edges":
                inner = self.context.collect_subfields(edge_type, part)
                paths += [
                    (key, k, self._object(node_type, n))
                    for k, n in inner.items()
                    if n[0].name.value == "node"
                ]
        priced = [(key, edge_key, pricer) for key, edge_key, pricer in paths if pricer]

        def node_cost(value: Any, index: int | None) -> float:
            total = 0.0
            for key, edge_key, pricer in priced:
                item = _REQUESTED if index is None else value[key][index]
                node = item[edge_key] if edge_key and item is not _REQUESTED else item
                total += pricer(node)
            return total

        def price(value: Any) -> float:
            if value is _REQUESTED:
                return 2 + _multiplier(first) * node_cost(value, None)
            count = len(value[paths[0][0]]) if paths else 0
            return 2 + _multiplier(count) * _mean([node_cost(value, i) for i in range(count)])

        return price

    def _runtime_types(self, named: GraphQLNamedType) -> Sequence[GraphQLObjectType]:
        if is_abstract_type(named):
            return self.context.schema.get_possible_types(named)  # type: ignore[arg-type]
        assert isinstance(named, GraphQLObjectType)
        return (named,)


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


@dataclass(frozen=True)
class _Checked:
    """A query as parsed and validated: its error entries, or the documents to price and to run
    (the one run has the drift field when the schema drifts). Shared: read, never change."""

    errors: tuple[dict[str, Any], ...] = ()
    document: DocumentNode | None = None
    executed: DocumentNode | None = None


@lru_cache(maxsize=256)
def _checked(query: str, drifting: bool) -> _Checked:
    """Parse and validate `query` once per text: clients page with the same few queries."""
    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        return _Checked(errors=(_syntax_error(error),))
    invalid = validate(DRIFT_SCHEMA if drifting else SCHEMA, document)
    if invalid:
        return _Checked(errors=tuple(_error_entry(error) for error in invalid))
    return _Checked(
        document=document, executed=_with_drift_field(document) if drifting else document
    )


def _answer(view: ShopView, request: GraphQLRequest, fault: Fault | None) -> dict[str, Any]:
    """Validate, price, admit and run one GraphQL request; the JSON body to send back."""
    schema = DRIFT_SCHEMA if view.drifting else SCHEMA
    checked = _checked(request.query, view.drifting)
    if checked.errors:
        return {"errors": list(checked.errors)}
    assert checked.document is not None and checked.executed is not None
    context = ExecutionContext.build(
        schema,
        checked.document,
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
    state = RequestState(view)
    result = _execute(schema, checked.executed, request, state)
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
