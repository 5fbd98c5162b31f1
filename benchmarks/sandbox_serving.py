"""Benchmark: how long the sandbox takes to serve one tenant-period through each endpoint.

Starts a sandbox for 100 synthetic tenants (so lookups run at the scale the issue asks for),
then, per endpoint, pages through `days` days of one tenant over real HTTP the way a connector
would, with the world's caches cleared first so generation is part of the figure. Reports rows,
seconds, rows/s and the process's peak RSS. Results go in docs/benchmarks.md by hand.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from datetime import date, timedelta

import httpx

from aya.tenants import SourceName, Tenant, TenantRegistry
from sandbox.server import SandboxServer
from sandbox.synthetic_tenants import synthetic_registry
from sandbox.world import ad_metrics, payments, shop
from sandbox.world.calendar import SandboxClock
from sandbox.world.tenant_world import World, sandbox_credentials

BENCH_TODAY = date(2026, 11, 20)
TENANT_COUNT = 100


def run_sandbox_benchmark(template: TenantRegistry, days: int) -> list[str]:
    registry = synthetic_registry(template, TENANT_COUNT)
    world = World(registry, SandboxClock(BENCH_TODAY))
    last = BENCH_TODAY - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    lines = [
        f"sandbox serving, {TENANT_COUNT} tenants registered, one tenant x {days} days "
        f"({first}..{last}), caches cold",
        f"{'endpoint':<28}{'rows':>10}{'seconds':>10}{'rows/s':>10}",
    ]
    with SandboxServer(world) as server, httpx.Client(base_url=server.url, timeout=600) as http:
        for name, tenant_model, pager in _ENDPOINTS:
            tenant = next(t for t in registry.tenants if t.id.endswith(tenant_model))
            _clear_caches()
            started = time.perf_counter()
            rows = pager(http, tenant, first, last)
            seconds = time.perf_counter() - started
            lines.append(f"{name:<28}{rows:>10}{seconds:>10.2f}{rows / seconds:>10.0f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"peak RSS of the process: {peak_mib:.0f} MiB")
    return lines


def _clear_caches() -> None:
    ad_metrics.final_day.cache_clear()
    shop._day_orders.cache_clear()
    payments._day_charges.cache_clear()
    payments._day_subscriptions.cache_clear()


def _google_token(http: httpx.Client, tenant: Tenant, source: SourceName) -> str:
    credentials = sandbox_credentials(tenant.id, source)
    answer = http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "refresh_token": credentials["refresh_token"],
        },
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def _google_ads(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    source = SourceName.GOOGLE_ADS
    token = _google_token(http, tenant, source)
    customer = tenant.sources[source].account_id
    query = (
        "SELECT ad_group_ad.ad.id, segments.date, metrics.impressions, metrics.clicks, "
        "metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM ad_group_ad "
        f"WHERE segments.date BETWEEN '{first}' AND '{last}'"
    )
    answer = http.post(
        f"/google-ads/v24/customers/{customer}/googleAds:searchStream",
        json={"query": query},
        headers={
            "Authorization": f"Bearer {token}",
            "developer-token": sandbox_credentials(tenant.id, source)["developer_token"],
        },
    )
    answer.raise_for_status()
    return sum(len(batch.get("results", [])) for batch in answer.json())


def _meta_ads(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    account = tenant.sources[SourceName.META_ADS].account_id
    token = sandbox_credentials(tenant.id, SourceName.META_ADS)["access_token"]
    url: str | None = f"/meta/v26.0/act_{account}/insights"
    params: dict | None = {
        "level": "ad",
        "time_increment": 1,
        "time_range": json.dumps({"since": str(first), "until": str(last)}),
        "fields": "ad_id,impressions,clicks,spend,actions,action_values",
        "limit": 500,
        "access_token": token,
    }
    rows = 0
    while url:
        answer = http.get(url, params=params)
        answer.raise_for_status()
        page = answer.json()
        rows += len(page["data"])
        url, params = page.get("paging", {}).get("next"), None
    return rows


def _linkedin_ads(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    account = tenant.sources[SourceName.LINKEDIN_ADS].account_id
    token = sandbox_credentials(tenant.id, SourceName.LINKEDIN_ADS)["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": f"{BENCH_TODAY:%Y%m}",  # versions live a year
        "X-Restli-Protocol-Version": "2.0.0",
    }
    rows, start = 0, first
    while start <= last:  # a month per request keeps every answer under the element cap
        end = min(start + timedelta(days=30), last)
        date_range = (
            f"(start:(year:{start.year},month:{start.month},day:{start.day}),"
            f"end:(year:{end.year},month:{end.month},day:{end.day}))"
        )
        query = (
            "q=analytics&pivot=CREATIVE&timeGranularity=DAILY"
            f"&dateRange={date_range}&accounts=List(urn%3Ali%3AsponsoredAccount%3A{account})"
            "&fields=impressions,clicks,costInLocalCurrency,dateRange,pivotValues"
        )
        answer = http.get(f"/linkedin/rest/adAnalytics?{query}", headers=headers)
        answer.raise_for_status()
        rows += len(answer.json()["elements"])
        start = end + timedelta(days=1)
    return rows


def _ga4(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    token = _google_token(http, tenant, SourceName.GA4)
    property_id = tenant.sources[SourceName.GA4].account_id
    rows, offset = 0, 0
    while True:
        answer = http.post(
            f"/ga4/v1beta/properties/{property_id}:runReport",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "dateRanges": [{"startDate": str(first), "endDate": str(last)}],
                "dimensions": [
                    {"name": "date"},
                    {"name": "sessionSource"},
                    {"name": "sessionMedium"},
                    {"name": "sessionCampaignName"},
                ],
                "metrics": [{"name": "sessions"}, {"name": "keyEvents"}],
                "limit": 10_000,
                "offset": offset,
            },
        )
        answer.raise_for_status()
        report = answer.json()
        rows += len(report.get("rows", []))
        offset += 10_000
        if offset >= report["rowCount"]:
            return rows


_SHOPIFY_QUERY = """
query Orders($cursor: String, $query: String) {
  orders(first: 250, after: $cursor, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt
      totalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: 5) { nodes { id quantity } }
      customerJourneySummary { momentsCount { count } }
    }
  }
}
"""


def _shopify(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    shop_handle = tenant.sources[SourceName.SHOPIFY].account_id
    token = sandbox_credentials(tenant.id, SourceName.SHOPIFY)["access_token"]
    search = f"updated_at:>='{first}T00:00:00Z' updated_at:<'{last + timedelta(days=1)}T00:00:00Z'"
    rows, cursor = 0, None
    while True:
        answer = http.post(
            f"/shopify/{shop_handle}/admin/api/2025-01/graphql.json",
            headers={"X-Shopify-Access-Token": token},
            json={"query": _SHOPIFY_QUERY, "variables": {"cursor": cursor, "query": search}},
        )
        answer.raise_for_status()
        body = answer.json()
        if "errors" in body:  # throttled: wait for the bucket to refill, as a client must
            time.sleep(1.0)
            continue
        orders = body["data"]["orders"]
        rows += len(orders["nodes"])
        if not orders["pageInfo"]["hasNextPage"]:
            return rows
        cursor = orders["pageInfo"]["endCursor"]


def _stripe(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    key = sandbox_credentials(tenant.id, SourceName.STRIPE)["api_key"]
    start = int(time.mktime(first.timetuple()))
    end = int(time.mktime((last + timedelta(days=1)).timetuple()))
    params: dict = {"limit": 100, "created[gte]": start, "created[lt]": end}
    rows = 0
    while True:
        answer = http.get("/stripe/v1/charges", params=params, auth=(key, ""))
        answer.raise_for_status()
        page = answer.json()
        rows += len(page["data"])
        if not page["has_more"]:
            return rows
        params["starting_after"] = page["data"][-1]["id"]


def _fx(http: httpx.Client, tenant: Tenant, first: date, last: date) -> int:
    answer = http.get(f"/fx/{first}..{last}", params={"base": "EUR", "symbols": "USD,GBP,JPY"})
    answer.raise_for_status()
    return len(answer.json()["rates"])


_Pager = Callable[[httpx.Client, Tenant, date, date], int]
_ENDPOINTS: list[tuple[str, str, _Pager]] = [
    ("google_ads searchStream", "northwind_fashion", _google_ads),
    ("meta_ads insights", "northwind_fashion", _meta_ads),
    ("linkedin_ads adAnalytics", "ledgerly_saas", _linkedin_ads),
    ("ga4 runReport", "northwind_fashion", _ga4),
    ("shopify orders", "northwind_fashion", _shopify),
    ("stripe charges (saas)", "ledgerly_saas", _stripe),
    ("stripe charges (jpy+gbp)", "thistle_and_thread", _stripe),
    ("fx time series", "northwind_fashion", _fx),
]
