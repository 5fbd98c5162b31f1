"""The tenant's GA4 property: daily sessions, users, key events and revenue by traffic source.

Paid rows follow the ad platforms (about nine sessions per ten clicks, tagged with the same
utm_source/medium/campaign the ads' tracking templates write); organic, direct, e-mail and
referral rows follow seasonal demand. Key events are the day's conversions credited to the
session that converted, as GA4's last-click model does: store orders by their journey's last
visit for a shop, new subscriptions for a SaaS. Like GA4, the last two days are still being
processed and report slightly fewer sessions until they settle.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName, Tenant
from sandbox.world.ad_metrics import final_day
from sandbox.world.calendar import WEEKDAY_DEMAND, day_date, promo_multiplier
from sandbox.world.catalog import AdAccount
from sandbox.world.fx import convert
from sandbox.world.payments import day_subscriptions, stripe_account_of
from sandbox.world.randomness import rng_for
from sandbox.world.shop import Visit, day_orders, shop_of

PROCESSING_DAYS = 2
SESSIONS_PER_CLICK = 0.9
USERS_PER_SESSION = 0.82
_PLATFORM_TAGS = {
    "google_ads": ("google", "cpc"),
    "meta_ads": ("facebook", "paid_social"),
    "linkedin_ads": ("linkedin", "paid_social"),
}
_UNPAID_ROWS = (
    # (source, medium, campaign, sessions per day at scale 1)
    ("google", "organic", "(organic)", 1800.0),
    ("(direct)", "(none)", "(direct)", 1100.0),
    ("klaviyo", "email", "weekly_newsletter", 420.0),
    ("instagram", "referral", "(referral)", 260.0),
    ("vogue.example", "referral", "(referral)", 90.0),
)
NOT_SET = ("(not set)", "(not set)", "(not set)")


@dataclass(frozen=True)
class Ga4Row:
    source: str
    medium: str
    campaign: str
    sessions: int
    total_users: int
    new_users: int
    key_events: int
    purchase_revenue: Decimal  # property currency, 2 decimals


def ga4_day_rows(
    tenant: Tenant, ad_accounts: tuple[AdAccount, ...], day: int, today: int
) -> list[Ga4Row]:
    """GA4's report rows for world day `day` as the Data API answers on world day `today`."""
    if day < 0 or day >= today:
        return []
    rng = rng_for(tenant.id, "ga4", day)
    calendar_day = day_date(day)
    demand = WEEKDAY_DEMAND[calendar_day.weekday()] * promo_multiplier(calendar_day)
    sessions: dict[tuple[str, str, str], int] = {}
    for account in ad_accounts:
        delivery = final_day(account, day)
        source, medium = _PLATFORM_TAGS[account.platform]
        for campaign in account.campaigns:
            in_campaign = account.ad_campaign[delivery.ad_index] == campaign.index
            clicks = int(delivery.clicks[in_campaign].sum())
            if clicks:
                key = (source, medium, campaign.utm_campaign)
                sessions[key] = round(clicks * SESSIONS_PER_CLICK)
    for source, medium, campaign, base in _UNPAID_ROWS:
        volume = base * tenant.sandbox.scale * demand * rng.lognormal(0, 0.07)
        sessions[(source, medium, campaign)] = int(volume)
    key_events, revenue = _conversions(tenant, ad_accounts, day)
    for key in key_events:
        sessions.setdefault(key, key_events[key])
    maturity = min(1.0, 0.94 + 0.03 * (today - day - 1)) if today - day <= PROCESSING_DAYS else 1.0
    rows = []
    for key in sorted(sessions):
        reported = round(sessions[key] * maturity)
        users = round(reported * USERS_PER_SESSION)
        rows.append(
            Ga4Row(
                *key,
                sessions=reported,
                total_users=users,
                new_users=round(users * 0.61),
                key_events=key_events.get(key, 0),
                purchase_revenue=revenue.get(key, Decimal("0.00")),
            )
        )
    return rows


def _conversions(
    tenant: Tenant, ad_accounts: tuple[AdAccount, ...], day: int
) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str, str], Decimal]]:
    """Key events and purchase revenue of the day, by the converting session's source."""
    events: dict[tuple[str, str, str], int] = {}
    revenue: dict[tuple[str, str, str], Decimal] = {}
    if SourceName.SHOPIFY in tenant.sources:
        shop = shop_of(tenant)
        subtotals: dict[tuple[str, str, str], list[int]] = {}
        for order in day_orders(shop, ad_accounts, day):
            last = order.last_visit
            key = _session_key(last) if last else NOT_SET
            events[key] = events.get(key, 0) + 1
            subtotals.setdefault(key, []).append(order.subtotal)
        for key, amounts in subtotals.items():
            revenue[key] = _revenue(amounts, shop.currency, tenant.reporting_currency, day)
    elif SourceName.STRIPE in tenant.sources:
        paid = [
            (account, int(index))
            for account in ad_accounts
            for index, orders in zip(
                final_day(account, day).ad_index, final_day(account, day).driven_orders, strict=True
            )
            for _ in range(int(orders))
        ]
        for subscription in day_subscriptions(stripe_account_of(tenant), ad_accounts, day):
            key = _signup_key(tenant, paid, subscription.id)
            events[key] = events.get(key, 0) + 1
    return events, {k: v.quantize(Decimal("0.01"), ROUND_HALF_EVEN) for k, v in revenue.items()}


def _revenue(subtotals: list[int], currency: str, reporting_currency: str, day: int) -> Decimal:
    """The sum of order subtotals (minor units of `currency`) in the reporting currency, each
    order converted at the day's rate; without conversion, the exact sum of the minor units."""
    exponent = minor_unit_exponent(currency)
    if currency == reporting_currency:
        return Decimal(sum(subtotals)).scaleb(-exponent)
    calendar_day = day_date(day)
    total = Decimal(0)
    for minor in subtotals:
        value = Decimal(minor).scaleb(-exponent)
        total += convert(value, currency, reporting_currency, calendar_day)
    return total


def _session_key(visit: Visit) -> tuple[str, str, str]:
    if visit.utm_source:
        return (visit.utm_source, visit.utm_medium or "(none)", visit.utm_campaign or "(not set)")
    if visit.kind == "direct":
        return ("(direct)", "(none)", "(direct)")
    if visit.kind == "organic_search":
        return ("google", "organic", "(organic)")
    return (visit.source, "referral", "(referral)")


def _signup_key(
    tenant: Tenant, paid: list[tuple[AdAccount, int]], subscription_id: str
) -> tuple[str, str, str]:
    """The session a SaaS sign-up converted in: one of the day's ad-driven sign-ups' campaigns
    (`paid` holds one (account, ad index) per sign-up the ads drove), else an organic row."""
    rng = rng_for(tenant.id, "ga4", "signup", subscription_id)
    if paid and rng.random() < 0.7:
        account, ad_index = paid[int(rng.integers(len(paid)))]
        source, medium = _PLATFORM_TAGS[account.platform]
        campaign = account.campaigns[account.ads[ad_index].campaign_index]
        return (source, medium, campaign.utm_campaign)
    source, medium, campaign, _ = _UNPAID_ROWS[int(rng.integers(len(_UNPAID_ROWS)))]
    return (source, medium, campaign)
