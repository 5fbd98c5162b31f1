"""The Google Ads API (REST, v24) GoogleAdsService over each tenant's synthetic Google Ads account.

Mounted at `/google-ads`: `POST /v24/customers/{customer_id}/googleAds:searchStream` answers a
JSON array of batches of at most 10,000 rows (`results`, `fieldMask`, `requestId`, and
`queryResourceConsumption` in the last batch), `POST .../googleAds:search` pages the same rows
10,000 at a time with an opaque `nextPageToken` (setting `pageSize` is refused since v17), and
`GET /v24/customers:listAccessibleCustomers` lists the bearer's customer. It follows
developers.google.com/google-ads/api (REST reference, GAQL grammar, "Zero metrics", "Handle API
errors", common errors): requests carry `Authorization: Bearer` (from `/oauth2/token`) and
`developer-token`, optionally `login-customer-id`; the body is `{"query": "<GAQL>"}`. A small
GAQL interpreter serves `customer`, `campaign`, `ad_group` and `ad_group_ad` with their
attributed resources, `metrics.impressions/clicks/cost_micros/conversions/conversions_value`
and `segments.date`; WHERE takes AND-ed `=`, `!=`, `<`, `<=`, `>`, `>=`, `IN`, `NOT IN`,
`BETWEEN` and `DURING`, then ORDER BY, LIMIT and PARAMETERS. Rows nest by resource in
lowerCamelCase, int64 as strings, doubles as numbers, and the main resource's `resourceName`
always. Metric rows come from the world's `reported_day` (restated recent days included):
segmented by date, one row per entity and day with delivery; unsegmented, one row per entity
with the range's totals (all time without a date filter), zero rows included. Errors use the
google.rpc envelope with a `GoogleAdsFailure` detail, wrapped in an array for searchStream.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aya.tenants import SourceName, Tenant
from sandbox.api.common import faults_of, take_fault, world_of
from sandbox.api.google_oauth import (
    MISSING_CREDENTIALS_MESSAGE,
    TOKEN_EXPIRED,
    BearerFailure,
    check_bearer,
    error_info,
    google_error_body,
)
from sandbox.faults import Fault, FaultKind
from sandbox.world.ad_metrics import AdDay, reported_day
from sandbox.world.calendar import WORLD_START, add_months, day_date, day_number
from sandbox.world.catalog import Ad, AdAccount, AdGroup, Campaign
from sandbox.world.randomness import stable_digits, stable_token
from sandbox.world.tenant_world import sandbox_credentials

API_VERSION = "v24"
BATCH_ROWS = 10_000  # rows per searchStream batch and per search page
FAILURE_TYPE = f"type.googleapis.com/google.ads.googleads.{API_VERSION}.errors.GoogleAdsFailure"
SOURCE = SourceName.GOOGLE_ADS
STATUS_MESSAGES = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "PERMISSION_DENIED": "The caller does not have permission",
    "RESOURCE_EXHAUSTED": "Resource has been exhausted (e.g. check quota).",
    "INTERNAL": "Internal error encountered.",
    "UNAVAILABLE": "The service is currently unavailable.",
}
PERMISSION_MESSAGE = (
    "User doesn't have permission to access customer. Note: If you're accessing a client "
    "customer, the manager's customer ID must be set in the 'login-customer-id' header. See "
    "https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid"
)
# Ads reports these bearer failures itself; Google's front end answers the others.
ADS_AUTHENTICATION_ERRORS = {
    "ACCESS_TOKEN_EXPIRED": ("OAUTH_TOKEN_EXPIRED", "OAuth token in the header has expired."),
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": (
        "OAUTH_TOKEN_INVALID",
        "OAuth token in the header is not valid.",
    ),
}
# A field Google has just added to each main resource, sent to clients that never asked for it.
DRIFT_FIELDS = {
    "customer": ("optimizationScore", 0.87),
    "campaign": ("primaryStatus", "ELIGIBLE"),
    "ad_group": ("primaryStatus", "ELIGIBLE"),
    "ad_group_ad": ("primaryStatus", "ELIGIBLE"),
}
STREAM_BODY_FIELDS = frozenset({"query", "summaryRowSetting"})
SEARCH_BODY_FIELDS = STREAM_BODY_FIELDS | {
    "pageToken",
    "pageSize",
    "validateOnly",
    "returnTotalResultsCount",
}


# --- errors -----------------------------------------------------------------------------------


@dataclass(eq=False)
class AdsError(Exception):
    """A refused call: a GoogleAdsFailure with one GoogleAdsError, or other google.rpc details."""

    code: int
    status: str
    error_code: dict[str, str] | None  # {"queryError": "UNRECOGNIZED_FIELD"}; None: use details
    message: str
    extra: dict[str, Any] = field(default_factory=dict)  # location, trigger, details
    top_message: str | None = None
    details: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, request_id: str) -> dict[str, Any]:
        if self.error_code is None:
            return google_error_body(self.code, self.status, self.message, self.details)
        error = {"errorCode": self.error_code, "message": self.message, **self.extra}
        failure = {"@type": FAILURE_TYPE, "errors": [error], "requestId": request_id}
        message = self.top_message or STATUS_MESSAGES[self.status]
        return google_error_body(self.code, self.status, message, [failure])


def query_error(reason: str, message: str, trigger: str | None = None) -> AdsError:
    extra: dict[str, Any] = {"location": {"fieldPathElements": [{"fieldName": "query"}]}}
    if trigger is not None:
        extra["trigger"] = {"stringValue": trigger}
    return AdsError(400, "INVALID_ARGUMENT", {"queryError": reason}, message, extra)


def request_error(reason: str, message: str, field_name: str | None = None) -> AdsError:
    extra = {"location": {"fieldPathElements": [{"fieldName": field_name}]}} if field_name else {}
    return AdsError(400, "INVALID_ARGUMENT", {"requestError": reason}, message, extra)


def bad_request(message: str, field_name: str | None = None) -> AdsError:
    """The front end's answer to a body that does not parse as the request message."""
    violation = {"field": field_name} if field_name else {}
    violation["description"] = message
    details = [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    ]
    return AdsError(400, "INVALID_ARGUMENT", None, message, details=details)


def bearer_error(failure: BearerFailure) -> AdsError:
    known = ADS_AUTHENTICATION_ERRORS.get(failure.reason)
    if known is None:
        return AdsError(
            failure.code,
            failure.status,
            None,
            failure.message,
            details=error_info(failure, SOURCE),
            headers=failure.headers,
        )
    reason, message = known
    return AdsError(
        failure.code,
        failure.status,
        {"authenticationError": reason},
        message,
        top_message=failure.message,
        headers=failure.headers,
    )


def permission_denied() -> AdsError:
    return AdsError(
        403,
        "PERMISSION_DENIED",
        {"authorizationError": "USER_PERMISSION_DENIED"},
        PERMISSION_MESSAGE,
    )


# --- GAQL: tokens and grammar ---------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>!=|>=|<=|=|>|<)"
    r"|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
)
UNSUPPORTED_OPERATORS = frozenset({"LIKE", "CONTAINS", "IS", "REGEXP_MATCH"})


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, op, punct, word, end
    text: str

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str  # a comparison, IN, NOT IN, BETWEEN or DURING
    values: tuple[Token, ...]


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    resource: str
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    limit: int | None = None
    omit_unselected_resource_names: bool = False

    @property
    def segmented(self) -> bool:
        return "segments.date" in self.fields

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(name for name in self.fields if name.startswith("metrics."))


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return [*tokens, Token("end", "")]
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] in "'\"":
                raise query_error("STRING_NOT_TERMINATED", "Query contains unterminated string.")
            raise query_error(
                "UNEXPECTED_INPUT",
                f"Error in query: unexpected input {text[position : position + 20]!r}.",
            )
        kind = str(match.lastgroup)
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value))
        position = match.end()


class _Parser:
    """Recursive descent over GAQL: SELECT .. FROM .. [WHERE] [ORDER BY] [LIMIT] [PARAMETERS]."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self) -> Token:
        return self.tokens[self.position]

    def take(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def expect_keyword(self, word: str, reason: str) -> None:
        if not self.take().is_keyword(word):
            raise query_error(reason, f"Error in query: expected {word}.")

    def accept(self, *words: str) -> bool:
        if self.peek().is_keyword(*words):
            self.take()
            return True
        return False

    def accept_punct(self, symbol: str) -> bool:
        if self.peek().kind == "punct" and self.peek().text == symbol:
            self.take()
            return True
        return False

    def field_name(self) -> str:
        token = self.take()
        if token.kind != "word" or "." not in token.text:
            raise query_error(
                "UNEXPECTED_INPUT", f"Error in query: expected a field name, got {token.text!r}."
            )
        return token.text

    def query(self) -> Query:
        self.expect_keyword("SELECT", "EXPECTED_SELECT")
        fields = [self.field_name()]
        while self.accept_punct(","):
            fields.append(self.field_name())
        self.expect_keyword("FROM", "EXPECTED_FROM")
        resource = self.take()
        if resource.kind != "word":
            raise query_error("EXPECTED_FROM", "Error in query: expected a resource after FROM.")
        query = Query(tuple(fields), resource.text)
        if self.accept("WHERE"):
            query = replace(query, conditions=self.conditions())
        if self.accept("ORDER"):
            self.expect_keyword("BY", "EXPECTED_BY")
            query = replace(query, order_by=self.orderings())
        if self.accept("LIMIT"):
            query = replace(query, limit=self.limit())
        if self.accept("PARAMETERS"):
            query = replace(query, omit_unselected_resource_names=self.parameters())
        if self.peek().kind != "end":
            raise query_error(
                "UNEXPECTED_INPUT", f"Error in query: unexpected input {self.peek().text!r}."
            )
        return query

    def conditions(self) -> tuple[Condition, ...]:
        conditions = [self.condition()]
        while self.accept("AND"):
            conditions.append(self.condition())
        return tuple(conditions)

    def condition(self) -> Condition:
        name = self.field_name()
        token = self.take()
        if token.kind == "op":
            return Condition(name, token.text, (self.value(),))
        if token.is_keyword("IN"):
            return Condition(name, "IN", self.value_list())
        if token.is_keyword("NOT") and self.accept("IN"):
            return Condition(name, "NOT IN", self.value_list())
        if token.is_keyword("BETWEEN"):
            low = self.value()
            self.expect_keyword("AND", "EXPECTED_AND")
            return Condition(name, "BETWEEN", (low, self.value()))
        if token.is_keyword("DURING"):
            return Condition(name, "DURING", (self.take(),))
        if token.is_keyword(*UNSUPPORTED_OPERATORS, "NOT"):
            raise query_error(
                "BAD_OPERATOR",
                f"The sandbox supports the operators =, !=, <, <=, >, >=, IN, NOT IN, BETWEEN "
                f"and DURING; got {token.text!r}.",
            )
        raise query_error("BAD_OPERATOR", f"Invalid operator encountered: {token.text!r}.")

    def value(self) -> Token:
        token = self.take()
        if token.kind not in ("string", "number", "word"):
            raise query_error("BAD_VALUE", f"Error in query: expected a value, got {token.text!r}.")
        return token

    def value_list(self) -> tuple[Token, ...]:
        if not self.accept_punct("("):
            raise query_error("EXPECTED_LIST", "The operator requires a list of values.")
        if self.accept_punct(")"):
            raise query_error(
                "PROHIBITED_EMPTY_LIST_IN_CONDITION", "A condition was found with an empty list."
            )
        values = [self.value()]
        while self.accept_punct(","):
            values.append(self.value())
        if not self.accept_punct(")"):
            raise query_error("UNEXPECTED_INPUT", "Error in query: expected ')' to close a list.")
        return tuple(values)

    def orderings(self) -> tuple[tuple[str, bool], ...]:
        orderings = []
        while True:
            name = self.field_name()
            descending = self.accept("DESC")
            if not descending:
                self.accept("ASC")
            orderings.append((name, descending))
            if not self.accept_punct(","):
                return tuple(orderings)

    def limit(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.lstrip("-").isdigit():
            raise query_error("BAD_LIMIT_VALUE", f"Limit value is invalid: {token.text!r}.")
        if int(token.text) <= 0:
            raise query_error("LIMIT_VALUE_TOO_LOW", "The value passed to LIMIT is too low.")
        return int(token.text)

    def parameters(self) -> bool:
        omit = False
        while True:
            name = self.take()
            if not name.is_keyword("INCLUDE_DRAFTS", "OMIT_UNSELECTED_RESOURCE_NAMES"):
                raise query_error("BAD_PARAMETER_NAME", f"Unknown parameter: {name.text!r}.")
            if self.take().text != "=":
                raise query_error("BAD_PARAMETER_VALUE", "Expected '=' after a parameter name.")
            value = self.take()
            if not value.is_keyword("TRUE", "FALSE"):
                raise query_error("BAD_PARAMETER_VALUE", f"Bad parameter value: {value.text!r}.")
            if name.is_keyword("OMIT_UNSELECTED_RESOURCE_NAMES"):
                omit = value.is_keyword("TRUE")
            if not self.accept_punct(","):
                return omit


# --- the world behind the fields ------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """Summed metrics of some ads over some days, in the account currency's micros."""

    impressions: int = 0
    clicks: int = 0
    cost_micros: int = 0
    conversions: float = 0.0
    conversions_value_micros: int = 0

    @classmethod
    def of_row(cls, day: AdDay, row: int) -> Delivery:
        return cls(
            int(day.impressions[row]),
            int(day.clicks[row]),
            int(day.spend_micros[row]),
            float(day.conversions[row]),
            int(day.conversion_value_micros[row]),
        )

    def __add__(self, other: Delivery) -> Delivery:
        return Delivery(
            self.impressions + other.impressions,
            self.clicks + other.clicks,
            self.cost_micros + other.cost_micros,
            round(self.conversions + other.conversions, 2),  # the world's two decimals, no noise
            self.conversions_value_micros + other.conversions_value_micros,
        )


NO_DELIVERY = Delivery()


@dataclass(frozen=True)
class AccountView:
    """One tenant's Google Ads account as one request sees it."""

    tenant: Tenant
    account: AdAccount
    today: int

    def campaign_exists(self, campaign: Campaign) -> bool:
        return campaign.start_day <= self.today


@dataclass(frozen=True)
class Row:
    """What one result row is about: entities of the account, maybe a day, and their metrics."""

    view: AccountView
    campaign: Campaign | None = None
    ad_group: AdGroup | None = None
    ad: Ad | None = None
    day: int | None = None
    delivery: Delivery = NO_DELIVERY

    @property
    def customer_id(self) -> str:
        return self.view.account.account_id


def _campaign(row: Row) -> Campaign:
    if row.campaign is None:
        raise LookupError("row has no campaign")
    return row.campaign


def _ad_group(row: Row) -> AdGroup:
    if row.ad_group is None:
        raise LookupError("row has no ad group")
    return row.ad_group


def _ad(row: Row) -> Ad:
    if row.ad is None:
        raise LookupError("row has no ad")
    return row.ad


def _budget_id(row: Row) -> str:
    return stable_digits(11, row.view.tenant.id, SOURCE.value, "budget", _campaign(row).index)


def _campaign_name(row: Row) -> str:
    return f"customers/{row.customer_id}/campaigns/{_campaign(row).id}"


def _ad_group_name(row: Row) -> str:
    return f"customers/{row.customer_id}/adGroups/{_ad_group(row).id}"


def _ad_status(row: Row) -> str:
    return "ENABLED" if _ad(row).end_day > row.view.today else "PAUSED"


def _budget_micros(row: Row) -> int:
    return int(Decimal(str(_campaign(row).daily_budget)) * 1_000_000)


@dataclass(frozen=True)
class FieldSpec:
    type: str  # INT64, DOUBLE, STRING, ENUM, DATE, BOOL
    value: Callable[[Row], Any]
    enum_values: frozenset[str] = frozenset()


STATUSES = frozenset({"UNSPECIFIED", "UNKNOWN", "ENABLED", "PAUSED", "REMOVED"})
CHANNEL_TYPES = frozenset(
    {
        "UNSPECIFIED",
        "UNKNOWN",
        "SEARCH",
        "DISPLAY",
        "SHOPPING",
        "HOTEL",
        "VIDEO",
        "MULTI_CHANNEL",
        "LOCAL",
        "SMART",
        "PERFORMANCE_MAX",
        "LOCAL_SERVICES",
        "TRAVEL",
        "DEMAND_GEN",
    }
)
FIELDS: dict[str, FieldSpec] = {
    "customer.resource_name": FieldSpec("STRING", lambda r: f"customers/{r.customer_id}"),
    "customer.id": FieldSpec("INT64", lambda r: int(r.customer_id)),
    "customer.descriptive_name": FieldSpec("STRING", lambda r: r.view.tenant.display_name),
    "customer.currency_code": FieldSpec("STRING", lambda r: r.view.account.currency),
    "customer.time_zone": FieldSpec("STRING", lambda r: r.view.account.timezone),
    "customer.manager": FieldSpec("BOOL", lambda r: False),
    "campaign.resource_name": FieldSpec("STRING", _campaign_name),
    "campaign.id": FieldSpec("INT64", lambda r: int(_campaign(r).id)),
    "campaign.name": FieldSpec("STRING", lambda r: _campaign(r).name),
    "campaign.status": FieldSpec("ENUM", lambda r: "ENABLED", STATUSES),
    "campaign.advertising_channel_type": FieldSpec(
        "ENUM", lambda r: _campaign(r).objective, CHANNEL_TYPES
    ),
    "campaign.start_date": FieldSpec(
        "DATE", lambda r: day_date(_campaign(r).start_day).isoformat()
    ),
    "campaign.campaign_budget": FieldSpec(
        "STRING", lambda r: f"customers/{r.customer_id}/campaignBudgets/{_budget_id(r)}"
    ),
    "campaign_budget.resource_name": FieldSpec(
        "STRING", lambda r: f"customers/{r.customer_id}/campaignBudgets/{_budget_id(r)}"
    ),
    "campaign_budget.id": FieldSpec("INT64", lambda r: int(_budget_id(r))),
    "campaign_budget.amount_micros": FieldSpec("INT64", _budget_micros),
    "ad_group.resource_name": FieldSpec("STRING", _ad_group_name),
    "ad_group.id": FieldSpec("INT64", lambda r: int(_ad_group(r).id)),
    "ad_group.name": FieldSpec("STRING", lambda r: _ad_group(r).name),
    "ad_group.status": FieldSpec("ENUM", lambda r: "ENABLED", STATUSES),
    "ad_group.campaign": FieldSpec("STRING", _campaign_name),
    "ad_group_ad.resource_name": FieldSpec(
        "STRING",
        lambda r: f"customers/{r.customer_id}/adGroupAds/{_ad_group(r).id}~{_ad(r).id}",
    ),
    "ad_group_ad.ad.resource_name": FieldSpec(
        "STRING", lambda r: f"customers/{r.customer_id}/ads/{_ad(r).id}"
    ),
    "ad_group_ad.ad.id": FieldSpec("INT64", lambda r: int(_ad(r).id)),
    "ad_group_ad.ad.name": FieldSpec("STRING", lambda r: _ad(r).name),
    "ad_group_ad.status": FieldSpec("ENUM", _ad_status, STATUSES),
    "ad_group_ad.ad_group": FieldSpec("STRING", _ad_group_name),
    "metrics.impressions": FieldSpec("INT64", lambda r: r.delivery.impressions),
    "metrics.clicks": FieldSpec("INT64", lambda r: r.delivery.clicks),
    "metrics.cost_micros": FieldSpec("INT64", lambda r: r.delivery.cost_micros),
    "metrics.conversions": FieldSpec("DOUBLE", lambda r: r.delivery.conversions),
    "metrics.conversions_value": FieldSpec(
        "DOUBLE", lambda r: r.delivery.conversions_value_micros / 1e6
    ),
    "segments.date": FieldSpec(
        "DATE", lambda r: day_date(r.day).isoformat() if r.day is not None else None
    ),
}
# Resources whose fields may be selected with each FROM resource (Google's attributed resources).
SELECTABLE_WITH = {
    "customer": frozenset({"customer"}),
    "campaign": frozenset({"campaign", "campaign_budget", "customer"}),
    "ad_group": frozenset({"ad_group", "campaign", "customer"}),
    "ad_group_ad": frozenset({"ad_group_ad", "ad_group", "campaign", "customer"}),
}


def resource_of(name: str) -> str:
    return name.split(".", 1)[0]


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def json_path(name: str) -> list[str]:
    return [camel(part) for part in name.split(".")]


# --- checking a parsed query ---------------------------------------------------------------


def check_query(query: Query) -> None:
    """Refuse what Google refuses before running: unknown names and misplaced fields."""
    if query.resource not in SELECTABLE_WITH:
        raise query_error(
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
            f"Invalid resource type in FROM clause: '{query.resource}'. The sandbox serves "
            f"{', '.join(SELECTABLE_WITH)}.",
            query.resource,
        )
    where = tuple(c.field for c in query.conditions)
    ordered = tuple(name for name, _ in query.order_by)
    for clause, names in (("SELECT", query.fields), ("WHERE", where), ("SELECT", ordered)):
        for name in names:
            _check_field(query.resource, clause, name)
    for name in ordered:
        if name.startswith("segments.") and name not in query.fields:
            raise query_error(
                "EXPECTED_REFERENCED_FIELD_IN_SELECT_CLAUSE",
                f"Segment fields in the ORDER BY clause must be selected: '{name}'.",
                name,
            )
    for condition in query.conditions:
        _check_literals(condition)


def _check_literals(condition: Condition) -> None:
    if condition.operator != "DURING":
        for token in condition.values:
            literal(condition.field, token)
    elif condition.field != "segments.date":
        raise query_error(
            "OPERATOR_FIELD_MISMATCH",
            f"DURING only applies to date segments, not to '{condition.field}'.",
            condition.field,
        )
    elif condition.values[0].text.upper() not in DATE_RANGES:
        constant = condition.values[0].text
        raise query_error(
            "INVALID_VALUE_WITH_DURING_OPERATOR",
            f"The value passed to DURING is not a date range literal: '{constant}'.",
            constant,
        )


def _check_field(resource: str, clause: str, name: str) -> None:
    if name not in FIELDS:
        raise query_error("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{name}'.", name)
    if resource_of(name) not in SELECTABLE_WITH[resource] | {"metrics", "segments"}:
        raise query_error(
            f"PROHIBITED_RESOURCE_TYPE_IN_{clause}_CLAUSE",
            f"Cannot use the following field, since its resource is not attributed to the "
            f"resource in the FROM clause '{resource}': '{name}'.",
            name,
        )


def literal(name: str, token: Token) -> Any:
    """The Python value a WHERE literal stands for, given the field it is compared with."""
    spec = FIELDS[name]
    if spec.type in ("INT64", "DOUBLE"):
        try:
            return int(token.text) if spec.type == "INT64" else float(token.text)
        except ValueError:
            raise query_error(
                "BAD_NUMBER", f"Invalid number: '{token.text}'.", token.text
            ) from None
    if spec.type == "BOOL":
        if not token.is_keyword("TRUE", "FALSE"):
            raise query_error("BAD_VALUE", f"Invalid boolean: '{token.text}'.", token.text)
        return token.is_keyword("TRUE")
    if spec.type == "ENUM":
        if token.kind == "number" or token.text not in spec.enum_values:
            raise query_error(
                "BAD_ENUM_CONSTANT",
                f"Invalid enum value cannot be included in WHERE clause: '{token.text}'.",
                token.text,
            )
        return token.text
    if token.kind != "string":
        raise query_error(
            "INVALID_STRING_VALUE", f"Expected a quoted string, got {token.text}.", token.text
        )
    if spec.type == "DATE":
        return _parse_date(token.text)
    return token.text


def _parse_date(text: str) -> str:
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise query_error("INVALID_DATE_FORMAT", "Invalid date format. Expected 'YYYY-MM-DD'.", text)


# --- dates: WHERE on segments.date ----------------------------------------------------------


def _last_week_monday(today: date) -> date:
    return today - timedelta(days=today.weekday() + 7)


def _sunday_before(today: date) -> date:
    return today - timedelta(days=(today.weekday() + 1) % 7 or 7)


DATE_RANGES: dict[str, Callable[[date], tuple[date, date]]] = {
    "TODAY": lambda t: (t, t),
    "YESTERDAY": lambda t: (t - timedelta(days=1), t - timedelta(days=1)),
    "LAST_7_DAYS": lambda t: (t - timedelta(days=7), t - timedelta(days=1)),
    "LAST_14_DAYS": lambda t: (t - timedelta(days=14), t - timedelta(days=1)),
    "LAST_30_DAYS": lambda t: (t - timedelta(days=30), t - timedelta(days=1)),
    "THIS_MONTH": lambda t: (t.replace(day=1), t),
    "LAST_MONTH": lambda t: (
        add_months(t.replace(day=1), -1),
        t.replace(day=1) - timedelta(days=1),
    ),
    "THIS_WEEK_MON_TODAY": lambda t: (t - timedelta(days=t.weekday()), t),
    "THIS_WEEK_SUN_TODAY": lambda t: (t - timedelta(days=(t.weekday() + 1) % 7), t),
    "LAST_WEEK_MON_SUN": lambda t: (_last_week_monday(t), _last_week_monday(t) + timedelta(6)),
    "LAST_WEEK_SUN_SAT": lambda t: (
        _sunday_before(t) - timedelta(7),
        _sunday_before(t) - timedelta(1),
    ),
    "LAST_BUSINESS_WEEK": lambda t: (_last_week_monday(t), _last_week_monday(t) + timedelta(4)),
}


def _date_conditions(query: Query, today: date) -> list[tuple[str, tuple[str, ...]]]:
    """Every condition on segments.date as (operator, ISO dates), DURING resolved to BETWEEN."""
    resolved = []
    for condition in query.conditions:
        if condition.field != "segments.date":
            continue
        if condition.operator == "DURING":
            first, last = DATE_RANGES[condition.values[0].text.upper()](today)
            resolved.append(("BETWEEN", (first.isoformat(), last.isoformat())))
        else:
            values = tuple(literal("segments.date", token) for token in condition.values)
            resolved.append((condition.operator, values))
    return resolved


def _date_bounds(
    conditions: list[tuple[str, tuple[str, ...]]],
) -> tuple[str | None, str | None]:
    """The first and last date the conditions allow; None where they set no bound."""
    first: str | None = None
    last: str | None = None
    for operator, values in conditions:
        low, high = {
            "=": (values[0], values[0]),
            ">=": (values[0], None),
            ">": (_next_day(values[0]), None),
            "<=": (None, values[0]),
            "<": (None, _next_day(values[0], -1)),
            "BETWEEN": (values[0], values[-1]),
            "IN": (min(values), max(values)),
        }.get(operator, (None, None))
        first = low if first is None or (low is not None and low > first) else first
        last = high if last is None or (high is not None and high < last) else last
    return first, last


def _next_day(iso: str, days: int = 1) -> str:
    return (date.fromisoformat(iso) + timedelta(days=days)).isoformat()


def served_days(query: Query, view: AccountView) -> list[int]:
    """World days the query's date conditions select, among the days that have data."""
    today = day_date(view.today)
    conditions = _date_conditions(query, today)
    first, last = _date_bounds(conditions)
    if query.segmented and (first is None or last is None):
        raise query_error(
            "EXPECTED_FILTERS_ON_DATE_RANGE",
            "Missing filters on date related fields: selecting segments.date needs a finite "
            "date range on segments.date in the WHERE clause.",
        )
    if first is not None and last is not None and first > last:
        raise query_error(
            "DATE_RANGE_TOO_NARROW",
            "Filters on date/week/month/quarter have a start date after end date.",
        )
    start = max(date.fromisoformat(first) if first else WORLD_START, WORLD_START)
    stop = min(date.fromisoformat(last) if last else today, today - timedelta(days=1))
    days = (start + timedelta(days=n) for n in range((stop - start).days + 1))
    return [
        day_number(day)
        for day in days
        if all(_compare(op, day.isoformat(), values) for op, values in conditions)
    ]


def _compare(operator: str, value: Any, operands: tuple[Any, ...]) -> bool:
    if value is None:
        return False
    match operator:
        case "=":
            return value == operands[0]
        case "!=":
            return value != operands[0]
        case "<":
            return value < operands[0]
        case "<=":
            return value <= operands[0]
        case ">":
            return value > operands[0]
        case ">=":
            return value >= operands[0]
        case "IN":
            return value in operands
        case "NOT IN":
            return value not in operands
        case "BETWEEN":
            return operands[0] <= value <= operands[1]
    raise query_error("BAD_OPERATOR", f"Operator {operator} cannot be applied here.")


# --- producing the rows --------------------------------------------------------------------


def _entity_rows(view: AccountView, resource: str) -> Iterator[tuple[int, Row]]:
    """(key, row) for every entity of `resource` that exists on the sandbox's today."""
    account = view.account
    if resource == "customer":
        yield 0, Row(view)
    elif resource == "campaign":
        for campaign in account.campaigns:
            if view.campaign_exists(campaign):
                yield campaign.index, Row(view, campaign)
    elif resource == "ad_group":
        for group in account.ad_groups:
            campaign = account.campaigns[group.campaign_index]
            if view.campaign_exists(campaign):
                yield group.index, Row(view, campaign, group)
    else:
        for ad in account.existing_ads(view.today):
            yield ad.index, _ad_row(view, ad.index)


def _ad_row(view: AccountView, ad_index: int) -> Row:
    account = view.account
    ad = account.ads[ad_index]
    group = account.ad_groups[ad.ad_group_index]
    return Row(view, account.campaigns[ad.campaign_index], group, ad)


def _row_for_ad(view: AccountView, resource: str, ad_index: int) -> tuple[int, Row]:
    """The key and row of the `resource` entity that ad `ad_index` belongs to."""
    row = _ad_row(view, ad_index)
    match resource:
        case "customer":
            return 0, Row(view)
        case "campaign":
            return _campaign(row).index, Row(view, row.campaign)
        case "ad_group":
            return _ad_group(row).index, Row(view, row.campaign, row.ad_group)
    return ad_index, row


def _day_totals(view: AccountView, resource: str, day: int) -> dict[int, tuple[Row, Delivery]]:
    delivery = reported_day(view.account, day, view.today)
    totals: dict[int, tuple[Row, Delivery]] = {}
    for position, ad_index in enumerate(delivery.ad_index.tolist()):
        key, row = _row_for_ad(view, resource, ad_index)
        previous = totals.get(key, (row, NO_DELIVERY))[1]
        totals[key] = (row, previous + Delivery.of_row(delivery, position))
    return totals


def _segmented_rows(view: AccountView, query: Query, days: list[int]) -> Iterator[Row]:
    """One row per entity and day with delivery; rows whose selected metrics are all 0 drop."""
    for day in days:
        totals = _day_totals(view, query.resource, day)
        for key in sorted(totals):
            row = replace(totals[key][0], day=day, delivery=totals[key][1])
            metrics = [FIELDS[name].value(row) for name in query.metrics]
            if not metrics or any(metrics):
                yield row


def _aggregated_rows(view: AccountView, query: Query, days: list[int]) -> Iterator[Row]:
    """One row per existing entity with its delivery summed over `days` (zeros included)."""
    sums: dict[int, Delivery] = {}
    for day in days:
        for key, (_, delivery) in _day_totals(view, query.resource, day).items():
            sums[key] = sums.get(key, NO_DELIVERY) + delivery
    for key, row in _entity_rows(view, query.resource):
        yield replace(row, delivery=sums.get(key, NO_DELIVERY))


def result_rows(view: AccountView, query: Query) -> list[Row]:
    """The rows of `query`, filtered, ordered and limited."""
    if query.segmented:
        rows = _segmented_rows(view, query, served_days(query, view))
    elif query.metrics:
        rows = _aggregated_rows(view, query, served_days(query, view))
    else:
        rows = (row for _, row in _entity_rows(view, query.resource))
    filters = [
        (c.field, c.operator, tuple(literal(c.field, v) for v in c.values))
        for c in query.conditions
        if c.field != "segments.date"
    ]
    kept = [
        row
        for row in rows
        if all(_compare(op, FIELDS[name].value(row), values) for name, op, values in filters)
    ]
    for name, descending in reversed(query.order_by):
        kept.sort(key=lambda row, name=name: FIELDS[name].value(row), reverse=descending)
    return kept[: query.limit] if query.limit else kept


# --- rows as JSON ---------------------------------------------------------------------------


def _encode(spec: FieldSpec, value: Any) -> Any:
    if spec.type == "INT64":
        return str(value)
    if spec.type == "DOUBLE":
        return float(value)
    return value


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _named_resources(query: Query) -> list[str]:
    """Resources whose `resourceName` each row carries: the main one and those selected."""
    if query.omit_unselected_resource_names:
        return []
    selected = [resource_of(name) for name in query.fields]
    named = [query.resource, *selected]
    if any(name.startswith("ad_group_ad.ad.") for name in query.fields):
        named.append("ad_group_ad.ad")
    return [r for r in dict.fromkeys(named) if r not in ("metrics", "segments")]


def row_json(row: Row, query: Query, named: list[str], drifting: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for resource in named:
        name = f"{resource}.resource_name"
        _put(result, json_path(name), FIELDS[name].value(row))
    for name in query.fields:
        spec = FIELDS[name]
        _put(result, json_path(name), _encode(spec, spec.value(row)))
    if drifting:
        key, value = DRIFT_FIELDS[query.resource]
        _put(result, [camel(query.resource), key], value)
    return result


def field_mask(query: Query) -> str:
    return ",".join(".".join(json_path(name)) for name in query.fields)


# --- the endpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One authorised searchStream or search call."""

    view: AccountView
    body: dict[str, Any]
    request_id: str
    drifting: bool


def _request_id(request: Request, raw: bytes) -> str:
    """22 characters like Google's, fixed by the request so identical calls answer identically."""
    return stable_token(22, "google-ads", request.url.path, raw, world_of(request).today())


def _respond(
    payload: Any, status: int, stream: bool, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse([payload] if stream else payload, status, headers=headers)


def _error_response(error: AdsError, request_id: str, stream: bool) -> Response:
    return _respond(error.body(request_id), error.code, stream, error.headers)


def _check_developer_token(request: Request, tenant: Tenant) -> None:
    developer_token = request.headers.get("developer-token")
    if not developer_token:
        raise request_error(
            "DEVELOPER_TOKEN_PARAMETER_MISSING",
            "The developer-token parameter is required for all requests.",
        )
    if developer_token != sandbox_credentials(tenant.id, SOURCE)["developer_token"]:
        raise AdsError(
            401,
            "UNAUTHENTICATED",
            {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
            "The developer token is not valid.",
            top_message=MISSING_CREDENTIALS_MESSAGE,
        )


def _authenticated_tenant(request: Request) -> Tenant:
    """The bearer's tenant, once its OAuth token and developer token check out."""
    checked = check_bearer(request, SOURCE)
    if isinstance(checked, BearerFailure):
        raise bearer_error(checked)
    _check_developer_token(request, checked)
    return checked


def _authorised_view(request: Request, tenant: Tenant, customer_id: str) -> AccountView:
    """The customer's account, if `tenant` may read it."""
    world = world_of(request)
    if not customer_id.isdigit():
        raise request_error("INVALID_CUSTOMER_ID", f"Invalid customer ID '{customer_id}'.")
    login_customer_id = request.headers.get("login-customer-id")
    if login_customer_id is not None and not login_customer_id.isdigit():
        raise AdsError(
            400,
            "INVALID_ARGUMENT",
            {"headerError": "INVALID_LOGIN_CUSTOMER_ID"},
            "The login customer ID could not be validated.",
        )
    owner = world.tenant_for_account(SOURCE, customer_id)
    if owner is None or owner.id != tenant.id or login_customer_id not in (None, customer_id):
        raise permission_denied()
    return AccountView(tenant, world.ad_account(tenant, SOURCE), world.today())


def _fault_error(request: Request, tenant: Tenant, fault: Fault) -> AdsError | None:
    seconds = max(1, math.ceil(fault.seconds))
    if fault.kind is FaultKind.RATE_LIMIT:
        quota = {"rateScope": "DEVELOPER", "rateName": "Number of operations for basic access"}
        return AdsError(
            429,
            "RESOURCE_EXHAUSTED",
            {"quotaError": "RESOURCE_EXHAUSTED"},
            f"Too many requests. Retry in {seconds} seconds.",
            {"details": {"quotaErrorDetails": {**quota, "retryDelay": f"{seconds}s"}}},
        )
    if fault.kind is FaultKind.SERVER_ERROR:
        # alternate Google's two server failures: 500 INTERNAL, then 503 UNAVAILABLE
        fired = faults_of(request).fired_count(tenant.id, SOURCE.value, FaultKind.SERVER_ERROR)
        if fired % 2:
            return AdsError(
                500,
                "INTERNAL",
                {"internalError": "INTERNAL_ERROR"},
                "An internal error has occurred.",
            )
        return AdsError(
            503,
            "UNAVAILABLE",
            {"internalError": "TRANSIENT_ERROR"},
            "The operation is not currently available. Please retry.",
        )
    if fault.kind is FaultKind.EXPIRED_TOKEN:
        return bearer_error(TOKEN_EXPIRED)
    return None  # MALFORMED: the answer is computed, then cut


def _request_body(raw: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        raise bad_request("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(parsed, dict):
        raise bad_request("Invalid JSON payload received. Expected an object.")
    body = {camel(key): value for key, value in parsed.items()}
    for key in body:
        if key not in allowed:
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    if not isinstance(body.get("query"), str) or not body["query"].strip():
        raise request_error("REQUIRED_FIELD_MISSING", "Required field was not specified.", "query")
    if body.get("summaryRowSetting", "NO_SUMMARY_ROW") != "NO_SUMMARY_ROW":
        raise bad_request("The sandbox does not serve summary rows.", "summary_row_setting")
    return body


def _parsed_query(text: str) -> Query:
    query = _Parser(text).query()
    check_query(query)
    return query


async def _serve(request: Request, stream: bool) -> Response:
    raw = await request.body()
    request_id = _request_id(request, raw)
    try:
        tenant = _authenticated_tenant(request)
        view = _authorised_view(request, tenant, request.path_params["customer_id"])
        fault = await take_fault(request, tenant.id, SOURCE.value)
        problem = _fault_error(request, tenant, fault) if fault else None
        if problem is not None:
            raise problem
        body = _request_body(raw, STREAM_BODY_FIELDS if stream else SEARCH_BODY_FIELDS)
        drifting = faults_of(request).drifting(tenant.id, SOURCE.value)
        call = Call(view, body, request_id, drifting)
        payload = await run_in_threadpool(_stream_payload if stream else _search_payload, call)
    except AdsError as error:
        return _error_response(error, request_id, stream)
    if fault is not None and fault.kind is FaultKind.MALFORMED:
        text = json.dumps(payload)
        return Response(text[: max(1, len(text) // 2)], 200, media_type="application/json")
    return JSONResponse(payload)


def _results(call: Call, query: Query, rows: list[Row]) -> dict[str, Any]:
    """`results` for some rows (absent when there are none, as proto3 JSON omits it)."""
    named = _named_resources(query)
    return {"results": [row_json(row, query, named, call.drifting) for row in rows]} if rows else {}


def _stream_payload(call: Call) -> list[dict[str, Any]]:
    query = _parsed_query(call.body["query"])
    rows = result_rows(call.view, query)
    header = {"fieldMask": field_mask(query), "requestId": call.request_id}
    starts = range(0, len(rows), BATCH_ROWS) or [0]
    batches = [_results(call, query, rows[i : i + BATCH_ROWS]) | header for i in starts]
    batches[-1]["queryResourceConsumption"] = str(len(rows))
    return batches


def _page_token(query_text: str, offset: int, today: int) -> str:
    payload = json.dumps({"q": _query_digest(query_text), "o": offset, "t": today})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _query_digest(query_text: str) -> str:
    return hashlib.sha256(query_text.encode()).hexdigest()[:16]


def _page_offset(token: str, query_text: str, today: int) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        digest, offset, issued = claims["q"], int(claims["o"]), int(claims["t"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise request_error("INVALID_PAGE_TOKEN", "Page token is invalid.", "page_token") from None
    if digest != _query_digest(query_text) or offset < 0:
        raise request_error("INVALID_PAGE_TOKEN", "Page token is invalid.", "page_token")
    if issued != today:
        raise request_error("EXPIRED_PAGE_TOKEN", "Page token has expired.", "page_token")
    return offset


def _search_payload(call: Call) -> dict[str, Any]:
    body = call.body
    if "pageSize" in body:
        raise request_error(
            "PAGE_SIZE_NOT_SUPPORTED",
            f"Setting the page size is not supported. Search Responses will have fixed page "
            f"size of '{BATCH_ROWS}' rows.",
            "page_size",
        )
    query_text = body["query"]
    query = _parsed_query(query_text)
    today = call.view.today
    offset = _page_offset(body["pageToken"], query_text, today) if body.get("pageToken") else 0
    rows = [] if body.get("validateOnly") else result_rows(call.view, query)
    page = _results(call, query, rows[offset : offset + BATCH_ROWS])
    if offset + BATCH_ROWS < len(rows):
        page["nextPageToken"] = _page_token(query_text, offset + BATCH_ROWS, today)
    if body.get("returnTotalResultsCount"):
        page["totalResultsCount"] = str(len(rows))
    page |= {"fieldMask": field_mask(query), "requestId": call.request_id}
    page["queryResourceConsumption"] = str(len(rows))
    return page


async def search_stream(request: Request) -> Response:
    return await _serve(request, stream=True)


async def search(request: Request) -> Response:
    return await _serve(request, stream=False)


async def list_accessible_customers(request: Request) -> Response:
    try:
        tenant = _authenticated_tenant(request)
    except AdsError as error:
        return _error_response(error, _request_id(request, b""), stream=False)
    account_id = tenant.sources[SOURCE].account_id.replace("-", "")
    return JSONResponse({"resourceNames": [f"customers/{account_id}"]})


_CUSTOMER = f"/{API_VERSION}/customers/{{customer_id}}/googleAds"
routes = [
    Route(f"{_CUSTOMER}:searchStream", search_stream, methods=["POST"]),
    Route(f"{_CUSTOMER}:search", search, methods=["POST"]),
    Route(f"/{API_VERSION}/customers:listAccessibleCustomers", list_accessible_customers),
]
