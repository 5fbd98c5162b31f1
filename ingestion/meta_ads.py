"""dlt source for a Meta ad account: the account, campaigns, ad sets, ads and daily ad insights.

Reads Meta's Marketing API v26.0 on the Graph API (https://graph.facebook.com/v26.0/act_{id},
developers.facebook.com/docs/marketing-api) with the tenant's system-user `access_token`, sent as
the `access_token` query parameter Meta documents; the ad account is the tenant's `account_id`
(digits, without `act_`). Every resource is merged on keys that start with `tenant_id`:

- `account` (tenant_id, id): name, currency, timezone_name, timezone_offset_hours_utc (DECIMAL
  hours), account_status; `currency` is what every money column of this source is in (the
  account's billing currency, not necessarily the tenant's reporting currency);
- `campaigns`, `ad_sets`, `ads` (tenant_id, id): merged snapshots of the `campaigns`, `adsets`
  and `ads` edges, archived objects included, with their parent ids (`campaign_id`, `adset_id`),
  statuses and times (UTC timestamps); budgets (`daily_budget`) are integers in the currency's
  minor unit, as Meta gives them;
- `insights` (tenant_id, ad_id, date_start): `level=ad`, `time_increment=1` rows of the `insights`
  edge, one per ad and day of the account's timezone (`date_start` = `date_stop`, DATE), deleted
  and archived ads included; each day a load holds replaces that day's rows (delete-insert on
  merge_key `date_start`), so an ad restated away leaves, while a day with no row at all now
  keeps its old rows; `spend` DECIMAL in the account currency, `impressions` and `clicks`
  BIGINT, ids and names of the campaign and ad set alongside. Meta's `actions` and
  `action_values` lists land, with every action type, as child tables `insights__actions` and
  `insights__action_values`: one row per action type with `action_type` and `value` (DECIMAL; a
  count, or money in the account currency), each carrying its insight's `tenant_id`, `ad_id` and
  `date_start` so staging joins or sums them on the natural key without dlt's ids. One pixel
  event is listed under several overlapping types: platform conversions are the
  `omni_purchase` rows (Meta's deduplicated purchases; equal to `purchase` and
  `offsite_conversion.fb_pixel_purchase`, so never sum across types). Actions use the account's
  default attribution setting (7-day click, 1-day view).

Insights are incremental on `date_start`: a run asks for the days from the cursor minus the
tenant's restatement window (Meta restates up to 28 days) to yesterday, `INSIGHTS_DAYS_PER_REQUEST`
days per request, and merges them over the old values; `--from/--to` reads exactly that window
and leaves the cursor. Pages are followed through `paging.next`. Meta throttles with a Graph
error (codes 4, 17, 32, 613, 80000-80014) rather than a 429: the retry predicate waits the
`estimated_time_to_regain_access` of `X-Business-Use-Case-Usage` when it is at most
`MAX_THROTTLE_WAIT_MINUTES`, and a longer throttle fails the run at once saying when to rerun.
Code 190 (expired or invalid token) fails the run asking for a new token: a system-user token
cannot be refreshed. The token is redacted from every error, `paging.next` URLs included.
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dlt
import requests
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.source import DltSource

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.errors import SourceError

API_VERSION = "v26.0"
API_BASE_URL = "https://graph.facebook.com"
PAGE_SIZE = 500
INSIGHTS_DAYS_PER_REQUEST = 14
# The retrying session waits at most 60 s per attempt over 6 attempts: about 5 minutes in all.
MAX_THROTTLE_WAIT_MINUTES = 5
PRIMARY_KEY = ("tenant_id", "id")
INSIGHTS_KEY = ("tenant_id", "ad_id", "date_start")
# Every day a load holds replaces that day's insights and their actions (merge_key
# "date_start"), so an ad whose delivery Meta restated away leaves; the primary key dedups.
REPLACE_LOADED_DAYS = {"disposition": "merge", "strategy": "delete-insert"}

# Graph error codes (developers.facebook.com/docs/graph-api/overview/rate-limiting).
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
MISSING_OBJECT = (100, 33)

ACCOUNT_FIELDS = (
    "id",
    "account_id",
    "name",
    "currency",
    "timezone_name",
    "timezone_offset_hours_utc",
    "account_status",
    "disable_reason",
    "created_time",
)
CAMPAIGN_FIELDS = (
    "id",
    "account_id",
    "name",
    "objective",
    "status",
    "configured_status",
    "effective_status",
    "buying_type",
    "bid_strategy",
    "daily_budget",
    "start_time",
    "created_time",
    "updated_time",
)
AD_SET_FIELDS = (
    "id",
    "account_id",
    "campaign_id",
    "name",
    "status",
    "configured_status",
    "effective_status",
    "billing_event",
    "optimization_goal",
    "daily_budget",
    "start_time",
    "created_time",
)
AD_FIELDS = (
    "id",
    "account_id",
    "campaign_id",
    "adset_id",
    "name",
    "status",
    "configured_status",
    "effective_status",
    "creative",
    "created_time",
    "updated_time",
)
INSIGHTS_FIELDS = (
    "account_id",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "objective",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "impressions",
    "clicks",
    "spend",
    "actions",
    "action_values",
    "date_start",
    "date_stop",
)
ACTION_LISTS = ("actions", "action_values")
# An edge without a status filter leaves archived objects out; deleted ones it cannot list.
CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "IN_PROCESS", "WITH_ISSUES")
AD_SET_STATUSES = (*CAMPAIGN_STATUSES, "CAMPAIGN_PAUSED")
AD_STATUSES = (
    *AD_SET_STATUSES,
    "ADSET_PAUSED",
    "PENDING_REVIEW",
    "DISAPPROVED",
    "PREAPPROVED",
    "PENDING_BILLING_INFO",
)
# Account-level insights at level=ad leave deleted ads out unless filtered for explicitly.
INSIGHTS_FILTER = [
    {"field": "ad.effective_status", "operator": "IN", "value": [*AD_STATUSES, "DELETED"]}
]

INTEGER_FIELDS = frozenset({"impressions", "clicks", "daily_budget"})
DECIMAL_FIELDS = frozenset({"spend", "timezone_offset_hours_utc"})
TIMESTAMP_FIELDS = frozenset({"created_time", "updated_time", "start_time"})


# --- throttling and errors --------------------------------------------------------------------


def _graph_error(response: requests.Response) -> dict[str, Any]:
    """The `error` object of Meta's envelope, or {} when the answer has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _regain_minutes(response: requests.Response) -> int:
    """Minutes until Meta lifts the throttle: the largest `estimated_time_to_regain_access` of
    `X-Business-Use-Case-Usage` ({account id: [{type, call_count, ..., estimated_time...}]})."""
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage", "{}"))
        return max(
            (
                int(entry.get("estimated_time_to_regain_access") or 0)
                for entries in usage.values()
                for entry in entries
            ),
            default=0,
        )
    except (ValueError, TypeError, AttributeError):
        return 0


def throttled(response: requests.Response | None, _exception: BaseException | None) -> bool:
    """Retry predicate: True for Meta's rate-limit errors (HTTP 400/403) and transient errors.

    It sets the response's `Retry-After` to the usage header's estimated time to regain access,
    which the retrying session waits (up to its maximum delay per attempt); without an estimate
    the session backs off exponentially. A throttle longer than `MAX_THROTTLE_WAIT_MINUTES` is
    not retried: the run fails at once and says when to rerun.
    """
    if response is None or response.status_code not in (400, 403):
        return False
    error = _graph_error(response)
    if error.get("code") not in THROTTLE_CODES:
        return error.get("is_transient") is True
    minutes = _regain_minutes(response)
    if minutes > MAX_THROTTLE_WAIT_MINUTES:
        return False
    if minutes:
        response.headers["Retry-After"] = str(minutes * 60)
    return True


def _without_token(url: str) -> str:
    """`url` (a `paging.next` link) without its `access_token`, which every request adds."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in query if name != "access_token"]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _next_link(answer: dict[str, Any]) -> str | None:
    paging = answer.get("paging")
    link = paging.get("next") if isinstance(paging, dict) else None
    return link if isinstance(link, str) else None


def _described(response: requests.Response, error: dict[str, Any]) -> str:
    """Meta's error as one line: status, code/subcode, type, message and trace id."""
    if not error:
        text = response.text.strip().replace("\n", " ")
        return f"HTTP {response.status_code}: {text[:200]}"
    code = error.get("code")
    if error.get("error_subcode") is not None:
        code = f"{code}/{error['error_subcode']}"
    return (
        f"HTTP {response.status_code}, Meta error {code} {error.get('type', '')}: "
        f"{error.get('message', '')} (fbtrace_id {error.get('fbtrace_id')})"
    )


class GraphApi:
    """One tenant's Meta ad account on the Graph API."""

    def __init__(self, context: SourceContext) -> None:
        config = context.tenant.sources[SourceName.META_ADS]
        self.account_id = config.account_id.removeprefix("act_")
        self.tenant_id = context.tenant_id
        self.run = context.run
        self.client = context.client(retry_on=throttled)
        self._token = context.credentials["access_token"]
        self._account_path = f"/{API_VERSION}/act_{self.account_id}"

    def endpoint(self, edge: str = "") -> str:
        """What errors name: `GET /v26.0/act_{id}/{edge}` (never a URL with its parameters)."""
        return f"GET {self._account_path}{'/' + edge if edge else ''}"

    def node(self, fields: tuple[str, ...]) -> dict[str, Any]:
        """The ad account node with `fields`."""
        url = f"{self.client.base_url}{self._account_path}"
        return self._get(self.endpoint(), url, {"fields": ",".join(fields)})

    def pages(self, edge: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The `data` of every page of `edge`, following `paging.next`."""
        endpoint = self.endpoint(edge)
        url = f"{self.client.base_url}{self._account_path}/{edge}"
        query: dict[str, Any] | None = {**params, "limit": PAGE_SIZE}
        page = 1
        while True:
            answer = self._get(endpoint if page == 1 else f"{endpoint} (page {page})", url, query)
            yield self.client.require(answer, "data", endpoint)
            link = _next_link(answer)
            if link is None:
                return
            url, query, page = _without_token(link), None, page + 1

    @contextmanager
    def expected_shape(self, edge: str) -> Iterator[None]:
        """Turns a record that cannot be read into a `SourceError` on `edge`."""
        try:
            yield
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise self.client.fail(
                self.endpoint(edge),
                f"Meta answered a record of an unexpected shape ({type(error).__name__}: {error})",
                f"rerun; if it persists Meta changed API {API_VERSION}: update "
                "ingestion/meta_ads.py. Data loaded before is untouched",
            ) from None

    def _get(self, endpoint: str, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        query = {**(params or {}), "access_token": self._token}
        response = self.client.send("GET", url, endpoint, params=query)
        if response.status_code >= 400:
            raise self._refused(endpoint, response)
        try:
            answer = response.json()
        except ValueError:
            raise self.client.fail(
                endpoint,
                f"Meta answered a malformed page (not valid JSON, {len(response.content)} bytes)",
                "rerun; nothing of this window was committed, so the next run fetches it again",
            ) from None
        if not isinstance(answer, dict):
            raise self.client.fail(
                endpoint,
                "Meta answered an unexpected shape (not a JSON object)",
                "rerun; if it persists Meta changed its API: update ingestion/meta_ads.py",
            )
        self.run.count_page()
        return answer

    def _refused(self, endpoint: str, response: requests.Response) -> SourceError:
        error = _graph_error(response)
        code = error.get("code")
        described = _described(response, error)
        untouched = "; data loaded before is untouched"
        if code in TOKEN_CODES:
            return self.client.fail(
                endpoint,
                f"Meta refused the access token, which is invalid or expired ({described})",
                "a Meta system-user token cannot be refreshed: generate a new one (Business "
                f"Settings > System users, with ads_read on act_{self.account_id}) and store it "
                f"as access_token under [sources.meta_ads.{self.tenant_id}] or in "
                f"SOURCES__META_ADS__{self.tenant_id.upper()}__ACCESS_TOKEN{untouched}",
            )
        if (code, error.get("error_subcode")) == MISSING_OBJECT or code in PERMISSION_CODES:
            return self.client.fail(
                endpoint,
                f"the access token cannot read ad account act_{self.account_id} ({described})",
                f"check the meta_ads account_id of tenant '{self.tenant_id}' in tenants.yaml "
                f"and that the token's system user has ads_read on that ad account{untouched}",
            )
        if code in THROTTLE_CODES:
            minutes = _regain_minutes(response)
            when = f"in about {minutes} minutes" if minutes else "in a few minutes"
            return self.client.fail(
                endpoint,
                f"Meta kept throttling ad account act_{self.account_id} ({described}); "
                f"access returns {when}",
                f"rerun {when}, when the account's API usage has dropped{untouched}",
            )
        return self.client.fail(
            endpoint,
            f"Meta refused the request ({described})",
            f"rerun later; if it persists Meta changed API {API_VERSION}: update "
            f"ingestion/meta_ads.py{untouched}",
        )


# --- rows ---------------------------------------------------------------------------------------


def _typed(record: dict[str, Any]) -> dict[str, Any]:
    """Meta's wire encodings to typed values: numeric strings, decimal strings, timestamps."""
    return {key: _typed_value(key, value) for key, value in record.items() if value is not None}


def _typed_value(key: str, value: Any) -> Any:
    if key in INTEGER_FIELDS:
        return int(value)
    if key in DECIMAL_FIELDS:
        return Decimal(str(value))
    if key in TIMESTAMP_FIELDS:
        return datetime.fromisoformat(value)
    return value


def _action(entry: dict[str, Any]) -> dict[str, Any]:
    """One `actions`/`action_values` entry: its type, and every number in it as a Decimal."""
    return {
        key: value if key == "action_type" else Decimal(str(value)) for key, value in entry.items()
    }


def _insights_row(tenant_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """An insights row; its action lists become child rows carrying the row's natural key."""
    keys = {"tenant_id": tenant_id, "ad_id": record["ad_id"], "date_start": record["date_start"]}
    row = {"tenant_id": tenant_id, **_typed(record)}
    for name in ACTION_LISTS:
        row[name] = [{**keys, **_action(entry)} for entry in record.get(name) or ()]
    return row


def _object_rows(tenant_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"tenant_id": tenant_id, **_typed(record)} for record in records]


def _request_windows(first: date, last: date) -> Iterator[tuple[date, date]]:
    """[first, last] cut into windows of at most `INSIGHTS_DAYS_PER_REQUEST` days."""
    while first <= last:
        until = min(first + timedelta(days=INSIGHTS_DAYS_PER_REQUEST - 1), last)
        yield first, until
        first = until + timedelta(days=1)


def _column(name: str, data_type: str) -> dict[str, TColumnSchema]:
    return {name: {"name": name, "data_type": data_type, "nullable": True}}


DATE_COLUMNS = {**_column("date_start", "date"), **_column("date_stop", "date")}


# --- source -------------------------------------------------------------------------------------


@dlt.source(name="meta_ads")
def meta_ads_source(context: SourceContext) -> DltSource:
    api = GraphApi(context)
    return (
        account(api),
        campaigns(api),
        ad_sets(api),
        ads(api),
        insights(api, context, context.date_cursor("date_start")),
    )


@dlt.resource(
    name="account",
    primary_key=PRIMARY_KEY,
    write_disposition="merge",
    columns=_column("timezone_offset_hours_utc", "decimal"),
)
def account(api: GraphApi) -> Iterator[list[dict[str, Any]]]:
    node = api.node(ACCOUNT_FIELDS)
    with api.expected_shape(""):
        rows = _object_rows(api.tenant_id, [node])
    api.run.count_rows(len(rows))
    yield rows


def _objects(
    api: GraphApi, edge: str, fields: tuple[str, ...], statuses: tuple[str, ...]
) -> Iterator[list[dict[str, Any]]]:
    params = {"fields": ",".join(fields), "effective_status": json.dumps(statuses)}
    for records in api.pages(edge, params):
        with api.expected_shape(edge):
            rows = _object_rows(api.tenant_id, records)
        api.run.count_rows(len(rows))
        yield rows


@dlt.resource(
    name="campaigns",
    primary_key=PRIMARY_KEY,
    write_disposition="merge",
    columns=_column("daily_budget", "bigint"),
)
def campaigns(api: GraphApi) -> Iterator[list[dict[str, Any]]]:
    yield from _objects(api, "campaigns", CAMPAIGN_FIELDS, CAMPAIGN_STATUSES)


@dlt.resource(
    name="ad_sets",
    primary_key=PRIMARY_KEY,
    write_disposition="merge",
    columns=_column("daily_budget", "bigint"),
)
def ad_sets(api: GraphApi) -> Iterator[list[dict[str, Any]]]:
    yield from _objects(api, "adsets", AD_SET_FIELDS, AD_SET_STATUSES)


@dlt.resource(name="ads", primary_key=PRIMARY_KEY, write_disposition="merge")
def ads(api: GraphApi) -> Iterator[list[dict[str, Any]]]:
    yield from _objects(api, "ads", AD_FIELDS, AD_STATUSES)


@dlt.resource(
    name="insights",
    primary_key=INSIGHTS_KEY,
    merge_key="date_start",
    write_disposition=REPLACE_LOADED_DAYS,
    columns={**DATE_COLUMNS, **_column("spend", "decimal")},
    nested_hints={name: {"columns": _column("date_start", "date")} for name in ACTION_LISTS},
)
def insights(
    api: GraphApi, context: SourceContext, cursor: dlt.sources.incremental[str]
) -> Iterator[list[dict[str, Any]]]:
    for since, until in _request_windows(context.window_start(cursor), context.last_day):
        params = {
            "level": "ad",
            "time_increment": 1,
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
            "fields": ",".join(INSIGHTS_FIELDS),
            "filtering": json.dumps(INSIGHTS_FILTER),
        }
        for records in api.pages("insights", params):
            with api.expected_shape("insights"):
                rows = [_insights_row(api.tenant_id, record) for record in records]
            api.run.count_rows(len(rows))
            yield rows
