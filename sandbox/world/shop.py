"""The tenant's online shop: orders with line items, discounts, refunds and customer journeys.

Orders of a day come from two places: the store orders the tenant's ads really drove that day
(`AdDay.driven_orders`, so spend, clicks and orders move together) and organic demand. Every
order carries the visits of its customer journey (1–5), with UTM parameters and click ids that
point at the tenant's real campaigns, plus organic search, direct, e-mail and referral visits; a
few orders have no journey at all (draft and POS orders). Refunds happen days later and only
become visible once the sandbox's clock has passed them. Money is in integer minor units of
the shop currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
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
# Non-paid visit kinds and their weights among a journey's other visits.
_UNPAID_KINDS = (("direct", 0.32), ("organic_search", 0.28), ("email", 0.2), ("referral", 0.2))


@dataclass(frozen=True)
class Visit:
    """One session of a customer journey, as Shopify's CustomerVisit describes it."""

    id: int
    occurred_at: datetime
    kind: str  # paid | direct | organic_search | email | referral
    source: str  # Shopify's `source`: google, facebook, direct, email, instagram ...
    source_type: str | None  # SEARCH | SOCIAL | EMAIL | None
    referrer_url: str | None
    landing_page: str
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    platform: str | None = None
    campaign_id: str | None = None
    ad_id: str | None = None


@dataclass(frozen=True)
class LineItem:
    id: int
    title: str
    sku: str
    quantity: int
    unit_price: int  # minor units
    discount: int  # minor units allocated to this line

    @property
    def gross(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Refund:
    id: int
    created_at: datetime
    line_item_id: int
    quantity: int
    amount: int  # minor units


@dataclass(frozen=True)
class Order:
    id: int
    name: str
    day: int
    created_at: datetime
    customer_index: int
    currency: str
    line_items: tuple[LineItem, ...]
    discount_code: str | None
    shipping: int
    refund: Refund | None  # as eventually made; see `visible_refund`
    visits: tuple[Visit, ...] | None  # None: Shopify has no journey for this order

    @property
    def gross(self) -> int:
        return sum(item.gross for item in self.line_items)

    @property
    def discount(self) -> int:
        return sum(item.discount for item in self.line_items)

    def visible_refund(self, now: datetime) -> Refund | None:
        """The refund if it had happened by `now`."""
        return self.refund if self.refund and self.refund.created_at < now else None

    def updated_at(self, now: datetime) -> datetime:
        refund = self.visible_refund(now)
        return refund.created_at if refund else self.created_at + timedelta(minutes=3)


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


def local_midnight_utc(day: int, timezone: str) -> datetime:
    """The UTC instant at which world day `day` starts in `timezone`."""
    local = datetime.combine(day_date(day), time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def day_orders(shop: Shop, accounts: tuple[AdAccount, ...], day: int) -> tuple[Order, ...]:
    """Every order placed on world day `day` (shop-local), in creation order."""
    return _day_orders(shop, accounts, day)


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
    seconds = np.sort(rng.beta(2.4, 1.7, size=count) * (length - 1))
    in_promo = promo_multiplier(calendar_day) > 2
    return tuple(
        _make_order(
            shop,
            accounts,
            day,
            index,
            start + timedelta(seconds=float(seconds[index])),
            driver_by_order.get(index),
            in_promo,
            rng,
        )
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
    shop: Shop,
    accounts: tuple[AdAccount, ...],
    day: int,
    index: int,
    created_at: datetime,
    driver: tuple[AdAccount, int] | None,
    in_promo: bool,
    rng: np.random.Generator,
) -> Order:
    order_id = ORDER_ID_BASE + day * ORDERS_PER_DAY_CAP + index
    price_level = USD_PRICE_LEVEL.get(shop.currency, 1.0)

    line_count = int(rng.choice([1, 1, 1, 2, 2, 3]))
    products = rng.choice(len(_PRODUCTS_USD), size=line_count, replace=False)
    code: tuple[str, float] | None = None
    if in_promo and rng.random() < 0.6:
        code = PROMO_CODE
    elif rng.random() < 0.22:
        code = DISCOUNT_CODES[int(rng.integers(len(DISCOUNT_CODES)))]
    items = []
    for position, product in enumerate(products):
        title, usd = _PRODUCTS_USD[int(product)]
        unit_price = _charm_price(usd * price_level, shop.currency)
        quantity = int(rng.choice([1, 1, 1, 2]))
        discount = round(unit_price * quantity * code[1]) if code else 0
        items.append(
            LineItem(
                id=order_id * 10 + position,
                title=title,
                sku=f"SKU-{int(product):03d}",
                quantity=quantity,
                unit_price=unit_price,
                discount=discount,
            )
        )
    gross_after_discount = sum(i.gross - i.discount for i in items)
    free_shipping_from = _charm_price(100 * price_level, shop.currency)
    shipping = (
        0
        if gross_after_discount >= free_shipping_from
        else _charm_price(5 * price_level, shop.currency)
    )

    refund = None
    if rng.random() < REFUND_SHARE:
        item = items[int(rng.integers(len(items)))]
        delay = timedelta(days=float(rng.uniform(2, MAX_REFUND_DELAY_DAYS)))
        refund = Refund(
            id=order_id + 1_000_000_000_000,
            created_at=created_at + delay,
            line_item_id=item.id,
            quantity=item.quantity,
            amount=item.gross - item.discount,
        )
    customer_index = _pick_customer(shop, day, index, rng)
    visits = _journey(shop, accounts, order_id, created_at, driver, items[0].title, rng)
    return Order(
        id=order_id,
        name=f"#{1000 + day * 100 + index}" if index < 100 else f"#{order_id % 10**9}",
        day=day,
        created_at=created_at,
        customer_index=customer_index,
        currency=shop.currency,
        line_items=tuple(items),
        discount_code=code[0] if code else None,
        shipping=shipping,
        refund=refund,
        visits=visits,
    )


def _charm_price(major_amount: float, currency: str) -> int:
    """A shop price in minor units: whole units less one cent (x.99), or whole yen."""
    exponent = minor_unit_exponent(currency)
    whole = round(major_amount) * 10**exponent
    return whole - 1 if exponent else whole


def _pick_customer(shop: Shop, day: int, index: int, rng: np.random.Generator) -> int:
    per_day = shop.customers_per_day
    if day > 0 and rng.random() < 0.28:
        return int(rng.integers(0, day * per_day))  # a returning customer
    return day * per_day + index % per_day


def _journey(
    shop: Shop,
    accounts: tuple[AdAccount, ...],
    order_id: int,
    created_at: datetime,
    driver: tuple[AdAccount, int] | None,
    product: str,
    rng: np.random.Generator,
) -> tuple[Visit, ...] | None:
    if rng.random() < JOURNEY_MISSING_SHARE:
        return None
    count = int(rng.choice([1, 1, 2, 2, 3, 3, 4, 5]))
    gaps_hours = rng.exponential(72.0, size=count - 1)
    times = [created_at - timedelta(minutes=float(rng.uniform(2, 55)))]
    for gap in gaps_hours:
        times.append(times[-1] - timedelta(hours=float(gap)))
    times.reverse()  # oldest first
    driver_position = None
    if driver is not None:
        driver_position = count - 1 if rng.random() < 0.55 else int(rng.integers(count))
    handle = product.lower().replace(" ", "-")
    visits = []
    for position, occurred_at in enumerate(times):
        visit_id = 9_000_000_000_000 + (order_id - ORDER_ID_BASE) * 10 + position
        if position == driver_position:
            account, ad_index = driver
            visits.append(_paid_visit(shop, account, ad_index, visit_id, occurred_at, handle, rng))
        elif driver is None and accounts and position == 0 and count > 1 and rng.random() < 0.12:
            # an old paid touch, usually outside the attribution lookback window
            account = accounts[int(rng.integers(len(accounts)))]
            ad_index = int(rng.integers(len(account.ads)))
            old = occurred_at - timedelta(days=float(rng.uniform(20, 50)))
            visits.append(_paid_visit(shop, account, ad_index, visit_id, old, handle, rng))
        else:
            visits.append(_unpaid_visit(shop, visit_id, occurred_at, handle, rng))
    visits.sort(key=lambda visit: visit.occurred_at)
    return tuple(visits)


def _paid_visit(
    shop: Shop,
    account: AdAccount,
    ad_index: int,
    visit_id: int,
    occurred_at: datetime,
    handle: str,
    rng: np.random.Generator,
) -> Visit:
    ad = account.ads[ad_index]
    campaign = account.campaigns[ad.campaign_index]
    utm_source, utm_medium, click_parameter, referrer = _PAID_CHANNEL[account.platform]
    click_id = stable_token(40, shop.tenant_id, "click", visit_id)
    landing = (
        f"https://{shop.domain}/products/{handle}?utm_source={utm_source}&utm_medium={utm_medium}"
        f"&utm_campaign={quote(campaign.utm_campaign, safe='')}&utm_content={ad.id}"
        f"&{click_parameter}={click_id}"
    )
    return Visit(
        id=visit_id,
        occurred_at=occurred_at,
        kind="paid",
        source=utm_source,
        source_type="SEARCH" if account.platform == "google_ads" else "SOCIAL",
        referrer_url=referrer,
        landing_page=landing,
        utm_source=utm_source,
        utm_medium=utm_medium,
        utm_campaign=campaign.utm_campaign,
        utm_content=ad.id,
        platform=account.platform,
        campaign_id=campaign.id,
        ad_id=ad.id,
    )


def _unpaid_visit(
    shop: Shop,
    visit_id: int,
    occurred_at: datetime,
    handle: str,
    rng: np.random.Generator,
) -> Visit:
    kinds, weights = zip(*_UNPAID_KINDS, strict=True)
    kind = kinds[int(rng.choice(len(kinds), p=np.array(weights)))]
    page = f"https://{shop.domain}/products/{handle}"
    if kind == "direct":
        return Visit(visit_id, occurred_at, kind, "direct", None, None, page)
    if kind == "organic_search":
        return Visit(
            visit_id, occurred_at, kind, "google", "SEARCH", "https://www.google.com/", page
        )
    if kind == "email":
        landing = f"{page}?utm_source=klaviyo&utm_medium=email&utm_campaign=weekly_newsletter"
        return Visit(
            visit_id,
            occurred_at,
            kind,
            "email",
            "EMAIL",
            None,
            landing,
            utm_source="klaviyo",
            utm_medium="email",
            utm_campaign="weekly_newsletter",
        )
    referrer = "https://www.instagram.com/" if rng.random() < 0.5 else "https://www.vogue.example/"
    source = "instagram" if "instagram" in referrer else "vogue.example"
    return Visit(
        visit_id,
        occurred_at,
        kind,
        source,
        "SOCIAL" if source == "instagram" else None,
        referrer,
        page,
    )


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
        created_at=start + timedelta(seconds=offset),
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
