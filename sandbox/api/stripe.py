"""Stripe's REST API v1 (object shapes of API version 2024-06-20) over each tenant's payments.

Mounted at `/stripe`: `GET /v1/charges`, `/v1/refunds`, `/v1/balance_transactions`,
`/v1/subscriptions`, `/v1/invoices` and `/v1/customers`, authenticated with the secret key as a
bearer token or as the HTTP Basic username (docs.stripe.com/api/authentication). Lists follow
docs.stripe.com/api/pagination: newest first, `limit` 1..100 (default 10), `starting_after` /
`ending_before` object-id cursors, `created` as an exact timestamp or with `[gt]`, `[gte]`,
`[lt]`, `[lte]`, `expand[]=data.<field>`, a few documented equality filters (`customer`,
`status`, `type`...), and the envelope `{"object": "list", "data", "has_more", "url"}`; unknown
parameters are refused as Stripe refuses them. Amounts are integers in the currency's smallest
unit (whole yen for JPY), currencies lowercase, timestamps unix seconds, bodies pretty-printed.
Errors use the documented `{"error": {"code", "doc_url", "message", "param", "type"}}` envelope:
401 with the key masked to its prefix and last four characters, 400 for bad parameters and
unknown cursors (`resource_missing`), 429 `rate_limit` with `Stripe-Rate-Limited-Reason` (no
Retry-After is documented), 500 `api_error` with `Stripe-Should-Retry: true`; every answer
carries a `Request-Id`. An object exists once it was created before the world's now, so refunds,
refunded charges and available balances follow the sandbox clock. Schema drift adds to every
object a field Stripe introduced in a later API version.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aya.tenants import SourceName, Tenant
from sandbox.api.common import faults_of, take_fault, world_of
from sandbox.faults import Fault, FaultKind
from sandbox.world.calendar import day_number, world_now
from sandbox.world.catalog import AdAccount
from sandbox.world.payments import (
    PER_DAY,
    Charge,
    StripeAccount,
    Subscription,
    day_charges,
    day_subscriptions,
    object_id,
    object_position,
    stripe_account_of,
)
from sandbox.world.randomness import stable_digits, stable_hash, stable_token
from sandbox.world.shop import local_midnight_utc
from sandbox.world.tenant_world import World

API_VERSION = "2024-06-20"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
AVAILABLE_AFTER_DAYS = 7  # a charge's funds become available a week later (standard timing)
REFUND_TXN_OFFSET = PER_DAY // 2  # index space of refund balance transactions inside a day
REFUND_SPREAD_DAYS = 11  # a refund comes at most this many local days after its charge
SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
DOCS = "https://stripe.com/docs"
MISSING_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. You can learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)
SERVER_ERROR_MESSAGE = (
    "Sorry, something went wrong. We've already been notified of the problem, but if you need "
    "any help, you can reach us at https://support.stripe.com/contact."
)
_KEY_PREFIX = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_")
_EXPAND_PARAM = re.compile(r"^expand(?:\[\d*\])?$")
_INTEGER = re.compile(r"^-?\d+$")
_CREATED_PARAMS = ("created", "created[gt]", "created[gte]", "created[lt]", "created[lte]")
_PAGING_PARAMS = ("limit", "starting_after", "ending_before", *_CREATED_PARAMS)
_CARD_COUNTRY = {"EUR": "DE", "GBP": "GB", "JPY": "JP", "USD": "US"}
_CARD_BRANDS = ("visa", "visa", "mastercard", "amex")
_FIRST_NAMES = ("Anna", "Ben", "Chloe", "David", "Elif", "Farid", "Greta", "Hiro", "Isla", "Jonas")
_LAST_NAMES = ("Schmidt", "Okafor", "Tanaka", "Murphy", "Rossi", "Novak", "Larsen", "Patel")


class InvalidRequestError(Exception):
    """A request Stripe answers with 400 `invalid_request_error`."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


# --- the tenant's Stripe account as one request sees it -----------------------------------


@dataclass(frozen=True)
class StripeView:
    """A tenant's Stripe account at the sandbox's current day: what one request may see."""

    tenant: Tenant
    account: StripeAccount
    ad_accounts: tuple[AdAccount, ...]
    today: int
    now: int  # unix seconds; objects created at or after it do not exist yet
    drifting: bool

    @classmethod
    def of(cls, world: World, tenant: Tenant, drifting: bool) -> StripeView:
        today = world.today()
        return cls(
            tenant,
            stripe_account_of(tenant),
            tuple(world.ad_accounts(tenant)),
            today,
            int(world_now(today).timestamp()),
            drifting,
        )

    def charges_of_day(self, day: int) -> tuple[Charge, ...]:
        return day_charges(self.account, self.ad_accounts, day) if 0 <= day < self.today else ()

    def subscriptions_of_day(self, day: int) -> tuple[Subscription, ...]:
        if not 0 <= day < self.today:
            return ()
        return day_subscriptions(self.account, self.ad_accounts, day)

    def midnight(self, day: int) -> int:
        """Unix seconds at which world day `day` starts in the account's timezone."""
        return int(local_midnight_utc(day, self.account.timezone).timestamp())

    def local_day(self, instant: int) -> int:
        local = datetime.fromtimestamp(instant, ZoneInfo(self.account.timezone))
        return day_number(local.date())

    def period_instant(self, subscription: Subscription, period: int) -> int:
        """When billing period `period` starts: its anniversary at the subscription's time."""
        time_of_day = subscription.created - self.midnight(subscription.start_day)
        return self.midnight(day_number(subscription.period_start(period))) + time_of_day

    def refund_txn_id(self, charge: Charge) -> str:
        day, index = _position(charge.id)
        return object_id("txn", self.account, day, REFUND_TXN_OFFSET + index)


def _position(stripe_id: str) -> tuple[int, int]:
    position = object_position(stripe_id)
    if position is None:
        raise ValueError(f"not a world object id: {stripe_id!r}")
    return position


# --- list items: what a list sorts, pages and renders -------------------------------------


@dataclass(frozen=True)
class Item:
    """One object of a list: its sort key (created, then its place in the world) and record."""

    created: int
    order: tuple[int, int]
    id: str
    record: Any

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.created, *self.order)


@dataclass(frozen=True)
class TxnRecord:
    charge: Charge
    refund: bool  # the refund's balance transaction rather than the charge's


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    created: int
    currency: str | None  # set once the customer is billed by a subscription


def _customer_of_charge(charge: Charge) -> CustomerRecord:
    if charge.subscription is not None:
        return _customer_of_subscription(charge.subscription)
    return CustomerRecord(charge.customer_id, charge.created, None)


def _customer_of_subscription(subscription: Subscription) -> CustomerRecord:
    return CustomerRecord(
        subscription.customer_id, subscription.created, subscription.currency.lower()
    )


def _charge_items(view: StripeView, day: int) -> list[Item]:
    return [Item(c.created, _position(c.id), c.id, c) for c in view.charges_of_day(day)]


def _refund_items(view: StripeView, day: int) -> list[Item]:
    return [
        Item(c.refund_created, _position(c.id), c.refund_id, c)
        for c in view.charges_of_day(day)
        if c.succeeded and c.refund_delay_seconds is not None
    ]


def _txn_items(view: StripeView, day: int) -> list[Item]:
    items = []
    for charge in view.charges_of_day(day):
        if not charge.succeeded:
            continue
        _, index = _position(charge.id)
        items.append(
            Item(
                charge.created,
                (day, index),
                charge.balance_transaction_id,
                TxnRecord(charge, False),
            )
        )
        if charge.refund_delay_seconds is not None:
            refund_id = view.refund_txn_id(charge)
            items.append(
                Item(
                    charge.refund_created, _position(refund_id), refund_id, TxnRecord(charge, True)
                )
            )
    return items


def _subscription_items(view: StripeView, day: int) -> list[Item]:
    return [Item(s.created, _position(s.id), s.id, s) for s in view.subscriptions_of_day(day)]


def _invoice_items(view: StripeView, day: int) -> list[Item]:
    return [
        Item(c.created, _position(c.id), c.invoice_id, c)
        for c in view.charges_of_day(day)
        if c.invoice_id is not None
    ]


def _customer_items(view: StripeView, day: int) -> list[Item]:
    records = [_customer_of_subscription(s) for s in view.subscriptions_of_day(day)]
    records += [_customer_of_charge(c) for c in view.charges_of_day(day) if c.subscription is None]
    return [Item(r.created, _position(r.id), r.id, r) for r in records]


# --- objects as Stripe renders them --------------------------------------------------------


def _drifted(view: StripeView, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with the field a later API version added to its type, while drift is armed."""
    if view.drifting:
        name, value = DRIFT_FIELDS[obj["object"]]
        obj[name] = value(obj)
    return obj


def _presentment(obj: dict[str, Any]) -> dict[str, Any]:
    return {"presentment_amount": obj["amount"], "presentment_currency": obj["currency"]}


DRIFT_FIELDS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "charge": ("presentment_details", _presentment),
    "refund": ("presentment_details", _presentment),
    "balance_transaction": ("balance_type", lambda obj: "payments"),
    "subscription": ("billing_mode", lambda obj: {"type": "classic"}),
    "invoice": (
        "parent",
        lambda obj: {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": obj["subscription"]},
            "type": "subscription_details",
        },
    ),
    "customer": ("business_name", lambda obj: obj["name"]),
}


def _person(customer_id: str) -> tuple[str, str]:
    """(name, email) of a customer."""
    seed = stable_hash("stripe customer", customer_id)
    first = _FIRST_NAMES[seed % len(_FIRST_NAMES)]
    last = _LAST_NAMES[seed // 16 % len(_LAST_NAMES)]
    return f"{first} {last}", f"{first}.{last}.{seed % 10_000:04d}@example.com".lower()


def _payment_method_id(customer_id: str) -> str:
    return "pm_" + stable_token(24, "payment method", customer_id)


def _card(customer_id: str, currency: str) -> dict[str, Any]:
    seed = stable_hash("card", customer_id)
    brand = _CARD_BRANDS[seed % len(_CARD_BRANDS)]
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": _CARD_COUNTRY.get(currency, "US"),
        "exp_month": seed // 7 % 12 + 1,
        "exp_year": 2027 + seed // 101 % 5,
        "fingerprint": stable_token(16, "fingerprint", customer_id),
        "funding": "credit",
        "installments": None,
        "last4": stable_digits(4, "last4", customer_id),
        "mandate": None,
        "network": brand,
        "three_d_secure": None,
        "wallet": None,
    }


def _charge_description(charge: Charge) -> str | None:
    if charge.subscription is None:
        return None
    return "Subscription creation" if charge.period == 0 else "Subscription update"


def _outcome(charge: Charge) -> dict[str, Any]:
    risk_score = stable_hash("risk", charge.id) % 60
    if charge.succeeded:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": risk_score,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": "generic_decline",
        "risk_level": "normal",
        "risk_score": risk_score,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def _charge(view: StripeView, charge: Charge) -> dict[str, Any]:
    currency = charge.currency.lower()
    customer = _customer_of_charge(charge)
    name, email = _person(customer.id)
    refunded = charge.refunded_by(view.now)
    return _drifted(
        view,
        {
            "id": charge.id,
            "object": "charge",
            "amount": charge.amount,
            "amount_captured": charge.amount if charge.succeeded else 0,
            "amount_refunded": charge.amount if refunded else 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": charge.balance_transaction_id if charge.succeeded else None,
            "billing_details": {
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": email,
                "name": name,
                "phone": None,
            },
            "calculated_statement_descriptor": view.tenant.display_name.upper()[:22],
            "captured": charge.succeeded,
            "created": charge.created,
            "currency": currency,
            "customer": customer.id,
            "description": _charge_description(charge),
            "destination": None,
            "dispute": None,
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if charge.succeeded else "card_declined",
            "failure_message": None if charge.succeeded else "Your card was declined.",
            "fraud_details": {},
            "invoice": charge.invoice_id,
            "livemode": False,
            "metadata": {},
            "on_behalf_of": None,
            "outcome": _outcome(charge),
            "paid": charge.succeeded,
            "payment_intent": "pi_" + charge.id[3:],
            "payment_method": _payment_method_id(customer.id),
            "payment_method_details": {
                "card": _card(customer.id, charge.currency),
                "type": "card",
            },
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": "https://pay.stripe.com/receipts/payment/"
            + stable_token(48, "receipt", charge.id),
            "refunded": refunded,
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if charge.succeeded else "failed",
            "transfer_data": None,
            "transfer_group": None,
        },
    )


def _refund(view: StripeView, charge: Charge) -> dict[str, Any]:
    return _drifted(
        view,
        {
            "id": charge.refund_id,
            "object": "refund",
            "amount": charge.amount,
            "balance_transaction": view.refund_txn_id(charge),
            "charge": charge.id,
            "created": charge.refund_created,
            "currency": charge.currency.lower(),
            "metadata": {},
            "payment_intent": "pi_" + charge.id[3:],
            "reason": "requested_by_customer",
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        },
    )


def _utc_midnight_after(instant: int, days: int) -> int:
    day = datetime.fromtimestamp(instant, UTC).date() + timedelta(days=days)
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _txn(view: StripeView, record: TxnRecord) -> dict[str, Any]:
    charge, currency = record.charge, record.charge.currency.lower()
    description = _charge_description(charge)
    if record.refund:
        amount, fee, created = -charge.amount, 0, charge.refund_created
        available_on = created
        identity = {
            "id": view.refund_txn_id(charge),
            "description": f"REFUND FOR CHARGE ({description})" if description else None,
            "source": charge.refund_id,
            "type": "refund",
        }
    else:
        amount, fee, created = charge.amount, charge.fee, charge.created
        available_on = _utc_midnight_after(created, AVAILABLE_AFTER_DAYS)
        identity = {
            "id": charge.balance_transaction_id,
            "description": description,
            "source": charge.id,
            "type": "charge",
        }
    fee_details = [
        {
            "amount": fee,
            "application": None,
            "currency": currency,
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]
    return _drifted(
        view,
        {
            "id": identity["id"],
            "object": "balance_transaction",
            "amount": amount,
            "available_on": available_on,
            "created": created,
            "currency": currency,
            "description": identity["description"],
            "exchange_rate": None,
            "fee": fee,
            "fee_details": fee_details if fee else [],
            "net": amount - fee,
            "reporting_category": identity["type"],
            "source": identity["source"],
            "status": "available" if available_on <= view.now else "pending",
            "type": identity["type"],
        },
    )


def _txn_source(view: StripeView, record: TxnRecord) -> dict[str, Any]:
    return _refund(view, record.charge) if record.refund else _charge(view, record.charge)


def _customer(view: StripeView, record: CustomerRecord) -> dict[str, Any]:
    name, email = _person(record.id)
    return _drifted(
        view,
        {
            "id": record.id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": record.created,
            "currency": record.currency,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": email,
            "invoice_prefix": _invoice_prefix(record.id),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": _payment_method_id(record.id),
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {},
            "name": name,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        },
    )


def _invoice_prefix(customer_id: str) -> str:
    return stable_token(8, "invoice prefix", customer_id).upper()


def _price(view: StripeView, subscription: Subscription) -> dict[str, Any]:
    tenant_id, plan = view.account.tenant_id, subscription.plan
    return {
        "id": "price_"
        + stable_token(24, tenant_id, "price", plan, subscription.interval, subscription.currency),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": view.midnight(0),
        "currency": subscription.currency.lower(),
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": f"{plan} {subscription.interval}ly",
        "product": "prod_" + stable_token(14, tenant_id, "product", plan),
        "recurring": {
            "aggregate_usage": None,
            "interval": subscription.interval,
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": subscription.unit_amount,
        "unit_amount_decimal": str(subscription.unit_amount),
    }


def _current_period(view: StripeView, subscription: Subscription) -> tuple[int, bool]:
    """(the subscription's current or last billing period, whether it has ended by now)."""
    if view.period_instant(subscription, subscription.periods) < view.now:
        return subscription.periods - 1, True
    period = 0
    while (
        period + 1 < subscription.periods
        and view.period_instant(subscription, period + 1) < view.now
    ):
        period += 1
    return period, False


def _period_charge(view: StripeView, subscription: Subscription, period: int) -> Charge | None:
    for charge in view.charges_of_day(day_number(subscription.period_start(period))):
        if (
            charge.subscription is not None
            and charge.subscription.id == subscription.id
            and charge.period == period
        ):
            return charge
    return None


def _subscription(view: StripeView, subscription: Subscription) -> dict[str, Any]:
    period, ended = _current_period(view, subscription)
    ended_at = view.period_instant(subscription, subscription.periods) if ended else None
    latest = _period_charge(view, subscription, period)
    return _drifted(
        view,
        {
            "id": subscription.id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False, "liability": None},
            "billing_cycle_anchor": subscription.created,
            "billing_thresholds": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": ended_at,
            "cancellation_details": {
                "comment": None,
                "feedback": None,
                "reason": "cancellation_requested" if ended else None,
            },
            "collection_method": "charge_automatically",
            "created": subscription.created,
            "currency": subscription.currency.lower(),
            "current_period_end": view.period_instant(subscription, period + 1),
            "current_period_start": view.period_instant(subscription, period),
            "customer": subscription.customer_id,
            "days_until_due": None,
            "default_payment_method": _payment_method_id(subscription.customer_id),
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discount": None,
            "discounts": [],
            "ended_at": ended_at,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": "si_" + stable_token(14, "subscription item", subscription.id),
                        "object": "subscription_item",
                        "billing_thresholds": None,
                        "created": subscription.created,
                        "discounts": [],
                        "metadata": {},
                        "price": _price(view, subscription),
                        "quantity": 1,
                        "subscription": subscription.id,
                        "tax_rates": [],
                    }
                ],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/subscription_items?subscription={subscription.id}",
            },
            "latest_invoice": None if latest is None else latest.invoice_id,
            "livemode": False,
            "metadata": {},
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "quantity": 1,
            "schedule": None,
            "start_date": subscription.created,
            "status": "canceled" if ended else "active",
            "test_clock": None,
            "transfer_data": None,
            "trial_end": None,
            "trial_start": None,
        },
    )


def _latest_invoice(view: StripeView, subscription: Subscription) -> dict[str, Any] | None:
    period, _ = _current_period(view, subscription)
    charge = _period_charge(view, subscription, period)
    return None if charge is None else _invoice(view, charge)


def _invoice(view: StripeView, charge: Charge) -> dict[str, Any]:
    subscription = charge.subscription
    if subscription is None:
        raise ValueError(f"charge {charge.id} has no invoice")
    currency, paid = charge.currency.lower(), charge.succeeded
    name, email = _person(subscription.customer_id)
    if charge.period == 0:
        period_start = period_end = charge.created
    else:
        period_start = view.period_instant(subscription, charge.period - 1)
        period_end = view.period_instant(subscription, charge.period)
    token = stable_token(40, "invoice", charge.id)
    return _drifted(
        view,
        {
            "id": charge.invoice_id,
            "object": "invoice",
            "account_country": _CARD_COUNTRY.get(view.account.currency, "US"),
            "account_name": view.tenant.display_name,
            "amount_due": charge.amount,
            "amount_paid": charge.amount if paid else 0,
            "amount_remaining": 0 if paid else charge.amount,
            "attempt_count": 1,
            "attempted": True,
            "auto_advance": not paid,
            "billing_reason": "subscription_create" if charge.period == 0 else "subscription_cycle",
            "charge": charge.id,
            "collection_method": "charge_automatically",
            "created": charge.created,
            "currency": currency,
            "customer": subscription.customer_id,
            "customer_email": email,
            "customer_name": name,
            "description": None,
            "discount": None,
            "due_date": None,
            "effective_at": charge.created,
            "ending_balance": 0,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/{view.account.account_id}/"
            f"test_{token}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/{view.account.account_id}/"
            f"test_{token}/pdf",
            "lines": {
                "object": "list",
                "data": [_invoice_line(view, charge, subscription)],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/invoices/{charge.invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "number": f"{_invoice_prefix(subscription.customer_id)}-{charge.period + 1:04d}",
            "paid": paid,
            "payment_intent": "pi_" + charge.id[3:],
            "period_end": period_end,
            "period_start": period_start,
            "starting_balance": 0,
            "status": "paid" if paid else "open",
            "status_transitions": {
                "finalized_at": charge.created,
                "marked_uncollectible_at": None,
                "paid_at": charge.created if paid else None,
                "voided_at": None,
            },
            "subscription": subscription.id,
            "subtotal": charge.amount,
            "tax": None,
            "total": charge.amount,
            "total_excluding_tax": charge.amount,
        },
    )


def _invoice_line(view: StripeView, charge: Charge, subscription: Subscription) -> dict[str, Any]:
    return {
        "id": "il_" + stable_token(24, "invoice line", charge.id),
        "object": "line_item",
        "amount": charge.amount,
        "currency": charge.currency.lower(),
        "description": f"1 × {subscription.plan} (per {subscription.interval})",
        "discountable": True,
        "livemode": False,
        "metadata": {},
        "period": {
            "end": view.period_instant(subscription, charge.period + 1),
            "start": view.period_instant(subscription, charge.period),
        },
        "price": _price(view, subscription),
        "proration": False,
        "quantity": 1,
        "subscription": subscription.id,
        "type": "subscription",
    }


# --- resources: what each list endpoint serves ---------------------------------------------

Filter = Callable[[dict[str, Any], str | None], bool]


def _equal_to(field: str) -> Filter:
    def match(obj: dict[str, Any], value: str | None) -> bool:
        return value is None or obj[field] == value

    return match


def _currency_is(obj: dict[str, Any], value: str | None) -> bool:
    return value is None or obj["currency"] == value.lower()


def _subscription_status_is(obj: dict[str, Any], value: str | None) -> bool:
    """Stripe's `status` filter; without it, every subscription that is not canceled."""
    if value == "all":
        return True
    if value == "ended":
        return obj["status"] in ("canceled", "incomplete_expired")
    return obj["status"] == value if value else obj["status"] != "canceled"


@dataclass(frozen=True)
class Resource:
    """One list endpoint: its objects per world day, how to render, expand and filter them."""

    url: str
    noun: str  # as in "No such charge: 'ch_...'"
    prefix: str
    spread: int  # local days after its world day an object's `created` may fall
    produce: Callable[[StripeView, int], list[Item]]
    render: Callable[[StripeView, Any], dict[str, Any]]
    expandable: dict[str, Callable[[StripeView, Any], dict[str, Any] | None]]
    filters: dict[str, Filter]
    choices: dict[str, tuple[str, ...]]


CHARGES = Resource(
    url="/v1/charges",
    noun="charge",
    prefix="ch",
    spread=1,
    produce=_charge_items,
    render=_charge,
    expandable={
        "balance_transaction": lambda view, c: (
            _txn(view, TxnRecord(c, False)) if c.succeeded else None
        ),
        "customer": lambda view, c: _customer(view, _customer_of_charge(c)),
        "invoice": lambda view, c: _invoice(view, c) if c.subscription else None,
    },
    filters={"customer": _equal_to("customer"), "payment_intent": _equal_to("payment_intent")},
    choices={},
)
REFUNDS = Resource(
    url="/v1/refunds",
    noun="refund",
    prefix="re",
    spread=REFUND_SPREAD_DAYS,
    produce=_refund_items,
    render=_refund,
    expandable={
        "balance_transaction": lambda view, c: _txn(view, TxnRecord(c, True)),
        "charge": _charge,
    },
    filters={"charge": _equal_to("charge"), "payment_intent": _equal_to("payment_intent")},
    choices={},
)
BALANCE_TRANSACTIONS = Resource(
    url="/v1/balance_transactions",
    noun="balance transaction",
    prefix="txn",
    spread=REFUND_SPREAD_DAYS,
    produce=_txn_items,
    render=_txn,
    expandable={"source": _txn_source},
    filters={"currency": _currency_is, "source": _equal_to("source"), "type": _equal_to("type")},
    choices={},
)
SUBSCRIPTIONS = Resource(
    url="/v1/subscriptions",
    noun="subscription",
    prefix="sub",
    spread=1,
    produce=_subscription_items,
    render=_subscription,
    expandable={
        "customer": lambda view, s: _customer(view, _customer_of_subscription(s)),
        "latest_invoice": _latest_invoice,
    },
    filters={"customer": _equal_to("customer"), "status": _subscription_status_is},
    choices={"status": SUBSCRIPTION_STATUSES},
)
INVOICES = Resource(
    url="/v1/invoices",
    noun="invoice",
    prefix="in",
    spread=1,
    produce=_invoice_items,
    render=_invoice,
    expandable={
        "charge": _charge,
        "customer": lambda view, c: _customer(view, _customer_of_charge(c)),
        "subscription": lambda view, c: _subscription(view, c.subscription),
    },
    filters={
        "customer": _equal_to("customer"),
        "status": _equal_to("status"),
        "subscription": _equal_to("subscription"),
    },
    choices={"status": INVOICE_STATUSES},
)
CUSTOMERS = Resource(
    url="/v1/customers",
    noun="customer",
    prefix="cus",
    spread=1,
    produce=_customer_items,
    render=_customer,
    expandable={},
    filters={"email": _equal_to("email")},
    choices={},
)
RESOURCES = (CHARGES, REFUNDS, BALANCE_TRANSACTIONS, SUBSCRIPTIONS, INVOICES, CUSTOMERS)


# --- listing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    """A parsed list request. `lo`/`hi` bound `created` as [lo, hi); cursors are sort keys."""

    limit: int
    lo: int | None
    hi: int | None
    after: Item | None  # starting_after: only older objects
    before: Item | None  # ending_before: only newer objects
    filters: dict[str, str]
    expand: tuple[str, ...]

    def admits(self, item: Item) -> bool:
        return (
            (self.lo is None or item.created >= self.lo)
            and (self.hi is None or item.created < self.hi)
            and (self.after is None or item.key < self.after.key)
            and (self.before is None or item.key > self.before.key)
        )


def _bucket(view: StripeView, resource: Resource, day: int) -> list[Item]:
    """The objects created on local day `day` that exist by now, oldest first."""
    start, end = view.midnight(day), min(view.midnight(day + 1), view.now)
    items = [
        item
        for born in range(day - resource.spread, day + 1)
        for item in resource.produce(view, born)
        if start <= item.created < end
    ]
    return sorted(items, key=lambda item: item.key)


def _locate(view: StripeView, resource: Resource, stripe_id: str) -> Item | None:
    """The existing object with id `stripe_id`, found from the day its id encodes."""
    position = object_position(stripe_id)
    if not stripe_id.startswith(resource.prefix + "_") or position is None:
        return None
    for item in resource.produce(view, position[0]):
        if item.id == stripe_id and item.created < view.now:
            return item
    return None


def _day_range(view: StripeView, query: ListQuery) -> tuple[int, int]:
    """(oldest, newest) local days that may hold objects the query admits."""
    first = view.midnight(0)
    hi = view.now if query.hi is None else min(max(query.hi, first), view.now)
    lo = first if query.lo is None else min(max(query.lo, first), hi)
    oldest, newest = max(view.local_day(lo), 0), view.local_day(hi - 1)
    if query.after is not None:
        newest = min(newest, view.local_day(query.after.created))
    if query.before is not None:
        oldest = max(oldest, view.local_day(query.before.created))
    return oldest, newest


def _scan(view: StripeView, resource: Resource, query: ListQuery) -> Iterator[Item]:
    """Candidate objects in list order, walking away from the cursor."""
    oldest, newest = _day_range(view, query)
    if query.before is not None:
        for day in range(oldest, newest + 1):
            yield from _bucket(view, resource, day)
    else:
        for day in range(newest, oldest - 1, -1):
            yield from reversed(_bucket(view, resource, day))


def _matches(
    view: StripeView, resource: Resource, query: ListQuery
) -> Iterator[tuple[Item, dict[str, Any]]]:
    for item in _scan(view, resource, query):
        if not query.admits(item):
            continue
        obj = resource.render(view, item.record)
        if all(match(obj, query.filters.get(name)) for name, match in resource.filters.items()):
            yield item, obj


def list_page(view: StripeView, resource: Resource, params: QueryParams) -> dict[str, Any]:
    """The list object Stripe answers `GET <resource.url>?<params>` with."""
    query = parse_query(view, resource, params)
    found = list(itertools.islice(_matches(view, resource, query), query.limit + 1))
    has_more = len(found) > query.limit
    page = found[: query.limit]
    if query.before is not None:
        page.reverse()
    data = []
    for item, obj in page:
        for field in query.expand:
            obj[field] = resource.expandable[field](view, item.record)
        data.append(obj)
    return {"object": "list", "data": data, "has_more": has_more, "url": resource.url}


# --- request parameters -------------------------------------------------------------------


def parse_query(view: StripeView, resource: Resource, params: QueryParams) -> ListQuery:
    values: dict[str, str] = {}
    expand: list[str] = []
    for name, value in params.multi_items():
        if not value:
            raise InvalidRequestError(
                f"You passed an empty string for '{name}'. We assume empty values are an "
                f"attempt to unset a parameter; however '{name}' cannot be unset. You should "
                f"remove '{name}' from your request or supply a non-empty value.",
                name,
                "parameter_invalid_empty",
            )
        if _EXPAND_PARAM.match(name):
            expand.append(_expanded_field(resource, value))
        elif name in _PAGING_PARAMS or name in resource.filters:
            values[name] = value
        else:
            raise InvalidRequestError(
                f"Received unknown parameter: {name}", name, "parameter_unknown"
            )
    for name, allowed in resource.choices.items():
        if name in values and values[name] not in allowed:
            raise InvalidRequestError(
                f"Invalid {name}: must be one of {', '.join(allowed[:-1])}, or {allowed[-1]}",
                name,
                "parameter_invalid_string",
            )
    if "starting_after" in values and "ending_before" in values:
        raise InvalidRequestError(
            "You may only specify one of these parameters: ending_before, starting_after."
        )
    lo, hi = _created_bounds(values)
    return ListQuery(
        limit=_limit(values.get("limit")),
        lo=lo,
        hi=hi,
        after=_cursor(view, resource, values, "starting_after"),
        before=_cursor(view, resource, values, "ending_before"),
        filters={name: values[name] for name in resource.filters if name in values},
        expand=tuple(dict.fromkeys(expand)),
    )


def _expanded_field(resource: Resource, path: str) -> str:
    field = path.removeprefix("data.")
    if not path.startswith("data.") or field not in resource.expandable:
        raise InvalidRequestError(f"This property cannot be expanded ({path}).", "expand")
    return field


def _integer(text: str, param: str) -> int:
    if not _INTEGER.match(text):
        raise InvalidRequestError(f"Invalid integer: {text}", param, "parameter_invalid_integer")
    return int(text)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    limit = _integer(text, "limit")
    if limit < 1:
        raise InvalidRequestError(
            "This value must be greater than or equal to 1.", "limit", "parameter_invalid_integer"
        )
    if limit > MAX_LIMIT:
        raise InvalidRequestError(
            f"This value must be less than or equal to {MAX_LIMIT} (it currently is '{limit}').",
            "limit",
            "parameter_invalid_integer",
        )
    return limit


def _created_bounds(values: dict[str, str]) -> tuple[int | None, int | None]:
    """`created` filters as a half-open [lo, hi) range of unix seconds."""
    los: list[int] = []
    his: list[int] = []
    for name in _CREATED_PARAMS:
        if name not in values:
            continue
        seconds = _integer(values[name], name)
        if name in ("created", "created[gte]"):
            los.append(seconds)
        if name == "created[gt]":
            los.append(seconds + 1)
        if name in ("created", "created[lte]"):
            his.append(seconds + 1)
        if name == "created[lt]":
            his.append(seconds)
    return (max(los) if los else None), (min(his) if his else None)


def _cursor(
    view: StripeView, resource: Resource, values: dict[str, str], param: str
) -> Item | None:
    if param not in values:
        return None
    item = _locate(view, resource, values[param])
    if item is None:
        raise InvalidRequestError(
            f"No such {resource.noun}: '{values[param]}'", param, "resource_missing"
        )
    return item


# --- HTTP ---------------------------------------------------------------------------------


def _request_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "req_" + "".join(secrets.choice(alphabet) for _ in range(14))


def _respond(
    request: Request,
    request_id: str,
    body: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return _raw(
        request, request_id, json.dumps(body, indent=2, ensure_ascii=False), status, headers
    )


def _raw(
    request: Request,
    request_id: str,
    text: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    version = request.headers.get("stripe-version", API_VERSION)
    return Response(
        text,
        status,
        media_type="application/json",
        headers={"Request-Id": request_id, "Stripe-Version": version, **(headers or {})},
    )


def _error(
    request: Request,
    request_id: str,
    status: int,
    error_type: str,
    message: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"{DOCS}/error-codes/{code.replace('_', '-')}"
    error["message"] = message
    if param is not None:
        error["param"] = param
    if status not in (401, 404):
        error["request_log_url"] = (
            f"https://dashboard.stripe.com/test/logs/{request_id}?t={int(time.time())}"
        )
    error["type"] = error_type
    return _respond(request, request_id, {"error": error}, status, headers)


def _api_key(request: Request) -> str | None:
    """The secret key of a `Bearer` or `Basic` (key as username) Authorization header."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def masked_key(key: str) -> str:
    """The key as Stripe quotes it in errors: its prefix and last four characters."""
    match = _KEY_PREFIX.match(key)
    head = match.group(0) if match else ""
    tail = key[-4:] if len(key) - len(head) > 4 else ""
    return head + "*" * (len(key) - len(head) - len(tail)) + tail


def _fault_response(
    request: Request, request_id: str, fault: Fault, key: str, resource: Resource
) -> Response:
    if fault.kind is FaultKind.RATE_LIMIT:
        return _error(
            request,
            request_id,
            429,
            "invalid_request_error",
            RATE_LIMIT_MESSAGE,
            code="rate_limit",
            headers={"Stripe-Rate-Limited-Reason": "global-rate"},
        )
    if fault.kind is FaultKind.SERVER_ERROR:
        return _error(
            request,
            request_id,
            500,
            "api_error",
            SERVER_ERROR_MESSAGE,
            headers={"Stripe-Should-Retry": "true"},
        )
    if fault.kind is FaultKind.EXPIRED_TOKEN:
        return _error(
            request,
            request_id,
            401,
            "invalid_request_error",
            f"Expired API Key provided: {masked_key(key)}",
            code="api_key_expired",
        )
    truncated = f'{{\n  "object": "list",\n  "data": [\n    {{\n      "id": "{resource.prefix}_'
    return _raw(request, request_id, truncated)


def _list_endpoint(resource: Resource) -> Callable[[Request], Any]:
    async def list_objects(request: Request) -> Response:
        request_id = _request_id()
        world = world_of(request)
        key = _api_key(request)
        if key is None:
            return _error(
                request,
                request_id,
                401,
                "invalid_request_error",
                MISSING_KEY_MESSAGE,
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            )
        tenant = world.tenant_for_secret(SourceName.STRIPE, key)
        if tenant is None:
            return _error(
                request,
                request_id,
                401,
                "invalid_request_error",
                f"Invalid API Key provided: {masked_key(key)}",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            )
        fault = await take_fault(request, tenant.id, SourceName.STRIPE.value)
        if fault is not None:
            return _fault_response(request, request_id, fault, key, resource)
        drifting = faults_of(request).drifting(tenant.id, SourceName.STRIPE.value)
        view = StripeView.of(world, tenant, drifting)
        try:
            body = await run_in_threadpool(list_page, view, resource, request.query_params)
        except InvalidRequestError as error:
            return _error(
                request,
                request_id,
                400,
                "invalid_request_error",
                error.message,
                code=error.code,
                param=error.param,
            )
        return _respond(request, request_id, body)

    return list_objects


async def unrecognized(request: Request) -> Response:
    path = request.path_params["path"]
    return _error(
        request,
        _request_id(),
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({request.method}: /{path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )


routes = [
    *(Route(r.url, _list_endpoint(r), methods=["GET"]) for r in RESOURCES),
    Route("/{path:path}", unrecognized, methods=["GET", "POST", "DELETE"]),
]
