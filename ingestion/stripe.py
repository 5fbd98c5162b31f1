"""dlt source for a Stripe account: charges, refunds, balance transactions, subscriptions, invoices.

Reads Stripe's REST API v1 at `https://api.stripe.com` with object shapes pinned to API version
2024-06-20 (`Stripe-Version` header, so an upgrade of the account's default version cannot change
columns under the models). The tenant's secret or restricted key (`api_key`, read access to
charges, refunds, balance, subscriptions and invoices is enough) is sent as a bearer token; a
key acts on the account that issued it, so no `Stripe-Account` header is sent (that header is for
Connect platforms acting on connected accounts, docs.stripe.com/connect/authentication). The
tenant's `account_id` only names the account in error messages. Lists are paged newest first,
100 at a time, with `starting_after`. Resources, merged on (tenant_id, id):

- `charges`, `refunds`, `balance_transactions` (child table `balance_transactions__fee_details`):
  by `created`, for the tenant-local days of the window. An incremental run re-reads from its
  cursor less the tenant's restatement lag, and never less than `SAFETY_OVERLAP` (objects that
  became listable a moment after the last run had moved past them). Objects are not re-read
  later: a late refund of an old charge arrives as a new row of `refunds` (and a `refund`
  balance transaction), while the charge row keeps the `refunded` it had when it was read;
- `invoices`: by `created` too, but re-reading `INVOICE_COLLECTION_WINDOW`, the longest Smart
  Retries schedule, so an open invoice paid by a retry is updated (line items are not loaded);
- `subscriptions` (child table `subscriptions__items`: price, unit amount, interval, quantity):
  every subscription, canceled ones included, re-read in full on every run (one request per
  100), since status, current period and cancellation change long after creation.

Amounts (`amount`, `fee`, `net`, `amount_refunded`, `unit_amount`...) stay integers in the
minor unit of the `currency` beside them (whole yen for JPY; staging divides); a balance
transaction's `currency` is its balance's, which may differ from its charge's (then
`exchange_rate` is set). Timestamps are UTC, `metadata` is JSON, personal data (names, e-mails,
addresses, card numbers' last digits, receipt links) is not loaded. An explicit window
(`--from/--to`) reads the objects created on those days and leaves the cursors where they were.
429 and 5xx answers, and any answer with `Stripe-Should-Retry: true`, are retried with
exponential backoff (Stripe sends no Retry-After); Stripe's error envelope becomes the message.
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import dlt
import requests
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.errors import SourceError
from ingestion.http import DEFAULT_MAX_ATTEMPTS, ApiClient

API_VERSION = "2024-06-20"
API_BASE_URL = "https://api.stripe.com"
PAGE_SIZE = 100
PRIMARY_KEY = ("tenant_id", "id")
SAFETY_OVERLAP = timedelta(hours=1)
INVOICE_COLLECTION_WINDOW = timedelta(days=62)  # Smart Retries may retry for up to 2 months

CHARGES_PATH = "/v1/charges"
REFUNDS_PATH = "/v1/refunds"
BALANCE_TRANSACTIONS_PATH = "/v1/balance_transactions"
SUBSCRIPTIONS_PATH = "/v1/subscriptions"
INVOICES_PATH = "/v1/invoices"

TIMESTAMP_FIELDS = frozenset(
    {
        "available_on",
        "billing_cycle_anchor",
        "cancel_at",
        "canceled_at",
        "created",
        "current_period_end",
        "current_period_start",
        "due_date",
        "effective_at",
        "end",
        "ended_at",
        "finalized_at",
        "marked_uncollectible_at",
        "next_payment_attempt",
        "paid_at",
        "period_end",
        "period_start",
        "resumes_at",
        "start",
        "start_date",
        "trial_end",
        "trial_start",
        "voided_at",
        "webhooks_delivered_at",
    }
)
DECIMAL_FIELDS = frozenset(
    {"application_fee_percent", "exchange_rate", "percent_off", "unit_amount_decimal"}
)
PERSONAL_FIELDS = frozenset(
    {
        "billing_details",
        "customer_address",
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_shipping",
        "exp_month",
        "exp_year",
        "fingerprint",
        "hosted_invoice_url",
        "invoice_pdf",
        "last4",
        "receipt_email",
        "receipt_url",
        "shipping",
    }
)
JSON_FIELDS = frozenset({"metadata"})

Shape = Callable[[str, dict[str, Any]], dict[str, Any]]


def should_retry(response: requests.Response | None, _exception: BaseException | None) -> bool:
    """Retry predicate: True when Stripe marks an answer retryable (`Stripe-Should-Retry: true`,
    e.g. a 409 on a locked object); 429 and 5xx are retried by their status anyway."""
    return response is not None and response.headers.get("Stripe-Should-Retry") == "true"


class StripeApi:
    """The Stripe account of one tenant, as its API key sees it."""

    def __init__(self, context: SourceContext) -> None:
        self.account_id = context.tenant.sources[SourceName.STRIPE].account_id
        self.client: ApiClient = context.client(
            retry_on=should_retry,
            headers={
                "Authorization": f"Bearer {context.credentials['api_key']}",
                "Stripe-Version": API_VERSION,
            },
        )

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The objects of list endpoint `path`, page by page, following `starting_after`."""
        endpoint = f"GET {path}"
        after = None
        while True:
            cursor = {} if after is None else {"starting_after": after}
            page = self.get(path, {**params, "limit": PAGE_SIZE, **cursor})
            objects = self.client.require(page, "data", endpoint)
            has_more = self.client.require(page, "has_more", endpoint)
            if not isinstance(objects, list) or (has_more and not objects):
                raise self.client.fail(
                    endpoint,
                    f"the API answered a list of an unexpected shape (data: {objects!r:.80}, "
                    f"has_more: {has_more!r})",
                    "rerun; if it persists the API changed: update ingestion/stripe.py",
                )
            yield objects
            if not has_more:
                return
            with self.expected_shape(path):
                after = objects[-1]["id"]

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """The decoded answer of `GET path`; a `SourceError` for an error or a malformed page."""
        endpoint = f"GET {path}"
        response = self.client.send("GET", f"{self.client.base_url}{path}", endpoint, params)
        if response.status_code >= 400:
            raise self._refused(endpoint, response)
        try:
            payload = response.json()
        except ValueError:
            raise self.client.fail(
                endpoint,
                f"the API answered a malformed page (not valid JSON, {len(response.content)} "
                "bytes)",
                "rerun; nothing of this window was committed, so the next run fetches it again",
            ) from None
        self.client.run.count_page()
        return payload

    @contextmanager
    def expected_shape(self, path: str) -> Iterator[None]:
        """Turns an object that cannot be read into a `SourceError` on `path`."""
        try:
            yield
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise self.client.fail(
                f"GET {path}",
                f"the API answered an object of an unexpected shape ({type(error).__name__}: "
                f"{error})",
                "rerun; if it persists the API changed: update ingestion/stripe.py",
            ) from None

    def _refused(self, endpoint: str, response: requests.Response) -> SourceError:
        """Stripe's error envelope `{"error": {"type", "code", "message"}}` as a `SourceError`."""
        error = _error_envelope(response)
        kind = error.get("type") or "unknown error"
        code = f" ({error['code']})" if error.get("code") else ""
        message = error.get("message") or response.text.strip()[:300]
        request_id = response.headers.get("Request-Id", "none")
        problem = (
            f"Stripe answered HTTP {response.status_code} {kind}{code}: {message} "
            f"(request {request_id})"
        )
        if response.status_code == 429:
            reason = response.headers.get("Stripe-Rate-Limited-Reason", "unspecified")
            problem += f", still rate limited ({reason}) after {DEFAULT_MAX_ATTEMPTS} attempts"
        return self.client.fail(endpoint, problem, self._action(response.status_code))

    def _action(self, status: int) -> str:
        tenant_id, untouched = self.client.tenant_id, "data loaded before is untouched"
        if status == 401:
            return (
                f"create a new restricted key for Stripe account {self.account_id} (Dashboard, "
                "Developers, API keys; read access to charges, refunds, balance, subscriptions "
                f"and invoices) and set it as api_key under [sources.stripe.{tenant_id}] in "
                f".dlt/secrets.toml or as SOURCES__STRIPE__{tenant_id.upper()}__API_KEY; "
                f"{untouched}"
            )
        if status == 403:
            return (
                f"give the restricted key of Stripe account {self.account_id} read access to "
                f"charges, refunds, balance, subscriptions and invoices; {untouched}"
            )
        if status == 429 or status >= 500:
            return (
                "rerun later (Stripe is throttling this account or is unavailable, see "
                f"status.stripe.com); {untouched}"
            )
        return (
            f"the connector asked something API version {API_VERSION} refuses: update "
            f"ingestion/stripe.py; {untouched}"
        )


def _error_envelope(response: requests.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


# --- rows -------------------------------------------------------------------------------------


def _columns(**names_by_type: tuple[str, ...]) -> dict[str, TColumnSchema]:
    """The columns the models read, with their types: declared, so that a table exists with
    them before its first row does (a shop without subscriptions, an account without refunds
    yet) and a column that is null for a while is not missing."""
    columns: dict[str, TColumnSchema] = {
        "tenant_id": {"name": "tenant_id", "data_type": "text", "nullable": False},
        "id": {"name": "id", "data_type": "text", "nullable": False},
        "created": {"name": "created", "data_type": "timestamp", "nullable": False},
        "metadata": {"name": "metadata", "data_type": "json", "nullable": True},
    }
    for data_type, names in names_by_type.items():
        for name in names:
            columns[name] = {"name": name, "data_type": data_type, "nullable": True}
    return columns


CHARGE_COLUMNS = _columns(
    text=(
        "currency",
        "status",
        "customer",
        "invoice",
        "payment_intent",
        "balance_transaction",
        "failure_code",
        "description",
    ),
    bigint=("amount", "amount_captured", "amount_refunded"),
    bool=("paid", "refunded", "disputed", "livemode"),
)
REFUND_COLUMNS = _columns(
    text=("currency", "status", "charge", "payment_intent", "balance_transaction", "reason"),
    bigint=("amount",),
)
BALANCE_TRANSACTION_COLUMNS = _columns(
    text=("currency", "type", "reporting_category", "status", "source", "description"),
    bigint=("amount", "fee", "net"),
    timestamp=("available_on",),
    decimal=("exchange_rate",),
)
INVOICE_COLUMNS = _columns(
    text=("currency", "status", "customer", "subscription", "charge", "billing_reason"),
    bigint=("amount_due", "amount_paid", "amount_remaining", "subtotal", "total"),
    timestamp=("period_start", "period_end", "due_date"),
    bool=("paid", "livemode"),
)
SUBSCRIPTION_COLUMNS = _columns(
    text=("currency", "status", "customer", "latest_invoice", "collection_method"),
    timestamp=(
        "start_date",
        "current_period_start",
        "current_period_end",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "trial_start",
        "trial_end",
    ),
    bool=("cancel_at_period_end", "livemode"),
)


def _typed(value: Any) -> Any:
    """Wire encodings to typed values: unix seconds to UTC timestamps, decimal numbers to
    `Decimal`; personal data and nulls are left out (dlt treats a missing key as null)."""
    if isinstance(value, dict):
        return {
            key: _typed_field(key, item)
            for key, item in value.items()
            if item is not None and key not in PERSONAL_FIELDS
        }
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return value


def _typed_field(key: str, value: Any) -> Any:
    if key in JSON_FIELDS:
        return value
    if key in TIMESTAMP_FIELDS:
        return datetime.fromtimestamp(value, UTC)
    if key in DECIMAL_FIELDS:
        return Decimal(str(value))
    return _typed(value)


def _plain_row(tenant_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"tenant_id": tenant_id, **_typed(obj)}


def _balance_transaction_row(tenant_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    row = _plain_row(tenant_id, obj)
    keys = {"tenant_id": tenant_id, "balance_transaction_id": row["id"]}
    row["fee_details"] = [{**keys, **detail} for detail in row.get("fee_details", [])]
    return row


def _invoice_row(tenant_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    row = _plain_row(tenant_id, obj)
    row.pop("lines", None)
    return row


# --- windows ------------------------------------------------------------------------------------


def _start_of(day: date, context: SourceContext) -> datetime:
    """The instant `day` begins in the tenant's timezone (charge days are the tenant's days)."""
    return datetime.combine(day, time(0), tzinfo=context.tenant.zone)


def _cursor(context: SourceContext, least_lag: timedelta) -> dlt.sources.incremental | None:
    """The `created` cursor, re-reading the restatement lag but at least `least_lag`; none for
    an explicit window, which must not move it."""
    if context.explicit_window:
        return None
    lag = max(timedelta(days=context.restatement_days), least_lag)
    return dlt.sources.incremental(
        "created",
        initial_value=_start_of(context.first_day, context),
        lag=lag.total_seconds(),
    )


def _created_window(
    context: SourceContext, cursor: dlt.sources.incremental | None
) -> dict[str, int] | None:
    """Stripe's `created` filter for the window: from the lagged cursor (never before the
    configured history) to the end of the last day; None when the window is empty."""
    start = _start_of(context.first_day, context)
    if cursor is not None:
        start = max(start, cursor.start_value)
    end = _start_of(context.last_day + timedelta(days=1), context)
    if start >= end:
        return None
    return {"created[gte]": int(start.timestamp()), "created[lt]": int(end.timestamp())}


# --- source -------------------------------------------------------------------------------------


@dlt.source(name="stripe")
def stripe_source(context: SourceContext) -> DltSource:
    api = StripeApi(context)
    created = _created_resource
    return (
        created("charges", CHARGES_PATH, _plain_row, CHARGE_COLUMNS)(
            api, context, _cursor(context, SAFETY_OVERLAP)
        ),
        created("refunds", REFUNDS_PATH, _plain_row, REFUND_COLUMNS)(
            api, context, _cursor(context, SAFETY_OVERLAP)
        ),
        created(
            "balance_transactions",
            BALANCE_TRANSACTIONS_PATH,
            _balance_transaction_row,
            BALANCE_TRANSACTION_COLUMNS,
        )(api, context, _cursor(context, SAFETY_OVERLAP)),
        created("invoices", INVOICES_PATH, _invoice_row, INVOICE_COLUMNS)(
            api, context, _cursor(context, INVOICE_COLLECTION_WINDOW)
        ),
        subscriptions(api, context),
    )


def _created_resource(
    name: str, path: str, shape: Shape, columns: dict[str, TColumnSchema]
) -> DltResource:
    """A resource of the objects of list endpoint `path` created in the run's window."""

    def objects_created(
        api: StripeApi,
        context: SourceContext,
        cursor: dlt.sources.incremental[datetime] | None,
    ) -> Iterator[list[dict[str, Any]]]:
        yield dlt.mark.materialize_table_schema()
        params = _created_window(context, cursor)
        if params is None:
            return
        for objects in api.pages(path, params):
            with api.expected_shape(path):
                rows = [shape(context.tenant_id, obj) for obj in objects]
            context.run.count_rows(len(rows))
            yield rows

    return dlt.resource(
        objects_created,
        name=name,
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        columns=columns,
    )


@dlt.resource(
    name="subscriptions",
    primary_key=PRIMARY_KEY,
    write_disposition="merge",
    columns=SUBSCRIPTION_COLUMNS,
)
def subscriptions(api: StripeApi, context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    yield dlt.mark.materialize_table_schema()
    for objects in api.pages(SUBSCRIPTIONS_PATH, {"status": "all"}):
        with api.expected_shape(SUBSCRIPTIONS_PATH):
            rows = [_subscription_row(api, context.tenant_id, obj) for obj in objects]
        context.run.count_rows(len(rows))
        yield rows


def _subscription_row(api: StripeApi, tenant_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A subscription row; its items (what MRR sums) become child rows."""
    row = _plain_row(tenant_id, obj)
    items = row["items"]
    if items.get("has_more"):
        raise api.client.fail(
            f"GET {SUBSCRIPTIONS_PATH}",
            f"subscription {row['id']} has more items than Stripe embeds in it",
            "read the rest from /v1/subscription_items in ingestion/stripe.py; data loaded "
            "before is untouched",
        )
    row["items"] = [{"tenant_id": tenant_id, **item} for item in items["data"]]
    return row
