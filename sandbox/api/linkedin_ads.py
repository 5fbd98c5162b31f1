"""LinkedIn's versioned Marketing API (`/rest`, Rest.li 2.0) over each tenant's LinkedIn account.

Mounted at `/linkedin`: `GET /rest/adAccounts/{id}`, the account's `adCampaignGroups` and
`adCampaigns` (`q=search`) and `creatives` (`q=criteria`) finders, and `GET /rest/adAnalytics`
(`q=analytics`, one pivot of CREATIVE, CAMPAIGN, CAMPAIGN_GROUP or ACCOUNT). It follows
learn.microsoft.com/linkedin/marketing (versioning, cursor-based pagination, ads reporting,
error handling) and responses seen from the live API: every call needs `Authorization: Bearer`
and a `LinkedIn-Version: YYYYMM` header of the last twelve months (missing: 400
VERSION_MISSING; retired or unknown: 426 NONEXISTENT_VERSION, "Requested version 20250401 is not
active"); finders page with `pageSize` (default 100, at most 1000) and an opaque `pageToken`,
answering `metadata.nextPageToken` until the last page; query values use Rest.li 2.0 syntax
(`List(...)`, `(key:value)`, URNs percent-encoded inside) and are parsed before decoding, so
structure escaped as `%28` is data, as on LinkedIn. adAnalytics has no pagination, answers
`{"paging", "elements"}` with money as decimal strings in the account currency, and silently
truncates at 15,000 elements; accounts the token cannot read give an empty answer. Errors have
LinkedIn's `{"status", "serviceErrorCode", "code", "message"}` shape; throttling is a 429 with no
Retry-After (LinkedIn's daily limits reset at midnight UTC).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aya.tenants import SourceName, Tenant
from sandbox.api.common import faults_of, served_days, take_fault, world_of
from sandbox.faults import Fault, FaultKind
from sandbox.world.ad_metrics import reported_day
from sandbox.world.calendar import add_months, day_date, day_number
from sandbox.world.catalog import Ad, AdAccount, Campaign
from sandbox.world.tenant_world import World

SOURCE = SourceName.LINKEDIN_ADS
ACTIVE_VERSION_MONTHS = 12
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_ELEMENTS = 15_000
MAX_METRICS = 20
DRIFT_FIELD = "landingPageClicks"
RESTLI_PROTOCOL = "2.0.0"
ACCOUNT_URN = "urn:li:sponsoredAccount:"
CAMPAIGN_GROUP_URN = "urn:li:sponsoredCampaignGroup:"
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"
CREATIVE_URN = "urn:li:sponsoredCreative:"
PIVOTS = ("ACCOUNT", "CAMPAIGN_GROUP", "CAMPAIGN", "CREATIVE")
GRANULARITIES = ("DAILY", "MONTHLY", "YEARLY", "ALL")
METRICS = (
    "impressions",
    "clicks",
    "costInLocalCurrency",
    "externalWebsiteConversions",
    "externalWebsitePostClickConversions",
    "externalWebsitePostViewConversions",
    "conversionValueInLocalCurrency",
)
DEFAULT_FIELDS = ("impressions", "clicks", "dateRange", "pivotValues")


class LinkedInError(Exception):
    """A request LinkedIn refuses, with the JSON body it answers."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, self.status)


def _error(status: int, code: str, message: str, service_code: int | None = None) -> LinkedInError:
    body: dict[str, Any] = {"status": status}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    return LinkedInError(status, body | {"code": code, "message": message})


def _bad_param(name: str, description: str) -> LinkedInError:
    """LinkedIn's 400 for a query parameter it cannot use."""
    return LinkedInError(
        400,
        {
            "errorDetailType": "com.linkedin.common.error.BadRequest",
            "message": "Invalid param. Please see errorDetails for more information.",
            "errorDetails": {
                "inputErrors": [
                    {
                        "description": description,
                        "input": {"inputPath": {"fieldPath": name}},
                        "code": "PARAM_INVALID",
                    }
                ]
            },
            "status": 400,
            "code": "PARAM_INVALID",
        },
    )


# --- Rest.li 2.0 query syntax --------------------------------------------------------------


class _RestliParser:
    """Parses one Rest.li 2.0 query value; structure characters count only when unescaped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Any:
        value = self._value()
        if self.pos != len(self.text):
            raise ValueError(f"unexpected {self.text[self.pos]!r} at {self.pos}")
        return value

    def _value(self) -> Any:
        if self.text.startswith("List(", self.pos):
            self.pos += len("List(")
            return self._items()
        if self._peek() == "(":
            self.pos += 1
            return self._record()
        return self._leaf()

    def _items(self) -> list[Any]:
        items: list[Any] = []
        if self._peek() == ")":
            self.pos += 1
            return items
        while True:
            items.append(self._value())
            if self._take(",)") == ")":
                return items

    def _record(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        if self._peek() == ")":
            self.pos += 1
            return record
        while True:
            key = self._leaf()
            self._take(":")
            record[key] = self._value()
            if self._take(",)") == ")":
                return record

    def _leaf(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "(),:":
            self.pos += 1
        if self.pos == start:
            raise ValueError(f"expected a value at {start}")
        return unquote(self.text[start : self.pos])

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _take(self, allowed: str) -> str:
        """The next character, which must be one of the separators `allowed` here."""
        char = self._peek()
        if not char or char not in allowed:
            raise ValueError(f"expected one of {allowed!r} at {self.pos}, found {char!r}")
        self.pos += 1
        return char


def _raw_query(request: Request) -> dict[str, str]:
    """Query parameters with their values still percent-encoded (Rest.li parses before decoding)."""
    params: dict[str, str] = {}
    for part in request.url.query.split("&"):
        if part:
            name, _, value = part.partition("=")
            params[unquote(name)] = value
    return params


def _restli(params: dict[str, str], name: str) -> Any:
    try:
        return _RestliParser(params[name]).parse()
    except ValueError as error:
        raise _bad_param(
            name, f"Invalid value for param; wrong type or other syntax error: {error}"
        ) from None


def _plain(params: dict[str, str], name: str, default: str | None = None) -> str | None:
    value = params.get(name)
    return unquote(value) if value is not None else default


def _restli_strings(params: dict[str, str], name: str) -> set[str]:
    """The values of a `List(...)` parameter."""
    values = _restli(params, name)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _bad_param(name, f"{name} must be a List(...) of values")
    return set(values)


def _urn_ids(params: dict[str, str], name: str, prefix: str) -> set[str]:
    """The ids of the `prefix` URNs listed in parameter `name` (other URNs select nothing)."""
    return {v.removeprefix(prefix) for v in _restli_strings(params, name) if v.startswith(prefix)}


# --- the account as one request sees it ----------------------------------------------------


@dataclass(frozen=True)
class AccountView:
    """One tenant's LinkedIn ad account on the sandbox's today."""

    tenant: Tenant
    account: AdAccount
    today: int

    @property
    def urn(self) -> str:
        return f"{ACCOUNT_URN}{self.account.account_id}"

    def epoch_ms(self, day: int, hour: int = 0) -> int:
        local = datetime.combine(day_date(day), time(hour), ZoneInfo(self.account.timezone))
        return int(local.timestamp()) * 1000

    def campaigns(self) -> list[Campaign]:
        return [c for c in self.account.campaigns if c.start_day <= self.today]

    def campaign_groups(self) -> dict[str, list[Campaign]]:
        groups: dict[str, list[Campaign]] = {}
        for campaign in self.campaigns():
            groups.setdefault(campaign.group_id, []).append(campaign)
        return groups

    def creatives(self) -> list[Ad]:
        return self.account.existing_ads(self.today)

    def creative_status(self, ad: Ad) -> str:
        return "ACTIVE" if ad.end_day > self.today else "PAUSED"


def _money(amount: float, currency: str) -> dict[str, str]:
    return {"amount": str(Decimal(str(amount)).quantize(Decimal("0.01"))), "currencyCode": currency}


def _decimal_text(micros: int) -> str:
    """A BigDecimal as LinkedIn prints it: exact, at least one decimal ("12.345678", "100.0")."""
    text = format(Decimal(int(micros)).scaleb(-6).normalize(), "f")
    return text if "." in text else f"{text}.0"


def _account_element(view: AccountView) -> dict[str, Any]:
    return {
        "id": int(view.account.account_id),
        "name": view.tenant.display_name,
        "currency": view.account.currency,
        "status": "ACTIVE",
        "type": "BUSINESS",
        "test": False,
        "reference": f"urn:li:organization:{int(view.account.account_id) % 100_000_000}",
        "notifiedOnCampaignOptimization": False,
        "notifiedOnCreativeApproval": False,
        "notifiedOnCreativeRejection": False,
        "notifiedOnEndOfCampaign": False,
        "servingStatuses": ["RUNNABLE"],
        "version": {"versionTag": "1"},
    }


def _campaign_group_element(view: AccountView, group_id: str, members: list[Campaign]) -> dict:
    start = min(c.start_day for c in members)
    return {
        "id": int(group_id),
        "account": view.urn,
        "name": " / ".join(c.name for c in members),
        "status": "ACTIVE",
        "test": False,
        "servingStatuses": ["RUNNABLE"],
        "runSchedule": {"start": view.epoch_ms(start)},
        "changeAuditStamps": {
            "created": {"time": view.epoch_ms(start - 1, 15)},
            "lastModified": {"time": view.epoch_ms(start - 1, 15)},
        },
    }


def _campaign_element(view: AccountView, campaign: Campaign) -> dict:
    currency = view.account.currency
    return {
        "id": int(campaign.id),
        "account": view.urn,
        "campaignGroup": f"{CAMPAIGN_GROUP_URN}{campaign.group_id}",
        "name": campaign.name,
        "status": "ACTIVE",
        "type": "SPONSORED_UPDATES",
        "costType": "CPM",
        "objectiveType": campaign.objective,
        "format": "STANDARD_UPDATE",
        "dailyBudget": _money(campaign.daily_budget, currency),
        "unitCost": _money(campaign.cpm, currency),
        "runSchedule": {"start": view.epoch_ms(campaign.start_day)},
        "locale": {"country": "US", "language": "en"},
        "test": False,
        "servingStatuses": ["RUNNABLE"],
        "changeAuditStamps": {
            "created": {"time": view.epoch_ms(campaign.start_day - 1, 15)},
            "lastModified": {"time": view.epoch_ms(campaign.start_day - 1, 15)},
        },
    }


def _creative_element(view: AccountView, ad: Ad) -> dict:
    status = view.creative_status(ad)
    modified = min(ad.end_day, view.today) if status == "PAUSED" else ad.start_day - 1
    return {
        "id": f"{CREATIVE_URN}{ad.id}",
        "account": view.urn,
        "campaign": f"{CAMPAIGN_URN}{view.account.campaigns[ad.campaign_index].id}",
        "name": ad.name,
        "intendedStatus": status,
        "isServing": status == "ACTIVE",
        "isTest": False,
        "content": {"reference": f"urn:li:share:{int(ad.id) * 7 + 3}"},
        "createdAt": view.epoch_ms(ad.start_day - 1, 15),
        "lastModifiedAt": view.epoch_ms(modified, 15),
    }


# --- finders with cursor pagination --------------------------------------------------------


def _encode_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"li:{last_id}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("li:") or not text[3:].isdigit():
        raise _bad_param("pageToken", f"Invalid page token {token!r}")
    return int(text[3:])


def _finder_page(params: dict[str, str], keyed: Iterable[tuple[int, dict]]) -> dict:
    """One page of a finder's elements, ordered by id, with `metadata.nextPageToken`."""
    size_text = _plain(params, "pageSize", str(DEFAULT_PAGE_SIZE)) or ""
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
        raise _bad_param("pageSize", f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    size = int(size_text)
    descending = _plain(params, "sortOrder", "ASCENDING") == "DESCENDING"
    ordered = sorted(keyed, key=lambda item: item[0], reverse=descending)
    token = _plain(params, "pageToken")
    if token:
        last = _decode_token(token)
        ordered = [item for item in ordered if (item[0] < last if descending else item[0] > last)]
    page = ordered[:size]
    metadata = {"nextPageToken": _encode_token(page[-1][0])} if len(ordered) > size else {}
    return {"elements": [element for _, element in page], "metadata": metadata}


def _require_finder(params: dict[str, str], name: str) -> None:
    if _plain(params, "q") != name:
        raise _bad_param("q", f"This resource supports the '{name}' finder only (q={name})")


def _search_values(params: dict[str, str], facet: str) -> set[str] | None:
    """Values of `search=(facet:(values:List(...)))`, or None when the facet is not given."""
    if "search" not in params:
        return None
    search = _restli(params, "search")
    if not isinstance(search, dict):
        raise _bad_param("search", "search must be a record like (status:(values:List(ACTIVE)))")
    criterion = search.get(facet)
    if criterion is None:
        return None
    if not isinstance(criterion, dict) or not isinstance(criterion.get("values"), list):
        raise _bad_param("search", f"search.{facet} must be (values:List(...))")
    return set(criterion["values"])


def _campaign_groups_page(request: Request, view: AccountView) -> dict:
    params = _raw_query(request)
    _require_finder(params, "search")
    statuses = _search_values(params, "status")
    elements = [
        (int(group_id), _campaign_group_element(view, group_id, members))
        for group_id, members in view.campaign_groups().items()
    ]
    if statuses is not None:
        elements = [(i, e) for i, e in elements if e["status"] in statuses]
    return _finder_page(params, elements)


def _campaigns_page(request: Request, view: AccountView) -> dict:
    params = _raw_query(request)
    _require_finder(params, "search")
    statuses = _search_values(params, "status")
    groups = _search_values(params, "campaignGroup")
    elements = [(int(c.id), _campaign_element(view, c)) for c in view.campaigns()]
    if statuses is not None:
        elements = [(i, e) for i, e in elements if e["status"] in statuses]
    if groups is not None:
        elements = [(i, e) for i, e in elements if e["campaignGroup"] in groups]
    return _finder_page(params, elements)


def _creatives_page(request: Request, view: AccountView) -> dict:
    params = _raw_query(request)
    _require_finder(params, "criteria")
    elements = [(int(ad.id), _creative_element(view, ad)) for ad in view.creatives()]
    if "campaigns" in params:
        campaign_urns = _restli_strings(params, "campaigns")
        elements = [(i, e) for i, e in elements if e["campaign"] in campaign_urns]
    if "intendedStatuses" in params:
        statuses = _restli_strings(params, "intendedStatuses")
        elements = [(i, e) for i, e in elements if e["intendedStatus"] in statuses]
    return _finder_page(params, elements)


# --- adAnalytics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyticsQuery:
    pivot: str
    granularity: str
    first: date
    last: date
    fields: tuple[str, ...]
    account_ids: frozenset[str]
    campaign_group_ids: frozenset[str]
    campaign_ids: frozenset[str]
    creative_ids: frozenset[str]


@dataclass
class Totals:
    impressions: int = 0
    clicks: int = 0
    cost_micros: int = 0
    conversions: int = 0
    value_micros: int = 0


def _analytics_query(request: Request, today: date) -> AnalyticsQuery:
    params = _raw_query(request)
    _require_finder(params, "analytics")
    pivot = _plain(params, "pivot")
    if pivot not in PIVOTS:
        raise _bad_param("pivot", f"pivot must be one of {', '.join(PIVOTS)}")
    granularity = _plain(params, "timeGranularity")
    if granularity not in GRANULARITIES:
        raise _bad_param("timeGranularity", f"timeGranularity must be one of {GRANULARITIES}")
    if "dateRange" not in params:
        raise _bad_param("dateRange", "dateRange is required")
    first, last = _date_range(_restli(params, "dateRange"), today)
    fields = tuple(f for f in (_plain(params, "fields", "") or "").split(",") if f)
    if len([f for f in fields if f not in ("dateRange", "pivotValues")]) > MAX_METRICS:
        raise _bad_param("fields", f"A maximum of {MAX_METRICS} metrics may be requested")
    facets = {
        name: _urn_ids(params, name, prefix) if name in params else set()
        for name, prefix in (
            ("accounts", ACCOUNT_URN),
            ("campaignGroups", CAMPAIGN_GROUP_URN),
            ("campaigns", CAMPAIGN_URN),
            ("creatives", CREATIVE_URN),
        )
    }
    if not any(name in params for name in facets):
        raise _bad_param(
            "accounts", "At least one of accounts, campaignGroups, campaigns or creatives is needed"
        )
    return AnalyticsQuery(
        pivot=pivot,
        granularity=granularity,
        first=first,
        last=last,
        fields=fields or DEFAULT_FIELDS,
        account_ids=frozenset(facets["accounts"]),
        campaign_group_ids=frozenset(facets["campaignGroups"]),
        campaign_ids=frozenset(facets["campaigns"]),
        creative_ids=frozenset(facets["creatives"]),
    )


def _date_range(spec: Any, today: date) -> tuple[date, date]:
    if not isinstance(spec, dict) or "start" not in spec:
        raise _bad_param("dateRange", "dateRange must be (start:(year:Y,month:M,day:D),end:(...))")
    first = _restli_date(spec["start"])
    last = _restli_date(spec["end"]) if "end" in spec else today
    if last < first:
        raise _bad_param("dateRange", "dateRange.end must not be before dateRange.start")
    return first, last


def _restli_date(spec: Any) -> date:
    try:
        return date(int(spec["year"]), int(spec["month"]), int(spec["day"]))
    except (KeyError, TypeError, ValueError):
        raise _bad_param("dateRange", "dates must be (year:YYYY,month:M,day:D)") from None


def _selected_ads(view: AccountView, query: AnalyticsQuery) -> set[int]:
    """Indices of the tenant's ads the facets select; other accounts' entities select nothing."""
    account = view.account
    if account.account_id in query.account_ids:
        return {ad.index for ad in account.ads}
    return {
        ad.index
        for ad in account.ads
        if ad.id in query.creative_ids
        or account.campaigns[ad.campaign_index].id in query.campaign_ids
        or account.campaigns[ad.campaign_index].group_id in query.campaign_group_ids
    }


def _bucket(day: date, query: AnalyticsQuery) -> tuple[date, date]:
    if query.granularity == "DAILY":
        return day, day
    if query.granularity == "MONTHLY":
        start = day.replace(day=1)
        end = add_months(start, 1) - timedelta(days=1)
    elif query.granularity == "YEARLY":
        start, end = date(day.year, 1, 1), date(day.year, 12, 31)
    else:
        start, end = query.first, query.last
    return max(start, query.first), min(end, query.last)


def _pivot_urn(account: AdAccount, pivot: str, ad: Ad) -> str:
    campaign = account.campaigns[ad.campaign_index]
    return {
        "ACCOUNT": f"{ACCOUNT_URN}{account.account_id}",
        "CAMPAIGN_GROUP": f"{CAMPAIGN_GROUP_URN}{campaign.group_id}",
        "CAMPAIGN": f"{CAMPAIGN_URN}{campaign.id}",
        "CREATIVE": f"{CREATIVE_URN}{ad.id}",
    }[pivot]


def _analytics_totals(
    world: World, view: AccountView, query: AnalyticsQuery
) -> list[tuple[tuple[date, date], str, Totals]]:
    """Delivery summed per (time bucket, pivot value), ordered by date then pivot id."""
    selected = _selected_ads(view, query)
    totals: dict[tuple[tuple[date, date], str], Totals] = {}
    if not selected:
        return []
    for day in served_days(world, query.first, query.last):
        delivered = reported_day(view.account, day_number(day), view.today)
        bucket = _bucket(day, query)
        for row, ad_index in enumerate(delivered.ad_index):
            if int(ad_index) not in selected:
                continue
            urn = _pivot_urn(view.account, query.pivot, view.account.ads[int(ad_index)])
            total = totals.setdefault((bucket, urn), Totals())
            total.impressions += int(delivered.impressions[row])
            total.clicks += int(delivered.clicks[row])
            total.cost_micros += int(delivered.spend_micros[row])
            total.conversions += round(float(delivered.conversions[row]))
            total.value_micros += int(delivered.conversion_value_micros[row])
    ordered = sorted(totals.items(), key=lambda item: (item[0][0], _urn_number(item[0][1])))
    return [(bucket, urn, total) for (bucket, urn), total in ordered]


def _urn_number(urn: str) -> int:
    return int(urn.rpartition(":")[2])


def _restli_day(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


METRIC_VALUES: dict[str, Callable[[Totals], Any]] = {
    "impressions": lambda t: t.impressions,
    "clicks": lambda t: t.clicks,
    "costInLocalCurrency": lambda t: _decimal_text(t.cost_micros),
    "externalWebsiteConversions": lambda t: t.conversions,
    "externalWebsitePostClickConversions": lambda t: t.conversions - t.conversions // 5,
    "externalWebsitePostViewConversions": lambda t: t.conversions // 5,
    "conversionValueInLocalCurrency": lambda t: _decimal_text(t.value_micros),
}


def _analytics_element(
    query: AnalyticsQuery, bucket: tuple[date, date], urn: str, total: Totals, drifting: bool
) -> dict[str, Any]:
    element: dict[str, Any] = {}
    for name in query.fields:
        if name == "pivotValues":
            element[name] = [urn]
        elif name == "dateRange":
            element[name] = {"start": _restli_day(bucket[0]), "end": _restli_day(bucket[1])}
        elif name in METRIC_VALUES:
            element[name] = METRIC_VALUES[name](total)
    if drifting:
        element[DRIFT_FIELD] = total.clicks * 7 // 10
    return element


def _analytics(request: Request, view: AccountView | None, drifting: bool) -> dict:
    world = world_of(request)
    query = _analytics_query(request, world.today_date())
    totals = _analytics_totals(world, view, query)[:MAX_ELEMENTS] if view else []
    return {
        "paging": {"start": 0, "count": 10, "links": []},
        "elements": [_analytics_element(query, *item, drifting) for item in totals],
    }


# --- requests: version, token, account, faults ---------------------------------------------


def active_versions(today: date) -> list[str]:
    """The `LinkedIn-Version` values served on `today`: the last twelve monthly releases."""
    first = add_months(today.replace(day=1), 1 - ACTIVE_VERSION_MONTHS)
    return [add_months(first, n).strftime("%Y%m") for n in range(ACTIVE_VERSION_MONTHS)]


def _check_version(request: Request) -> str:
    version = request.headers.get("linkedin-version", "").strip()
    if not version:
        raise _error(
            400,
            "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version "
            "header.",
        )
    month = version.partition(".")[0]
    if month not in active_versions(world_of(request).today_date()):
        shown = f"{month}01" if len(month) == 6 else version
        raise _error(426, "NONEXISTENT_VERSION", f"Requested version {shown} is not active")
    return month


def _check_protocol(request: Request) -> None:
    """Finder queries use Rest.li 2.0 syntax, which LinkedIn parses only under protocol 2.0.0."""
    if request.headers.get("x-restli-protocol-version") != RESTLI_PROTOCOL:
        raise _bad_param(
            "X-Restli-Protocol-Version",
            f"Rest.li 2.0 query syntax needs the header X-Restli-Protocol-Version: "
            f"{RESTLI_PROTOCOL}",
        )


def _tenant_of_token(request: Request) -> Tenant:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not token.strip():
        raise _error(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2_access_token", 65604)
    tenant = world_of(request).tenant_for_secret(SOURCE, token.strip())
    if scheme.lower() != "bearer" or tenant is None:
        raise _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
    return tenant


def _view_of(world: World, tenant: Tenant) -> AccountView | None:
    if SOURCE not in tenant.sources:
        return None
    return AccountView(tenant, world.ad_account(tenant, SOURCE), world.today())


def _account_view(request: Request, tenant: Tenant, resource: str, version: str) -> AccountView:
    """The account in the path, if the token's member may read it (403 ACCESS_DENIED if not)."""
    world = world_of(request)
    owner = world.tenant_for_account(SOURCE, request.path_params["account_id"])
    view = _view_of(world, tenant)
    if owner is None or owner.id != tenant.id or view is None:
        raise _error(
            403,
            "ACCESS_DENIED",
            f"Not enough permissions to access: {resource}.GET.{version}01",
            100,
        )
    return view


def _fault_response(fault: Fault, body: Callable[[], Any]) -> Response:
    if fault.kind is FaultKind.EXPIRED_TOKEN:
        return _error(
            401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65601
        ).response()
    if fault.kind is FaultKind.RATE_LIMIT:
        return _error(
            429,
            "TOO_MANY_REQUESTS",
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
            101,
        ).response()
    if fault.kind is FaultKind.SERVER_ERROR:
        return _error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error").response()
    text = json.dumps(body())
    return Response(text[: max(1, len(text) // 2)], 200, media_type="application/json")


async def _serve(
    request: Request,
    resource: str,
    build: Callable[[Request, Any, bool], Any],
    in_account: bool = True,
    finder: bool = True,
) -> Response:
    """Check version, token and access, apply any armed fault, then answer `build(...)`."""
    try:
        version = _check_version(request)
        tenant = _tenant_of_token(request)
        if finder:
            _check_protocol(request)
        if in_account:
            view: AccountView | None = _account_view(request, tenant, resource, version)
        else:
            view = _view_of(world_of(request), tenant)
        drifting = faults_of(request).drifting(tenant.id, SOURCE.value)
        fault = await take_fault(request, tenant.id, SOURCE.value)
        if fault is not None:
            return _fault_response(fault, lambda: build(request, view, drifting))
        body = await run_in_threadpool(build, request, view, drifting)
    except LinkedInError as error:
        return error.response()
    return JSONResponse(body, headers={"X-RestLi-Protocol-Version": RESTLI_PROTOCOL})


async def ad_account(request: Request) -> Response:
    return await _serve(request, "adAccounts", lambda r, v, _: _account_element(v), finder=False)


async def campaign_groups(request: Request) -> Response:
    return await _serve(request, "adCampaignGroups", lambda r, v, _: _campaign_groups_page(r, v))


async def campaigns(request: Request) -> Response:
    return await _serve(request, "adCampaigns", lambda r, v, _: _campaigns_page(r, v))


async def creatives(request: Request) -> Response:
    return await _serve(request, "creatives", lambda r, v, _: _creatives_page(r, v))


async def ad_analytics(request: Request) -> Response:
    return await _serve(request, "adAnalytics", _analytics, in_account=False)


routes = [
    Route("/rest/adAccounts/{account_id}", ad_account),
    Route("/rest/adAccounts/{account_id}/adCampaignGroups", campaign_groups),
    Route("/rest/adAccounts/{account_id}/adCampaigns", campaigns),
    Route("/rest/adAccounts/{account_id}/creatives", creatives),
    Route("/rest/adAnalytics", ad_analytics),
]
