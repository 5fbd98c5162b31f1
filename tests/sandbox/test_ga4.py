"""The sandbox's GA4 Data API serves the world's analytics as `properties/{id}:runReport` does."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aya.tenants import SourceName
from sandbox.api import ga4
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.calendar import WORLD_START
from sandbox.world.tenant_world import issue_access_token, sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY

GA4 = SourceName.GA4
NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
WEEK = (date(2026, 10, 5), date(2026, 10, 11))
TRAFFIC_DIMENSIONS = ("date", "sessionSource", "sessionMedium", "sessionCampaignName")
TRAFFIC_METRICS = ("sessions", "totalUsers", "keyEvents", "purchaseRevenue")
INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


# --- helpers ---------------------------------------------------------------------------------


def property_of(sandbox: SandboxServer, tenant_id: str) -> str:
    return sandbox.world.registry.get(tenant_id).sources[GA4].account_id


def access_token(client: httpx.Client, tenant_id: str, source: SourceName = GA4) -> str:
    credentials = sandbox_credentials(tenant_id, source)
    form = {"grant_type": "refresh_token"}
    form |= {key: credentials[key] for key in ("client_id", "client_secret", "refresh_token")}
    answer = client.post("/oauth2/token", data=form)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def report_body(first: date, last: date, **extra: Any) -> dict[str, Any]:
    return {
        "dateRanges": [{"startDate": first.isoformat(), "endDate": last.isoformat()}],
        "dimensions": [{"name": name} for name in TRAFFIC_DIMENSIONS],
        "metrics": [{"name": name} for name in TRAFFIC_METRICS],
        **extra,
    }


def run_report(
    client: httpx.Client,
    property_id: str,
    body: dict[str, Any],
    token: str | None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    path = f"/ga4/v1beta/properties/{property_id}:runReport"
    return client.post(path, json=body, headers=headers)


def report(
    client: httpx.Client, sandbox: SandboxServer, tenant_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    answer = run_report(
        client, property_of(sandbox, tenant_id), body, access_token(client, tenant_id)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def all_pages(
    client: httpx.Client,
    sandbox: SandboxServer,
    tenant_id: str,
    window: tuple[date, date],
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """Every row of the report paged `limit` at a time (offset as an int64 string), and the
    number of requests it took."""
    rows: list[dict[str, Any]] = []
    requests = 0
    while True:
        page = report(
            client,
            sandbox,
            tenant_id,
            report_body(*window, limit=str(limit), offset=str(len(rows))),
        )
        requests += 1
        rows.extend(page.get("rows", []))
        if len(rows) >= page.get("rowCount", 0):
            return rows, requests


def day_totals(rows: list[dict[str, Any]]) -> dict[date, tuple[int, int, int, Decimal]]:
    """Sessions, users, key events and purchase revenue per day, summed over the served rows."""
    totals: dict[date, list] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for row in rows:
        day = datetime.strptime(row["dimensionValues"][0]["value"], "%Y%m%d").date()
        sessions, users, events, revenue = (value["value"] for value in row["metricValues"])
        total = totals[day]
        total[0] += int(sessions)
        total[1] += int(users)
        total[2] += int(events)
        total[3] += Decimal(revenue)
    return {day: tuple(total) for day, total in totals.items()}


def true_totals(
    sandbox: SandboxServer, tenant_id: str, first: date, last: date
) -> dict[date, tuple[int, int, int, Decimal]]:
    return {
        row.date: (row.sessions, row.users, row.key_events, row.purchase_revenue)
        for row in truth(sandbox.world, tenant_id, first, last, [GA4])
    }


def error_of(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- the report ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant_id", "currency", "timezone"),
    [(NORTHWIND, "USD", "America/New_York"), (LEDGERLY, "EUR", "Europe/Berlin")],
)
def test_the_report_has_headers_string_values_and_yyyymmdd_dates(
    sandbox_client: httpx.Client,
    sandbox: SandboxServer,
    tenant_id: str,
    currency: str,
    timezone: str,
) -> None:
    body = report(sandbox_client, sandbox, tenant_id, report_body(*WEEK))

    assert body["kind"] == "analyticsData#runReport"
    assert body["dimensionHeaders"] == [{"name": name} for name in TRAFFIC_DIMENSIONS]
    assert body["metricHeaders"] == [
        {"name": "sessions", "type": "TYPE_INTEGER"},
        {"name": "totalUsers", "type": "TYPE_INTEGER"},
        {"name": "keyEvents", "type": "TYPE_INTEGER"},
        {"name": "purchaseRevenue", "type": "TYPE_CURRENCY"},
    ]
    assert body["metadata"] == {"currencyCode": currency, "timeZone": timezone}
    assert body["rowCount"] == len(body["rows"]) > 7
    assert "propertyQuota" not in body
    days = set()
    for row in body["rows"]:
        assert len(row["dimensionValues"]) == 4 and len(row["metricValues"]) == 4
        values = [v["value"] for v in row["dimensionValues"] + row["metricValues"]]
        assert all(isinstance(value, str) for value in values)
        assert len(values[0]) == 8 and values[0].isdigit()
        days.add(datetime.strptime(values[0], "%Y%m%d").date())
        assert all(value.isdigit() for value in values[4:7])
        assert Decimal(values[7]) >= 0
    assert days == {WEEK[0] + timedelta(days=n) for n in range(7)}
    keys = [tuple(v["value"] for v in row["dimensionValues"]) for row in body["rows"]]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


@pytest.mark.parametrize("tenant_id", [NORTHWIND, LEDGERLY])
def test_the_served_rows_sum_to_the_truth(
    sandbox_client: httpx.Client, sandbox: SandboxServer, tenant_id: str
) -> None:
    body = report(sandbox_client, sandbox, tenant_id, report_body(*WEEK))

    served = day_totals(body["rows"])
    expected = true_totals(sandbox, tenant_id, *WEEK)
    assert len(expected) == 7
    assert served == expected
    assert sum(events for _, _, events, _ in served.values()) > 0


def test_paging_by_limit_and_offset_serves_every_row_exactly_once(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    whole = report(sandbox_client, sandbox, NORTHWIND, report_body(*WEEK))
    paged, requests = all_pages(sandbox_client, sandbox, NORTHWIND, WEEK, limit=7)

    assert paged == whole["rows"]
    assert requests == -(-whole["rowCount"] // 7) > 2
    keys = [tuple(v["value"] for v in row["dimensionValues"]) for row in paged]
    assert len(set(keys)) == len(keys)
    assert day_totals(paged) == true_totals(sandbox, NORTHWIND, *WEEK)


def test_row_count_is_the_total_whatever_the_page(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    total = report(sandbox_client, sandbox, LEDGERLY, report_body(*WEEK))["rowCount"]

    last_page = report(
        sandbox_client, sandbox, LEDGERLY, report_body(*WEEK, limit=10, offset=total - 3)
    )
    assert (last_page["rowCount"], len(last_page["rows"])) == (total, 3)
    past_the_end = report(sandbox_client, sandbox, LEDGERLY, report_body(*WEEK, offset=total))
    assert past_the_end["rowCount"] == total
    assert "rows" not in past_the_end


def test_a_limit_above_the_maximum_returns_at_most_250000_rows(
    sandbox_client: httpx.Client, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ga4, "MAX_LIMIT", 5)  # the cap, scaled down to the sandbox's rows
    body = report(sandbox_client, sandbox, NORTHWIND, report_body(*WEEK, limit="1000000"))

    assert len(body["rows"]) == 5
    assert body["rowCount"] > 5


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (WORLD_START - timedelta(days=10), WORLD_START - timedelta(days=1)),
        (SANDBOX_TODAY, SANDBOX_TODAY + timedelta(days=3)),
    ],
    ids=["before_the_property_existed", "not_yet_happened"],
)
def test_an_empty_report_has_neither_rows_nor_row_count(
    sandbox_client: httpx.Client, sandbox: SandboxServer, first: date, last: date
) -> None:
    body = report(sandbox_client, sandbox, NORTHWIND, report_body(first, last))

    assert "rows" not in body and "rowCount" not in body
    assert body["metricHeaders"][0] == {"name": "sessions", "type": "TYPE_INTEGER"}
    assert body["metadata"]["currencyCode"] == "USD"


def test_property_quota_is_returned_when_asked_for(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    body = report(sandbox_client, sandbox, NORTHWIND, report_body(*WEEK, returnPropertyQuota=True))

    quota = body["propertyQuota"]
    assert set(quota) == {
        "tokensPerDay",
        "tokensPerHour",
        "concurrentRequests",
        "serverErrorsPerProjectPerHour",
        "potentiallyThresholdedRequestsPerHour",
        "tokensPerProjectPerHour",
    }
    assert all(set(status) == {"consumed", "remaining"} for status in quota.values())


def test_the_last_two_days_restate_until_they_settle(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    """GA4 is still processing the last days: they report fewer sessions, then settle."""
    yesterday = SANDBOX_TODAY - timedelta(days=1)
    window = (yesterday - timedelta(days=3), yesterday)
    early = day_totals(report(sandbox_client, sandbox, LEDGERLY, report_body(*window))["rows"])

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=3))
    settled = day_totals(report(sandbox_client, sandbox, LEDGERLY, report_body(*window))["rows"])

    assert settled == true_totals(sandbox, LEDGERLY, *window)
    assert early[window[0]] == settled[window[0]]
    for day in (yesterday - timedelta(days=1), yesterday):
        assert early[day][0] < settled[day][0]  # sessions grew
        assert early[day][2] == settled[day][2]  # key events were already complete


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": [{"name": "conversions"}]}, "Field conversions is not a valid metric."),
        ({"dimensions": [{"name": "pagePath"}]}, "Field pagePath is not a valid dimension."),
        ({"limit": 0}, "limit must be positive"),
        ({"offset": "-1"}, "offset must not be negative"),
        ({"dateRanges": []}, "exactly one dateRange"),
    ],
)
def test_a_bad_request_is_an_invalid_argument(
    sandbox_client: httpx.Client, sandbox: SandboxServer, changes: dict, message: str
) -> None:
    answer = run_report(
        sandbox_client,
        property_of(sandbox, NORTHWIND),
        report_body(*WEEK) | changes,
        access_token(sandbox_client, NORTHWIND),
    )

    assert answer.status_code == 400
    error = error_of(answer)
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert message in error["message"]


# --- authentication and authorisation ---------------------------------------------------------


def test_a_missing_bearer_is_unauthenticated(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    answer = run_report(sandbox_client, property_of(sandbox, NORTHWIND), report_body(*WEEK), None)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    error = error_of(answer)
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    assert error["message"].startswith("Request is missing required authentication credential.")
    [info] = error["details"]
    assert info == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "CREDENTIALS_MISSING",
        "domain": "googleapis.com",
        "metadata": {"service": "analyticsdata.googleapis.com"},
    }


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("ya29.northwind_fashion.ga4.9999999999.forged", "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
        (issue_access_token(NORTHWIND, GA4, int(time.time()) - 60), "ACCESS_TOKEN_EXPIRED"),
    ],
    ids=["forged", "expired"],
)
def test_forged_or_expired_tokens_are_refused(
    sandbox_client: httpx.Client, sandbox: SandboxServer, token: str, reason: str
) -> None:
    answer = run_report(sandbox_client, property_of(sandbox, NORTHWIND), report_body(*WEEK), token)

    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    error = error_of(answer)
    assert (error["code"], error["status"], error["message"]) == (
        401,
        "UNAUTHENTICATED",
        INVALID_CREDENTIALS,
    )
    assert error["details"][0]["reason"] == reason


def test_a_google_ads_token_lacks_the_analytics_scope(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    ads_token = access_token(sandbox_client, NORTHWIND, SourceName.GOOGLE_ADS)
    answer = run_report(
        sandbox_client, property_of(sandbox, NORTHWIND), report_body(*WEEK), ads_token
    )

    assert answer.status_code == 403
    error = error_of(answer)
    assert (error["status"], error["details"][0]["reason"]) == (
        "PERMISSION_DENIED",
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
    )


def test_another_property_is_permission_denied(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    token = access_token(sandbox_client, NORTHWIND)
    for property_id in ("999999999", property_of(sandbox, LEDGERLY)):
        answer = run_report(sandbox_client, property_id, report_body(*WEEK), token)

        assert answer.status_code == 403
        error = error_of(answer)
        assert (error["code"], error["status"]) == (403, "PERMISSION_DENIED")
        assert "sufficient permissions for this property" in error["message"]


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "rpc_status"),
    [
        (FaultKind.RATE_LIMIT, 429, "RESOURCE_EXHAUSTED"),
        (FaultKind.SERVER_ERROR, 503, "UNAVAILABLE"),
        (FaultKind.EXPIRED_TOKEN, 401, "UNAUTHENTICATED"),
    ],
)
def test_faults_answer_in_the_google_rpc_envelope(
    sandbox_client: httpx.Client,
    sandbox: SandboxServer,
    kind: FaultKind,
    status: int,
    rpc_status: str,
) -> None:
    token = access_token(sandbox_client, NORTHWIND)
    sandbox.faults.arm(NORTHWIND, GA4, Fault(kind, count=1))
    property_id = property_of(sandbox, NORTHWIND)

    answer = run_report(sandbox_client, property_id, report_body(*WEEK), token)
    assert answer.status_code == status
    error = error_of(answer)
    assert (error["code"], error["status"]) == (status, rpc_status)
    if kind is FaultKind.EXPIRED_TOKEN:
        assert error["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert run_report(sandbox_client, property_id, report_body(*WEEK), token).status_code == 200


def test_a_malformed_page_is_not_json(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    token = access_token(sandbox_client, NORTHWIND)
    sandbox.faults.arm(NORTHWIND, GA4, Fault(FaultKind.MALFORMED, count=1))

    answer = run_report(sandbox_client, property_of(sandbox, NORTHWIND), report_body(*WEEK), token)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_schema_drift_adds_a_metric_column(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, GA4, Fault(FaultKind.SCHEMA_DRIFT))
    body = report(sandbox_client, sandbox, NORTHWIND, report_body(*WEEK))

    assert body["metricHeaders"][-1] == {"name": "engagedSessions", "type": "TYPE_INTEGER"}
    assert all(len(row["metricValues"]) == 5 for row in body["rows"])
    known = [{**row, "metricValues": row["metricValues"][:4]} for row in body["rows"]]
    assert day_totals(known) == true_totals(sandbox, NORTHWIND, *WEEK)
