"""The tenant's Stripe account: customers, subscriptions, invoices, charges, refunds and fees.

A SaaS tenant sells monthly and yearly subscriptions; new subscribers come from the sign-ups its
ads really drove plus organic ones, each renewal is a charge on the subscription's anniversary
(Stripe's clipping to month ends included), some renewals fail and some payments are refunded.
A shop tenant takes direct card payments, some in extra currencies (JPY is zero-decimal: amounts
are whole yen). Each currency settles in its own balance, so a balance transaction's amount, fee
and net are in the charge's currency. Object ids encode (day, index) behind an opaque-looking
prefix, so list endpoints can resume from `starting_after` without materialising the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName, Tenant
from sandbox.world.ad_metrics import final_day
from sandbox.world.calendar import (
    WEEKDAY_DEMAND,
    WORLD_START,
    add_months,
    day_date,
    day_number,
    promo_multiplier,
)
from sandbox.world.catalog import USD_PRICE_LEVEL, AdAccount
from sandbox.world.randomness import base62, from_base62, rng_for, stable_token
from sandbox.world.shop import local_midnight_utc

PER_DAY = 100_000  # index space per day inside an id
_ID_MARK = "3Sb"
# Stripe processing fees per currency: (proportional, fixed minor units).
_FEES = {"EUR": (0.015, 25), "GBP": (0.015, 20), "USD": (0.029, 30), "JPY": (0.036, 0)}
_PLANS_EUR = (("Starter", 49.0), ("Growth", 149.0), ("Scale", 399.0))


@dataclass(frozen=True)
class StripeAccount:
    tenant_id: str
    account_id: str
    business: str
    currency: str  # default settlement currency
    extra_currencies: tuple[str, ...]
    timezone: str
    scale: float


@dataclass(frozen=True)
class Subscription:
    id: str
    customer_id: str
    start_day: int
    created: int  # unix seconds
    plan: str
    interval: str  # month | year
    unit_amount: int  # minor units per period
    currency: str
    periods: int  # paid periods before it is cancelled

    def period_start(self, period: int) -> date:
        months = period if self.interval == "month" else 12 * period
        return add_months(day_date(self.start_day), months)

    def cancel_day(self) -> int:
        return day_number(self.period_start(self.periods))


@dataclass(frozen=True)
class Charge:
    id: str
    day: int
    created: int
    amount: int  # minor units
    currency: str
    customer_id: str
    succeeded: bool
    fee: int
    subscription: Subscription | None
    period: int  # which billing period of the subscription (0 for one-off payments)
    refund_delay_seconds: int | None  # when the refund comes, if ever

    @property
    def invoice_id(self) -> str | None:
        return None if self.subscription is None else "in_" + self.id[3:]

    @property
    def balance_transaction_id(self) -> str:
        return "txn_" + self.id[3:]

    @property
    def refund_id(self) -> str:
        return "re_" + self.id[3:]

    def refunded_by(self, now: int) -> bool:
        return (
            self.succeeded
            and self.refund_delay_seconds is not None
            and self.created + self.refund_delay_seconds < now
        )

    @property
    def refund_created(self) -> int:
        return self.created + (self.refund_delay_seconds or 0)


def stripe_account_of(tenant: Tenant) -> StripeAccount:
    return StripeAccount(
        tenant_id=tenant.id,
        account_id=tenant.sources[SourceName.STRIPE].account_id,
        business=tenant.sandbox.business,
        currency=tenant.account_currency(SourceName.STRIPE).upper(),
        extra_currencies=tuple(c.upper() for c in tenant.sandbox.extra_payment_currencies),
        timezone=tenant.timezone,
        scale=tenant.sandbox.scale,
    )


def object_id(prefix: str, account: StripeAccount, day: int, index: int) -> str:
    number = day * PER_DAY + index
    return f"{prefix}_{_ID_MARK}{base62(number, 6)}{stable_token(15, account.tenant_id, number)}"


def object_position(object_id_text: str) -> tuple[int, int] | None:
    """(day, index) of an id made by `object_id`, or None if it is not one."""
    _, _, body = object_id_text.partition("_")
    if not body.startswith(_ID_MARK) or len(body) != len(_ID_MARK) + 21:
        return None
    try:
        number = from_base62(body[len(_ID_MARK) : len(_ID_MARK) + 6])
    except ValueError:
        return None
    return divmod(number, PER_DAY)


def day_subscriptions(
    account: StripeAccount, ad_accounts: tuple[AdAccount, ...], day: int
) -> tuple[Subscription, ...]:
    """Subscriptions started on world day `day` (SaaS tenants only)."""
    if account.business != "saas" or day < 0:
        return ()
    return _day_subscriptions(account, ad_accounts, day)


@lru_cache(maxsize=65536)
def _day_subscriptions(
    account: StripeAccount, ad_accounts: tuple[AdAccount, ...], day: int
) -> tuple[Subscription, ...]:
    rng = rng_for(account.tenant_id, "stripe", "subscriptions", day)
    driven = sum(int(final_day(a, day).driven_orders.sum()) for a in ad_accounts)
    calendar_day = day_date(day)
    organic = int(rng.poisson(3.0 * account.scale * WEEKDAY_DEMAND[calendar_day.weekday()]))
    count = driven + organic
    start = local_midnight_utc(day, account.timezone).timestamp()
    seconds = np.sort(rng.uniform(7 * 3600, 20 * 3600, size=count)).astype(np.int64)
    price_level = USD_PRICE_LEVEL.get(account.currency, 1.0) / USD_PRICE_LEVEL["EUR"]
    subscriptions = []
    for index in range(count):
        plan, eur_amount = _PLANS_EUR[int(rng.choice(3, p=[0.55, 0.35, 0.10]))]
        yearly = rng.random() < 0.2
        monthly_amount = _round_price(eur_amount * price_level, account.currency)
        subscriptions.append(
            Subscription(
                id=object_id("sub", account, day, index),
                customer_id=object_id("cus", account, day, index),
                start_day=day,
                created=int(start) + int(seconds[index]),
                plan=plan,
                interval="year" if yearly else "month",
                unit_amount=monthly_amount * 10 if yearly else monthly_amount,
                currency=account.currency,
                periods=int(rng.geometric(0.25 if yearly else 0.045)),
            )
        )
    return tuple(subscriptions)


def day_charges(
    account: StripeAccount, ad_accounts: tuple[AdAccount, ...], day: int
) -> tuple[Charge, ...]:
    """Every charge created on world day `day`, oldest first."""
    if day < 0:
        return ()
    return _day_charges(account, ad_accounts, day)


@lru_cache(maxsize=65536)
def _day_charges(
    account: StripeAccount, ad_accounts: tuple[AdAccount, ...], day: int
) -> tuple[Charge, ...]:
    rng = rng_for(account.tenant_id, "stripe", "charges", day)
    if account.business == "saas":
        drafts = _renewals(account, ad_accounts, day, rng)
    else:
        drafts = _direct_payments(account, day, rng)
    drafts.sort(key=lambda draft: draft[0])
    charges = []
    for index, (created, amount, currency, customer_id, subscription, period) in enumerate(drafts):
        succeeded = rng.random() > (0.03 if period > 0 else 0.01)
        refund_delay = None
        if succeeded and rng.random() < (0.02 if subscription else 0.05):
            refund_delay = int(rng.uniform(1, 10) * 86_400)
        charges.append(
            Charge(
                id=object_id("ch", account, day, index),
                day=day,
                created=created,
                amount=amount,
                currency=currency,
                customer_id=customer_id,
                succeeded=succeeded,
                fee=_fee(amount, currency) if succeeded else 0,
                subscription=subscription,
                period=period,
                refund_delay_seconds=refund_delay,
            )
        )
    return tuple(charges)


_Draft = tuple[int, int, str, str, Subscription | None, int]


def _renewals(
    account: StripeAccount,
    ad_accounts: tuple[AdAccount, ...],
    day: int,
    rng: np.random.Generator,
) -> list[_Draft]:
    """Charges of every subscription whose billing anniversary is `day`."""
    today = day_date(day)
    drafts: list[_Draft] = []
    months_back = (today.year - WORLD_START.year) * 12 + today.month - WORLD_START.month
    for months in range(months_back + 1):
        for start in _anniversary_starts(today, months):
            for subscription in day_subscriptions(account, ad_accounts, day_number(start)):
                if subscription.interval == "month":
                    period = months
                elif months % 12 == 0:
                    period = months // 12
                else:
                    continue
                if period >= subscription.periods:
                    continue
                time_of_day = subscription.created - int(
                    local_midnight_utc(subscription.start_day, account.timezone).timestamp()
                )
                created = int(local_midnight_utc(day, account.timezone).timestamp()) + time_of_day
                drafts.append(
                    (
                        created,
                        subscription.unit_amount,
                        subscription.currency,
                        subscription.customer_id,
                        subscription,
                        period,
                    )
                )
    return drafts


def _anniversary_starts(today: date, months: int) -> list[date]:
    """Start dates whose `months`-th monthly anniversary (with month-end clipping) is `today`."""
    earliest = add_months(today, -months)
    candidates = [earliest + timedelta(days=n) for n in range(4)]
    return [
        start
        for start in candidates
        if start >= WORLD_START
        and start.month == earliest.month
        and add_months(start, months) == today
    ]


def _direct_payments(account: StripeAccount, day: int, rng: np.random.Generator) -> list[_Draft]:
    calendar_day = day_date(day)
    demand = WEEKDAY_DEMAND[calendar_day.weekday()] * promo_multiplier(calendar_day)
    count = int(rng.poisson(8.0 * account.scale * demand))
    start = int(local_midnight_utc(day, account.timezone).timestamp())
    drafts: list[_Draft] = []
    for index in range(count):
        currency = account.currency
        if account.extra_currencies and rng.random() < 0.35:
            currency = account.extra_currencies[int(rng.integers(len(account.extra_currencies)))]
        usd = float(rng.uniform(40, 300))
        amount = _round_price(usd * USD_PRICE_LEVEL.get(currency, 1.0), currency)
        created = start + int(rng.uniform(0, 86_399))
        drafts.append(
            (
                created,
                amount,
                currency,
                object_id("cus", account, day, PER_DAY - 1 - index),
                None,
                0,
            )
        )
    return drafts


def _round_price(major_amount: float, currency: str) -> int:
    """Minor units of a price: whole units for zero-decimal currencies, else to the cent."""
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return int(round(major_amount / 10) * 10)
    return round(major_amount * 10**exponent)


def _fee(amount: int, currency: str) -> int:
    proportional, fixed = _FEES.get(currency, (0.029, 30))
    return round(amount * proportional) + fixed
