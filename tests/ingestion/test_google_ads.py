"""Google Ads lands per tenant and day exactly as the account reported it, through its failures.

Every test loads the sandbox's Google Ads API (searchStream, GAQL, OAuth refresh-token grant)
through the real runner (dlt, DuckDB, HTTP) and compares the raw tables with the sandbox's
ground truth: spend (cost_micros / 1e6), impressions, clicks, conversions and conversion value
per day, in the account currency.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import requests

from aya.tenants import SourceName, TenantRegistry
from ingestion import google_ads
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, connector, ingest
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.ingestion.conftest import query

ADS = SourceName.GOOGLE_ADS
NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
FIRST_DAY = date(2026, 10, 1)
LAST_DAY = date(2026, 10, 14)
TABLES = ("customer", "campaigns", "ad_groups", "ads", "ad_daily_metrics")


@dataclass(frozen=True)
class DayTotals:
    currency: str
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal
    conversion_value: Decimal


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox: SandboxServer) -> Iterator[None]:
    """No faults and the fixed clock after each test."""
    yield
    sandbox.faults.clear()
    sandbox.world.clock.set(SANDBOX_TODAY)


def load(run_ingest, tenant_id: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> SourceRun:
    [run] = run_ingest(
        tenant_ids=(tenant_id,), sources=(ADS.value,), first_day=first, last_day=last
    )
    return run


def schema(tenant_id: str) -> str:
    return f"raw_google_ads__{tenant_id}"


def raw_days(warehouse: Path, tenant_id: str) -> dict[date, DayTotals]:
    rows = query(
        warehouse,
        f"""select date, currency_code, sum(cost_micros), sum(impressions), sum(clicks),
                   sum(conversions), sum(conversions_value)
            from {schema(tenant_id)}.ad_daily_metrics group by 1, 2""",
    )
    days = {}
    for day, currency, micros, impressions, clicks, conversions, value in rows:
        assert date.fromisoformat(day) not in days, f"{day} in two currencies"
        days[date.fromisoformat(day)] = DayTotals(
            currency,
            Decimal(micros).scaleb(-6),
            int(impressions),
            int(clicks),
            Decimal(conversions),
            Decimal(value),
        )
    return days


def true_days(sandbox: SandboxServer, tenant_id: str, first: date, last: date) -> dict:
    return {
        row.date: DayTotals(
            row.currency,
            row.spend,
            row.impressions,
            row.clicks,
            row.platform_conversions,
            row.platform_conversion_value,
        )
        for row in truth(sandbox.world, tenant_id, first, last, [ADS])
    }


def snapshot(warehouse: Path, tenant_id: str) -> list[tuple]:
    """Row counts of every table and the metric sums, to prove a failed run changed nothing."""
    raw = schema(tenant_id)
    counts = ", ".join(f"(select count(*) from {raw}.{table})" for table in TABLES)
    return query(
        warehouse,
        f"""select {counts}, (select count(*) from {raw}._dlt_loads),
                   (select sum(cost_micros) from {raw}.ad_daily_metrics),
                   (select sum(conversions) from {raw}.ad_daily_metrics)""",
    )


def assert_keys_unique(warehouse: Path, tenant_id: str) -> None:
    raw = schema(tenant_id)
    keys = {
        "customer": "customer_id",
        "campaigns": "campaign_id",
        "ad_groups": "ad_group_id",
        "ads": "ad_group_id, ad_id",
        "ad_daily_metrics": "ad_group_id, ad_id, date",
    }
    for table, key in keys.items():
        [(rows, distinct)] = query(
            warehouse,
            f"select count(*), count(distinct (tenant_id, customer_id, {key})) from {raw}.{table}",
        )
        assert rows == distinct > 0, table


@pytest.mark.parametrize(("tenant_id", "currency"), [(NORTHWIND, "USD"), (LEDGERLY, "EUR")])
def test_daily_metrics_equal_the_truth(
    run_ingest, warehouse: Path, sandbox: SandboxServer, tenant_id: str, currency: str
) -> None:
    run = load(run_ingest, tenant_id)
    assert not run.failed, run.error

    expected = true_days(sandbox, tenant_id, FIRST_DAY, LAST_DAY)
    assert len(expected) >= 13  # at most one zero-delivery outage day
    assert {day.currency for day in expected.values()} == {currency}
    assert raw_days(warehouse, tenant_id) == expected
    [(fractional,)] = query(
        warehouse,
        f"select count(*) from {schema(tenant_id)}.ad_daily_metrics "
        "where conversions <> floor(conversions)",
    )
    assert fractional > 0  # data-driven attribution's fractions survive as decimals
    assert_keys_unique(warehouse, tenant_id)


def test_dimensions_land_and_metrics_reference_them(
    run_ingest, warehouse: Path, sandbox: SandboxServer, registry: TenantRegistry
) -> None:
    run = load(run_ingest, LEDGERLY)
    assert not run.failed, run.error
    raw = schema(LEDGERLY)
    tenant = registry.get(LEDGERLY)
    account = sandbox.world.ad_account(tenant, ADS)

    customer = query(
        warehouse,
        f"select customer_id, descriptive_name, currency_code, time_zone from {raw}.customer",
    )
    assert customer == [
        (int(tenant.sources[ADS].account_id), tenant.display_name, "EUR", tenant.timezone)
    ]
    campaigns = query(warehouse, f"select campaign_id, campaign_name from {raw}.campaigns")
    assert sorted(campaigns) == sorted(
        (int(c.id), c.name) for c in account.campaigns if c.start_day <= sandbox.world.today()
    )
    ads = query(warehouse, f"select ad_id, ad_name from {raw}.ads")
    assert sorted(ads) == sorted(
        (int(ad.id), ad.name) for ad in account.existing_ads(sandbox.world.today())
    )
    [(orphans,)] = query(
        warehouse,
        f"""select count(*) from {raw}.ad_daily_metrics m
            left join {raw}.ads a using (tenant_id, customer_id, ad_group_id, ad_id)
            left join {raw}.ad_groups g using (tenant_id, customer_id, ad_group_id)
            left join {raw}.campaigns c on c.campaign_id = m.campaign_id
            where a.ad_id is null or g.campaign_id <> m.campaign_id or c.campaign_id is null""",
    )
    assert orphans == 0
    [(statuses,)] = query(warehouse, f"select count(distinct ad_status) from {raw}.ads")
    assert statuses == 2  # ENABLED and PAUSED (rotated-out creatives)


def test_reloading_the_window_changes_nothing(run_ingest, warehouse: Path) -> None:
    first = load(run_ingest, NORTHWIND)
    assert not first.failed, first.error
    before = snapshot(warehouse, NORTHWIND)
    again = load(run_ingest, NORTHWIND)
    assert not again.failed, again.error
    assert again.rows == first.rows
    after = snapshot(warehouse, NORTHWIND)
    assert after[0][:5] == before[0][:5]
    assert after[0][6:] == before[0][6:]
    assert after[0][5] == before[0][5] + 1  # only _dlt_loads grew
    assert_keys_unique(warehouse, NORTHWIND)


def test_a_reloaded_day_loses_the_rows_google_no_longer_serves(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    """Each day a load holds replaces that day's rows: an ad whose delivery Google restated away
    leaves; a day outside the reloaded window keeps its rows, even one Google would not serve."""
    assert not load(run_ingest, NORTHWIND).failed
    reloaded = (LAST_DAY - timedelta(days=1), LAST_DAY)
    for day in (FIRST_DAY, LAST_DAY):
        add_an_ad_google_no_longer_serves(warehouse, NORTHWIND, day)
    ghost_days = f"select date from {schema(NORTHWIND)}.ad_daily_metrics where ad_id = 0 order by 1"
    assert query(warehouse, ghost_days) == [(FIRST_DAY.isoformat(),), (LAST_DAY.isoformat(),)]

    run = load(run_ingest, NORTHWIND, *reloaded)
    assert not run.failed, run.error

    assert query(warehouse, ghost_days) == [(FIRST_DAY.isoformat(),)]
    days = raw_days(warehouse, NORTHWIND)
    assert {day: days[day] for day in (reloaded[0], LAST_DAY)} == true_days(
        sandbox, NORTHWIND, *reloaded
    )
    assert_keys_unique(warehouse, NORTHWIND)


def add_an_ad_google_no_longer_serves(warehouse: Path, tenant_id: str, day: date) -> None:
    """A copy of one of `day`'s rows for ad 0, as if Google had served it before."""
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            f"""insert into {schema(tenant_id)}.ad_daily_metrics
                select * replace (0 as ad_id, 'restated-away-' || date as _dlt_id)
                from {schema(tenant_id)}.ad_daily_metrics where date = ? limit 1""",
            [day.isoformat()],
        )


def test_incremental_run_rereads_the_restatement_window_and_overwrites_it(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    """A later run asks only from the last loaded day minus `restatement_days` to yesterday (not
    from the start of the history), and the days that were still restating then now equal the
    matured truth; a backfill in between neither moves the cursor nor disturbs it."""
    lag, history_days = 5, 21
    tenant = registry.get(NORTHWIND)
    sources = {
        **tenant.sources,
        ADS: tenant.sources[ADS].model_copy(update={"restatement_days": lag}),
    }
    tenant = tenant.model_copy(update={"history_days": history_days, "sources": sources})
    short = registry.model_copy(update={"tenants": [tenant]})
    first_today, second_today = date(2026, 10, 20), date(2026, 10, 27)
    history = (first_today - timedelta(days=history_days), first_today - timedelta(days=1))
    raw = schema(NORTHWIND)

    def run(today: date, **window: date) -> SourceRun:
        sandbox.world.clock.set(today)
        [result] = ingest(short, IngestRequest(sources=(ADS.value,), today=today, **window))
        assert not result.failed, result.error
        return result

    run(first_today)
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, *history)
    restating = true_days(sandbox, NORTHWIND, history[1] - timedelta(days=2), history[1])

    backfill = (history[0] - timedelta(days=3), history[0] - timedelta(days=1))
    run(second_today, first_day=backfill[0], last_day=backfill[1])
    second = run(second_today)

    yesterday = second_today - timedelta(days=1)
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, backfill[0], yesterday)
    matured = true_days(sandbox, NORTHWIND, history[1] - timedelta(days=2), history[1])
    assert all(matured[day].spend != restating[day].spend for day in matured)

    latest = f"(select max(load_id) from {raw}._dlt_loads)"
    reread = query(
        warehouse,
        f"select distinct date from {raw}.ad_daily_metrics where _dlt_load_id = {latest}",
    )
    expected = true_days(sandbox, NORTHWIND, history[1] - timedelta(days=lag), yesterday)
    assert {date.fromisoformat(day) for (day,) in reread} == set(expected)
    loaded = sum(
        query(warehouse, f"select count(*) from {raw}.{table} where _dlt_load_id = {latest}")[0][0]
        for table in TABLES
    )
    assert second.rows == loaded  # nothing before the lagged cursor was even fetched


def test_rate_limit_waits_the_retry_delay_google_asks_for(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    warm = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)  # a clean rerun takes 2-4 s
    assert not warm.failed, warm.error
    sandbox.faults.arm(NORTHWIND, ADS.value, Fault(FaultKind.RATE_LIMIT, count=1, seconds=6))
    started = time.monotonic()
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert time.monotonic() - started >= 6  # Google's retryDelay, not the 0.5 s first backoff
    assert sandbox.faults.fired_count(NORTHWIND, ADS.value, FaultKind.RATE_LIMIT) == 1
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)


def quota_answer(body: object, status: int = 429) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


def test_retry_delay_is_read_from_the_quota_error_details() -> None:
    failure = {
        "@type": f"type.googleapis.com/google.ads.googleads.{google_ads.API_VERSION}.errors."
        "GoogleAdsFailure",
        "errors": [
            {
                "errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"},
                "message": "Too many requests.",
                "details": {"quotaErrorDetails": {"rateScope": "ACCOUNT", "retryDelay": "6.2s"}},
            }
        ],
        "requestId": "abc",
    }
    envelope = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [failure]}}
    streamed = quota_answer([envelope])
    google_ads.honour_retry_delay(streamed)
    assert streamed.headers["Retry-After"] == "7"
    retry_info = quota_answer(
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
                ],
            }
        }
    )
    google_ads.honour_retry_delay(retry_info)
    assert retry_info.headers["Retry-After"] == "30"
    for untouched in (quota_answer({"error": {"code": 429}}), quota_answer([envelope], 503)):
        google_ads.honour_retry_delay(untouched)
        assert "Retry-After" not in untouched.headers


def test_a_quota_that_stays_exhausted_fails_the_run_clearly(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(LEDGERLY, ADS.value, Fault(FaultKind.RATE_LIMIT, seconds=0.01))
    run = load(run_ingest, LEDGERLY, LAST_DAY, LAST_DAY)
    assert run.failed
    assert f"tenant '{LEDGERLY}', source 'google_ads'" in run.error
    assert "HTTP 429 RESOURCE_EXHAUSTED quotaError.RESOURCE_EXHAUSTED" in run.error
    assert "rerun later: the developer token's quota is used up" in run.error


def test_a_burst_of_server_errors_is_retried(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(LEDGERLY, ADS.value, Fault(FaultKind.SERVER_ERROR, count=3))
    run = load(run_ingest, LEDGERLY, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(LEDGERLY, ADS.value, FaultKind.SERVER_ERROR) == 3
    assert raw_days(warehouse, LEDGERLY) == true_days(sandbox, LEDGERLY, LAST_DAY, LAST_DAY)


def test_an_expired_access_token_is_renewed_with_the_refresh_token(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, ADS.value, Fault(FaultKind.EXPIRED_TOKEN, count=1, skip=2))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(NORTHWIND, ADS.value, FaultKind.EXPIRED_TOKEN) == 1
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)
    assert all(count > 0 for count in snapshot(warehouse, NORTHWIND)[0][: len(TABLES)])


def _revoke_refresh_token(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> str:
    monkeypatch.setenv(f"SOURCES__GOOGLE_ADS__{LEDGERLY.upper()}__REFRESH_TOKEN", "1//revoked")
    return "refresh_token under [sources.google_ads.ledgerly_saas] was revoked or expired"


def _wrong_developer_token(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> str:
    monkeypatch.setenv(f"SOURCES__GOOGLE_ADS__{LEDGERLY.upper()}__DEVELOPER_TOKEN", "Wr0ngT0ken")
    return "authenticationError.DEVELOPER_TOKEN_INVALID"


def _token_that_stays_expired(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> str:
    sandbox.faults.arm(LEDGERLY, ADS.value, Fault(FaultKind.EXPIRED_TOKEN))
    return "authenticationError.OAUTH_TOKEN_EXPIRED"


def _malformed_page(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> str:
    sandbox.faults.arm(LEDGERLY, ADS.value, Fault(FaultKind.MALFORMED, count=1, skip=4))
    return "malformed page"


@pytest.mark.parametrize(
    "break_it",
    [_revoke_refresh_token, _wrong_developer_token, _token_that_stays_expired, _malformed_page],
    ids=["revoked_refresh_token", "wrong_developer_token", "expired_token", "malformed_page"],
)
def test_a_failing_run_says_why_and_keeps_the_loaded_rows(
    run_ingest, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, break_it
) -> None:
    window = {"first": LAST_DAY - timedelta(days=3), "last": LAST_DAY}
    assert not load(run_ingest, LEDGERLY, **window).failed
    before = snapshot(warehouse, LEDGERLY)

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))  # what a new run would change
    credentials = sandbox_credentials(LEDGERLY, ADS)
    problem = break_it(monkeypatch, sandbox)
    failed = load(run_ingest, LEDGERLY, **window)
    assert failed.failed
    assert f"tenant '{LEDGERLY}', source 'google_ads'" in failed.error
    assert problem in failed.error
    assert "data loaded before is untouched" in failed.error or "next run" in failed.error
    for secret in [*credentials.values(), "1//revoked", "Wr0ngT0ken", "ya29."]:
        assert secret not in failed.error
    assert snapshot(warehouse, LEDGERLY) == before

    sandbox.faults.clear()
    for key, value in credentials.items():
        monkeypatch.setenv(f"SOURCES__GOOGLE_ADS__{LEDGERLY.upper()}__{key.upper()}", value)
    recovered = load(run_ingest, LEDGERLY, **window)
    assert not recovered.failed, recovered.error
    assert raw_days(warehouse, LEDGERLY) == true_days(
        sandbox, LEDGERLY, window["first"], window["last"]
    )


def test_a_customer_the_user_cannot_access_is_permission_denied(
    registry: TenantRegistry, warehouse: Path
) -> None:
    tenant = registry.get(NORTHWIND)
    others = registry.get(LEDGERLY).sources[ADS].account_id
    sources = {**tenant.sources, ADS: tenant.sources[ADS].model_copy(update={"account_id": others})}
    wrong = registry.model_copy(
        update={"tenants": [tenant.model_copy(update={"sources": sources})]}
    )
    [run] = ingest(
        wrong,
        IngestRequest(
            sources=(ADS.value,), first_day=LAST_DAY, last_day=LAST_DAY, today=SANDBOX_TODAY
        ),
    )
    assert run.failed
    assert "HTTP 403 PERMISSION_DENIED authorizationError.USER_PERMISSION_DENIED" in run.error
    assert f"check account_id '{others}' of tenant '{NORTHWIND}' in tenants.yaml" in run.error


def test_schema_drift_lands_as_a_column(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, ADS.value, Fault(FaultKind.SCHEMA_DRIFT))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    raw = schema(NORTHWIND)
    for table, column in [
        ("customer", "customer_optimization_score"),
        ("campaigns", "campaign_primary_status"),
        ("ads", "ad_group_ad_primary_status"),
        ("ad_daily_metrics", "ad_group_ad_primary_status"),
    ]:
        [(rows, with_field)] = query(
            warehouse, f"select count(*), count({column}) from {raw}.{table}"
        )
        assert rows == with_field > 0, table
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)


def test_metric_windows_split_long_ranges() -> None:
    spans = list(google_ads.metric_windows(date(2026, 1, 1), date(2026, 3, 5)))
    assert spans == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 3, 3)),
        (date(2026, 3, 4), date(2026, 3, 5)),
    ]
    assert list(google_ads.metric_windows(date(2026, 3, 6), date(2026, 3, 5))) == []


def test_the_real_api_is_googleads(registry: TenantRegistry) -> None:
    builder, base_url = connector(ADS.value)
    assert builder is google_ads.google_ads_source
    assert base_url == "https://googleads.googleapis.com"
    config = registry.get(NORTHWIND).sources[ADS].model_copy(update={"base_url": None})
    assert config.resolved_base_url(base_url) == base_url
