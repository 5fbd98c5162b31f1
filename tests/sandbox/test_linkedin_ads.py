"""The sandbox's LinkedIn Marketing API serves the world's ad delivery in Rest.li 2.0 shapes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aya.tenants import SourceName
from sandbox.api import linkedin_ads
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.ad_metrics import reported_day
from sandbox.world.calendar import WORLD_START, day_number
from sandbox.world.catalog import AdAccount
from sandbox.world.tenant_world import sandbox_credentials
from tests.conftest import SANDBOX_TODAY

LEDGERLY = "ledgerly_saas"
ACCOUNT_ID = "508412377"
ACCOUNT_URN = f"urn%3Ali%3AsponsoredAccount%3A{ACCOUNT_ID}"
VERSION = "202611"
OCTOBER = (date(2026, 10, 1), date(2026, 10, 28))
METRICS = (
    "impressions,clicks,costInLocalCurrency,externalWebsiteConversions,"
    "conversionValueInLocalCurrency,dateRange,pivotValues"
)


def headers(token: str | None = None, version: str | None = VERSION) -> dict[str, str]:
    token = token or sandbox_credentials(LEDGERLY, SourceName.LINKEDIN_ADS)["access_token"]
    sent = {"Authorization": f"Bearer {token}", "X-Restli-Protocol-Version": "2.0.0"}
    if version is not None:
        sent["LinkedIn-Version"] = version
    return sent


def restli_date(day: date) -> str:
    return f"(year:{day.year},month:{day.month},day:{day.day})"


def analytics_url(
    first: date,
    last: date,
    pivot: str = "CREATIVE",
    granularity: str = "DAILY",
    facet: str = f"accounts=List({ACCOUNT_URN})",
    fields: str = METRICS,
) -> str:
    return (
        f"/linkedin/rest/adAnalytics?q=analytics&pivot={pivot}&timeGranularity={granularity}"
        f"&dateRange=(start:{restli_date(first)},end:{restli_date(last)})&{facet}&fields={fields}"
    )


def analytics(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    response = client.get(url, headers=headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["paging"] == {"start": 0, "count": 10, "links": []}
    return body["elements"]


def account_of(sandbox: SandboxServer) -> AdAccount:
    world = sandbox.world
    return world.ad_account(world.registry.get(LEDGERLY), SourceName.LINKEDIN_ADS)


def world_rows(
    account: AdAccount, first: date, last: date, today: date = SANDBOX_TODAY
) -> dict[tuple[date, str], tuple[int, int, int, int, int]]:
    """(day, creative URN) -> the world's reported delivery of that ad on that day."""
    rows = {}
    day = first
    while day <= last:
        delivered = reported_day(account, day_number(day), day_number(today))
        for row, ad_index in enumerate(delivered.ad_index):
            urn = f"urn:li:sponsoredCreative:{account.ads[int(ad_index)].id}"
            rows[(day, urn)] = (
                int(delivered.impressions[row]),
                int(delivered.clicks[row]),
                int(delivered.spend_micros[row]),
                round(float(delivered.conversions[row])),
                int(delivered.conversion_value_micros[row]),
            )
        day += timedelta(days=1)
    return rows


def day_of(element: dict[str, Any], end: str = "start") -> date:
    return date(**element["dateRange"][end])


def micros(text: str) -> int:
    return int(Decimal(text) * 1_000_000)


def follow(client: httpx.Client, path: str, page_size: int) -> list[dict[str, Any]]:
    """Every element of a finder, following `metadata.nextPageToken`."""
    elements: list[dict[str, Any]] = []
    token = None
    while True:
        url = f"{path}&pageSize={page_size}" + (f"&pageToken={token}" if token else "")
        response = client.get(url, headers=headers())
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["elements"]) <= page_size
        elements.extend(body["elements"])
        token = body["metadata"].get("nextPageToken")
        if token is None:
            return elements


@pytest.fixture(scope="module")
def october_elements(sandbox: SandboxServer) -> list[dict[str, Any]]:
    with httpx.Client(base_url=sandbox.url, timeout=60) as client:
        return analytics(client, analytics_url(*OCTOBER))


# --- adAnalytics ------------------------------------------------------------------------


def test_analytics_equal_the_worlds_reported_days(
    sandbox: SandboxServer, october_elements: list[dict[str, Any]]
) -> None:
    expected = world_rows(account_of(sandbox), *OCTOBER)
    keys = [(day_of(e), e["pivotValues"][0]) for e in october_elements]
    assert Counter(keys).most_common(1)[0][1] == 1, "an element was served twice"
    assert set(keys) == set(expected)
    for element in october_elements:
        impressions, clicks, cost, conversions, value = expected[
            (day_of(element), element["pivotValues"][0])
        ]
        assert day_of(element, "end") == day_of(element)
        assert element["impressions"] == impressions
        assert element["clicks"] == clicks
        assert micros(element["costInLocalCurrency"]) == cost
        assert element["externalWebsiteConversions"] == conversions
        assert micros(element["conversionValueInLocalCurrency"]) == value
    assert sum(micros(e["costInLocalCurrency"]) for e in october_elements) == sum(
        v[2] for v in expected.values()
    )


def test_analytics_numbers_have_linkedins_types(october_elements: list[dict[str, Any]]) -> None:
    for element in october_elements:
        assert isinstance(element["impressions"], int)
        assert isinstance(element["externalWebsiteConversions"], int)
        assert isinstance(element["costInLocalCurrency"], str)
        assert "." in element["costInLocalCurrency"]
        assert "." in element["conversionValueInLocalCurrency"]


def test_analytics_are_ordered_by_date_then_creative(
    october_elements: list[dict[str, Any]],
) -> None:
    keys = [(day_of(e), int(e["pivotValues"][0].rpartition(":")[2])) for e in october_elements]
    assert keys == sorted(keys)


def test_campaign_pivot_sums_the_creatives(
    sandbox: SandboxServer,
    sandbox_client: httpx.Client,
    october_elements: list[dict[str, Any]],
) -> None:
    account = account_of(sandbox)
    campaign_of = {
        f"urn:li:sponsoredCreative:{ad.id}": account.campaigns[ad.campaign_index].id
        for ad in account.ads
    }
    by_campaign = analytics(sandbox_client, analytics_url(*OCTOBER, pivot="CAMPAIGN"))
    for element in by_campaign:
        campaign_id = element["pivotValues"][0].removeprefix("urn:li:sponsoredCampaign:")
        creatives = [
            e
            for e in october_elements
            if day_of(e) == day_of(element) and campaign_of[e["pivotValues"][0]] == campaign_id
        ]
        assert element["impressions"] == sum(e["impressions"] for e in creatives)
        assert micros(element["costInLocalCurrency"]) == sum(
            micros(e["costInLocalCurrency"]) for e in creatives
        )


def test_all_granularity_answers_one_element_per_pivot_value(
    sandbox_client: httpx.Client, october_elements: list[dict[str, Any]]
) -> None:
    totals = analytics(sandbox_client, analytics_url(*OCTOBER, pivot="ACCOUNT", granularity="ALL"))
    (total,) = totals
    assert total["pivotValues"] == [f"urn:li:sponsoredAccount:{ACCOUNT_ID}"]
    assert (day_of(total), day_of(total, "end")) == OCTOBER
    assert total["clicks"] == sum(e["clicks"] for e in october_elements)


def test_facets_select_campaigns_and_creatives(
    sandbox: SandboxServer,
    sandbox_client: httpx.Client,
    october_elements: list[dict[str, Any]],
) -> None:
    account = account_of(sandbox)
    campaign = account.campaigns[0]
    facet = f"campaigns=List(urn%3Ali%3AsponsoredCampaign%3A{campaign.id})"
    served = analytics(sandbox_client, analytics_url(*OCTOBER, facet=facet))
    ids = {f"urn:li:sponsoredCreative:{a.id}" for a in account.ads if a.campaign_index == 0}
    assert served == [e for e in october_elements if e["pivotValues"][0] in ids]


def test_other_accounts_answer_empty(sandbox_client: httpx.Client) -> None:
    facet = "accounts=List(urn%3Ali%3AsponsoredAccount%3A111222333)"
    assert analytics(sandbox_client, analytics_url(*OCTOBER, facet=facet)) == []


def test_whole_history_fits_under_the_element_cap(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    last = SANDBOX_TODAY - timedelta(days=1)
    elements = analytics(
        sandbox_client, analytics_url(WORLD_START, last, fields="impressions,dateRange")
    )
    assert len(elements) == len(world_rows(account_of(sandbox), WORLD_START, last))
    assert len(elements) < linkedin_ads.MAX_ELEMENTS


def test_answers_past_the_element_cap_are_silently_truncated(
    sandbox_client: httpx.Client,
    october_elements: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The demo account has fewer than 15,000 creative-days in all its history, so the cap is
    # lowered in the (in-process) sandbox to watch what a bigger account would see.
    monkeypatch.setattr(linkedin_ads, "MAX_ELEMENTS", 100)
    capped = analytics(sandbox_client, analytics_url(*OCTOBER))
    assert capped == october_elements[:100]


def test_rest_li_structure_must_not_be_percent_encoded(sandbox_client: httpx.Client) -> None:
    url = analytics_url(*OCTOBER).replace("dateRange=(start:", "dateRange=%28start:")
    response = sandbox_client.get(url, headers=headers())
    assert response.status_code == 400
    assert response.json()["code"] == "PARAM_INVALID"


def test_urns_must_be_percent_encoded_inside_lists(sandbox_client: httpx.Client) -> None:
    facet = f"accounts=List(urn:li:sponsoredAccount:{ACCOUNT_ID})"
    response = sandbox_client.get(analytics_url(*OCTOBER, facet=facet), headers=headers())
    assert response.status_code == 400
    body = response.json()
    assert body["errorDetails"]["inputErrors"][0]["input"]["inputPath"]["fieldPath"] == "accounts"


@pytest.mark.parametrize(
    "change",
    [
        ("pivot=CREATIVE", "pivot=AD"),
        ("timeGranularity=DAILY", "timeGranularity=WEEKLY"),
        ("end:(year:2026,month:10,day:28)", "end:(year:2026,month:9,day:28)"),
        ("day:28", "day:32"),
        ("q=analytics", "q=statistics"),
        (f"&accounts=List({ACCOUNT_URN})", ""),
    ],
)
def test_invalid_analytics_queries_are_refused(
    sandbox_client: httpx.Client, change: tuple[str, str]
) -> None:
    url = analytics_url(*OCTOBER).replace(*change)
    response = sandbox_client.get(url, headers=headers())
    assert response.status_code == 400, response.text
    assert response.json()["status"] == 400


def test_more_than_twenty_metrics_are_refused(sandbox_client: httpx.Client) -> None:
    fields = ",".join(f"metric{n}" for n in range(21))
    response = sandbox_client.get(analytics_url(*OCTOBER, fields=fields), headers=headers())
    assert response.status_code == 400


# --- account and finders ----------------------------------------------------------------


def test_the_ad_account(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get(f"/linkedin/rest/adAccounts/{ACCOUNT_ID}", headers=headers())
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["currency"], body["status"]) == (int(ACCOUNT_ID), "EUR", "ACTIVE")
    assert body["name"] == "Ledgerly"


def test_campaign_groups_page_through_every_group(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/adCampaignGroups?q=search"
    groups = follow(sandbox_client, path, page_size=1)
    expected = sorted({int(c.group_id) for c in account_of(sandbox).campaigns})
    assert [g["id"] for g in groups] == expected
    assert all(g["account"] == f"urn:li:sponsoredAccount:{ACCOUNT_ID}" for g in groups)


def test_campaigns_page_through_every_campaign(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/adCampaigns?q=search"
    campaigns = follow(sandbox_client, path, page_size=2)
    expected = sorted(account_of(sandbox).campaigns, key=lambda c: int(c.id))
    assert [c["id"] for c in campaigns] == [int(c.id) for c in expected]
    for served, campaign in zip(campaigns, expected, strict=True):
        assert served["campaignGroup"] == f"urn:li:sponsoredCampaignGroup:{campaign.group_id}"
        assert served["name"] == campaign.name
        assert served["dailyBudget"] == {
            "amount": f"{campaign.daily_budget:.2f}",
            "currencyCode": "EUR",
        }
        assert isinstance(served["runSchedule"]["start"], int)


def test_campaign_search_filters_by_group(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    group_id = account_of(sandbox).campaigns[0].group_id
    search = f"search=(campaignGroup:(values:List(urn%3Ali%3AsponsoredCampaignGroup%3A{group_id})))"
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/adCampaigns?q=search&{search}"
    campaigns = follow(sandbox_client, path, page_size=10)
    assert campaigns
    assert {c["id"] for c in campaigns} == {
        int(c.id) for c in account_of(sandbox).campaigns if c.group_id == group_id
    }


def test_creatives_page_through_every_existing_creative(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/creatives?q=criteria"
    creatives = follow(sandbox_client, path, page_size=40)
    account = account_of(sandbox)
    today = day_number(SANDBOX_TODAY)
    existing = sorted(account.existing_ads(today), key=lambda ad: int(ad.id))
    assert [c["id"] for c in creatives] == [f"urn:li:sponsoredCreative:{ad.id}" for ad in existing]
    for served, ad in zip(creatives, existing, strict=True):
        campaign = account.campaigns[ad.campaign_index]
        assert served["campaign"] == f"urn:li:sponsoredCampaign:{campaign.id}"
        assert served["intendedStatus"] == ("ACTIVE" if ad.end_day > today else "PAUSED")
        assert served["name"] == ad.name
    active = follow(sandbox_client, f"{path}&intendedStatuses=List(ACTIVE)", page_size=100)
    assert {c["intendedStatus"] for c in active} == {"ACTIVE"}


def test_finders_refuse_page_sizes_over_1000_and_bad_tokens(sandbox_client: httpx.Client) -> None:
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/creatives?q=criteria"
    assert sandbox_client.get(f"{path}&pageSize=1001", headers=headers()).status_code == 400
    assert sandbox_client.get(f"{path}&pageToken=nonsense", headers=headers()).status_code == 400


def test_finders_need_the_rest_li_protocol_header(sandbox_client: httpx.Client) -> None:
    sent = headers()
    del sent["X-Restli-Protocol-Version"]
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/adCampaigns?q=search"
    assert sandbox_client.get(path, headers=sent).status_code == 400


# --- authentication, versions, access ---------------------------------------------------


def linkedin_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["message"]
    return body


def test_a_missing_token_is_refused(sandbox_client: httpx.Client) -> None:
    sent = headers()
    del sent["Authorization"]
    response = sandbox_client.get(analytics_url(*OCTOBER), headers=sent)
    assert linkedin_error(response, 401, "EMPTY_ACCESS_TOKEN")["serviceErrorCode"] == 65604


def test_a_wrong_token_is_refused(sandbox_client: httpx.Client) -> None:
    northwinds = sandbox_credentials("northwind_fashion", SourceName.LINKEDIN_ADS)["access_token"]
    for token in ("AQVnot-a-token", northwinds):
        response = sandbox_client.get(analytics_url(*OCTOBER), headers=headers(token))
        assert linkedin_error(response, 401, "INVALID_ACCESS_TOKEN")["serviceErrorCode"] == 65600


def test_a_missing_version_header_is_refused(sandbox_client: httpx.Client) -> None:
    response = sandbox_client.get(analytics_url(*OCTOBER), headers=headers(version=None))
    linkedin_error(response, 400, "VERSION_MISSING")


@pytest.mark.parametrize("version", ["202511", "202612", "2026-11", "20261101"])
def test_inactive_versions_are_refused_with_426(sandbox_client: httpx.Client, version: str) -> None:
    response = sandbox_client.get(analytics_url(*OCTOBER), headers=headers(version=version))
    linkedin_error(response, 426, "NONEXISTENT_VERSION")


def test_the_last_twelve_monthly_versions_are_active(sandbox_client: httpx.Client) -> None:
    expected = ["202512", *(f"2026{month:02d}" for month in range(1, 12))]
    assert linkedin_ads.active_versions(SANDBOX_TODAY) == expected
    for version in ("202512", "202606.01", "202611"):
        url = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}"
        assert sandbox_client.get(url, headers=headers(version=version)).status_code == 200
    old = sandbox_client.get(analytics_url(*OCTOBER), headers=headers(version="202504"))
    assert old.json()["message"] == "Requested version 20250401 is not active"


def test_accounts_of_others_are_access_denied(sandbox_client: httpx.Client) -> None:
    for path in ("", "/adCampaigns?q=search", "/creatives?q=criteria"):
        response = sandbox_client.get(
            f"/linkedin/rest/adAccounts/111222333{path}", headers=headers()
        )
        linkedin_error(response, 403, "ACCESS_DENIED")


# --- faults -----------------------------------------------------------------------------


def arm(sandbox: SandboxServer, kind: FaultKind) -> None:
    sandbox.faults.arm(LEDGERLY, SourceName.LINKEDIN_ADS.value, Fault(kind, count=1))


def test_rate_limit_is_a_429(sandbox: SandboxServer, sandbox_client: httpx.Client) -> None:
    arm(sandbox, FaultKind.RATE_LIMIT)
    response = sandbox_client.get(analytics_url(*OCTOBER), headers=headers())
    assert linkedin_error(response, 429, "TOO_MANY_REQUESTS")["message"].startswith(
        "Resource level throttle"
    )
    assert sandbox_client.get(analytics_url(*OCTOBER), headers=headers()).status_code == 200


def test_server_error_is_a_500(sandbox: SandboxServer, sandbox_client: httpx.Client) -> None:
    arm(sandbox, FaultKind.SERVER_ERROR)
    path = f"/linkedin/rest/adAccounts/{ACCOUNT_ID}/adCampaigns?q=search"
    linkedin_error(sandbox_client.get(path, headers=headers()), 500, "INTERNAL_SERVER_ERROR")


def test_expired_token_is_a_401(sandbox: SandboxServer, sandbox_client: httpx.Client) -> None:
    arm(sandbox, FaultKind.EXPIRED_TOKEN)
    response = sandbox_client.get(analytics_url(*OCTOBER), headers=headers())
    assert linkedin_error(response, 401, "EXPIRED_ACCESS_TOKEN")["serviceErrorCode"] == 65601


def test_malformed_answers_are_cut_json(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    arm(sandbox, FaultKind.MALFORMED)
    response = sandbox_client.get(analytics_url(*OCTOBER), headers=headers())
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_schema_drift_adds_a_field_to_every_element(
    sandbox: SandboxServer,
    sandbox_client: httpx.Client,
    october_elements: list[dict[str, Any]],
) -> None:
    sandbox.faults.arm(LEDGERLY, SourceName.LINKEDIN_ADS.value, Fault(FaultKind.SCHEMA_DRIFT))
    drifted = analytics(sandbox_client, analytics_url(*OCTOBER))
    assert all(linkedin_ads.DRIFT_FIELD in e for e in drifted)
    assert [
        {k: v for k, v in e.items() if k != linkedin_ads.DRIFT_FIELD} for e in drifted
    ] == october_elements


# --- determinism and restatement --------------------------------------------------------


def test_same_request_same_body(sandbox_client: httpx.Client) -> None:
    url = analytics_url(*OCTOBER)
    first = sandbox_client.get(url, headers=headers())
    assert first.content == sandbox_client.get(url, headers=headers()).content


def test_overlapping_ranges_agree_on_shared_days(
    sandbox_client: httpx.Client, october_elements: list[dict[str, Any]]
) -> None:
    later = analytics(sandbox_client, analytics_url(date(2026, 10, 20), date(2026, 11, 5)))
    shared = [e for e in later if day_of(e) <= OCTOBER[1]]
    assert shared == [e for e in october_elements if day_of(e) >= date(2026, 10, 20)]


def test_restatement_changes_only_the_last_days(
    sandbox: SandboxServer, sandbox_client: httpx.Client
) -> None:
    window = (date(2026, 11, 10), date(2026, 11, 19))
    before = analytics(sandbox_client, analytics_url(*window))
    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=2))
    after = analytics(sandbox_client, analytics_url(*window))

    def on(elements: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
        return [e for e in elements if day_of(e) == day]

    for day in (date(2026, 11, 10), date(2026, 11, 16)):
        assert on(after, day) == on(before, day)
    restated = world_rows(
        account_of(sandbox), date(2026, 11, 17), window[1], SANDBOX_TODAY + timedelta(days=2)
    )
    for day in (date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)):
        assert on(after, day) != on(before, day)
    served = {
        (day_of(e), e["pivotValues"][0]): micros(e["costInLocalCurrency"])
        for e in after
        if day_of(e) >= date(2026, 11, 17)
    }
    assert served == {key: value[2] for key, value in restated.items()}
