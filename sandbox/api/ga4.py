"""The GA4 Data API (v1beta) `properties/{id}:runReport`, for traffic and key events by source.

Follows developers.google.com/analytics/devguides/reporting/data/v1: a POST body with
`dateRanges`, `dimensions`, `metrics`, `limit` and `offset` (int64, so strings are accepted;
`limit` must be positive and at most 250,000 rows come back whatever it asks); the answer has
`dimensionHeaders`, `metricHeaders` with types, `rows` of string values ordered by the
dimensions, dates as YYYYMMDD, the total `rowCount` whatever the page, `metadata` with the
property's currency and timezone, and `propertyQuota` when `returnPropertyQuota` is true. As
proto3 JSON, an empty report has neither `rows` nor `rowCount`. Authentication is an OAuth
bearer token from the sandbox's Google token endpoint; errors use the google.rpc envelope.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aya.tenants import SourceName, Tenant
from sandbox.api.common import served_days, take_fault, world_of
from sandbox.api.google_oauth import TOKEN_EXPIRED, authenticate_bearer, error_info, google_error
from sandbox.faults import FaultKind
from sandbox.world.analytics import ga4_day_rows
from sandbox.world.calendar import day_number
from sandbox.world.tenant_world import World

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 250_000
SCHEMA_URL = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
DIMENSIONS = {
    "date": lambda day, row: day.strftime("%Y%m%d"),
    "sessionSource": lambda day, row: row.source,
    "sessionMedium": lambda day, row: row.medium,
    "sessionCampaignName": lambda day, row: row.campaign,
    "sessionSourceMedium": lambda day, row: f"{row.source} / {row.medium}",
}
METRICS = {
    # name: (type, value of one world row)
    "sessions": ("TYPE_INTEGER", lambda row: row.sessions),
    "totalUsers": ("TYPE_INTEGER", lambda row: row.total_users),
    "newUsers": ("TYPE_INTEGER", lambda row: row.new_users),
    "keyEvents": ("TYPE_INTEGER", lambda row: row.key_events),
    "purchaseRevenue": ("TYPE_CURRENCY", lambda row: row.purchase_revenue),
}
DRIFT_METRIC = ("engagedSessions", "TYPE_INTEGER")


class _InvalidArgumentError(ValueError):
    """The request body is not a valid runReport request."""


async def run_report(request: Request) -> Response:
    world = world_of(request)
    tenant = world.tenant_for_account(SourceName.GA4, request.path_params["property_id"])
    authenticated = authenticate_bearer(request, SourceName.GA4)
    if isinstance(authenticated, Response):
        return authenticated
    if tenant is None or tenant.id != authenticated.id:
        return google_error(
            403, "PERMISSION_DENIED", "User does not have sufficient permissions for this property."
        )
    fault = await take_fault(request, tenant.id, SourceName.GA4.value)
    if fault is not None:
        return _fault_response(fault.kind, fault.seconds)
    try:
        body = json.loads(await request.body() or b"{}")
        report = await run_in_threadpool(
            _report, world, tenant, body, request.app.state.faults.drifting(tenant.id, "ga4")
        )
    except (_InvalidArgumentError, ValueError, TypeError, KeyError) as error:
        return google_error(400, "INVALID_ARGUMENT", str(error))
    return JSONResponse(report)


def _fault_response(kind: FaultKind, seconds: float) -> Response:
    if kind is FaultKind.RATE_LIMIT:
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Exhausted concurrent requests quota for this property.",
            headers={"Retry-After": str(int(seconds))},
        )
    if kind is FaultKind.SERVER_ERROR:
        return google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
    if kind is FaultKind.EXPIRED_TOKEN:
        return google_error(
            TOKEN_EXPIRED.code,
            TOKEN_EXPIRED.status,
            TOKEN_EXPIRED.message,
            error_info(TOKEN_EXPIRED, SourceName.GA4),
            headers=TOKEN_EXPIRED.headers,
        )
    return Response(
        '{"dimensionHeaders": [{"name": "date"}], "rows": [{"dimensionVal',
        200,
        media_type="application/json",
    )


def _report(world: World, tenant: Tenant, body: dict, drifting: bool) -> dict:
    dimensions = [d["name"] for d in body.get("dimensions", [])]
    metrics = [m["name"] for m in body.get("metrics", [])]
    _validate(dimensions, metrics)
    limit = int(body.get("limit", DEFAULT_LIMIT))
    offset = int(body.get("offset", 0))
    if limit <= 0:
        raise _InvalidArgumentError("limit must be positive")
    if offset < 0:
        raise _InvalidArgumentError("offset must not be negative")
    ranges = body.get("dateRanges") or []
    if len(ranges) != 1:
        raise _InvalidArgumentError("exactly one dateRange is supported by this sandbox")
    first = date.fromisoformat(ranges[0]["startDate"])
    last = date.fromisoformat(ranges[0]["endDate"])
    if last < first:
        raise _InvalidArgumentError("dateRange endDate must not be before startDate")

    totals: dict[tuple[str, ...], list] = {}
    accounts = tuple(world.ad_accounts(tenant))
    for day in served_days(world, first, last):
        for row in ga4_day_rows(tenant, accounts, day_number(day), world.today()):
            key = tuple(DIMENSIONS[name](day, row) for name in dimensions)
            values = [METRICS[name][1](row) for name in metrics]
            if key in totals:
                totals[key] = [a + b for a, b in zip(totals[key], values, strict=True)]
            else:
                totals[key] = values
    keys = sorted(totals)
    page = keys[offset : offset + min(limit, MAX_LIMIT)]
    metric_headers = [{"name": name, "type": METRICS[name][0]} for name in metrics]
    if drifting:
        metric_headers.append({"name": DRIFT_METRIC[0], "type": DRIFT_METRIC[1]})
    report = {
        "dimensionHeaders": [{"name": name} for name in dimensions],
        "metricHeaders": metric_headers,
        "rows": [_row(key, totals[key], drifting) for key in page],
        "rowCount": len(keys),
        "metadata": {"currencyCode": tenant.reporting_currency, "timeZone": tenant.timezone},
        "kind": "analyticsData#runReport",
    }
    if not page:  # proto3 JSON leaves out empty lists and zero numbers
        del report["rows"]
    if not keys:
        del report["rowCount"]
    if body.get("returnPropertyQuota"):
        report["propertyQuota"] = _property_quota()
    return report


def _validate(dimensions: list[str], metrics: list[str]) -> None:
    for name in dimensions:
        if name not in DIMENSIONS:
            raise _InvalidArgumentError(
                f"Field {name} is not a valid dimension. For a list of valid dimensions and "
                f"metrics, see {SCHEMA_URL}"
            )
    for name in metrics:
        if name not in METRICS:
            raise _InvalidArgumentError(
                f"Field {name} is not a valid metric. For a list of valid dimensions and "
                f"metrics, see {SCHEMA_URL}"
            )
    if not metrics and not dimensions:
        raise _InvalidArgumentError("a report needs at least one dimension or metric")


def _row(key: tuple[str, ...], values: list, drifting: bool) -> dict:
    metric_values = [{"value": _metric_text(value)} for value in values]
    if drifting:
        metric_values.append({"value": "0"})
    return {"dimensionValues": [{"value": v} for v in key], "metricValues": metric_values}


def _metric_text(value: int | Decimal) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return str(value)


def _property_quota() -> dict:
    def quota(consumed: int, remaining: int) -> dict:
        return {"consumed": consumed, "remaining": remaining}

    return {
        "tokensPerDay": quota(10, 199_990),
        "tokensPerHour": quota(10, 39_990),
        "concurrentRequests": quota(0, 10),
        "serverErrorsPerProjectPerHour": quota(0, 10),
        "potentiallyThresholdedRequestsPerHour": quota(0, 120),
        "tokensPerProjectPerHour": quota(10, 13_990),
    }


routes = [Route("/v1beta/properties/{property_id}:runReport", run_report, methods=["POST"])]
