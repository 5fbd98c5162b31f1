"""dlt source for a LinkedIn ad account: the account, campaign groups, campaigns, creatives and
daily creative delivery.

Reads LinkedIn's versioned Marketing API (https://learn.microsoft.com/linkedin/marketing) at
`https://api.linkedin.com/rest` with the member's OAuth token as `Authorization: Bearer`, the
header `LinkedIn-Version: API_VERSION` and `X-Restli-Protocol-Version: 2.0.0` (query values use
Rest.li 2.0 syntax: `List(...)`, `(year:2026,month:10,day:1)`, URNs percent-encoded inside).
LinkedIn serves each monthly version for one year only and then answers 426 NONEXISTENT_VERSION:
`API_VERSION` must be bumped (and the release notes checked) at least once a year; the run then
fails with a message saying so. The ad account is the tenant's `account_id`. Resources, merged:

- `account` (`GET adAccounts/{id}`) on (tenant_id, id): name, currency, status, type...;
- `campaign_groups`, `campaigns` (`q=search` finders) on (tenant_id, id), and `creatives`
  (`q=criteria`) on (tenant_id, creative_id), each paged 1000 at a time with `pageToken`;
  referenced URNs also land as integer ids (`account_id`, `campaign_group_id`, `campaign_id`),
  epoch-millisecond stamps as UTC timestamps and budgets' `amount` as DECIMAL;
- `creative_daily_analytics` (`adAnalytics`, `q=analytics`, pivot CREATIVE, DAILY), day by day
  on (tenant_id, creative_id, date): `date` is the account-local day, `cost_in_local_currency` and
  `conversion_value_in_local_currency` are DECIMAL in the account's `currency` (on each row),
  impressions, clicks and `external_website_conversions` (+ post-click / post-view) are counts.

Daily rows use the tenant's date cursor: a run re-reads `restatement_days` before the last loaded
day (LinkedIn restates recent days) up to yesterday; `--from/--to` reads exactly that window.
Each day a load holds replaces all of that day's rows (dlt merge, delete-insert strategy with
merge_key `date`; the primary key dedups), so a creative whose delivery LinkedIn restated away
leaves; a day that now has no element at all is not in the load and keeps its old rows.
adAnalytics has no pagination and silently cuts an answer at `MAX_ELEMENTS` elements, so the
window is split into date chunks whose creatives × days stay under the cap (a creative counts
from the day before it was created); an answer that still reaches the cap is split again, by
halving its days and, for a single day, per campaign, so no row is ever dropped. Throttling is a
429 (retried with backoff, honouring a Retry-After if LinkedIn sends one); a final error
answer, LinkedIn's `{status, serviceErrorCode, code, message}`, becomes a `SourceError` saying
what to do (`explain`, the `ApiClient`'s `explain_refusal`).
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import quote

import dlt
import requests
from dlt.extract.source import DltSource

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.http import ApiClient, Refusal

API_BASE_URL = "https://api.linkedin.com"
API_VERSION = "202611"  # LinkedIn retires a version after 12 months: bump it at least yearly
RESTLI_PROTOCOL_VERSION = "2.0.0"
PAGE_SIZE = 1000  # the finders' maximum
MAX_ELEMENTS = 15_000  # adAnalytics answers at most this many elements, dropping the rest
ACCOUNT_URN = "urn:li:sponsoredAccount:"
CAMPAIGN_GROUP_URN = "urn:li:sponsoredCampaignGroup:"
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"
CREATIVE_URN = "urn:li:sponsoredCreative:"
URN_REFERENCES = {
    "account": ("account_id", ACCOUNT_URN),
    "campaignGroup": ("campaign_group_id", CAMPAIGN_GROUP_URN),
    "campaign": ("campaign_id", CAMPAIGN_URN),
}
ANALYTICS_METRICS = (
    "impressions",
    "clicks",
    "costInLocalCurrency",
    "externalWebsiteConversions",
    "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions",
    "conversionValueInLocalCurrency",
)
MONEY_SUFFIXES = ("InLocalCurrency", "InUsd")
EPOCH_MILLIS_FIELDS = frozenset({"createdAt", "lastModifiedAt", "time", "start", "end"})
VERSION_ERROR_CODES = frozenset({"NONEXISTENT_VERSION", "VERSION_MISSING"})
ANALYTICS_ENDPOINT = "GET /rest/adAnalytics (q=analytics)"
# Every day a load holds replaces that day's rows (merge_key "date"), so a creative whose
# delivery LinkedIn restated away leaves; the primary key still dedups within the load.
REPLACE_LOADED_DAYS = {"disposition": "merge", "strategy": "delete-insert"}

DateRange = tuple[date, date]


# --- Rest.li 2.0 query values -------------------------------------------------------------------


def restli_list(values: list[str]) -> str:
    """`List(...)` of values, each percent-encoded (URNs' colons are data, not structure)."""
    return "List(" + ",".join(quote(value, safe="") for value in values) + ")"


def restli_date_range(first: date, last: date) -> str:
    def day(value: date) -> str:
        return f"(year:{value.year},month:{value.month},day:{value.day})"

    return f"(start:{day(first)},end:{day(last)})"


def urn_id(urn: str, prefix: str) -> int:
    """The numeric id of `urn`, which must be of the kind `prefix` (ValueError otherwise)."""
    if not isinstance(urn, str) or not urn.startswith(prefix):
        raise ValueError(f"expected a {prefix}… URN, got {urn!r}")
    return int(urn.removeprefix(prefix))


# --- the API ------------------------------------------------------------------------------------


class MarketingApi:
    """LinkedIn's Marketing API as seen by one tenant's ad account; finder answers are cached."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context
        self.account_id = context.tenant.sources[SourceName.LINKEDIN_ADS].account_id
        self.client: ApiClient = context.client(
            headers={
                "Authorization": f"Bearer {context.credentials['access_token']}",
                "LinkedIn-Version": API_VERSION,
                "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
            },
            explain_refusal=self.explain,
        )

    def get(self, path: str, query: list[tuple[str, str]], endpoint: str) -> Any:
        """The decoded answer of `GET /rest{path}?{query}`: values come Rest.li-encoded and the
        query string is sent as is (its Rest.li structure must stay unescaped)."""
        query_string = "&".join(f"{name}={value}" for name, value in query)
        url = f"{self.client.base_url}/rest{path}" + (f"?{query_string}" if query_string else "")
        return self.client.request_json("GET", url, endpoint=endpoint)

    def finder(self, resource: str, finder: str) -> list[list[dict[str, Any]]]:
        """Every page of `adAccounts/{id}/{resource}?q={finder}`, following `nextPageToken`."""
        endpoint = f"GET /rest/adAccounts/{{id}}/{resource} (q={finder})"
        pages: list[list[dict[str, Any]]] = []
        token: str | None = None
        while True:
            query = [("q", finder), ("pageSize", str(PAGE_SIZE))]
            if token:
                query.append(("pageToken", quote(token, safe="")))
            answer = self.get(f"/adAccounts/{self.account_id}/{resource}", query, endpoint)
            pages.append(self.client.require(answer, "elements", endpoint))
            token = (self.client.require(answer, "metadata", endpoint) or {}).get("nextPageToken")
            if not token:
                return pages

    @cached_property
    def account(self) -> dict[str, Any]:
        return self.get(f"/adAccounts/{self.account_id}", [], "GET /rest/adAccounts/{id}")

    @cached_property
    def campaign_groups(self) -> list[list[dict[str, Any]]]:
        return self.finder("adCampaignGroups", "search")

    @cached_property
    def campaigns(self) -> list[list[dict[str, Any]]]:
        return self.finder("adCampaigns", "search")

    @cached_property
    def creatives(self) -> list[list[dict[str, Any]]]:
        return self.finder("creatives", "criteria")

    def analytics(self, first: date, last: date, facet: tuple[str, str]) -> list[dict[str, Any]]:
        """Daily delivery per creative over [first, last] of the entities `facet` selects."""
        query = [
            ("q", "analytics"),
            ("pivot", "CREATIVE"),
            ("timeGranularity", "DAILY"),
            ("dateRange", restli_date_range(first, last)),
            facet,
            ("fields", ",".join((*ANALYTICS_METRICS, "dateRange", "pivotValues"))),
        ]
        answer = self.get("/adAnalytics", query, ANALYTICS_ENDPOINT)
        return self.client.require(answer, "elements", ANALYTICS_ENDPOINT)

    def account_facet(self) -> tuple[str, str]:
        return ("accounts", restli_list([f"{ACCOUNT_URN}{self.account_id}"]))

    @contextmanager
    def expected_shape(self, endpoint: str) -> Iterator[None]:
        """Turns an element that cannot be read into a `SourceError` on `endpoint`."""
        try:
            yield
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise self.client.fail(
                endpoint,
                f"the API answered an element of an unexpected shape ({type(error).__name__}: "
                f"{error})",
                "rerun; if it persists LinkedIn changed the API: update ingestion/linkedin_ads.py",
            ) from None

    def explain(self, response: requests.Response) -> Refusal:
        """`ApiClient`'s `explain_refusal`: what LinkedIn's `{status, serviceErrorCode, code,
        message}` answer means and what to do, for every final error answer."""
        code, described = _described_error(response)
        where = f"[sources.linkedin_ads.{self.context.tenant_id}]"
        if response.status_code == 426 or code in VERSION_ERROR_CODES:
            return Refusal(
                f"LinkedIn no longer serves API version {API_VERSION} ({described})",
                "LinkedIn retires each monthly version after one year: bump API_VERSION in "
                "ingestion/linkedin_ads.py to a current version (check LinkedIn's Marketing API "
                "release notes for changes) and rerun; data loaded before is untouched",
            )
        if response.status_code == 401:
            return Refusal(
                f"LinkedIn refused the access token ({described})",
                "LinkedIn access tokens expire after 60 days: renew the token (re-authorise the "
                f"app with the r_ads_reporting and r_ads scopes) and store it as access_token "
                f"under {where} in .dlt/secrets.toml; data loaded before is untouched",
            )
        if response.status_code == 403:
            return Refusal(
                f"LinkedIn denied access to ad account {self.account_id} ({described})",
                "give the token's member a role on the ad account, or fix the linkedin_ads "
                f"account_id of tenant '{self.context.tenant_id}' in tenants.yaml; data loaded "
                "before is untouched",
            )
        if response.status_code == 429:
            return Refusal(
                f"LinkedIn kept throttling the requests ({described})",
                "LinkedIn's daily API limits reset at midnight UTC: rerun after that; data loaded "
                "before is untouched",
            )
        if response.status_code == 400:
            return Refusal(
                f"LinkedIn refused the request ({described})",
                "the Marketing API changed what it accepts: update ingestion/linkedin_ads.py; "
                "data loaded before is untouched",
            )
        return Refusal(
            f"LinkedIn kept failing ({described})",
            "rerun later (LinkedIn may be down); data loaded before is untouched",
        )


def _described_error(response: requests.Response) -> tuple[str | None, str]:
    """(LinkedIn's error code, a one-line description) of an error answer."""
    status = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return None, f"{status}: {response.text[:200]!r}"
    if not isinstance(body, dict):
        return None, f"{status}: {str(body)[:200]}"
    code = body.get("code")
    parts = [status, str(code) if code else None]
    if body.get("serviceErrorCode") is not None:
        parts.append(f"serviceErrorCode {body['serviceErrorCode']}")
    described = " ".join(part for part in parts if part)
    return code, f"{described}: {body.get('message', '')}"


# --- rows ---------------------------------------------------------------------------------------


def _typed(element: dict[str, Any]) -> dict[str, Any]:
    """Money amounts to Decimal, epoch milliseconds to UTC timestamps; nulls left out."""
    typed: dict[str, Any] = {}
    for key, value in element.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = _typed(value)
            if "amount" in value and "currencyCode" in value:
                value["amount"] = Decimal(str(value["amount"]))
        elif key in EPOCH_MILLIS_FIELDS and isinstance(value, int):
            value = datetime.fromtimestamp(value / 1000, UTC)
        typed[key] = value
    return typed


def dimension_row(tenant_id: str, element: dict[str, Any]) -> dict[str, Any]:
    """An entity with its URN references also as integer ids (`campaign` → `campaign_id`)."""
    row = {"tenant_id": tenant_id, **_typed(element)}
    for field, (column, prefix) in URN_REFERENCES.items():
        if field in row:
            row[column] = urn_id(row[field], prefix)
    return row


def analytics_row(
    tenant_id: str, account: dict[str, Any], element: dict[str, Any]
) -> dict[str, Any]:
    """One creative's delivery on one account-local day; metrics keep LinkedIn's names."""
    metrics = {k: v for k, v in element.items() if k not in ("pivotValues", "dateRange")}
    day = date(**element["dateRange"]["start"])
    if date(**element["dateRange"]["end"]) != day:
        raise ValueError(f"expected one day per element, got {element['dateRange']}")
    for name, value in metrics.items():
        if name.endswith(MONEY_SUFFIXES):
            metrics[name] = Decimal(str(value))
    return {
        "tenant_id": tenant_id,
        "account_id": account["id"],
        "creative_id": urn_id(element["pivotValues"][0], CREATIVE_URN),
        "date": day.isoformat(),
        "currency": account["currency"],
        **metrics,
    }


# --- chunks under the element cap ---------------------------------------------------------------


def first_delivery_day(creative: dict[str, Any]) -> date:
    """The first account-local day a creative can have delivered (creation, one day of zone
    margin); the earliest possible day when LinkedIn does not say when it was created."""
    created = creative.get("createdAt")
    if not isinstance(created, int):
        return date.min
    return datetime.fromtimestamp(created / 1000, UTC).date() - timedelta(days=1)


def plan_chunks(first: date, last: date, first_days: list[date], cap: int) -> list[DateRange]:
    """Consecutive date ranges covering [first, last] whose creatives × days stay under `cap`
    (a day with more creatives than `cap` is a range of its own)."""
    ordered = sorted(first_days)
    chunks: list[DateRange] = []
    start, elements = first, 0
    day = first
    while day <= last:
        creatives = bisect_right(ordered, day)
        if elements + creatives >= cap and day > start:
            chunks.append((start, day - timedelta(days=1)))
            start, elements = day, 0
        elements += creatives
        day += timedelta(days=1)
    chunks.append((start, last))
    return chunks


def analytics_pages(
    api: MarketingApi, first: date, last: date, facet: tuple[str, str] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Every element of [first, last], one answer per page: an answer that reaches the cap (and
    so may be cut) is asked again in halves of its days, and a single day per campaign."""
    elements = api.analytics(first, last, facet or api.account_facet())
    if len(elements) < MAX_ELEMENTS:
        yield elements
    elif first < last:
        middle = first + (last - first) // 2
        yield from analytics_pages(api, first, middle, facet)
        yield from analytics_pages(api, middle + timedelta(days=1), last, facet)
    elif facet is None:
        for page in api.campaigns:
            for campaign in page:
                urn = restli_list([f"{CAMPAIGN_URN}{campaign['id']}"])
                yield from analytics_pages(api, first, last, ("campaigns", urn))
    else:
        raise api.client.fail(
            ANALYTICS_ENDPOINT,
            f"one campaign's creatives reached LinkedIn's cap of {MAX_ELEMENTS} elements on "
            f"{first} ({facet[1]}), so LinkedIn may have dropped some",
            "split the request per creative in ingestion/linkedin_ads.py; data loaded before is "
            "untouched",
        )


# --- source -------------------------------------------------------------------------------------


@dlt.source(name="linkedin_ads")
def linkedin_ads_source(context: SourceContext) -> DltSource:
    api = MarketingApi(context)
    return (
        account(api, context),
        campaign_groups(api, context),
        campaigns(api, context),
        creatives(api, context),
        creative_daily_analytics(api, context, context.date_cursor("date")),
    )


def _dimension_pages(
    api: MarketingApi, context: SourceContext, pages: list[list[dict[str, Any]]], endpoint: str
) -> Iterator[list[dict[str, Any]]]:
    for elements in pages:
        with api.expected_shape(endpoint):
            rows = [dimension_row(context.tenant_id, element) for element in elements]
        context.run.count_rows(len(rows))
        yield rows


@dlt.resource(name="account", primary_key=("tenant_id", "id"), write_disposition="merge")
def account(api: MarketingApi, context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    yield from _dimension_pages(api, context, [[api.account]], "GET /rest/adAccounts/{id}")


@dlt.resource(name="campaign_groups", primary_key=("tenant_id", "id"), write_disposition="merge")
def campaign_groups(api: MarketingApi, context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    yield from _dimension_pages(
        api, context, api.campaign_groups, "GET /rest/adAccounts/{id}/adCampaignGroups"
    )


@dlt.resource(name="campaigns", primary_key=("tenant_id", "id"), write_disposition="merge")
def campaigns(api: MarketingApi, context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    yield from _dimension_pages(
        api, context, api.campaigns, "GET /rest/adAccounts/{id}/adCampaigns"
    )


@dlt.resource(name="creatives", primary_key=("tenant_id", "creative_id"), write_disposition="merge")
def creatives(api: MarketingApi, context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    endpoint = "GET /rest/adAccounts/{id}/creatives"
    for elements in api.creatives:
        with api.expected_shape(endpoint):
            rows = [
                {
                    **dimension_row(context.tenant_id, element),
                    "creative_id": urn_id(element["id"], CREATIVE_URN),
                }
                for element in elements
            ]
        context.run.count_rows(len(rows))
        yield rows


@dlt.resource(
    name="creative_daily_analytics",
    primary_key=("tenant_id", "creative_id", "date"),
    merge_key="date",
    write_disposition=REPLACE_LOADED_DAYS,
    columns={
        "date": {"data_type": "date"},
        "cost_in_local_currency": {"data_type": "decimal"},
        "conversion_value_in_local_currency": {"data_type": "decimal"},
    },
)
def creative_daily_analytics(
    api: MarketingApi, context: SourceContext, cursor: dlt.sources.incremental[str]
) -> Iterator[list[dict[str, Any]]]:
    first = context.window_start(cursor)
    if first > context.last_day:
        return
    with api.expected_shape("GET /rest/adAccounts/{id}/creatives"):
        first_days = [first_delivery_day(c) for page in api.creatives for c in page]
    for chunk in plan_chunks(first, context.last_day, first_days, MAX_ELEMENTS):
        for elements in analytics_pages(api, *chunk):
            with api.expected_shape(ANALYTICS_ENDPOINT):
                rows = [analytics_row(context.tenant_id, api.account, e) for e in elements]
            context.run.count_rows(len(rows))
            yield rows
