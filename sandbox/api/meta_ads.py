"""Meta's Marketing API (Graph API v26.0) over each tenant's synthetic Meta ad account.

Mounted at `/meta`: `GET /v26.0/act_{id}` (the ad account node), the `campaigns`, `adsets` and
`ads` edges, and the `insights` edge (`level`, `time_range` as JSON, `time_increment`, `fields`,
`action_attribution_windows`, `limit`, `after`/`before`). It follows developers.facebook.com's
Marketing API and Graph API references and responses seen from the live API: the token comes as
the `access_token` parameter (or `Authorization: Bearer`), numbers in insights rows are strings
without trailing zeros ("5339.5", "361324"), budgets are strings in minor units, `actions` and
`action_values` list each pixel event under its several action types and are left out when zero,
cursor paging answers `{"data", "paging": {"cursors": {"before", "after"}, "next"}}` with
offsets encoded as Meta encodes them ("MjQZD"), and only ads that delivered have insights rows.
Errors use the Graph envelope `{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}` with HTTP 400 (500 for transient server faults); throttling is code 80000
(insights) or 80004 (management) with `X-Business-Use-Case-Usage`, which is sent on every answer.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aya.currencies import minor_unit_exponent
from aya.tenants import SourceName, Tenant
from sandbox.api.common import faults_of, served_days, take_fault, world_of
from sandbox.faults import Fault, FaultKind
from sandbox.world.ad_metrics import reported_day
from sandbox.world.calendar import WORLD_START, add_months, day_date, day_number, world_now
from sandbox.world.catalog import Ad, AdAccount, AdGroup, Campaign

API_VERSION = "v26.0"
OLDEST_VERSION = 21
DEFAULT_LIMIT = 25
MAX_LIMIT = 500
HISTORY_MONTHS = 37
DRIFT_FIELD = "inline_link_clicks"
SOURCE = SourceName.META_ADS
RATE_LIMITING_DOCS = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"
INSIGHTS_DOCS = "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/"
THROTTLE_SUBCODE = 2446079
CENT_MICROS = 10_000
ACCESS_TIER = "standard_access"
LEVELS = ("account", "campaign", "adset", "ad")
DATE_PRESETS = {"yesterday": 1, "last_3d": 3, "last_7d": 7, "last_14d": 14, "last_28d": 28}
DATE_PRESETS |= {"last_30d": 30, "last_90d": 90}
CLICK_WINDOWS = ("1d_click", "7d_click", "28d_click")
VIEW_WINDOWS = ("1d_view", "7d_view", "28d_view")
# The action types one pixel event is reported under, by campaign objective.
ACTION_TYPES = {
    "OUTCOME_SALES": ("offsite_conversion.fb_pixel_purchase", "omni_purchase", "purchase"),
    "OUTCOME_LEADS": ("lead", "offsite_conversion.fb_pixel_lead"),
}
OPTIMIZATION_GOALS = {"OUTCOME_SALES": "OFFSITE_CONVERSIONS", "OUTCOME_LEADS": "LEAD_GENERATION"}
_VERSION_PATTERN = re.compile(r"^v(\d+)\.0$")
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class GraphError(Exception):
    """A request Meta answers with its error envelope."""

    def __init__(
        self,
        message: str,
        code: int,
        *,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        status: int = 400,
        transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.status = status
        self.transient = transient
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type}
        error["code"] = self.code
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        error["fbtrace_id"] = _fbtrace_id()
        return JSONResponse({"error": error}, self.status, headers=self.headers)


def _fbtrace_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(17)).decode().rstrip("=")[:23]


def _invalid_parameter(message: str) -> GraphError:
    return GraphError(f"(#100) {message}", 100)


# --- numbers, times and cursors as Meta prints them ----------------------------------------


def _decimal_text(micros: int) -> str:
    """An amount from micros as Meta prints it: exact, no trailing zeros ("12.3", "100")."""
    return format(Decimal(int(micros)).scaleb(-6).normalize(), "f")


def _minor_units(amount: float, currency: str) -> str:
    """A budget as Meta's API takes and gives it: an integer string in the currency's minor unit."""
    return str(int(Decimal(str(amount)).scaleb(minor_unit_exponent(currency))))


def _encode_cursor(offset: int) -> str:
    """Meta's insights cursor: the base64 offset with '=' written as 'ZD' ("0" -> "MAZDZD")."""
    return base64.b64encode(str(offset).encode()).decode().replace("=", "ZD")


def _decode_cursor(cursor: str, name: str) -> int:
    try:
        text = base64.b64decode(cursor.replace("ZD", "="), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise _invalid_parameter(f"The {name} cursor {cursor!r} is not valid")
    return int(text)


@dataclass(frozen=True)
class AccountView:
    """One tenant's Meta ad account as it looks on the sandbox's today."""

    tenant: Tenant
    account: AdAccount
    today: int

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.account.timezone)

    def timestamp(self, day: int, hour: int = 0) -> str:
        """A Graph timestamp in the account's timezone: `2026-10-01T15:00:00-0400`."""
        local = datetime.combine(day_date(day), time(hour), self.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S%z")

    def created_time(self, start_day: int) -> str:
        """Objects are created in the afternoon before the day they start delivering."""
        return self.timestamp(start_day - 1, 15)

    def campaigns(self) -> list[Campaign]:
        return [c for c in self.account.campaigns if c.start_day <= self.today]

    def ad_sets(self) -> list[AdGroup]:
        live = {c.index for c in self.campaigns()}
        return [g for g in self.account.ad_groups if g.campaign_index in live]

    def ads(self) -> list[Ad]:
        return self.account.existing_ads(self.today)

    def ad_status(self, ad: Ad) -> str:
        return "ACTIVE" if ad.end_day > self.today else "PAUSED"


# --- the ad account node and its object edges ----------------------------------------------

Getter = Callable[[AccountView, Any], Any]

ACCOUNT_FIELDS: dict[str, Getter] = {
    "id": lambda v, _: f"act_{v.account.account_id}",
    "account_id": lambda v, _: v.account.account_id,
    "name": lambda v, _: v.tenant.display_name,
    "currency": lambda v, _: v.account.currency,
    "timezone_name": lambda v, _: v.account.timezone,
    "timezone_offset_hours_utc": lambda v, _: _utc_offset_hours(v),
    "account_status": lambda v, _: 1,
    "disable_reason": lambda v, _: 0,
    "created_time": lambda v, _: v.timestamp(-1, 10),
}

CAMPAIGN_FIELDS: dict[str, Getter] = {
    "id": lambda v, c: c.id,
    "account_id": lambda v, c: v.account.account_id,
    "name": lambda v, c: c.name,
    "objective": lambda v, c: c.objective,
    "status": lambda v, c: "ACTIVE",
    "configured_status": lambda v, c: "ACTIVE",
    "effective_status": lambda v, c: "ACTIVE",
    "buying_type": lambda v, c: "AUCTION",
    "bid_strategy": lambda v, c: "LOWEST_COST_WITHOUT_CAP",
    "daily_budget": lambda v, c: _minor_units(c.daily_budget, v.account.currency),
    "special_ad_categories": lambda v, c: [],
    "start_time": lambda v, c: v.timestamp(c.start_day),
    "created_time": lambda v, c: v.created_time(c.start_day),
    "updated_time": lambda v, c: v.created_time(c.start_day),
}

AD_SET_FIELDS: dict[str, Getter] = {
    "id": lambda v, g: g.id,
    "account_id": lambda v, g: v.account.account_id,
    "campaign_id": lambda v, g: v.account.campaigns[g.campaign_index].id,
    "name": lambda v, g: g.name,
    "status": lambda v, g: "ACTIVE",
    "configured_status": lambda v, g: "ACTIVE",
    "effective_status": lambda v, g: "ACTIVE",
    "billing_event": lambda v, g: "IMPRESSIONS",
    "optimization_goal": lambda v, g: OPTIMIZATION_GOALS.get(
        v.account.campaigns[g.campaign_index].objective, "REACH"
    ),
    # Budgets sit on the campaign (Advantage campaign budget), so ad sets have none.
    "daily_budget": lambda v, g: None,
    "start_time": lambda v, g: v.timestamp(v.account.campaigns[g.campaign_index].start_day),
    "created_time": lambda v, g: v.created_time(v.account.campaigns[g.campaign_index].start_day),
}

AD_FIELDS: dict[str, Getter] = {
    "id": lambda v, a: a.id,
    "account_id": lambda v, a: v.account.account_id,
    "campaign_id": lambda v, a: v.account.campaigns[a.campaign_index].id,
    "adset_id": lambda v, a: v.account.ad_groups[a.ad_group_index].id,
    "name": lambda v, a: a.name,
    "status": lambda v, a: v.ad_status(a),
    "configured_status": lambda v, a: v.ad_status(a),
    "effective_status": lambda v, a: v.ad_status(a),
    "creative": lambda v, a: {"id": str(int(a.id) + 1)},
    "created_time": lambda v, a: v.created_time(a.start_day),
    "updated_time": lambda v, a: (
        v.timestamp(a.end_day, 15) if v.ad_status(a) == "PAUSED" else v.created_time(a.start_day)
    ),
}

EDGES: dict[str, tuple[str, dict[str, Getter], Callable[[AccountView], list[Any]]]] = {
    "campaigns": ("Campaign", CAMPAIGN_FIELDS, AccountView.campaigns),
    "adsets": ("AdSet", AD_SET_FIELDS, AccountView.ad_sets),
    "ads": ("Ad", AD_FIELDS, AccountView.ads),
}


def _utc_offset_hours(view: AccountView) -> int:
    offset = datetime.combine(day_date(view.today), time(12), view.zone).utcoffset()
    return int(offset.total_seconds() // 3600) if offset else 0


def _requested_fields(
    request: Request, node_type: str, known: dict[str, Getter], default: tuple[str, ...]
) -> list[str]:
    raw = request.query_params.get("fields", "")
    fields = [f.strip() for f in raw.split(",") if f.strip()] or list(default)
    for name in fields:
        if name not in known:
            raise GraphError(
                f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})",
                100,
            )
    return fields


def _node(view: AccountView, obj: Any, known: dict[str, Getter], fields: list[str]) -> dict:
    node = {}
    for name in [*fields, "id"]:
        value = known[name](view, obj)
        if value is not None:
            node[name] = value
    return node


def _account_node(request: Request, view: AccountView) -> dict:
    fields = _requested_fields(request, "AdAccount", ACCOUNT_FIELDS, ("account_id",))
    return _node(view, None, ACCOUNT_FIELDS, fields)


def _edge_page(request: Request, view: AccountView, edge: str) -> dict:
    node_type, known, listing = EDGES[edge]
    fields = _requested_fields(request, node_type, known, ("id",))
    objects = listing(view)
    statuses = _effective_status_filter(request)
    if statuses is not None:
        objects = [o for o in objects if known["effective_status"](view, o) in statuses]
    offset, limit = _page_window(request)
    nodes = [_node(view, o, known, fields) for o in objects[offset : offset + limit]]
    return _page(request, nodes, offset, limit, len(objects))


def _effective_status_filter(request: Request) -> set[str] | None:
    raw = request.query_params.get("effective_status")
    if raw is None:
        return None
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid_parameter("param effective_status must be an array of status strings")
    return set(values)


# --- paging --------------------------------------------------------------------------------


def _page_window(request: Request) -> tuple[int, int]:
    """(offset, limit) of the page asked for by `limit` and an `after` or `before` cursor."""
    raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or int(raw_limit) == 0:
        raise _invalid_parameter("param limit must be a positive integer")
    limit = min(int(raw_limit), MAX_LIMIT)
    if "after" in request.query_params:
        return _decode_cursor(request.query_params["after"], "after") + 1, limit
    if "before" in request.query_params:
        return max(0, _decode_cursor(request.query_params["before"], "before") - limit), limit
    return 0, limit


def _page(request: Request, data: list[dict], offset: int, limit: int, total: int) -> dict:
    """Page `data` (rows offset.. of `total`) with Meta's cursors and `next`/`previous` links."""
    if not data:
        return {"data": []}
    before, after = _encode_cursor(offset), _encode_cursor(offset + len(data) - 1)
    paging: dict[str, Any] = {"cursors": {"before": before, "after": after}}
    if offset + limit < total:
        url = request.url.remove_query_params("before").include_query_params(after=after)
        paging["next"] = str(url)
    if offset > 0:
        url = request.url.remove_query_params("after").include_query_params(before=before)
        paging["previous"] = str(url)
    return {"data": data, "paging": paging}


# --- insights -----------------------------------------------------------------------------

ROW_FIELDS = (
    "account_id",
    "account_name",
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
# The level an entity field first exists at (finer levels have it too).
FIELD_LEVEL = {
    "campaign_id": "campaign",
    "campaign_name": "campaign",
    "objective": "campaign",
    "adset_id": "adset",
    "adset_name": "adset",
    "ad_id": "ad",
    "ad_name": "ad",
}


@dataclass(frozen=True)
class InsightsQuery:
    level: str
    first: date
    last: date
    increment: str  # a number of days, "monthly" or "all_days"
    fields: tuple[str, ...]
    windows: tuple[str, ...]


@dataclass
class Totals:
    """Summed delivery of one entity over one time bucket, in integers."""

    impressions: int = 0
    clicks: int = 0
    spend_micros: int = 0
    conversions: int = 0
    value_micros: int = 0


def _insights_query(request: Request, view: AccountView) -> InsightsQuery:
    params = request.query_params
    level = params.get("level", "account")
    if level not in LEVELS:
        raise _invalid_parameter(
            f"param level must be one of {{{', '.join(LEVELS)}}}, got {level!r}"
        )
    first, last = _time_range(params.get("time_range"), params.get("date_preset"), view)
    fields = [f.strip() for f in params.get("fields", "").split(",") if f.strip()]
    for name in fields:
        if name not in ROW_FIELDS:
            raise _invalid_parameter(
                f"{name} is not valid for fields param. please check {INSIGHTS_DOCS} "
                "for all valid values"
            )
    default = ("account_id",) if level == "account" else (f"{level}_id",)
    return InsightsQuery(
        level=level,
        first=first,
        last=last,
        increment=_time_increment(params.get("time_increment", "all_days")),
        fields=tuple(fields or (*default, "impressions", "spend")),
        windows=_attribution_windows(params.get("action_attribution_windows")),
    )


def _time_range(raw: str | None, preset: str | None, view: AccountView) -> tuple[date, date]:
    today = day_date(view.today)
    if raw is None:
        days = DATE_PRESETS.get(preset or "last_30d")
        if days is None:
            raise _invalid_parameter(f"param date_preset must be one of {sorted(DATE_PRESETS)}")
        return today - timedelta(days=days), today - timedelta(days=1)
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError:
        spec = None
    if not isinstance(spec, dict) or not {"since", "until"} <= spec.keys():
        raise _invalid_parameter(
            "param time_range must be a JSON object like "
            '{"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}'
        )
    first, last = _iso_date(spec["since"], "since"), _iso_date(spec["until"], "until")
    if last < first:
        raise _invalid_parameter("param time_range: since must not be after until")
    if first < add_months(today, -HISTORY_MONTHS):
        raise GraphError(
            f"(#3018) The start date of the time range cannot be beyond {HISTORY_MONTHS} months "
            "from the current date",
            3018,
        )
    return first, last


def _iso_date(value: Any, name: str) -> date:
    if isinstance(value, str) and _DATE_PATTERN.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _invalid_parameter(f"param time_range[{name}] must be a date in YYYY-MM-DD format")


def _time_increment(raw: str) -> str:
    if raw in ("monthly", "all_days") or (raw.isdigit() and 1 <= int(raw) <= 90):
        return raw
    raise _invalid_parameter("param time_increment must be 1-90, 'monthly' or 'all_days'")


def _attribution_windows(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    try:
        windows = json.loads(raw)
    except json.JSONDecodeError:
        windows = [w.strip() for w in raw.split(",")]
    known = (*CLICK_WINDOWS, *VIEW_WINDOWS)
    if not isinstance(windows, list) or any(w not in known for w in windows):
        raise _invalid_parameter(f"param action_attribution_windows must be a list of {known}")
    return tuple(windows)


def _bucket(day: date, query: InsightsQuery) -> tuple[date, date]:
    """The (date_start, date_stop) row `day` is reported in."""
    if query.increment == "all_days":
        return query.first, query.last
    if query.increment == "monthly":
        month_start = day.replace(day=1)
        month_end = add_months(month_start, 1) - timedelta(days=1)
        return max(month_start, query.first), min(month_end, query.last)
    size = int(query.increment)
    start = query.first + timedelta(days=(day - query.first).days // size * size)
    return start, min(start + timedelta(days=size - 1), query.last)


def _entity_index(level: str, ad: Ad) -> int:
    return {"ad": ad.index, "adset": ad.ad_group_index, "campaign": ad.campaign_index}.get(level, 0)


def _insights_totals(
    view: AccountView, query: InsightsQuery, days: list[date]
) -> list[tuple[tuple[date, date], Ad, Totals]]:
    """Delivery summed per (time bucket, entity at `query.level`), in Meta's row order."""
    totals: dict[tuple[tuple[date, date], int], tuple[Ad, Totals]] = {}
    for day in days:
        delivered = reported_day(view.account, day_number(day), view.today)
        bucket = _bucket(day, query)
        for row, ad_index in enumerate(delivered.ad_index):
            ad = view.account.ads[int(ad_index)]
            key = (bucket, _entity_index(query.level, ad))
            total = totals.setdefault(key, (ad, Totals()))[1]
            total.impressions += int(delivered.impressions[row])
            total.clicks += int(delivered.clicks[row])
            total.spend_micros += int(delivered.spend_micros[row])
            total.conversions += round(float(delivered.conversions[row]))
            total.value_micros += int(delivered.conversion_value_micros[row])
    ordered = sorted(
        totals.items(), key=lambda item: (item[0][0], _entity_id(view, query.level, item[1][0]))
    )
    return [(bucket, ad, total) for (bucket, _), (ad, total) in ordered]


def _entity_id(view: AccountView, level: str, ad: Ad) -> int:
    """The Meta id of the entity `ad` rolls up to at `level` (rows sort by it within a day)."""
    if level == "ad":
        return int(ad.id)
    if level == "adset":
        return int(view.account.ad_groups[ad.ad_group_index].id)
    if level == "campaign":
        return int(view.account.campaigns[ad.campaign_index].id)
    return 0


def _insights_row(
    view: AccountView,
    query: InsightsQuery,
    bucket: tuple[date, date],
    ad: Ad,
    total: Totals,
    drifting: bool,
) -> dict[str, Any]:
    account = view.account
    campaign = account.campaigns[ad.campaign_index]
    ad_set = account.ad_groups[ad.ad_group_index]
    values: dict[str, Callable[[], Any]] = {
        "account_id": lambda: account.account_id,
        "account_name": lambda: view.tenant.display_name,
        "account_currency": lambda: account.currency,
        "campaign_id": lambda: campaign.id,
        "campaign_name": lambda: campaign.name,
        "objective": lambda: campaign.objective,
        "adset_id": lambda: ad_set.id,
        "adset_name": lambda: ad_set.name,
        "ad_id": lambda: ad.id,
        "ad_name": lambda: ad.name,
        "impressions": lambda: str(total.impressions),
        "clicks": lambda: str(total.clicks),
        "spend": lambda: _decimal_text(total.spend_micros),
        "actions": lambda: _actions(campaign, total, query.windows, values=False),
        "action_values": lambda: _actions(campaign, total, query.windows, values=True),
    }
    row: dict[str, Any] = {}
    for name in query.fields:
        if name in FIELD_LEVEL and LEVELS.index(query.level) < LEVELS.index(FIELD_LEVEL[name]):
            continue
        if name in values:
            value = values[name]()
            if value is not None:
                row[name] = value
    if drifting:
        row[DRIFT_FIELD] = str(total.clicks * 7 // 10)
    row["date_start"], row["date_stop"] = bucket[0].isoformat(), bucket[1].isoformat()
    return row


def _actions(
    campaign: Campaign, total: Totals, windows: tuple[str, ...], values: bool
) -> list[dict[str, str]] | None:
    """Each action type of the campaign's pixel event (its count, or its value with `values`),
    split over the requested attribution windows; None when zero, as Meta leaves it out."""
    if total.conversions <= 0 or (values and total.value_micros <= 0):
        return None
    view_count = total.conversions // 5  # view-through share of what the default setting counts
    if values:
        amount = total.value_micros
        view_part = amount * view_count // total.conversions // CENT_MICROS * CENT_MICROS
        text: Callable[[int], str] = _decimal_text
    else:
        amount, view_part, text = total.conversions, view_count, str
    split = {w: view_part if w in VIEW_WINDOWS else amount - view_part for w in windows}
    entries = []
    for action_type in sorted(ACTION_TYPES.get(campaign.objective, ("offsite_conversion",))):
        entry = {"action_type": action_type, "value": text(amount)}
        entry |= {window: text(part) for window, part in split.items()}
        entries.append(entry)
    return entries


def _insights_page(request: Request, view: AccountView, drifting: bool) -> dict:
    query = _insights_query(request, view)
    offset, limit = _page_window(request)
    world = world_of(request)
    days = served_days(world, max(query.first, WORLD_START), query.last)
    totals = _insights_totals(view, query, days)
    window = totals[offset : offset + limit]
    rows = [_insights_row(view, query, b, ad, t, drifting) for b, ad, t in window]
    return _page(request, rows, offset, limit, len(totals))


# --- requests: version, token, account, faults ---------------------------------------------


def _check_version(version: str) -> None:
    match = _VERSION_PATTERN.match(version)
    if match is None:
        raise GraphError(f"Unknown path components: /{version}", 2500, error_type="OAuthException")
    if int(match.group(1)) < OLDEST_VERSION:
        raise GraphError(
            "(#2635) You are calling a deprecated version of the Ads API. Please update to the "
            f"latest version: {API_VERSION}.",
            2635,
        )


def _access_token(request: Request) -> str:
    token = request.query_params.get("access_token")
    if token is None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            token = value.strip()
    if not token:
        raise GraphError("An access token is required to request this resource.", 104)
    return token


def _auth_error(message: str, subcode: int | None = None) -> GraphError:
    challenge = f'OAuth "Facebook Platform" "invalid_token" "{message}"'
    return GraphError(message, 190, subcode=subcode, headers={"WWW-Authenticate": challenge})


def _expired_token_error(request: Request) -> GraphError:
    pacific = ZoneInfo("America/Los_Angeles")
    now = world_now(world_of(request).today()).astimezone(pacific)
    expired = now - timedelta(hours=1)
    stamp = "%A, %d-%b-%y %H:%M:%S %Z"
    return _auth_error(
        f"Error validating access token: Session has expired on {expired.strftime(stamp)}. "
        f"The current time is {now.strftime(stamp)}.",
        subcode=463,
    )


def _authorised_view(request: Request) -> AccountView:
    """The account named in the path, if the request's token may read it."""
    _check_version(request.path_params["version"])
    world = world_of(request)
    tenant = world.tenant_for_secret(SOURCE, _access_token(request))
    if tenant is None:
        raise _auth_error("Invalid OAuth access token - Cannot parse access token")
    account_id = request.path_params["account_id"]
    owner = world.tenant_for_account(SOURCE, account_id)
    if owner is None or owner.id != tenant.id:
        raise GraphError(
            f"Unsupported get request. Object with ID 'act_{account_id}' does not exist, cannot "
            "be loaded due to missing permissions, or does not support this operation. Please "
            "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            100,
            subcode=33,
            error_type="GraphMethodException",
        )
    return AccountView(tenant, world.ad_account(tenant, SOURCE), world.today())


def _usage_headers(account_id: str, use_case: str, throttled_minutes: int | None) -> dict:
    """Meta's rate-limit headers: high usage when throttled, a light load otherwise."""
    busy = throttled_minutes is not None
    usage = {
        "type": use_case,
        "call_count": 100 if busy else 1,
        "total_cputime": 27 if busy else 1,
        "total_time": 34 if busy else 1,
        "estimated_time_to_regain_access": throttled_minutes or 0,
        "ads_api_access_tier": ACCESS_TIER,
    }
    headers = {
        "X-Business-Use-Case-Usage": json.dumps({account_id: [usage]}),
        "X-Ad-Account-Usage": json.dumps(
            {
                "acc_id_util_pct": 100 if busy else 0.12,
                "reset_time_duration": (throttled_minutes or 0) * 60,
                "ads_api_access_tier": ACCESS_TIER,
            }
        ),
        "X-App-Usage": json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1}),
    }
    if use_case == "ads_insights":
        headers["X-FB-Ads-Insights-Throttle"] = json.dumps(
            {
                "app_id_util_pct": 0.0,
                "acc_id_util_pct": 100.0 if busy else 0.12,
                "ads_api_access_tier": ACCESS_TIER,
            }
        )
    return headers


def _fault_response(
    request: Request, fault: Fault, account_id: str, use_case: str, body: Callable[[], Any]
) -> Response:
    if fault.kind is FaultKind.EXPIRED_TOKEN:
        return _expired_token_error(request).response()
    if fault.kind is FaultKind.RATE_LIMIT:
        minutes = round(fault.seconds / 60)
        headers = _usage_headers(account_id, use_case, minutes)
        if use_case == "ads_insights":
            message = (
                "(#80000) There have been too many calls from this ad-account. Wait a bit and "
                f"try again. For more info, please refer to {RATE_LIMITING_DOCS}."
            )
            code = 80000
        else:
            message = (
                "(#80004) There have been too many calls to this ad-account. Wait a bit and try "
                f"again. For more info, please refer to {RATE_LIMITING_DOCS}#ads-management."
            )
            code = 80004
        return GraphError(message, code, subcode=THROTTLE_SUBCODE, headers=headers).response()
    if fault.kind is FaultKind.SERVER_ERROR:
        return GraphError(
            "An unknown error occurred", 1, subcode=99, status=500, transient=True
        ).response()
    text = json.dumps(body())
    return Response(text[: max(1, len(text) // 2)], 200, media_type="application/json")


async def _serve(
    request: Request, use_case: str, build: Callable[[Request, AccountView, bool], Any]
) -> Response:
    """Authorise, apply any armed fault, then answer `build(...)` with Meta's usage headers."""
    try:
        view = _authorised_view(request)
        account_id = view.account.account_id
        drifting = faults_of(request).drifting(view.tenant.id, SOURCE.value)
        fault = await take_fault(request, view.tenant.id, SOURCE.value)
        if fault is not None:
            return _fault_response(
                request, fault, account_id, use_case, lambda: build(request, view, drifting)
            )
        body = await run_in_threadpool(build, request, view, drifting)
    except GraphError as error:
        return error.response()
    return JSONResponse(body, headers=_usage_headers(account_id, use_case, None))


async def ad_account(request: Request) -> Response:
    return await _serve(request, "ads_management", lambda r, v, _: _account_node(r, v))


async def campaigns(request: Request) -> Response:
    return await _serve(request, "ads_management", lambda r, v, _: _edge_page(r, v, "campaigns"))


async def ad_sets(request: Request) -> Response:
    return await _serve(request, "ads_management", lambda r, v, _: _edge_page(r, v, "adsets"))


async def ads(request: Request) -> Response:
    return await _serve(request, "ads_management", lambda r, v, _: _edge_page(r, v, "ads"))


async def insights(request: Request) -> Response:
    return await _serve(request, "ads_insights", _insights_page)


routes = [
    Route("/{version}/act_{account_id}", ad_account),
    Route("/{version}/act_{account_id}/campaigns", campaigns),
    Route("/{version}/act_{account_id}/adsets", ad_sets),
    Route("/{version}/act_{account_id}/ads", ads),
    Route("/{version}/act_{account_id}/insights", insights),
]
