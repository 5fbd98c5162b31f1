"""The tenant's online shop: orders with line items, discounts, refunds and customer journeys.

Orders of a day come from two places: the store orders the tenant's ads really drove that day
(`AdDay.driven_orders`, so spend, clicks and orders move together) and organic demand. Every
order carries the visits of its customer journey (1–5), with UTM parameters and click ids that
point at the tenant's real campaigns, plus organic search, direct, e-mail and referral visits; a
few orders have no journey at all (draft and POS orders). Refunds happen days later and only
become visible once the sandbox's clock has passed them. Money is in integer minor units of
the shop currency.

A day's orders come from one random stream, drawn order by order; `_Draws` makes those draws
exactly as numpy's `Generator` would, without its per-call overhead, since a tenant-year is
some 50,000 orders.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName, Tenant
from sandbox.world.ad_metrics import final_day
from sandbox.world.calendar import WEEKDAY_DEMAND, day_date, promo_multiplier
from sandbox.world.catalog import USD_PRICE_LEVEL, AdAccount
from sandbox.world.randomness import rng_for, stable_token

ORDER_ID_BASE = 5_000_000_000_000
CUSTOMER_ID_BASE = 7_000_000_000_000
ORDERS_PER_DAY_CAP = 10_000
ORGANIC_ORDERS_PER_DAY = 40.0
NEW_CUSTOMERS_PER_DAY = 120  # size of each day's block of customer ids (at scale 1)
JOURNEY_MISSING_SHARE = 0.04
REFUND_SHARE = 0.09
MAX_REFUND_DELAY_DAYS = 20  # an order changes (updated_at) at most this long after creation

_PRODUCTS_USD = (
    ("Linen Midi Dress", 129.0),
    ("Silk Slip Dress", 189.0),
    ("Cotton Poplin Shirt", 79.0),
    ("Merino Crew Jumper", 119.0),
    ("Wide-Leg Trousers", 99.0),
    ("Denim Jacket", 139.0),
    ("Ribbed Tank Top", 29.0),
    ("Pleated Skirt", 89.0),
    ("Cashmere Scarf", 149.0),
    ("Leather Belt", 49.0),
    ("Canvas Tote", 39.0),
    ("Wrap Blouse", 69.0),
    ("Trench Coat", 249.0),
    ("Knit Cardigan", 109.0),
    ("Straight Jeans", 95.0),
    ("Evening Gown", 229.0),
)
DISCOUNT_CODES = (("WELCOME10", 0.10), ("SPRING15", 0.15), ("VIP20", 0.20))
PROMO_CODE = ("BFCM25", 0.25)

_PAID_CHANNEL = {
    # platform: (utm_source, utm_medium, click id parameter, referrer)
    "google_ads": ("google", "cpc", "gclid", "https://www.google.com/"),
    "meta_ads": ("facebook", "paid_social", "fbclid", "https://l.facebook.com/"),
    "linkedin_ads": ("linkedin", "paid_social", "li_fat_id", "https://www.linkedin.com/"),
}
_CONFIRMATION_DELAY = timedelta(minutes=3)  # an order without refund last changed this late
# Non-paid visit kinds and their weights among a journey's other visits.
_UNPAID_KINDS = (("direct", 0.32), ("organic_search", 0.28), ("email", 0.2), ("referral", 0.2))


# A NamedTuple's fields as a plain tuple (trailing defaults may be left out); see `Order`.
Row = tuple[Any, ...]


class Visit(NamedTuple):
    """One session of a customer journey, as Shopify's CustomerVisit describes it."""

    id: int
    occurred_at: datetime
    kind: str  # paid | direct | organic_search | email | referral
    source: str  # Shopify's `source`: google, facebook, direct, email, instagram ...
    source_type: str | None  # SEARCH | SOCIAL | EMAIL | None
    referrer_url: str | None
    page: str  # the product page landed on, without the query string of `landing_page`
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    platform: str | None = None
    campaign_id: str | None = None
    ad_id: str | None = None
    tenant_id: str | None = None  # set on paid visits: their click id derives from it

    @property
    def landing_page(self) -> str:
        """The URL landed on: the page with the visit's UTM parameters and, if paid, click id.

        Made when asked for, since a click id costs a random generator of its own.
        """
        if self.utm_source is None:
            return self.page
        campaign = quote(self.utm_campaign or "", safe="")
        url = (
            f"{self.page}?utm_source={self.utm_source}&utm_medium={self.utm_medium}"
            f"&utm_campaign={campaign}"
        )
        if self.platform is None:
            return url
        click_parameter = _PAID_CHANNEL[self.platform][2]
        click_id = stable_token(40, self.tenant_id, "click", self.id)
        return f"{url}&utm_content={self.utm_content}&{click_parameter}={click_id}"


class LineItem(NamedTuple):
    id: int
    title: str
    sku: str
    quantity: int
    unit_price: int  # minor units
    discount: int  # minor units allocated to this line

    @property
    def gross(self) -> int:
        return self.unit_price * self.quantity


class Refund(NamedTuple):
    id: int
    created_at: datetime
    line_item_id: int
    quantity: int
    amount: int  # minor units


class Order(NamedTuple):
    """One order. Its line items and visits are kept as plain tuples of their fields and made
    into `LineItem`s and `Visit`s when asked for: the garbage collector stops tracking a tuple
    of plain values, but never a NamedTuple, and walking the hundreds of thousands a cached
    tenant-year holds made every full collection slow."""

    id: int
    name: str
    day: int
    created_at: datetime
    customer_index: int
    currency: str
    line_item_rows: tuple[Row, ...]  # `LineItem`s
    discount_code: str | None
    shipping: int
    refund: Refund | None  # as eventually made; see `visible_refund`
    visit_rows: tuple[Row, ...] | None  # `Visit`s; None: Shopify has no journey for this order

    @property
    def line_items(self) -> tuple[LineItem, ...]:
        return tuple([LineItem(*row) for row in self.line_item_rows])

    @property
    def visits(self) -> tuple[Visit, ...] | None:
        rows = self.visit_rows
        return None if rows is None else tuple([Visit(*row) for row in rows])

    @property
    def last_visit(self) -> Visit | None:
        """The latest visit of the journey, if there is one."""
        return Visit(*self.visit_rows[-1]) if self.visit_rows else None

    @property
    def gross(self) -> int:
        return sum(unit_price * quantity for *_, quantity, unit_price, _ in self.line_item_rows)

    @property
    def discount(self) -> int:
        return sum(row[-1] for row in self.line_item_rows)

    @property
    def subtotal(self) -> int:
        """The line items after discounts (before shipping): gross - discount."""
        rows = self.line_item_rows
        return sum(unit_price * quantity - discount for *_, quantity, unit_price, discount in rows)

    def visible_refund(self, now: datetime) -> Refund | None:
        """The refund if it had happened by `now`."""
        return self.refund if self.refund and self.refund.created_at < now else None

    def updated_at(self, now: datetime) -> datetime:
        refund = self.visible_refund(now)
        return refund.created_at if refund else self.created_at + _CONFIRMATION_DELAY


@dataclass(frozen=True)
class Customer:
    index: int
    id: int
    created_at: datetime
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Shop:
    """Identity of a tenant's shop: the handle it is addressed by, currency and timezone."""

    tenant_id: str
    handle: str
    currency: str
    timezone: str
    scale: float

    @property
    def domain(self) -> str:
        return f"{self.handle}.myshopify.com"

    @property
    def customers_per_day(self) -> int:
        return max(1, round(NEW_CUSTOMERS_PER_DAY * self.scale))


def shop_of(tenant: Tenant) -> Shop:
    config = tenant.sources[SourceName.SHOPIFY]
    return Shop(
        tenant_id=tenant.id,
        handle=config.account_id,
        currency=tenant.account_currency(SourceName.SHOPIFY),
        timezone=tenant.timezone,
        scale=tenant.sandbox.scale,
    )


@lru_cache(maxsize=16_384)
def local_midnight_utc(day: int, timezone: str) -> datetime:
    """The UTC instant at which world day `day` starts in `timezone`."""
    local = datetime.combine(day_date(day), time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


# --- durations ------------------------------------------------------------------------------
# timedelta(hours=x) parses its keywords at several times the cost of the arithmetic; these pass
# the same float positionally (days, seconds, microseconds, milliseconds, minutes, hours), which
# timedelta converts exactly as the keyword forms.


def _days(value: float) -> timedelta:
    return timedelta(value)


def _seconds(value: float) -> timedelta:
    return timedelta(0, value)


def _minutes(value: float) -> timedelta:
    return timedelta(0, 0, 0, 0, value)


def _hours(value: float) -> timedelta:
    return timedelta(0, 0, 0, 0, 0, value)


# --- the random stream ----------------------------------------------------------------------

_UINT32_MAX = 0xFFFF_FFFF
_DOUBLE_UNIT = 1.0 / 2**53
_T = TypeVar("_T")


class _Draws:
    """Draws from a PCG64 `Generator` exactly as its own methods would, at Python speed.

    numpy spends a microsecond or more per scalar call (`choice` ten), which dominated making
    orders. This takes the generator's raw 64-bit outputs one at a time and applies numpy's own
    algorithms: `random` is the top 53 bits; `integers` is Lemire's bounded method on 32-bit
    halves, PCG64 keeping the spare upper half for the next 32-bit draw; `choice` of a list
    is one bounded integer, with weights a `random` looked up in numpy's normalised cumulative
    sum, and without replacement Floyd's sampling followed by a Fisher-Yates shuffle. Exponentials
    go to numpy itself, which reads the same position and never touches the spare half. So the
    stream, and the world, is what plain numpy calls make. Once wrapped, the generator must not
    be drawn from directly.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._next64 = rng.bit_generator.random_raw
        state = rng.bit_generator.state
        self._spare: int | None = state["uinteger"] if state["has_uint32"] else None

    def _next32(self) -> int:
        spare = self._spare
        if spare is None:
            value = self._next64()
            self._spare = value >> 32
            return value & _UINT32_MAX
        self._spare = None
        return spare

    def random(self) -> float:
        """`rng.random()`."""
        return (self._next64() >> 11) * _DOUBLE_UNIT

    def uniform(self, low: float, high: float) -> float:
        """`rng.uniform(low, high)`."""
        return low + (high - low) * self.random()

    def integers(self, count: int) -> int:
        """`rng.integers(count)`: one of 0 .. count - 1."""
        if count == 1:
            return 0
        if count > _UINT32_MAX:
            if count == _UINT32_MAX + 1:
                return self._next32()
            return int(self._rng.integers(count))  # 64-bit draws: no spare half involved
        product = self._next32() * count
        if product & _UINT32_MAX < count:
            threshold = (_UINT32_MAX + 1 - count) % count
            while product & _UINT32_MAX < threshold:
                product = self._next32() * count
        return product >> 32

    def pick(self, options: Sequence[_T]) -> _T:
        """`rng.choice(options)`."""
        return options[self.integers(len(options))]

    def weighted(self, cumulative: Sequence[float]) -> int:
        """`rng.choice(len(p), p=p)`, given `_cumulative_weights(p)`."""
        return bisect_right(cumulative, self.random())

    def sample(self, population: int, size: int) -> list[int]:
        """`rng.choice(population, size=size, replace=False)` (a small population)."""
        picked: list[int] = []
        for top in range(population - size, population):
            value = self.integers(top + 1)
            picked.append(top if value in picked else value)
        for position in range(size - 1, 0, -1):
            other = self.integers(position + 1)
            picked[position], picked[other] = picked[other], picked[position]
        return picked

    def exponential(self, scale: float, size: int) -> list[float]:
        """`rng.exponential(scale, size=size)` (a scalar call for one: the same draw, cheaper)."""
        if size <= 1:
            return [self._rng.exponential(scale)] if size else []
        return self._rng.exponential(scale, size=size).tolist()


def _cumulative_weights(weights: Sequence[float]) -> list[float]:
    """The cumulative sum `Generator.choice` looks a draw up in, normalised as numpy does."""
    cumulative = np.array(weights, dtype=np.float64).cumsum()
    cumulative /= cumulative[-1]
    return cumulative.tolist()


_LINE_COUNTS = (1, 1, 1, 2, 2, 3)
_QUANTITIES = (1, 1, 1, 2)
_JOURNEY_LENGTHS = (1, 1, 2, 2, 3, 3, 4, 5)
_UNPAID_CUMULATIVE = _cumulative_weights([weight for _, weight in _UNPAID_KINDS])


# --- orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Product:
    """A catalogue product as the shop sells it: its page handle and price in shop currency."""

    title: str
    sku: str
    handle: str
    unit_price: int  # minor units


@dataclass(frozen=True)
class _PriceList:
    """The catalogue and shipping fees in one shop currency."""

    products: tuple[_Product, ...]
    free_shipping_from: int
    shipping: int


@lru_cache(maxsize=64)
def _price_list(currency: str) -> _PriceList:
    level = USD_PRICE_LEVEL.get(currency, 1.0)
    products = tuple(
        _Product(
            title=title,
            sku=f"SKU-{index:03d}",
            handle=title.lower().replace(" ", "-"),
            unit_price=_charm_price(usd * level, currency),
        )
        for index, (title, usd) in enumerate(_PRODUCTS_USD)
    )
    return _PriceList(
        products, _charm_price(100 * level, currency), _charm_price(5 * level, currency)
    )


def day_orders(shop: Shop, accounts: tuple[AdAccount, ...], day: int) -> tuple[Order, ...]:
    """Every order placed on world day `day` (shop-local), in creation order."""
    return _day_orders(shop, accounts, day)


@dataclass(frozen=True)
class _ShopDay:
    """What every order of one shop-day is made from, the day's random stream included."""

    shop: Shop
    accounts: tuple[AdAccount, ...]
    day: int
    in_promo: bool
    prices: _PriceList
    pages: tuple[str, ...]  # each product's page on the shop
    customers_per_day: int
    draws: _Draws


@lru_cache(maxsize=8192)
def _day_orders(shop: Shop, accounts: tuple[AdAccount, ...], day: int) -> tuple[Order, ...]:
    if day < 0:
        return ()
    rng = rng_for(shop.tenant_id, "shop", "orders", day)
    drivers = _ad_drivers(accounts, day)
    calendar_day = day_date(day)
    demand = WEEKDAY_DEMAND[calendar_day.weekday()] * promo_multiplier(calendar_day)
    organic = int(rng.poisson(ORGANIC_ORDERS_PER_DAY * shop.scale * demand))
    count = min(len(drivers) + organic, ORDERS_PER_DAY_CAP)
    if count == 0:
        return ()
    order_of_driver = rng.permutation(count)[: len(drivers)]
    driver_by_order: dict[int, tuple[AdAccount, int]] = {
        int(position): driver for position, driver in zip(order_of_driver, drivers, strict=False)
    }
    start = local_midnight_utc(day, shop.timezone)
    length = (local_midnight_utc(day + 1, shop.timezone) - start).total_seconds()
    seconds = np.sort(rng.beta(2.4, 1.7, size=count) * (length - 1)).tolist()
    prices = _price_list(shop.currency)
    shop_day = _ShopDay(
        shop,
        accounts,
        day,
        in_promo=promo_multiplier(calendar_day) > 2,
        prices=prices,
        pages=tuple(f"https://{shop.domain}/products/{p.handle}" for p in prices.products),
        customers_per_day=shop.customers_per_day,
        draws=_Draws(rng),
    )
    return tuple(
        _make_order(shop_day, index, start + _seconds(seconds[index]), driver_by_order.get(index))
        for index in range(count)
    )


def _ad_drivers(accounts: tuple[AdAccount, ...], day: int) -> list[tuple[AdAccount, int]]:
    """One (account, ad index) entry per store order the ads drove on `day`."""
    drivers = []
    for account in accounts:
        delivery = final_day(account, day)
        for ad_index, orders in zip(delivery.ad_index, delivery.driven_orders, strict=True):
            drivers.extend([(account, int(ad_index))] * int(orders))
    return drivers


def _make_order(
    shop_day: _ShopDay, index: int, created_at: datetime, driver: tuple[AdAccount, int] | None
) -> Order:
    draws, prices, day = shop_day.draws, shop_day.prices, shop_day.day
    order_id = ORDER_ID_BASE + day * ORDERS_PER_DAY_CAP + index

    line_count = draws.pick(_LINE_COUNTS)
    products = draws.sample(len(prices.products), line_count)
    code: tuple[str, float] | None = None
    if shop_day.in_promo and draws.random() < 0.6:
        code = PROMO_CODE
    elif draws.random() < 0.22:
        code = DISCOUNT_CODES[draws.integers(len(DISCOUNT_CODES))]
    line_items: list[Row] = []
    net = 0  # after discounts
    for position, product_index in enumerate(products):
        product = prices.products[product_index]
        quantity = draws.pick(_QUANTITIES)
        discount = round(product.unit_price * quantity * code[1]) if code else 0
        net += product.unit_price * quantity - discount
        line_id = order_id * 10 + position
        line_items.append(
            (line_id, product.title, product.sku, quantity, product.unit_price, discount)
        )
    shipping = 0 if net >= prices.free_shipping_from else prices.shipping

    refund = None
    if draws.random() < REFUND_SHARE:
        line_id, _, _, quantity, unit_price, discount = line_items[draws.integers(len(line_items))]
        delay = _days(draws.uniform(2, MAX_REFUND_DELAY_DAYS))
        refund_id = order_id + 1_000_000_000_000
        amount = unit_price * quantity - discount
        refund = Refund(refund_id, created_at + delay, line_id, quantity, amount)
    customer_index = _pick_customer(shop_day, index)  # draws before the journey's
    visits = _journey(shop_day, order_id, created_at, driver, shop_day.pages[products[0]])
    name = f"#{1000 + day * 100 + index}" if index < 100 else f"#{order_id % 10**9}"
    currency = shop_day.shop.currency
    discount_code = code[0] if code else None
    return Order(  # by position: keywords make a NamedTuple several times slower to build
        order_id,
        name,
        day,
        created_at,
        customer_index,
        currency,
        tuple(line_items),
        discount_code,
        shipping,
        refund,
        visits,
    )


def _charm_price(major_amount: float, currency: str) -> int:
    """A shop price in minor units: whole units less one cent (x.99), or whole yen."""
    exponent = minor_unit_exponent(currency)
    whole = round(major_amount) * 10**exponent
    return whole - 1 if exponent else whole


def _pick_customer(shop_day: _ShopDay, index: int) -> int:
    day, per_day = shop_day.day, shop_day.customers_per_day
    if day > 0 and shop_day.draws.random() < 0.28:
        return shop_day.draws.integers(day * per_day)  # a returning customer
    return day * per_day + index % per_day


def _journey(
    shop_day: _ShopDay,
    order_id: int,
    created_at: datetime,
    driver: tuple[AdAccount, int] | None,
    page: str,
) -> tuple[Row, ...] | None:
    """The visits of an order's customer journey, as `Visit` rows, oldest first."""
    draws = shop_day.draws
    if draws.random() < JOURNEY_MISSING_SHARE:
        return None
    count = draws.pick(_JOURNEY_LENGTHS)
    gaps_hours = draws.exponential(72.0, count - 1)
    times = [created_at - _minutes(draws.uniform(2, 55))]
    for gap in gaps_hours:
        times.append(times[-1] - _hours(gap))
    times.reverse()  # oldest first
    driver_position = None
    if driver is not None:
        driver_position = count - 1 if draws.random() < 0.55 else draws.integers(count)
    accounts = shop_day.accounts
    visits: list[Row] = []
    for position, occurred_at in enumerate(times):
        visit_id = 9_000_000_000_000 + (order_id - ORDER_ID_BASE) * 10 + position
        if position == driver_position:
            account, ad_index = driver
            visits.append(
                _paid_visit(shop_day.shop, account, ad_index, visit_id, occurred_at, page)
            )
        elif driver is None and accounts and position == 0 and count > 1 and draws.random() < 0.12:
            # an old paid touch, usually outside the attribution lookback window
            account = accounts[draws.integers(len(accounts))]
            ad_index = draws.integers(len(account.ads))
            old = occurred_at - _days(draws.uniform(20, 50))
            visits.append(_paid_visit(shop_day.shop, account, ad_index, visit_id, old, page))
        else:
            visits.append(_unpaid_visit(visit_id, occurred_at, page, draws))
    return tuple(visits)  # in time order: an old paid touch only moves the oldest visit back


def _paid_visit(
    shop: Shop,
    account: AdAccount,
    ad_index: int,
    visit_id: int,
    occurred_at: datetime,
    page: str,
) -> Row:
    ad = account.ads[ad_index]
    campaign = account.campaigns[ad.campaign_index]
    source, medium, _, referrer = _PAID_CHANNEL[account.platform]
    source_type = "SEARCH" if account.platform == "google_ads" else "SOCIAL"
    return (  # id ... page, then utm_source ... tenant_id
        visit_id,
        occurred_at,
        "paid",
        source,
        source_type,
        referrer,
        page,
        source,
        medium,
        campaign.utm_campaign,
        ad.id,
        account.platform,
        campaign.id,
        ad.id,
        shop.tenant_id,
    )


def _unpaid_visit(visit_id: int, occurred_at: datetime, page: str, draws: _Draws) -> Row:
    kind = _UNPAID_KINDS[draws.weighted(_UNPAID_CUMULATIVE)][0]
    if kind == "direct":
        return (visit_id, occurred_at, kind, "direct", None, None, page)
    if kind == "organic_search":
        return (visit_id, occurred_at, kind, "google", "SEARCH", "https://www.google.com/", page)
    if kind == "email":
        utm = ("klaviyo", "email", "weekly_newsletter")  # utm_source, utm_medium, utm_campaign
        return (visit_id, occurred_at, kind, "email", "EMAIL", None, page, *utm)
    referrer = (
        "https://www.instagram.com/" if draws.random() < 0.5 else "https://www.vogue.example/"
    )
    source = "instagram" if "instagram" in referrer else "vogue.example"
    social = "SOCIAL" if source == "instagram" else None
    return (visit_id, occurred_at, kind, source, social, referrer, page)


def customer(shop: Shop, index: int) -> Customer:
    """Customer `index` of the shop; each day opens a block of `customers_per_day` ids."""
    day = index // shop.customers_per_day
    start = local_midnight_utc(day, shop.timezone)
    day_seconds = (local_midnight_utc(day + 1, shop.timezone) - start).total_seconds()
    offset = (index % shop.customers_per_day) * (day_seconds - 60) / shop.customers_per_day
    first_names = ("Ava", "Noah", "Mia", "Liam", "Zoe", "Omar", "Ines", "Kenji", "Sofia", "Ravi")
    last_names = ("Patel", "Garcia", "Smith", "Nguyen", "Müller", "Rossi", "Kim", "Okafor")
    return Customer(
        index=index,
        id=CUSTOMER_ID_BASE + index,
        created_at=start + _seconds(offset),
        email=f"customer{index}@{shop.handle}.example",
        first_name=first_names[index % len(first_names)],
        last_name=last_names[(index // 7) % len(last_names)],
    )


def order_position(order_id: int) -> tuple[int, int]:
    """(world day, index within the day) of an order id made by this module."""
    offset = order_id - ORDER_ID_BASE
    if offset < 0:
        raise ValueError(f"not a sandbox order id: {order_id}")
    return divmod(offset, ORDERS_PER_DAY_CAP)
