"""dlt source for a Google Ads account: customer, campaigns, ad groups, ads and daily ad metrics.

Reads the Google Ads API v24 over REST (https://developers.google.com/google-ads/api/rest/overview):
`POST https://googleads.googleapis.com/v24/customers/{customer_id}/googleAds:searchStream` with a
GAQL query in the body, an OAuth access token (`Authorization: Bearer`, obtained from the
tenant's refresh token by `ingestion.google_auth` and renewed when Google answers it expired) and
the `developer-token` header. The customer id is the tenant's `account_id` (digits; dashes are
dropped). Every resource is merged on keys that start with tenant_id and customer_id (the
primary keys below), the daily metrics day by day:

- `customer` (customer_id): descriptive_name, currency_code (the currency of every money column),
  time_zone (the zone `date` is in);
- `campaigns` (campaign_id): campaign_name, campaign_status, advertising_channel_type,
  start_date, budget_amount_micros;
- `ad_groups` (ad_group_id): ad_group_name, ad_group_status, campaign_id;
- `ads` (ad_group_id, ad_id), from ad_group_ad: ad_name, ad_status, campaign_id;
- `ad_daily_metrics` (ad_group_id, ad_id, date), ad_group_ad segmented by `segments.date`:
  campaign_id, currency_code, impressions, clicks, cost_micros, conversions, conversions_value.

The four dimension tables are snapshots of the account as it is now, re-read on every run. The
metrics read `date` from the lagged cursor (`restatement_days`, 30 by default, so conversions
that arrive late overwrite earlier values) or exactly the `--from/--to` days, to the last
complete day, one request per `WINDOW_DAYS`; Google sends no row for an ad without delivery that
day. Each day a load holds replaces all of that day's rows (dlt merge, delete-insert strategy
with merge_key `date`; the primary key dedups), so an ad whose delivery Google restated away
leaves; a day that now has no row at all is not in the load and keeps its old rows.

Units: ids, counts and `*_micros` are integers (micros: millionths of the account currency,
converted in staging); `conversions` (fractional under data-driven attribution) and
`conversions_value` (account currency) are DECIMAL; `date` is an ISO date string; enums are their
names. Result objects are flattened to those names; a field Google starts sending unasked lands as
`<resource>_<field>`. Errors come in the google.rpc envelope with a GoogleAdsFailure detail: a
response hook turns a RESOURCE_EXHAUSTED answer's `retryDelay` into the `Retry-After` the
retrying session waits, and `explain` (the `ApiClient`'s `explain_refusal`) turns what still
fails, like an error streamed inside a successful answer, into a `SourceError` saying which
credential or setting to fix.
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dlt
import requests
from dlt.extract.source import DltSource

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.google_auth import google_api_client
from ingestion.http import ApiClient, Refusal

API_VERSION = "v24"
API_BASE_URL = "https://googleads.googleapis.com"
WINDOW_DAYS = 31  # days of ad metrics per searchStream request
ACCOUNT_KEY = ("tenant_id", "customer_id")
# Every day a load holds replaces that day's rows (merge_key "date"), so an ad whose delivery
# Google restated away leaves; the primary key still dedups within the load.
REPLACE_LOADED_DAYS = {"disposition": "merge", "strategy": "delete-insert"}
UNTOUCHED = "data loaded before is untouched"


@dataclass(frozen=True)
class Column:
    """Where a GAQL field lands, how its JSON value is read, and whether every row has it."""

    name: str
    parse: Callable[[Any], Any]
    required: bool = False  # keys; other fields may be absent (a text Google leaves unset)


def _decimal(value: Any) -> Decimal:
    """A JSON double as the decimal it was written as (never through float arithmetic)."""
    return Decimal(str(value))


def _int(name: str) -> Column:
    return Column(name, int)  # int64 arrives as a JSON string


def _id(name: str) -> Column:
    return Column(name, int, required=True)


def _text(name: str) -> Column:
    return Column(name, str)


CUSTOMER_ID = {"customer.id": _id("customer_id")}
CUSTOMER_COLUMNS = {
    **CUSTOMER_ID,
    "customer.descriptive_name": _text("descriptive_name"),
    "customer.currency_code": _text("currency_code"),
    "customer.time_zone": _text("time_zone"),
}
CAMPAIGN_COLUMNS = {
    **CUSTOMER_ID,
    "campaign.id": _id("campaign_id"),
    "campaign.name": _text("campaign_name"),
    "campaign.status": _text("campaign_status"),
    "campaign.advertising_channel_type": _text("advertising_channel_type"),
    "campaign.start_date": _text("start_date"),
    "campaign_budget.amount_micros": _int("budget_amount_micros"),
}
AD_GROUP_COLUMNS = {
    **CUSTOMER_ID,
    "campaign.id": _id("campaign_id"),
    "ad_group.id": _id("ad_group_id"),
    "ad_group.name": _text("ad_group_name"),
    "ad_group.status": _text("ad_group_status"),
}
AD_COLUMNS = {
    **CUSTOMER_ID,
    "campaign.id": _id("campaign_id"),
    "ad_group.id": _id("ad_group_id"),
    "ad_group_ad.ad.id": _id("ad_id"),
    "ad_group_ad.ad.name": _text("ad_name"),
    "ad_group_ad.status": _text("ad_status"),
}
AD_METRIC_COLUMNS = {
    **CUSTOMER_ID,
    "customer.currency_code": _text("currency_code"),
    "campaign.id": _id("campaign_id"),
    "ad_group.id": _id("ad_group_id"),
    "ad_group_ad.ad.id": _id("ad_id"),
    "segments.date": Column("date", str, required=True),
    "metrics.impressions": _int("impressions"),
    "metrics.clicks": _int("clicks"),
    "metrics.cost_micros": _int("cost_micros"),
    "metrics.conversions": Column("conversions", _decimal),
    "metrics.conversions_value": Column("conversions_value", _decimal),
}
ONLY_SELECTED_NAMES = "PARAMETERS omit_unselected_resource_names = true"


def gaql(columns: dict[str, Column], resource: str, where: str = "") -> str:
    """The GAQL query selecting `columns` from `resource`."""
    condition = f" WHERE {where}" if where else ""
    return f"SELECT {', '.join(columns)} FROM {resource}{condition} {ONLY_SELECTED_NAMES}"


# --- Google's error envelope -------------------------------------------------------------------


@dataclass(frozen=True)
class GoogleFailure:
    """A refused call as Google describes it: google.rpc status, GoogleAdsError codes and hints."""

    http_status: int
    status: str  # RESOURCE_EXHAUSTED, UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT...
    message: str
    reasons: tuple[str, ...]  # "quotaError.RESOURCE_EXHAUSTED", or an ErrorInfo reason
    messages: tuple[str, ...]  # the GoogleAdsErrors' own messages
    retry_delay: float | None  # seconds Google asks to wait before the next request
    request_id: str | None

    def describe(self) -> str:
        reasons = f" {', '.join(self.reasons)}" if self.reasons else ""
        detail = "; ".join(m for m in self.messages if m != self.message)
        request = f" (request id {self.request_id})" if self.request_id else ""
        return (
            f"Google Ads answered HTTP {self.http_status} {self.status}{reasons}: "
            f"{self.message}{f' — {detail}' if detail else ''}{request}"
        )

    def mentions(self, word: str) -> bool:
        return any(word in reason for reason in self.reasons)


def google_failure(http_status: int, body: Any) -> GoogleFailure | None:
    """The failure in a google.rpc error body (searchStream wraps it in an array), if any."""
    if isinstance(body, list):
        body = next((item for item in body if isinstance(item, dict) and "error" in item), None)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    reasons: list[str] = []
    messages: list[str] = []
    delays: list[float] = []
    request_id = None
    for detail in _dicts(error.get("details")):
        request_id = detail.get("requestId", request_id)
        if isinstance(detail.get("reason"), str):  # google.rpc.ErrorInfo
            reasons.append(detail["reason"])
        delays.extend(_seconds(detail.get("retryDelay")))  # google.rpc.RetryInfo
        for ads_error in _dicts(detail.get("errors")):  # GoogleAdsFailure
            codes = ads_error.get("errorCode") or {}
            reasons.extend(f"{kind}.{code}" for kind, code in codes.items())
            messages.append(str(ads_error.get("message", "")))
            quota = (ads_error.get("details") or {}).get("quotaErrorDetails") or {}
            delays.extend(_seconds(quota.get("retryDelay")))
    return GoogleFailure(
        http_status=http_status,
        status=str(error.get("status", "")),
        message=str(error.get("message", "")),
        reasons=tuple(reasons),
        messages=tuple(messages),
        retry_delay=max(delays) if delays else None,
        request_id=request_id,
    )


def failure_of(response: requests.Response) -> GoogleFailure | None:
    """The Google failure a response describes, if its body is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return google_failure(response.status_code, body)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _seconds(duration: Any) -> list[float]:
    """A protobuf Duration in JSON ("7s", "1.5s") as seconds; nothing if absent or unreadable."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", duration) if isinstance(duration, str) else None
    return [float(match.group(1))] if match else []


def honour_retry_delay(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """Response hook: Google's `retryDelay` on a 429 becomes the `Retry-After` header, which the
    retrying session waits out before its next attempt (Google sends no such header itself)."""
    if response.status_code != 429 or "Retry-After" in response.headers:
        return
    failure = failure_of(response)
    if failure is not None and failure.retry_delay is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(failure.retry_delay)))


# --- the API -----------------------------------------------------------------------------------


class GoogleAdsApi:
    """GoogleAdsService.SearchStream on one tenant's customer."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context
        account_id = context.tenant.sources[SourceName.GOOGLE_ADS].account_id
        self.customer_id = account_id.replace("-", "")
        self.path = f"/{API_VERSION}/customers/{self.customer_id}/googleAds:searchStream"
        self.client: ApiClient = google_api_client(
            context,
            response_hooks=[honour_retry_delay],
            explain_refusal=self.explain,
            **{"developer-token": context.credentials["developer_token"]},
        )

    def endpoint(self, resource: str) -> str:
        return f"POST {self.path} ({resource})"

    def rows(
        self, resource: str, query: str, columns: dict[str, Column]
    ) -> Iterator[list[dict[str, Any]]]:
        """The query's result rows as flat table rows, one list per streamed batch."""
        for results in self._stream(resource, query):
            with self.expected_shape(resource):
                rows = [self._row(result, columns) for result in results]
            self.context.run.count_rows(len(rows))
            yield rows

    def _row(self, result: dict[str, Any], columns: dict[str, Column]) -> dict[str, Any]:
        row: dict[str, Any] = {"tenant_id": self.context.tenant_id}
        for path, value in _leaves(result):
            column = columns.get(path)
            if column is None:
                row[_column_name(path)] = value  # a field Google added: lands as it comes
            else:
                row[column.name] = column.parse(value)
        missing = [c.name for c in columns.values() if c.required and c.name not in row]
        if missing:
            raise KeyError(f"no {', '.join(missing)} in a result row")
        return row

    def _stream(self, resource: str, query: str) -> Iterator[list[dict[str, Any]]]:
        endpoint = self.endpoint(resource)
        batches = self.client.request_json(
            "POST", self.path, endpoint=endpoint, json_body={"query": query}
        )
        if not isinstance(batches, list):
            raise self.client.fail(
                endpoint,
                "the API answered an unexpected shape (a searchStream answer is a JSON array)",
                f"rerun; if it persists the API changed: update ingestion/google_ads.py; "
                f"{UNTOUCHED}",
            )
        for batch in batches:
            failure = google_failure(200, batch)
            if failure is not None:  # an error that interrupted the stream
                raise self.client.fail(endpoint, *self.refusal(failure))
            self.client.require(batch, "fieldMask", endpoint)  # every batch names its fields
            results = batch.get("results", [])  # proto3 JSON leaves out an empty list
            if results:
                yield results

    def explain(self, response: requests.Response) -> Refusal | None:
        """`ApiClient`'s `explain_refusal`: a final error answer in Google's envelope described
        with what to fix (`None`, so the generic message, for any other body)."""
        failure = failure_of(response)
        return None if failure is None else self.refusal(failure)

    def refusal(self, failure: GoogleFailure) -> Refusal:
        """What Google refused and which setting fixes it."""
        return Refusal(failure.describe(), self._action(failure))

    def _action(self, failure: GoogleFailure) -> str:
        tenant = self.context.tenant_id
        section = f"[sources.google_ads.{tenant}]"
        if failure.mentions("DEVELOPER_TOKEN"):
            action = (
                f"set a valid, approved developer_token under {section} (Google Ads API Center "
                "of the manager account)"
            )
        elif failure.mentions("TOKEN_EXPIRED"):
            action = (
                "Google still called the access token expired right after renewing it: check "
                "the machine's clock and the google_ads token_url in tenants.yaml, then rerun"
            )
        elif failure.status == "UNAUTHENTICATED" or failure.mentions("SCOPE"):
            action = (
                f"authorise the app again with the https://www.googleapis.com/auth/adwords scope "
                f"and store client_id, client_secret and the new refresh_token under {section}"
            )
        elif failure.status == "PERMISSION_DENIED" or failure.mentions("CUSTOMER"):
            action = (
                f"check account_id '{self.customer_id}' of tenant '{tenant}' in tenants.yaml and "
                "that the authorised Google user has access to that customer"
            )
        elif failure.status == "RESOURCE_EXHAUSTED":
            action = (
                "rerun later: the developer token's quota is used up (basic access allows "
                "15,000 operations a day; apply for standard access if it keeps happening)"
            )
        elif failure.status == "INVALID_ARGUMENT":
            action = (
                f"Google refused the connector's query: update ingestion/google_ads.py for API "
                f"{API_VERSION}"
            )
        else:
            action = "rerun later (Google Ads may be down or overloaded)"
        return f"{action}; {UNTOUCHED}"

    @contextmanager
    def expected_shape(self, resource: str) -> Iterator[None]:
        """Turns a result row that cannot be read into a `SourceError` on `resource`."""
        try:
            yield
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise self.client.fail(
                self.endpoint(resource),
                f"the API answered a row of an unexpected shape ({type(error).__name__}: {error})",
                f"rerun; if it persists the API changed: update ingestion/google_ads.py; "
                f"{UNTOUCHED}",
            ) from None


def _leaves(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(GAQL field name, value) of every leaf of a nested lowerCamelCase result object."""
    for key, value in node.items():
        path = f"{prefix}{_snake(key)}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()


def _column_name(path: str) -> str:
    """`metrics.all_conversions` → all_conversions; `campaign.primary_status` → campaign_…"""
    return re.sub(r"^(metrics|segments)\.", "", path).replace(".", "_")


def metric_windows(first: date, last: date) -> Iterator[tuple[date, date]]:
    """[first, last] in consecutive spans of at most `WINDOW_DAYS` days."""
    while first <= last:
        end = min(first + timedelta(days=WINDOW_DAYS - 1), last)
        yield first, end
        first = end + timedelta(days=1)


# --- source ------------------------------------------------------------------------------------


@dlt.source(name="google_ads")
def google_ads_source(context: SourceContext) -> DltSource:
    api = GoogleAdsApi(context)
    return (
        customer(api),
        campaigns(api),
        ad_groups(api),
        ads(api),
        ad_daily_metrics(api, context, context.date_cursor("date")),
    )


@dlt.resource(name="customer", primary_key=ACCOUNT_KEY, write_disposition="merge")
def customer(api: GoogleAdsApi) -> Iterator[list[dict[str, Any]]]:
    yield from api.rows("customer", gaql(CUSTOMER_COLUMNS, "customer"), CUSTOMER_COLUMNS)


@dlt.resource(
    name="campaigns", primary_key=(*ACCOUNT_KEY, "campaign_id"), write_disposition="merge"
)
def campaigns(api: GoogleAdsApi) -> Iterator[list[dict[str, Any]]]:
    yield from api.rows("campaigns", gaql(CAMPAIGN_COLUMNS, "campaign"), CAMPAIGN_COLUMNS)


@dlt.resource(
    name="ad_groups", primary_key=(*ACCOUNT_KEY, "ad_group_id"), write_disposition="merge"
)
def ad_groups(api: GoogleAdsApi) -> Iterator[list[dict[str, Any]]]:
    yield from api.rows("ad_groups", gaql(AD_GROUP_COLUMNS, "ad_group"), AD_GROUP_COLUMNS)


@dlt.resource(
    name="ads", primary_key=(*ACCOUNT_KEY, "ad_group_id", "ad_id"), write_disposition="merge"
)
def ads(api: GoogleAdsApi) -> Iterator[list[dict[str, Any]]]:
    yield from api.rows("ads", gaql(AD_COLUMNS, "ad_group_ad"), AD_COLUMNS)


@dlt.resource(
    name="ad_daily_metrics",
    primary_key=(*ACCOUNT_KEY, "ad_group_id", "ad_id", "date"),
    merge_key="date",
    write_disposition=REPLACE_LOADED_DAYS,
)
def ad_daily_metrics(
    api: GoogleAdsApi, context: SourceContext, cursor: dlt.sources.incremental[str]
) -> Iterator[list[dict[str, Any]]]:
    for first, last in metric_windows(context.window_start(cursor), context.last_day):
        where = f"segments.date BETWEEN '{first.isoformat()}' AND '{last.isoformat()}'"
        query = gaql(AD_METRIC_COLUMNS, "ad_group_ad", where)
        yield from api.rows("ad_daily_metrics", query, AD_METRIC_COLUMNS)
