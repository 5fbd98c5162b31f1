"""The sandbox's Google OAuth endpoint and Google Ads API serve the world as Google would."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from aya.tenants import SourceName
from sandbox.api import google_ads
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.ad_metrics import reported_day
from sandbox.world.calendar import WORLD_START, day_date, day_number
from sandbox.world.catalog import AdAccount
from sandbox.world.tenant_world import issue_access_token, sandbox_credentials
from tests.conftest import SANDBOX_TODAY

ADS = SourceName.GOOGLE_ADS
NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
OCTOBER = (date(2026, 10, 1), date(2026, 10, 28))
AD_DAILY = (
    "SELECT ad_group_ad.ad.id, segments.date, metrics.impressions, metrics.clicks, "
    "metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM ad_group_ad "
    "WHERE segments.date BETWEEN '{}' AND '{}'"
)
MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


# --- helpers ---------------------------------------------------------------------------------


def customer_of(sandbox: SandboxServer, tenant_id: str) -> str:
    return sandbox.world.registry.get(tenant_id).sources[ADS].account_id


def account_of(sandbox: SandboxServer, tenant_id: str) -> AdAccount:
    return sandbox.world.ad_account(sandbox.world.registry.get(tenant_id), ADS)


def token_form(tenant_id: str, source: SourceName = ADS, **changes: str) -> dict[str, str]:
    credentials = sandbox_credentials(tenant_id, source)
    form = {"grant_type": "refresh_token"}
    form |= {key: credentials[key] for key in ("client_id", "client_secret", "refresh_token")}
    return form | changes


def access_token(client: httpx.Client, tenant_id: str, source: SourceName = ADS) -> str:
    answer = client.post("/oauth2/token", data=token_form(tenant_id, source))
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def ads_headers(client: httpx.Client, tenant_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token(client, tenant_id)}",
        "developer-token": sandbox_credentials(tenant_id, ADS)["developer_token"],
    }


def call(
    client: httpx.Client,
    customer_id: str,
    body: dict[str, Any],
    headers: dict[str, str],
    method: str = "searchStream",
) -> httpx.Response:
    return client.post(
        f"/google-ads/v24/customers/{customer_id}/googleAds:{method}", json=body, headers=headers
    )


def stream(
    client: httpx.Client, sandbox: SandboxServer, tenant_id: str, query: str
) -> httpx.Response:
    customer_id = customer_of(sandbox, tenant_id)
    return call(client, customer_id, {"query": query}, ads_headers(client, tenant_id))


def stream_rows(
    client: httpx.Client, sandbox: SandboxServer, tenant_id: str, query: str
) -> list[dict[str, Any]]:
    answer = stream(client, sandbox, tenant_id, query)
    assert answer.status_code == 200, answer.text
    return [row for batch in answer.json() for row in batch.get("results", [])]


def ad_daily(
    client: httpx.Client, sandbox: SandboxServer, tenant_id: str, first: date, last: date
) -> list[dict[str, Any]]:
    return stream_rows(client, sandbox, tenant_id, AD_DAILY.format(first, last))


def served_ad_days(rows: list[dict[str, Any]]) -> list[tuple]:
    return [
        (
            row["adGroupAd"]["ad"]["id"],
            row["segments"]["date"],
            int(row["metrics"]["impressions"]),
            int(row["metrics"]["clicks"]),
            int(row["metrics"]["costMicros"]),
            row["metrics"]["conversions"],
            row["metrics"]["conversionsValue"],
        )
        for row in rows
    ]


def world_ad_days(sandbox: SandboxServer, tenant_id: str, first: date, last: date) -> list[tuple]:
    account = account_of(sandbox, tenant_id)
    today = sandbox.world.today()
    rows = []
    for day in range(day_number(first), day_number(last) + 1):
        delivery = reported_day(account, day, today)
        for i, ad_index in enumerate(delivery.ad_index.tolist()):
            rows.append(
                (
                    account.ads[ad_index].id,
                    day_date(day).isoformat(),
                    int(delivery.impressions[i]),
                    int(delivery.clicks[i]),
                    int(delivery.spend_micros[i]),
                    float(delivery.conversions[i]),
                    int(delivery.conversion_value_micros[i]) / 1e6,
                )
            )
    return rows


def only_error(answer: httpx.Response) -> dict[str, Any]:
    """The google.rpc error of a searchStream answer (an array holding one error)."""
    body = answer.json()
    assert isinstance(body, list) and len(body) == 1, body
    return body[0]["error"]


def ads_failure(error: dict[str, Any]) -> dict[str, Any]:
    (failure,) = error["details"]
    assert failure["@type"] == (
        "type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure"
    )
    assert failure["requestId"]
    (ads_error,) = failure["errors"]
    return ads_error


# --- OAuth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant_id", "source", "scope"),
    [
        (NORTHWIND, ADS, "https://www.googleapis.com/auth/adwords"),
        (LEDGERLY, SourceName.GA4, "https://www.googleapis.com/auth/analytics.readonly"),
    ],
)
def test_refresh_grant_issues_a_bearer_token_for_ads_and_ga4(
    sandbox_client: httpx.Client, tenant_id: str, source: SourceName, scope: str
) -> None:
    answer = sandbox_client.post("/oauth2/token", data=token_form(tenant_id, source))

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["access_token"].startswith("ya29.")
    assert (body["expires_in"], body["scope"], body["token_type"]) == (3599, scope, "Bearer")
    assert "no-store" in answer.headers["cache-control"]


@pytest.mark.parametrize(
    ("changes", "status", "error", "description"),
    [
        ({"refresh_token": "1//not-a-token"}, 400, "invalid_grant", "Bad Request"),
        ({"client_secret": "GOCSPX-wrong"}, 401, "invalid_client", "Unauthorized"),
        (
            {"client_id": "1.apps.googleusercontent.com"},
            401,
            "invalid_client",
            "The OAuth client was not found.",
        ),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", "Invalid grant_type: password"),
        (
            {"refresh_token": sandbox_credentials(LEDGERLY, ADS)["refresh_token"]},
            401,
            "unauthorized_client",
            "Unauthorized",
        ),
    ],
)
def test_bad_grants_get_googles_oauth_errors(
    sandbox_client: httpx.Client, changes: dict[str, str], status: int, error: str, description: str
) -> None:
    answer = sandbox_client.post("/oauth2/token", data=token_form(NORTHWIND, **changes))

    assert answer.status_code == status
    assert answer.json() == {"error": error, "error_description": description}


# --- authentication and authorisation ---------------------------------------------------------


def test_missing_bearer_is_unauthenticated(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    developer_token = sandbox_credentials(NORTHWIND, ADS)["developer_token"]
    answer = call(
        sandbox_client,
        customer_of(sandbox, NORTHWIND),
        {"query": "SELECT customer.id FROM customer"},
        {"developer-token": developer_token},
    )

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    error = only_error(answer)
    assert (error["code"], error["status"], error["message"]) == (
        401,
        "UNAUTHENTICATED",
        MISSING_CREDENTIALS,
    )
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert error["details"][0]["reason"] == "CREDENTIALS_MISSING"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("ya29.northwind_fashion.google_ads.9999999999.forged", "OAUTH_TOKEN_INVALID"),
        (issue_access_token(NORTHWIND, ADS, int(time.time()) - 60), "OAUTH_TOKEN_EXPIRED"),
    ],
    ids=["forged", "expired"],  # stable ids: the expired token embeds the current time
)
def test_forged_or_expired_tokens_are_refused(
    sandbox_client: httpx.Client, sandbox: SandboxServer, token: str, reason: str
) -> None:
    headers = ads_headers(sandbox_client, NORTHWIND) | {"Authorization": f"Bearer {token}"}
    answer = call(
        sandbox_client,
        customer_of(sandbox, NORTHWIND),
        {"query": "SELECT customer.id FROM customer"},
        headers,
    )

    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    error = only_error(answer)
    assert error["status"] == "UNAUTHENTICATED"
    assert ads_failure(error)["errorCode"] == {"authenticationError": reason}


def test_a_ga4_token_lacks_the_adwords_scope(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    ga4_token = access_token(sandbox_client, NORTHWIND, SourceName.GA4)
    headers = ads_headers(sandbox_client, NORTHWIND) | {"Authorization": f"Bearer {ga4_token}"}
    answer = call(
        sandbox_client,
        customer_of(sandbox, NORTHWIND),
        {"query": "SELECT customer.id FROM customer"},
        headers,
    )

    assert answer.status_code == 403
    error = only_error(answer)
    assert error["status"] == "PERMISSION_DENIED"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


@pytest.mark.parametrize(
    ("developer_token", "status", "error_code"),
    [
        (None, 400, {"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}),
        ("wrong-token", 401, {"authenticationError": "DEVELOPER_TOKEN_INVALID"}),
        (
            sandbox_credentials(LEDGERLY, ADS)["developer_token"],
            401,
            {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
        ),
    ],
)
def test_developer_token_is_required_and_checked(
    sandbox_client: httpx.Client,
    sandbox: SandboxServer,
    developer_token: str | None,
    status: int,
    error_code: dict[str, str],
) -> None:
    headers = ads_headers(sandbox_client, NORTHWIND)
    del headers["developer-token"]
    if developer_token:
        headers["developer-token"] = developer_token
    answer = call(
        sandbox_client,
        customer_of(sandbox, NORTHWIND),
        {"query": "SELECT customer.id FROM customer"},
        headers,
    )

    assert answer.status_code == status
    assert ads_failure(only_error(answer))["errorCode"] == error_code


@pytest.mark.parametrize(
    ("customer_id", "login_customer_id"),
    [("7305518244", None), ("1234567890", None), ("4821937560", "7305518244")],
)
def test_other_customers_are_permission_denied(
    sandbox_client: httpx.Client, customer_id: str, login_customer_id: str | None
) -> None:
    headers = ads_headers(sandbox_client, NORTHWIND)
    if login_customer_id:
        headers["login-customer-id"] = login_customer_id
    answer = call(
        sandbox_client, customer_id, {"query": "SELECT customer.id FROM customer"}, headers
    )

    assert answer.status_code == 403
    error = only_error(answer)
    assert (error["status"], error["message"]) == (
        "PERMISSION_DENIED",
        "The caller does not have permission",
    )
    assert ads_failure(error)["errorCode"] == {"authorizationError": "USER_PERMISSION_DENIED"}


def test_own_login_customer_id_is_accepted(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    customer_id = customer_of(sandbox, NORTHWIND)
    headers = ads_headers(sandbox_client, NORTHWIND) | {"login-customer-id": customer_id}
    answer = call(
        sandbox_client, customer_id, {"query": "SELECT customer.id FROM customer"}, headers
    )

    assert answer.status_code == 200


def test_list_accessible_customers_names_the_tenants_customer(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    answer = sandbox_client.get(
        "/google-ads/v24/customers:listAccessibleCustomers",
        headers=ads_headers(sandbox_client, LEDGERLY),
    )

    assert answer.json() == {"resourceNames": [f"customers/{customer_of(sandbox, LEDGERLY)}"]}


# --- resources ---------------------------------------------------------------------------------


def test_customer_describes_the_account(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = (
        "SELECT customer.id, customer.descriptive_name, customer.currency_code, "
        "customer.time_zone FROM customer"
    )
    answer = stream(sandbox_client, sandbox, LEDGERLY, query)

    (batch,) = answer.json()
    assert (
        batch["fieldMask"]
        == "customer.id,customer.descriptiveName,customer.currencyCode,customer.timeZone"
    )
    assert batch["requestId"]
    assert batch["results"] == [
        {
            "customer": {
                "resourceName": "customers/7305518244",
                "id": "7305518244",
                "descriptiveName": "Ledgerly",
                "currencyCode": "EUR",
                "timeZone": "Europe/Berlin",
            }
        }
    ]


def test_campaigns_match_the_catalog(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    query = (
        "SELECT campaign.id, campaign.name, campaign.status, campaign.advertising_channel_type, "
        "campaign.start_date, campaign_budget.amount_micros FROM campaign "
        "WHERE campaign.status != 'REMOVED'"
    )
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    account = account_of(sandbox, NORTHWIND)
    customer_id = customer_of(sandbox, NORTHWIND)
    assert [row["campaign"] for row in rows] == [
        {
            "resourceName": f"customers/{customer_id}/campaigns/{campaign.id}",
            "id": campaign.id,
            "name": campaign.name,
            "status": "ENABLED",
            "advertisingChannelType": campaign.objective,
            "startDate": day_date(campaign.start_day).isoformat(),
        }
        for campaign in account.campaigns
    ]
    budgets = [int(row["campaignBudget"]["amountMicros"]) for row in rows]
    assert budgets == [round(c.daily_budget * 100) * 10_000 for c in account.campaigns]


def test_ad_groups_name_their_campaigns(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = "SELECT ad_group.id, ad_group.name, ad_group.status, ad_group.campaign FROM ad_group"
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    account = account_of(sandbox, NORTHWIND)
    customer_id = customer_of(sandbox, NORTHWIND)
    assert [
        (row["adGroup"]["id"], row["adGroup"]["name"], row["adGroup"]["campaign"]) for row in rows
    ] == [
        (
            group.id,
            group.name,
            f"customers/{customer_id}/campaigns/{account.campaigns[group.campaign_index].id}",
        )
        for group in account.ad_groups
    ]
    assert {row["adGroup"]["status"] for row in rows} == {"ENABLED"}


def test_ads_are_the_ads_that_exist_today(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = (
        "SELECT ad_group_ad.ad.id, ad_group_ad.ad.name, ad_group_ad.status, "
        "ad_group_ad.ad_group FROM ad_group_ad"
    )
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    account = account_of(sandbox, NORTHWIND)
    customer_id = customer_of(sandbox, NORTHWIND)
    existing = account.existing_ads(sandbox.world.today())
    assert [row["adGroupAd"]["ad"]["id"] for row in rows] == [ad.id for ad in existing]
    first, ad = rows[0]["adGroupAd"], existing[0]
    group = account.ad_groups[ad.ad_group_index]
    assert first["resourceName"] == f"customers/{customer_id}/adGroupAds/{group.id}~{ad.id}"
    assert first["ad"]["resourceName"] == f"customers/{customer_id}/ads/{ad.id}"
    assert first["ad"]["name"] == ad.name
    assert first["adGroup"] == f"customers/{customer_id}/adGroups/{group.id}"
    statuses = Counter(row["adGroupAd"]["status"] for row in rows)
    running = sum(ad.end_day > sandbox.world.today() for ad in existing)
    assert statuses == {"ENABLED": running, "PAUSED": len(existing) - running}


# --- metrics -----------------------------------------------------------------------------------


def test_ad_daily_metrics_are_the_worlds_reported_days(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    rows = ad_daily(sandbox_client, sandbox, NORTHWIND, *OCTOBER)

    served, world = served_ad_days(rows), world_ad_days(sandbox, NORTHWIND, *OCTOBER)
    assert served == world
    assert len({(ad, day) for ad, day, *_ in served}) == len(served)
    for position in (2, 3, 4):
        assert sum(row[position] for row in served) == sum(row[position] for row in world)
    assert all(isinstance(row["metrics"]["conversions"], float) for row in rows)
    assert all(isinstance(row["metrics"]["costMicros"], str) for row in rows)


def test_campaign_days_sum_their_ads(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    query = (
        "SELECT campaign.id, segments.date, metrics.cost_micros, metrics.impressions "
        f"FROM campaign WHERE segments.date >= '{OCTOBER[0]}' AND segments.date <= '{OCTOBER[1]}'"
    )
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    account = account_of(sandbox, NORTHWIND)
    campaign_of_ad = {ad.id: account.campaigns[ad.campaign_index].id for ad in account.ads}
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for ad_id, day, impressions, _, cost, *_ in world_ad_days(sandbox, NORTHWIND, *OCTOBER):
        totals = expected[(campaign_of_ad[ad_id], day)]
        totals[0] += cost
        totals[1] += impressions
    served = {
        (row["campaign"]["id"], row["segments"]["date"]): [
            int(row["metrics"]["costMicros"]),
            int(row["metrics"]["impressions"]),
        ]
        for row in rows
    }
    assert served == dict(expected)
    assert len(rows) == len(served)


def test_unsegmented_metrics_total_the_date_range(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = (
        "SELECT ad_group.id, metrics.cost_micros, metrics.clicks FROM ad_group "
        f"WHERE segments.date BETWEEN '{OCTOBER[0]}' AND '{OCTOBER[1]}'"
    )
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    account = account_of(sandbox, NORTHWIND)
    world = world_ad_days(sandbox, NORTHWIND, *OCTOBER)
    assert len(rows) == len(account.ad_groups)
    assert sum(int(row["metrics"]["costMicros"]) for row in rows) == sum(r[4] for r in world)
    assert sum(int(row["metrics"]["clicks"]) for row in rows) == sum(r[3] for r in world)
    assert all("segments" not in row for row in rows)


def test_where_order_by_and_limit(sandbox_client: httpx.Client, sandbox: SandboxServer) -> None:
    every = ad_daily(sandbox_client, sandbox, NORTHWIND, *OCTOBER)
    chosen = sorted({row["adGroupAd"]["ad"]["id"] for row in every})[:2]
    query = (
        AD_DAILY.format(*OCTOBER)
        + f" AND ad_group_ad.ad.id IN ({chosen[0]}, {chosen[1]}) AND metrics.clicks > 10"
        + " AND ad_group_ad.status IN ('ENABLED', 'PAUSED')"
        + " ORDER BY metrics.cost_micros DESC LIMIT 5"
    )
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    expected = sorted(
        (
            r
            for r in every
            if r["adGroupAd"]["ad"]["id"] in chosen and int(r["metrics"]["clicks"]) > 10
        ),
        key=lambda r: -int(r["metrics"]["costMicros"]),
    )[:5]
    assert rows == expected
    assert len(rows) == 5


def test_during_last_7_days_covers_the_week_before_today(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = (
        "SELECT segments.date, metrics.clicks FROM customer WHERE segments.date DURING LAST_7_DAYS"
    )
    rows = stream_rows(sandbox_client, sandbox, NORTHWIND, query)

    week = [(SANDBOX_TODAY - timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
    assert [row["segments"]["date"] for row in rows] == week


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT campaign.nme FROM campaign", "UNRECOGNIZED_FIELD"),
        ("SELECT campaign.id FROM campain", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT ad_group.id FROM campaign", "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE"),
        ("SELECT segments.date, metrics.clicks FROM campaign", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        (
            "SELECT segments.date FROM campaign WHERE segments.date >= '2026-10-01'",
            "EXPECTED_FILTERS_ON_DATE_RANGE",
        ),
        ("SELECT campaign.id campaign", "EXPECTED_FROM"),
        ("campaign.id FROM campaign", "EXPECTED_SELECT"),
        ("SELECT campaign.id FROM campaign WHERE campaign.status = 'LIVE'", "BAD_ENUM_CONSTANT"),
        (
            "SELECT segments.date FROM campaign WHERE segments.date BETWEEN '2026/10/01' AND "
            "'2026-10-02'",
            "INVALID_DATE_FORMAT",
        ),
        (
            "SELECT segments.date FROM campaign WHERE segments.date BETWEEN '2026-10-09' AND "
            "'2026-10-02'",
            "DATE_RANGE_TOO_NARROW",
        ),
        ("SELECT campaign.id FROM campaign WHERE campaign.name = 'x", "STRING_NOT_TERMINATED"),
        ("SELECT campaign.id FROM campaign LIMIT 0", "LIMIT_VALUE_TOO_LOW"),
        ("SELECT campaign.id FROM campaign WHERE campaign.name LIKE 'B%'", "BAD_OPERATOR"),
        ("SELECT campaign.id FROM campaign WHERE campaign.id = 'abc'", "BAD_NUMBER"),
        (
            "SELECT campaign.id FROM campaign WHERE segments.date DURING LAST_YEAR",
            "INVALID_VALUE_WITH_DURING_OPERATOR",
        ),
    ],
)
def test_bad_gaql_is_an_invalid_argument_with_a_query_error(
    sandbox_client: httpx.Client, sandbox: SandboxServer, query: str, reason: str
) -> None:
    answer = stream(sandbox_client, sandbox, NORTHWIND, query)

    assert answer.status_code == 400
    error = only_error(answer)
    assert (error["status"], error["message"]) == (
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
    )
    assert ads_failure(error)["errorCode"] == {"queryError": reason}


def test_unknown_field_message_names_the_field(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    answer = stream(sandbox_client, sandbox, NORTHWIND, "SELECT campaign.foo FROM campaign")

    failure = ads_failure(only_error(answer))
    assert failure["message"] == "Unrecognized field in the query: 'campaign.foo'."


def test_body_must_be_a_search_request(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    customer_id = customer_of(sandbox, NORTHWIND)
    headers = ads_headers(sandbox_client, NORTHWIND)

    unknown = call(sandbox_client, customer_id, {"query": "x", "foo": 1}, headers)
    missing = call(sandbox_client, customer_id, {}, headers)

    assert unknown.status_code == 400
    assert only_error(unknown)["message"] == (
        'Invalid JSON payload received. Unknown name "foo": Cannot find field.'
    )
    assert missing.status_code == 400
    assert ads_failure(only_error(missing))["errorCode"] == {
        "requestError": "REQUIRED_FIELD_MISSING"
    }


# --- batches and pages ------------------------------------------------------------------------


def test_stream_batches_hold_at_most_10000_rows_each_row_once(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    last = SANDBOX_TODAY - timedelta(days=1)
    answer = stream(sandbox_client, sandbox, NORTHWIND, AD_DAILY.format(WORLD_START, last))

    batches = answer.json()
    rows = [row for batch in batches for row in batch["results"]]
    world = world_ad_days(sandbox, NORTHWIND, WORLD_START, last)
    assert len(world) > google_ads.BATCH_ROWS
    assert [len(batch["results"]) for batch in batches] == [
        google_ads.BATCH_ROWS,
        len(world) - google_ads.BATCH_ROWS,
    ]
    assert len({batch["requestId"] for batch in batches}) == 1
    assert "queryResourceConsumption" in batches[-1]
    assert served_ad_days(rows) == world


def test_search_pages_10000_rows_with_page_tokens(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    customer_id = customer_of(sandbox, NORTHWIND)
    headers = ads_headers(sandbox_client, NORTHWIND)
    last = SANDBOX_TODAY - timedelta(days=1)
    query = AD_DAILY.format(WORLD_START, last)

    first = call(
        sandbox_client,
        customer_id,
        {"query": query, "returnTotalResultsCount": True},
        headers,
        "search",
    ).json()
    second = call(
        sandbox_client,
        customer_id,
        {"query": query, "pageToken": first["nextPageToken"]},
        headers,
        "search",
    ).json()

    world = world_ad_days(sandbox, NORTHWIND, WORLD_START, last)
    assert int(first["totalResultsCount"]) == len(world)
    assert len(first["results"]) == google_ads.BATCH_ROWS
    assert "nextPageToken" not in second
    assert served_ad_days(first["results"] + second["results"]) == world

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))
    stale = call(
        sandbox_client,
        customer_id,
        {"query": query, "pageToken": first["nextPageToken"]},
        headers,
        "search",
    )
    assert stale.status_code == 400
    assert ads_failure(stale.json()["error"])["errorCode"] == {"requestError": "EXPIRED_PAGE_TOKEN"}


@pytest.mark.parametrize(
    ("extra", "error_code"),
    [
        ({"pageSize": 100}, {"requestError": "PAGE_SIZE_NOT_SUPPORTED"}),
        ({"pageToken": "garbage"}, {"requestError": "INVALID_PAGE_TOKEN"}),
    ],
)
def test_search_refuses_page_sizes_and_foreign_tokens(
    sandbox_client: httpx.Client, sandbox: SandboxServer, extra: dict[str, Any], error_code: dict
) -> None:
    answer = call(
        sandbox_client,
        customer_of(sandbox, NORTHWIND),
        {"query": "SELECT campaign.id FROM campaign"} | extra,
        ads_headers(sandbox_client, NORTHWIND),
        "search",
    )

    assert answer.status_code == 400
    assert ads_failure(answer.json()["error"])["errorCode"] == error_code


def test_a_range_without_data_streams_one_empty_batch(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    answer = stream(
        sandbox_client, sandbox, NORTHWIND, AD_DAILY.format(SANDBOX_TODAY, date(2026, 12, 31))
    )

    (batch,) = answer.json()
    assert "results" not in batch
    assert batch["fieldMask"].startswith("adGroupAd.ad.id,segments.date")


# --- faults ------------------------------------------------------------------------------------


def arm(sandbox: SandboxServer, kind: FaultKind, count: int | None = 1, seconds: float = 7) -> None:
    sandbox.faults.arm(NORTHWIND, ADS.value, Fault(kind, count=count, seconds=seconds))


def test_rate_limit_is_resource_exhausted_with_a_retry_delay(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    arm(sandbox, FaultKind.RATE_LIMIT)

    limited = stream(sandbox_client, sandbox, NORTHWIND, "SELECT customer.id FROM customer")
    after = stream(sandbox_client, sandbox, NORTHWIND, "SELECT customer.id FROM customer")

    assert limited.status_code == 429
    error = only_error(limited)
    assert error["status"] == "RESOURCE_EXHAUSTED"
    failure = ads_failure(error)
    assert failure["errorCode"] == {"quotaError": "RESOURCE_EXHAUSTED"}
    assert failure["details"]["quotaErrorDetails"]["retryDelay"] == "7s"
    assert after.status_code == 200


def test_server_errors_alternate_internal_and_unavailable(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    arm(sandbox, FaultKind.SERVER_ERROR, count=2)

    answers = [
        stream(sandbox_client, sandbox, NORTHWIND, "SELECT customer.id FROM customer")
        for _ in range(2)
    ]

    shapes = {
        (
            a.status_code,
            only_error(a)["status"],
            ads_failure(only_error(a))["errorCode"]["internalError"],
        )
        for a in answers
    }
    assert shapes == {(500, "INTERNAL", "INTERNAL_ERROR"), (503, "UNAVAILABLE", "TRANSIENT_ERROR")}
    recovered = stream(sandbox_client, sandbox, NORTHWIND, "SELECT customer.id FROM customer")
    assert recovered.status_code == 200


def test_malformed_answer_is_a_cut_json_array(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    arm(sandbox, FaultKind.MALFORMED)

    answer = stream(sandbox_client, sandbox, NORTHWIND, AD_DAILY.format(*OCTOBER))

    assert answer.status_code == 200
    assert answer.text.startswith('[{"results": [')
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_expired_token_fault_is_oauth_token_expired(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    arm(sandbox, FaultKind.EXPIRED_TOKEN)

    answer = stream(sandbox_client, sandbox, NORTHWIND, "SELECT customer.id FROM customer")

    assert answer.status_code == 401
    error = only_error(answer)
    assert error["status"] == "UNAUTHENTICATED"
    assert ads_failure(error)["errorCode"] == {"authenticationError": "OAUTH_TOKEN_EXPIRED"}


def test_schema_drift_adds_a_field_to_every_row(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    before = ad_daily(sandbox_client, sandbox, NORTHWIND, *OCTOBER)
    arm(sandbox, FaultKind.SCHEMA_DRIFT, count=None)

    drifted = ad_daily(sandbox_client, sandbox, NORTHWIND, *OCTOBER)

    assert all(row["adGroupAd"]["primaryStatus"] == "ELIGIBLE" for row in drifted)
    for row in drifted:
        del row["adGroupAd"]["primaryStatus"]
    assert drifted == before


# --- restatement and determinism ----------------------------------------------------------------


def test_moving_the_clock_restates_only_the_last_three_days(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    first, last = SANDBOX_TODAY - timedelta(days=10), SANDBOX_TODAY - timedelta(days=1)
    before = served_ad_days(ad_daily(sandbox_client, sandbox, NORTHWIND, first, last))
    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=2))
    after = served_ad_days(ad_daily(sandbox_client, sandbox, NORTHWIND, first, last))

    recent = {(SANDBOX_TODAY - timedelta(days=n)).isoformat() for n in (1, 2, 3)}

    def cost_by_day(rows: list[tuple]) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for _, day, _, _, cost, *_ in rows:
            totals[day] += cost
        return totals

    assert [r for r in before if r[1] not in recent] == [r for r in after if r[1] not in recent]
    changed = cost_by_day(before), cost_by_day(after)
    assert all(changed[0][day] != changed[1][day] for day in recent)
    assert served_ad_days(ad_daily(sandbox_client, sandbox, NORTHWIND, first, last)) == after


def test_same_request_same_body_and_overlapping_ranges_agree(
    sandbox_client: httpx.Client, sandbox: SandboxServer
) -> None:
    query = AD_DAILY.format(*OCTOBER)
    once = stream(sandbox_client, sandbox, NORTHWIND, query)
    twice = stream(sandbox_client, sandbox, NORTHWIND, query)
    shifted = ad_daily(sandbox_client, sandbox, NORTHWIND, date(2026, 10, 15), date(2026, 11, 5))

    assert once.content == twice.content
    shared = {(date(2026, 10, 15) + timedelta(days=n)).isoformat() for n in range(14)}
    october = [r for r in served_ad_days(once.json()[0]["results"]) if r[1] in shared]
    assert october == [r for r in served_ad_days(shifted) if r[1] in shared]
    assert october
