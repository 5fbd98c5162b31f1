"""The sandbox's Meta Marketing API serves the world's ad delivery in Graph API shapes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aya.tenants import SourceName
from sandbox.api import meta_ads
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.ad_metrics import reported_day
from sandbox.world.calendar import day_number
from sandbox.world.catalog import AdAccount
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import SANDBOX_TODAY

NORTHWIND = "northwind_fashion"
THISTLE = "thistle_and_thread"
NORTHWIND_ACCOUNT = "120330000000517"
THISTLE_ACCOUNT = "120330000000982"
VERSION = meta_ads.API_VERSION
OCTOBER = (date(2026, 10, 1), date(2026, 10, 28))
INSIGHT_FIELDS = (
    "account_id,account_currency,campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name,"
    "impressions,clicks,spend,actions,action_values,date_start,date_stop"
)


def token_of(tenant_id: str) -> str:
    return sandbox_credentials(tenant_id, SourceName.META_ADS)["access_token"]


def account_of(sandbox: SandboxServer, tenant_id: str) -> AdAccount:
    world = sandbox.world
    return world.ad_account(world.registry.get(tenant_id), SourceName.META_ADS)


def get(
    client: httpx.Client,
    path: str,
    tenant_id: str = NORTHWIND,
    account: str = NORTHWIND_ACCOUNT,
    **params: Any,
) -> httpx.Response:
    params.setdefault("access_token", token_of(tenant_id))
    return client.get(f"/meta/{VERSION}/act_{account}{path}", params=params)


def insights_params(first: date, last: date, **extra: Any) -> dict[str, Any]:
    return {
        "level": "ad",
        "time_increment": 1,
        "time_range": json.dumps({"since": first.isoformat(), "until": last.isoformat()}),
        "fields": INSIGHT_FIELDS,
        **extra,
    }


def follow(client: httpx.Client, response: httpx.Response) -> list[dict[str, Any]]:
    """Every row of a paged answer, following `paging.next` as Meta's SDKs do."""
    rows: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["data"])
        next_url = body.get("paging", {}).get("next")
        if next_url is None:
            return rows
        response = client.get(next_url)


def world_rows(
    account: AdAccount, first: date, last: date, today: date = SANDBOX_TODAY
) -> dict[tuple[str, str], Any]:
    """(date, ad id) -> the world's reported delivery of that ad on that day."""
    rows = {}
    day = first
    while day <= last:
        delivered = reported_day(account, day_number(day), day_number(today))
        for row, ad_index in enumerate(delivered.ad_index):
            rows[(day.isoformat(), account.ads[int(ad_index)].id)] = (
                int(delivered.impressions[row]),
                int(delivered.clicks[row]),
                int(delivered.spend_micros[row]),
                round(float(delivered.conversions[row])),
                int(delivered.conversion_value_micros[row]),
            )
        day += timedelta(days=1)
    return rows


def micros(text: str) -> int:
    return int(Decimal(text) * 1_000_000)


def action_value(row: dict[str, Any], field: str, action_type: str = "purchase") -> str | None:
    for entry in row.get(field, []):
        if entry["action_type"] == action_type:
            return entry["value"]
    return None


@pytest.fixture(scope="module")
def october_rows(sandbox: SandboxServer) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.url, timeout=60) as client:
        first = get(client, "/insights", **insights_params(*OCTOBER, limit=50))
        return follow(client, first)


# --- insights ---------------------------------------------------------------------------


def test_insights_equal_the_worlds_reported_days(
    sandbox: SandboxServer, october_rows: list[dict[str, Any]]
) -> None:
    expected = world_rows(account_of(sandbox, NORTHWIND), *OCTOBER)
    keys = [(row["date_start"], row["ad_id"]) for row in october_rows]
    assert Counter(keys).most_common(1)[0][1] == 1, "a row was served twice"
    assert set(keys) == set(expected)
    for row in october_rows:
        impressions, clicks, spend, conversions, value = expected[(row["date_start"], row["ad_id"])]
        assert row["date_stop"] == row["date_start"]
        assert row["impressions"] == str(impressions)
        assert row["clicks"] == str(clicks)
        assert micros(row["spend"]) == spend
        assert action_value(row, "actions") == (str(conversions) if conversions else None)
        shown_value = action_value(row, "action_values")
        assert (micros(shown_value) if shown_value else 0) == (value if conversions else 0)
        assert row["account_id"] == NORTHWIND_ACCOUNT
        assert row["account_currency"] == "USD"
    served_cents = sum(micros(row["spend"]) // 10_000 for row in october_rows)
    assert served_cents == sum(v[2] for v in expected.values()) // 10_000
    assert sum(int(r["impressions"]) for r in october_rows) == sum(v[0] for v in expected.values())
    assert sum(int(r["clicks"]) for r in october_rows) == sum(v[1] for v in expected.values())


def test_insights_rows_carry_names_and_ids_of_the_hierarchy(
    sandbox: SandboxServer, october_rows: list[dict[str, Any]]
) -> None:
    account = account_of(sandbox, NORTHWIND)
    ads = {ad.id: ad for ad in account.ads}
    for row in october_rows:
        ad = ads[row["ad_id"]]
        assert row["ad_name"] == ad.name
        assert row["adset_id"] == account.ad_groups[ad.ad_group_index].id
        assert row["adset_name"] == account.ad_groups[ad.ad_group_index].name
        assert row["campaign_id"] == account.campaigns[ad.campaign_index].id
        assert row["campaign_name"] == account.campaigns[ad.campaign_index].name


def test_insights_are_ordered_by_date_then_ad_id(october_rows: list[dict[str, Any]]) -> None:
    keys = [(row["date_start"], int(row["ad_id"])) for row in october_rows]
    assert keys == sorted(keys)


def test_numbers_are_strings_without_trailing_zeros(october_rows: list[dict[str, Any]]) -> None:
    for row in october_rows:
        for name in ("impressions", "clicks", "spend"):
            assert isinstance(row[name], str)
        assert not (row["spend"].endswith("0") and "." in row["spend"])
        assert not row["spend"].endswith(".")
        assert len(row["spend"].partition(".")[2]) <= 2  # Meta bills whole cents


def test_actions_list_each_type_of_the_pixel_event_and_are_omitted_when_zero(
    october_rows: list[dict[str, Any]],
) -> None:
    with_actions = [row for row in october_rows if "actions" in row]
    assert with_actions and len(with_actions) < len(october_rows)
    for row in with_actions:
        types = [entry["action_type"] for entry in row["actions"]]
        assert types == ["offsite_conversion.fb_pixel_purchase", "omni_purchase", "purchase"]
        assert len({entry["value"] for entry in row["actions"]}) == 1


def test_paging_with_a_small_limit_serves_every_row_once(
    sandbox_client: httpx.Client, october_rows: list[dict[str, Any]]
) -> None:
    first = get(sandbox_client, "/insights", **insights_params(*OCTOBER, limit=37))
    body = first.json()
    assert body["paging"]["cursors"] == {"before": "MAZDZD", "after": "MzYZD"}
    assert body["paging"]["next"].startswith(str(sandbox_client.base_url))
    assert "previous" not in body["paging"]
    second = sandbox_client.get(body["paging"]["next"]).json()
    assert sandbox_client.get(second["paging"]["previous"]).json() == body
    assert follow(sandbox_client, first) == october_rows


def test_last_page_has_no_next_link_and_default_limit_is_25(
    sandbox_client: httpx.Client,
) -> None:
    body = get(sandbox_client, "/insights", **insights_params(*OCTOBER)).json()
    assert len(body["data"]) == 25
    last = date(2026, 10, 1)
    one_day = get(sandbox_client, "/insights", **insights_params(last, last, limit=500)).json()
    assert "next" not in one_day["paging"]
    assert one_day["paging"]["cursors"]["before"] == "MAZDZD"


def test_coarser_levels_and_increments_sum_the_daily_ad_rows(
    sandbox_client: httpx.Client, october_rows: list[dict[str, Any]]
) -> None:
    params = insights_params(*OCTOBER, level="campaign", time_increment="all_days", limit=100)
    params["fields"] = "campaign_id,impressions,clicks,spend"
    campaigns = follow(sandbox_client, get(sandbox_client, "/insights", **params))
    for campaign in campaigns:
        assert (campaign["date_start"], campaign["date_stop"]) == ("2026-10-01", "2026-10-28")
        daily = [r for r in october_rows if r["campaign_id"] == campaign["campaign_id"]]
        assert int(campaign["impressions"]) == sum(int(r["impressions"]) for r in daily)
        assert micros(campaign["spend"]) == sum(micros(r["spend"]) for r in daily)
        assert "ad_id" not in campaign


def test_attribution_windows_split_the_default_value(sandbox_client: httpx.Client) -> None:
    params = insights_params(
        *OCTOBER, limit=500, action_attribution_windows='["7d_click","1d_view"]'
    )
    rows = follow(sandbox_client, get(sandbox_client, "/insights", **params))
    entries = [e for row in rows for e in row.get("action_values", [])]
    assert entries
    for entry in entries:
        assert micros(entry["7d_click"]) + micros(entry["1d_view"]) == micros(entry["value"])
        assert micros(entry["1d_view"]) % 10_000 == 0


def test_thistles_account_bills_in_euros(sandbox_client: httpx.Client) -> None:
    response = get(
        sandbox_client,
        "",
        THISTLE,
        THISTLE_ACCOUNT,
        fields="name,account_id,currency,timezone_name,account_status",
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "Thistle & Thread",
        "account_id": THISTLE_ACCOUNT,
        "currency": "EUR",
        "timezone_name": "Europe/London",
        "account_status": 1,
        "id": f"act_{THISTLE_ACCOUNT}",
    }
    rows = get(
        sandbox_client,
        "/insights",
        THISTLE,
        THISTLE_ACCOUNT,
        **insights_params(*OCTOBER, limit=5),
    ).json()["data"]
    assert {row["account_currency"] for row in rows} == {"EUR"}


def test_northwinds_account_is_in_dollars_and_new_york_time(sandbox_client: httpx.Client) -> None:
    body = get(sandbox_client, "", fields="currency,timezone_name,timezone_offset_hours_utc").json()
    assert body == {
        "currency": "USD",
        "timezone_name": "America/New_York",
        "timezone_offset_hours_utc": -5,
        "id": f"act_{NORTHWIND_ACCOUNT}",
    }


# --- object edges -----------------------------------------------------------------------


def test_campaigns_page_through_every_campaign(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    account = account_of(sandbox, NORTHWIND)
    first = get(
        sandbox_client, "/campaigns", fields="id,name,daily_budget,status,objective", limit=2
    )
    campaigns = follow(sandbox_client, first)
    assert [c["id"] for c in campaigns] == [c.id for c in account.campaigns]
    for served, campaign in zip(campaigns, account.campaigns, strict=True):
        assert served["daily_budget"] == str(round(campaign.daily_budget * 100))
        assert served["status"] == "ACTIVE"
        assert served["objective"] == campaign.objective


def test_ad_sets_page_through_every_ad_set_with_its_campaign(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    account = account_of(sandbox, NORTHWIND)
    first = get(sandbox_client, "/adsets", fields="id,name,campaign_id,status", limit=4)
    ad_sets = follow(sandbox_client, first)
    assert [(s["id"], s["campaign_id"]) for s in ad_sets] == [
        (g.id, account.campaigns[g.campaign_index].id) for g in account.ad_groups
    ]
    assert all("daily_budget" not in s for s in ad_sets)


def test_ads_page_through_every_existing_ad(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    account = account_of(sandbox, NORTHWIND)
    fields = "id,name,adset_id,campaign_id,status,created_time"
    ads = follow(sandbox_client, get(sandbox_client, "/ads", fields=fields, limit=40))
    existing = account.existing_ads(day_number(SANDBOX_TODAY))
    assert [a["id"] for a in ads] == [ad.id for ad in existing]
    for served, ad in zip(ads, existing, strict=True):
        assert served["adset_id"] == account.ad_groups[ad.ad_group_index].id
        assert served["campaign_id"] == account.campaigns[ad.campaign_index].id
        expected_status = "ACTIVE" if ad.end_day > day_number(SANDBOX_TODAY) else "PAUSED"
        assert served["status"] == expected_status
        assert served["created_time"][10] == "T" and served["created_time"][-5] in "+-"
    active = get(sandbox_client, "/ads", effective_status='["ACTIVE"]', limit=500).json()
    assert len(active["data"]) == sum(ad.end_day > day_number(SANDBOX_TODAY) for ad in existing)


# --- errors -----------------------------------------------------------------------------


def graph_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= error.keys()
    return error


def test_a_missing_token_is_refused(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get(f"/meta/{VERSION}/act_{NORTHWIND_ACCOUNT}/insights")
    error = graph_error(response)
    assert (error["code"], error["type"]) == (104, "OAuthException")


def test_a_wrong_token_is_refused_with_code_190(sandbox_client: httpx.Client) -> None:
    response = get(sandbox_client, "/campaigns", access_token="EAABnot-a-real-token")
    error = graph_error(response)
    assert error["code"] == 190
    assert response.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')


def test_the_token_may_come_as_a_bearer_header(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get(
        f"/meta/{VERSION}/act_{NORTHWIND_ACCOUNT}",
        headers={"Authorization": f"Bearer {token_of(NORTHWIND)}"},
    )
    assert response.status_code == 200
    assert response.json() == {"account_id": NORTHWIND_ACCOUNT, "id": f"act_{NORTHWIND_ACCOUNT}"}


@pytest.mark.parametrize("account", [THISTLE_ACCOUNT, "999999999"])
def test_accounts_the_token_cannot_read_do_not_exist_for_it(
    sandbox_client: httpx.Client, account: str
) -> None:
    error = graph_error(get(sandbox_client, "/insights", account=account))
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"level": "creative"}, 100),
        ({"time_range": "2026-10-01..2026-10-02"}, 100),
        ({"time_range": '{"since":"2026-10-05","until":"2026-10-01"}'}, 100),
        ({"time_range": '{"since":"2026-10-01","until":"2026-13-01"}'}, 100),
        ({"time_range": '{"since":"2023-01-01","until":"2023-01-31"}'}, 3018),
        ({"fields": "spend,inline_link_clicks"}, 100),
        ({"time_increment": "weekly"}, 100),
        ({"limit": "-3"}, 100),
        ({"after": "not-a-cursor"}, 100),
    ],
)
def test_invalid_insights_parameters_are_refused(
    sandbox_client: httpx.Client, params: dict[str, str], code: int
) -> None:
    response = get(sandbox_client, "/insights", **{**insights_params(*OCTOBER), **params})
    assert graph_error(response)["code"] == code


def test_deprecated_versions_are_refused(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get(
        f"/meta/v19.0/act_{NORTHWIND_ACCOUNT}", params={"access_token": token_of(NORTHWIND)}
    )
    assert graph_error(response)["code"] == 2635


def test_unknown_fields_on_objects_are_refused(sandbox_client: httpx.Client) -> None:
    error = graph_error(get(sandbox_client, "/campaigns", fields="id,colour"))
    assert error["code"] == 100
    assert "(colour)" in error["message"]


# --- faults and rate-limit headers ------------------------------------------------------


def arm(sandbox: SandboxServer, kind: FaultKind, **options: Any) -> None:
    sandbox.faults.arm(NORTHWIND, SourceName.META_ADS.value, Fault(kind, **options))


def test_normal_answers_carry_light_business_use_case_usage(sandbox_client: httpx.Client) -> None:
    response = get(sandbox_client, "/insights", **insights_params(*OCTOBER, limit=1))
    usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    (entry,) = usage[NORTHWIND_ACCOUNT]
    assert entry["type"] == "ads_insights"
    assert entry["call_count"] < 100 and entry["estimated_time_to_regain_access"] == 0
    assert "acc_id_util_pct" in json.loads(response.headers["X-Ad-Account-Usage"])
    assert "call_count" in json.loads(response.headers["X-App-Usage"])


def test_rate_limit_on_insights_is_the_ads_insights_throttle(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    arm(sandbox, FaultKind.RATE_LIMIT, count=1, seconds=180)
    response = get(sandbox_client, "/insights", **insights_params(*OCTOBER))
    error = graph_error(response)
    assert (error["code"], error["error_subcode"]) == (80000, 2446079)
    assert error["message"].startswith("(#80000) There have been too many calls")
    (usage,) = json.loads(response.headers["X-Business-Use-Case-Usage"])[NORTHWIND_ACCOUNT]
    assert usage["type"] == "ads_insights"
    assert usage["call_count"] == 100
    assert usage["estimated_time_to_regain_access"] == 3
    assert get(sandbox_client, "/insights", **insights_params(*OCTOBER)).status_code == 200


def test_rate_limit_on_objects_is_the_ads_management_throttle(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    arm(sandbox, FaultKind.RATE_LIMIT, count=1)
    response = get(sandbox_client, "/campaigns")
    assert graph_error(response)["code"] == 80004
    (usage,) = json.loads(response.headers["X-Business-Use-Case-Usage"])[NORTHWIND_ACCOUNT]
    assert usage["type"] == "ads_management"


def test_server_error_is_a_transient_graph_error(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    arm(sandbox, FaultKind.SERVER_ERROR, count=1)
    error = graph_error(get(sandbox_client, "/insights", **insights_params(*OCTOBER)), 500)
    assert (error["code"], error["is_transient"]) == (1, True)


def test_expired_token_is_code_190_subcode_463(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    arm(sandbox, FaultKind.EXPIRED_TOKEN, count=1)
    error = graph_error(get(sandbox_client, "/insights", **insights_params(*OCTOBER)))
    assert (error["code"], error["error_subcode"]) == (190, 463)
    assert error["message"].startswith("Error validating access token: Session has expired")


def test_malformed_answers_are_cut_json(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    arm(sandbox, FaultKind.MALFORMED, count=1)
    response = get(sandbox_client, "/insights", **insights_params(*OCTOBER))
    assert response.status_code == 200
    assert response.text.startswith('{"data": [{')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_schema_drift_adds_a_field_to_every_insights_row(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    params = insights_params(*OCTOBER, limit=100)
    before = get(sandbox_client, "/insights", **params).json()["data"]
    assert all(meta_ads.DRIFT_FIELD not in row for row in before)
    arm(sandbox, FaultKind.SCHEMA_DRIFT)
    drifted = get(sandbox_client, "/insights", **params).json()["data"]
    assert all(meta_ads.DRIFT_FIELD in row for row in drifted)
    assert [{k: v for k, v in r.items() if k != meta_ads.DRIFT_FIELD} for r in drifted] == before


# --- determinism and restatement --------------------------------------------------------


def test_same_request_same_body(sandbox_client: httpx.Client) -> None:
    params = insights_params(*OCTOBER, limit=200)
    assert get(sandbox_client, "/insights", **params).content == (
        get(sandbox_client, "/insights", **params).content
    )


def test_overlapping_ranges_agree_on_shared_days(
    sandbox_client: httpx.Client, october_rows: list[dict[str, Any]]
) -> None:
    params = insights_params(date(2026, 10, 20), date(2026, 11, 5), limit=500)
    later = follow(sandbox_client, get(sandbox_client, "/insights", **params))
    shared = [row for row in later if row["date_start"] <= "2026-10-28"]
    assert shared == [row for row in october_rows if row["date_start"] >= "2026-10-20"]


def test_restatement_changes_only_the_last_days(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    window = insights_params(date(2026, 11, 10), date(2026, 11, 19), limit=500)
    before = follow(sandbox_client, get(sandbox_client, "/insights", **window))
    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=2))
    after = follow(sandbox_client, get(sandbox_client, "/insights", **window))

    def by_day(rows: list[dict[str, Any]], day: str) -> list[dict[str, Any]]:
        return [row for row in rows if row["date_start"] == day]

    for day in ("2026-11-10", "2026-11-13", "2026-11-16"):
        assert by_day(after, day) == by_day(before, day)
    for day in ("2026-11-17", "2026-11-18", "2026-11-19"):
        old_spend = sum(micros(r["spend"]) for r in by_day(before, day))
        new_spend = sum(micros(r["spend"]) for r in by_day(after, day))
        assert new_spend < old_spend, day
    restated = world_rows(
        account_of(sandbox, NORTHWIND),
        date(2026, 11, 17),
        date(2026, 11, 19),
        SANDBOX_TODAY + timedelta(days=2),
    )
    served = {(r["date_start"], r["ad_id"]): micros(r["spend"]) for r in after}
    assert {key: value[2] for key, value in restated.items()} == {
        key: spend for key, spend in served.items() if key[0] >= "2026-11-17"
    }
