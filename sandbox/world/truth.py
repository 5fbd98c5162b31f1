"""Ground truth: the true daily totals per tenant and source that the sandbox's endpoints serve.

Computed from the same world functions the endpoints call, so a test can prove that whatever
lands in the warehouse equals what the vendor served, to the cent. One row per tenant × source
× day × original currency. Money is `Decimal`, in the original currency and, converted at the
day's ECB rate in force (carried forward over weekends), in the tenant's reporting currency,
rounded half-even to its minor unit at this daily grain. Definitions:

- ad platforms: spend, impressions, clicks, platform conversions and their value, as reported on
  the sandbox's today (recent days are still restating);
- shopify (by order day, shop currency): orders, gross revenue (line items before discounts),
  discounts, refunds already made, net revenue = gross − discounts − refunds; shipping and tax
  are not revenue;
- stripe (by charge day, charge currency): succeeded payments, gross revenue, refunds already
  made, fees, net revenue = gross − refunds;
- ga4: sessions, users, key events, purchase revenue (property currency).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from aya.currencies import minor_unit_exponent
from aya.tenants import AD_PLATFORMS, SourceName, Tenant
from sandbox.world.ad_metrics import reported_day
from sandbox.world.analytics import ga4_day_rows
from sandbox.world.calendar import day_number, world_now
from sandbox.world.fx import convert
from sandbox.world.payments import day_charges, stripe_account_of
from sandbox.world.shop import day_orders, shop_of
from sandbox.world.tenant_world import World

MONEY_FIELDS = (
    "spend",
    "platform_conversion_value",
    "gross_revenue",
    "discounts",
    "refunds",
    "net_revenue",
    "fees",
    "purchase_revenue",
)


@dataclass
class TruthRow:
    tenant_id: str
    source: str
    date: date
    currency: str
    reporting_currency: str
    spend: Decimal = Decimal(0)
    impressions: int = 0
    clicks: int = 0
    platform_conversions: Decimal = Decimal(0)
    platform_conversion_value: Decimal = Decimal(0)
    orders: int = 0
    gross_revenue: Decimal = Decimal(0)
    discounts: Decimal = Decimal(0)
    refunds: Decimal = Decimal(0)
    net_revenue: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    sessions: int = 0
    users: int = 0
    key_events: int = 0
    purchase_revenue: Decimal = Decimal(0)
    reporting: dict[str, Decimal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Flat mapping with `<money>_reporting` columns next to the original ones."""
        flat = asdict(self)
        reporting = flat.pop("reporting")
        flat.update({f"{name}_reporting": value for name, value in reporting.items()})
        return flat


def truth(
    world: World,
    tenant_id: str,
    first: date,
    last: date,
    sources: list[SourceName] | None = None,
) -> list[TruthRow]:
    """Daily truth for one tenant over [first, last] as the sandbox serves it right now.

    Days the source had nothing (an ad outage, a day before the world began, a day not yet
    over) give no row; a source the tenant does not use gives no rows.
    """
    tenant = world.registry.get(tenant_id)
    wanted = [s for s in (sources or list(tenant.sources)) if s in tenant.sources]
    today = world.today()
    days = [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if 0 <= day_number(first + timedelta(days=n)) < today
    ]
    rows: list[TruthRow] = []
    for source in wanted:
        for calendar_day in days:
            rows.extend(_source_day(world, tenant, source, calendar_day, today))
    for row in rows:
        _fill_reporting(row)
    return rows


def _source_day(
    world: World, tenant: Tenant, source: SourceName, calendar_day: date, today: int
) -> list[TruthRow]:
    day = day_number(calendar_day)
    if source in AD_PLATFORMS:
        return _ad_day(world, tenant, source, calendar_day, day, today)
    if source is SourceName.SHOPIFY:
        return _shop_day(world, tenant, calendar_day, day, today)
    if source is SourceName.STRIPE:
        return _payments_day(world, tenant, calendar_day, day, today)
    return _analytics_day(world, tenant, calendar_day, day, today)


def _new_row(tenant: Tenant, source: SourceName, calendar_day: date, currency: str) -> TruthRow:
    return TruthRow(
        tenant_id=tenant.id,
        source=source.value,
        date=calendar_day,
        currency=currency,
        reporting_currency=tenant.reporting_currency,
    )


def _ad_day(
    world: World, tenant: Tenant, source: SourceName, calendar_day: date, day: int, today: int
) -> list[TruthRow]:
    account = world.ad_account(tenant, source)
    delivery = reported_day(account, day, today)
    if len(delivery) == 0:
        return []
    row = _new_row(tenant, source, calendar_day, account.currency)
    row.spend = Decimal(int(delivery.spend_micros.sum())).scaleb(-6)
    row.impressions = int(delivery.impressions.sum())
    row.clicks = int(delivery.clicks.sum())
    row.platform_conversions = sum(
        (Decimal(str(value)) for value in delivery.conversions.tolist()), Decimal(0)
    )
    row.platform_conversion_value = Decimal(int(delivery.conversion_value_micros.sum())).scaleb(-6)
    return [row]


def _shop_day(
    world: World, tenant: Tenant, calendar_day: date, day: int, today: int
) -> list[TruthRow]:
    shop = shop_of(tenant)
    orders = day_orders(shop, tuple(world.ad_accounts(tenant)), day)
    if not orders:
        return []
    now = world_now(today)
    exponent = minor_unit_exponent(shop.currency)
    row = _new_row(tenant, SourceName.SHOPIFY, calendar_day, shop.currency)
    row.orders = len(orders)
    gross = sum(order.gross for order in orders)
    discounts = sum(order.discount for order in orders)
    refunds = sum(refund.amount for o in orders if (refund := o.visible_refund(now)))
    row.gross_revenue = Decimal(gross).scaleb(-exponent)
    row.discounts = Decimal(discounts).scaleb(-exponent)
    row.refunds = Decimal(refunds).scaleb(-exponent)
    row.net_revenue = Decimal(gross - discounts - refunds).scaleb(-exponent)
    return [row]


def _payments_day(
    world: World, tenant: Tenant, calendar_day: date, day: int, today: int
) -> list[TruthRow]:
    account = stripe_account_of(tenant)
    now = int(world_now(today).timestamp())
    by_currency: dict[str, TruthRow] = {}
    for charge in day_charges(account, tuple(world.ad_accounts(tenant)), day):
        if not charge.succeeded or charge.created >= now:
            continue
        exponent = minor_unit_exponent(charge.currency)
        currency = charge.currency
        row = by_currency.setdefault(
            currency, _new_row(tenant, SourceName.STRIPE, calendar_day, currency)
        )
        refund = charge.amount if charge.refunded_by(now) else 0
        row.orders += 1
        row.gross_revenue += Decimal(charge.amount).scaleb(-exponent)
        row.refunds += Decimal(refund).scaleb(-exponent)
        row.net_revenue += Decimal(charge.amount - refund).scaleb(-exponent)
        row.fees += Decimal(charge.fee).scaleb(-exponent)
    return [by_currency[currency] for currency in sorted(by_currency)]


def _analytics_day(
    world: World, tenant: Tenant, calendar_day: date, day: int, today: int
) -> list[TruthRow]:
    ga4_rows = ga4_day_rows(tenant, tuple(world.ad_accounts(tenant)), day, today)
    if not ga4_rows:
        return []
    row = _new_row(tenant, SourceName.GA4, calendar_day, tenant.reporting_currency)
    row.sessions = sum(r.sessions for r in ga4_rows)
    row.users = sum(r.total_users for r in ga4_rows)
    row.key_events = sum(r.key_events for r in ga4_rows)
    row.purchase_revenue = sum((r.purchase_revenue for r in ga4_rows), Decimal(0))
    return [row]


def _fill_reporting(row: TruthRow) -> None:
    quantum = Decimal(1).scaleb(-minor_unit_exponent(row.reporting_currency))
    for name in MONEY_FIELDS:
        amount = convert(getattr(row, name), row.currency, row.reporting_currency, row.date)
        row.reporting[name] = amount.quantize(quantum, ROUND_HALF_EVEN)
