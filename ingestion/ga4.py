"""dlt source for a GA4 property: daily sessions, users, key events and revenue by traffic source.

Reads the Google Analytics Data API v1beta
(https://developers.google.com/analytics/devguides/reporting/data/v1), `POST
https://analyticsdata.googleapis.com/v1beta/properties/{property_id}:runReport`, where the
property id is the tenant's `account_id`, with a bearer token obtained from the tenant's OAuth
refresh token (`ingestion/google_auth.py`; renewed once when the API answers 401). Resources:

- `property`, merged on (tenant_id, property_id): the property's `currency_code` (ISO 4217, the
  unit of `purchase_revenue`) and `time_zone` (IANA, the zone its days are in), from the
  `metadata` of a one-row report on the last day of the window.
- `traffic_daily`, merged day by day on (tenant_id, date, session_source, session_medium,
  session_campaign_name): one row per property-local day (a DATE) × session source / medium /
  campaign name, with `sessions`, `total_users` and `key_events` (integers, as GA4 counts them:
  users are not additive across rows), `purchase_revenue` (DECIMAL in `currency_code`, which
  rides along on every row) and `property_id`. Metrics are typed by their `metricHeaders`
  (TYPE_INTEGER → integer, TYPE_CURRENCY → decimal, other types → double), so a metric the API
  starts returning lands as a new column.

The window is incremental on `date`: the first run backfills the tenant's history, later runs
re-read the restatement lag (3 days by default: GA4 is still processing the last two days) plus
new days; `--from/--to` reads exactly that window and leaves the cursor alone. Each day a load
holds replaces all of that day's rows (dlt merge, delete-insert strategy with merge_key `date`;
the primary key dedups), so a row GA4 no longer reports (thresholding, a restated source) leaves;
a day that now has no row at all is not in the load and keeps its old rows.

The window is one report, ordered by its dimensions so pages are stable, paged with
`limit`/`offset` until `rowCount` rows are read (an empty report has neither `rows` nor
`rowCount`). Quota exhaustion (429 RESOURCE_EXHAUSTED) and 5xx answers are retried
with backoff by `ApiClient`; what still fails ends the run with a `SourceError` and nothing of
the window lands. A 403 is explained (`explain`, the `ApiClient`'s `explain_refusal`): a token
without the Analytics scope, or a property the authorising Google user cannot read; other
refusals get `ApiClient`'s message, which quotes Google's.
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dlt
import requests
from dlt.extract.source import DltSource

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.google_auth import google_api_client
from ingestion.http import ApiClient, Refusal

API_VERSION = "v1beta"
API_BASE_URL = "https://analyticsdata.googleapis.com"
ANALYTICS_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
PAGE_SIZE = 10_000  # GA4's default page; it answers at most 250,000 rows per request
GA4_DATE_FORMAT = "%Y%m%d"
TRAFFIC_DIMENSIONS = ("date", "sessionSource", "sessionMedium", "sessionCampaignName")
TRAFFIC_METRICS = ("sessions", "totalUsers", "keyEvents", "purchaseRevenue")
PROPERTY_KEY = ("tenant_id", "property_id")
# Named as in the rows (dlt's incremental reads them there); the columns are snake_cased.
TRAFFIC_KEY = ("tenant_id", *TRAFFIC_DIMENSIONS)
# Every day a load holds replaces that day's rows (merge_key "date"), so rows GA4 stopped
# serving (thresholding) leave; the primary key still dedups within the load.
REPLACE_LOADED_DAYS = {"disposition": "merge", "strategy": "delete-insert"}


def _metric_value(metric_type: str, text: str) -> int | Decimal | float:
    """A metric's string value typed by its header: counts as int, money as Decimal."""
    if metric_type == "TYPE_INTEGER":
        return int(text)
    if metric_type == "TYPE_CURRENCY":
        return Decimal(text)
    return float(text)


def _dimension_value(name: str, text: str) -> str:
    """A dimension's value; GA4's YYYYMMDD dates become ISO dates (the cursor compares them)."""
    if name == "date":
        return datetime.strptime(text, GA4_DATE_FORMAT).date().isoformat()
    return text


class DataApi:
    """The GA4 Data API of one tenant's property."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context
        self.property_id = context.tenant.sources[SourceName.GA4].account_id
        self.endpoint = f"POST /{API_VERSION}/properties/{self.property_id}:runReport"
        self.client: ApiClient = google_api_client(context, explain_refusal=self.explain)

    def explain(self, response: requests.Response) -> Refusal | None:
        """`ApiClient`'s `explain_refusal` for a 403, which GA4 answers both for a token without
        the Analytics scope and for a property the Google user cannot read; other statuses keep
        the generic message, which quotes Google's envelope."""
        if response.status_code != 403:
            return None
        error = _google_error(response)
        reasons = {d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)}
        section = f"[sources.ga4.{self.context.tenant_id}]"
        if "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in reasons:
            action = (
                f"authorise the app again with the {ANALYTICS_SCOPE} scope and store client_id, "
                f"client_secret and the new refresh_token under {section}"
            )
        else:
            action = (
                f"check the ga4 account_id '{self.property_id}' of tenant "
                f"'{self.context.tenant_id}' in tenants.yaml (the numeric property id) and that "
                "the Google user who authorised the refresh token can read that property (GA4 "
                "Admin, Property access management)"
            )
        google = f"{error.get('status')}: {error.get('message')}" if error else response.text[:200]
        return Refusal(
            f"GA4 denied access to property {self.property_id} (HTTP 403 {google})",
            f"{action}; data loaded before is untouched",
        )

    def run_report(self, body: dict[str, Any]) -> dict[str, Any]:
        """One page of a report, checked to be a report."""
        path = f"/{API_VERSION}/properties/{self.property_id}:runReport"
        report = self.client.request_json("POST", path, endpoint=self.endpoint, json_body=body)
        self.client.require(report, "metricHeaders", self.endpoint)
        return report

    def pages(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of the report `body` asks for, following `offset` up to `rowCount`."""
        offset = 0
        while True:
            page = self.run_report({**body, "limit": str(PAGE_SIZE), "offset": str(offset)})
            yield page
            served = len(page.get("rows", []))
            offset += served
            total = page.get("rowCount", 0)
            if offset >= total:
                return
            if served == 0:
                raise self.client.fail(
                    self.endpoint,
                    f"the API answered no rows at offset {offset} of a report of {total} rows",
                    "rerun; data loaded before is untouched",
                )

    @contextmanager
    def expected_shape(self) -> Iterator[None]:
        """Turns a report that cannot be read into a `SourceError`."""
        try:
            yield
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise self.client.fail(
                self.endpoint,
                f"the API answered a report of an unexpected shape ({type(error).__name__}: "
                f"{error})",
                "rerun; if it persists the GA4 Data API changed: update ingestion/ga4.py. "
                "Data loaded before is untouched",
            ) from None


def _google_error(response: requests.Response) -> dict[str, Any]:
    """The google.rpc `error` object of an error answer (empty if the body is not one)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _report_body(first: date, last: date) -> dict[str, Any]:
    return {
        "dateRanges": [{"startDate": first.isoformat(), "endDate": last.isoformat()}],
        "dimensions": [{"name": name} for name in TRAFFIC_DIMENSIONS],
        "metrics": [{"name": name} for name in TRAFFIC_METRICS],
        "orderBys": [{"dimension": {"dimensionName": name}} for name in TRAFFIC_DIMENSIONS],
    }


def _traffic_rows(api: DataApi, page: dict[str, Any]) -> list[dict[str, Any]]:
    """The page's rows keyed by GA4's dimension and metric names, values typed."""
    dimensions = [header["name"] for header in page["dimensionHeaders"]]
    missing = [name for name in TRAFFIC_DIMENSIONS if name not in dimensions]
    if missing:
        raise KeyError(f"dimensions {missing} are missing from the report")
    metrics = [(header["name"], header["type"]) for header in page["metricHeaders"]]
    currency = page["metadata"]["currencyCode"]
    rows = []
    for row in page.get("rows", []):
        values = zip(dimensions, row["dimensionValues"], strict=True)
        measures = zip(metrics, row["metricValues"], strict=True)
        rows.append(
            {
                "tenant_id": api.context.tenant_id,
                "property_id": api.property_id,
                **{name: _dimension_value(name, value["value"]) for name, value in values},
                **{name: _metric_value(kind, value["value"]) for (name, kind), value in measures},
                "currencyCode": currency,
            }
        )
    return rows


# --- source -------------------------------------------------------------------------------------


@dlt.source(name="ga4")
def ga4_source(context: SourceContext) -> DltSource:
    api = DataApi(context)
    return property_metadata(api), traffic_daily(api, context.date_cursor("date"))


@dlt.resource(name="property", primary_key=PROPERTY_KEY, write_disposition="merge")
def property_metadata(api: DataApi) -> Iterator[list[dict[str, Any]]]:
    last_day = api.context.last_day.isoformat()
    body = {
        "dateRanges": [{"startDate": last_day, "endDate": last_day}],
        "metrics": [{"name": "sessions"}],
        "limit": "1",
    }
    metadata = api.client.require(api.run_report(body), "metadata", api.endpoint)
    with api.expected_shape():
        row = {
            "tenant_id": api.context.tenant_id,
            "property_id": api.property_id,
            "currencyCode": metadata["currencyCode"],
            "timeZone": metadata["timeZone"],
        }
    api.context.run.count_rows(1)
    yield [row]


@dlt.resource(
    name="traffic_daily",
    primary_key=TRAFFIC_KEY,
    merge_key="date",
    write_disposition=REPLACE_LOADED_DAYS,
    columns={
        "date": {"data_type": "date"},
        "purchase_revenue": {"data_type": "decimal", "precision": 38, "scale": 9},
    },
)
def traffic_daily(
    api: DataApi, cursor: dlt.sources.incremental[str]
) -> Iterator[list[dict[str, Any]]]:
    first, last = api.context.window_start(cursor), api.context.last_day
    if first > last:
        return
    for page in api.pages(_report_body(first, last)):
        api.client.require(page, "metadata", api.endpoint)
        with api.expected_shape():
            rows = _traffic_rows(api, page)
        api.context.run.count_rows(len(rows))
        yield rows
