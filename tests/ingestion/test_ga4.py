"""GA4 traffic lands per property day exactly as the Data API serves it, restatements included.

Every test loads the sandbox's `runReport` through the real runner (dlt, DuckDB, HTTP, Google
OAuth) and compares the raw tables with the sandbox's ground truth: sessions, users, key events
and purchase revenue per day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from aya.tenants import SourceName, TenantRegistry
from ingestion import ga4
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, connector, ingest
from sandbox.api import google_oauth
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.ingestion.conftest import query

GA4 = SourceName.GA4
NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
FIRST_DAY = date(2026, 10, 1)
LAST_DAY = date(2026, 10, 14)
YESTERDAY = SANDBOX_TODAY - timedelta(days=1)
RECENT = {"first": YESTERDAY - timedelta(days=3), "last": YESTERDAY}  # still restating

DayTotals = tuple[int, int, int, Decimal]  # sessions, users, key events, purchase revenue


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox: SandboxServer) -> Iterator[None]:
    """No faults and the fixed clock, before and after each test."""
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()
    sandbox.world.clock.set(SANDBOX_TODAY)


def load(run_ingest, tenant_id: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> SourceRun:
    [run] = run_ingest(tenant_ids=(tenant_id,), sources=("ga4",), first_day=first, last_day=last)
    return run


def schema(tenant_id: str) -> str:
    return f"raw_ga4__{tenant_id}"


def raw_days(warehouse: Path, tenant_id: str) -> dict[date, DayTotals]:
    rows = query(
        warehouse,
        f"""select date, sum(sessions), sum(total_users), sum(key_events), sum(purchase_revenue)
            from {schema(tenant_id)}.traffic_daily group by date""",
    )
    return {day: (int(s), int(u), int(k), revenue) for day, s, u, k, revenue in rows}


def true_days(sandbox: SandboxServer, tenant_id: str, first: date, last: date) -> dict:
    return {
        row.date: (row.sessions, row.users, row.key_events, row.purchase_revenue)
        for row in truth(sandbox.world, tenant_id, first, last, [GA4])
    }


def snapshot(warehouse: Path, tenant_id: str) -> list[tuple]:
    """Row counts and sums of every table, to prove a failed run changed nothing."""
    raw = schema(tenant_id)
    return query(
        warehouse,
        f"""select (select count(*) from {raw}.traffic_daily),
                   (select sum(sessions) from {raw}.traffic_daily),
                   (select sum(purchase_revenue) from {raw}.traffic_daily),
                   (select count(*) from {raw}.property),
                   (select count(*) from {raw}._dlt_loads)""",
    )


def assert_unique_keys(warehouse: Path, tenant_id: str) -> None:
    [(rows, keys)] = query(
        warehouse,
        f"""select count(*), count(distinct (tenant_id, date, session_source, session_medium,
                                             session_campaign_name))
            from {schema(tenant_id)}.traffic_daily""",
    )
    assert rows == keys > 0


def assert_secrets_absent(error: str, tenant_id: str, *more: str) -> None:
    for secret in (*sandbox_credentials(tenant_id, GA4).values(), *more):
        assert secret not in error
    assert "ya29." not in error


# --- what lands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant_id", "currency", "timezone"),
    [(NORTHWIND, "USD", "America/New_York"), (LEDGERLY, "EUR", "Europe/Berlin")],
)
def test_traffic_per_day_equals_the_truth(
    run_ingest,
    warehouse: Path,
    sandbox: SandboxServer,
    tenant_id: str,
    currency: str,
    timezone: str,
) -> None:
    run = load(run_ingest, tenant_id)
    assert not run.failed, run.error

    expected = true_days(sandbox, tenant_id, FIRST_DAY, LAST_DAY)
    assert len(expected) == 14
    assert sum(day[2] for day in expected.values()) > 0
    assert raw_days(warehouse, tenant_id) == expected
    assert_unique_keys(warehouse, tenant_id)

    raw = schema(tenant_id)
    property_id = sandbox.world.registry.get(tenant_id).sources[GA4].account_id
    assert query(warehouse, f"select * exclude (_dlt_load_id, _dlt_id) from {raw}.property") == [
        (tenant_id, property_id, currency, timezone)
    ]
    [(rows, referencing)] = query(
        warehouse,
        f"""select count(*), count(p.property_id) from {raw}.traffic_daily t
            left join {raw}.property p on t.tenant_id = p.tenant_id
              and t.property_id = p.property_id and t.currency_code = p.currency_code""",
    )
    assert rows == referencing == run.rows - 1


def test_columns_are_typed_for_the_models(run_ingest, warehouse: Path) -> None:
    assert not load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY).failed
    types = dict(
        query(
            warehouse,
            f"""select column_name, data_type from information_schema.columns
                where table_schema = '{schema(NORTHWIND)}' and table_name = 'traffic_daily'""",
        )
    )
    assert types["date"] == "DATE"
    assert types["purchase_revenue"].startswith("DECIMAL")
    assert {types[name] for name in ("sessions", "total_users", "key_events")} == {"BIGINT"}
    assert {types[name] for name in ("session_source", "session_campaign_name")} == {"VARCHAR"}


def test_paid_sessions_name_the_tenants_ad_campaigns(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    """Paid rows carry the utm_campaign the ads' tracking templates write: the link to spend."""
    assert not load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY).failed
    tenant = sandbox.world.registry.get(NORTHWIND)
    campaigns = {
        (account.platform, campaign.utm_campaign)
        for account in sandbox.world.ad_accounts(tenant)
        for campaign in account.campaigns
    }
    mediums = {("google", "cpc"): "google_ads", ("facebook", "paid_social"): "meta_ads"}
    paid = query(
        warehouse,
        f"""select distinct session_source, session_medium, session_campaign_name
            from {schema(NORTHWIND)}.traffic_daily
            where session_medium in ('cpc', 'paid_social')""",
    )
    assert {(mediums[(s, m)], c) for s, m, c in paid} <= campaigns
    assert {source for source, _, _ in paid} == {"google", "facebook"}


def test_every_page_is_read_once(
    run_ingest, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ga4, "PAGE_SIZE", 7)
    run = load(run_ingest, LEDGERLY)
    assert not run.failed, run.error

    traffic_rows = run.rows - 1  # one property row
    assert run.pages == 1 + -(-traffic_rows // 7) > 10
    assert raw_days(warehouse, LEDGERLY) == true_days(sandbox, LEDGERLY, FIRST_DAY, LAST_DAY)
    assert query(warehouse, f"select count(*) from {schema(LEDGERLY)}.traffic_daily") == [
        (traffic_rows,)
    ]
    assert_unique_keys(warehouse, LEDGERLY)


def test_reloading_the_window_changes_nothing(run_ingest, warehouse: Path) -> None:
    first = load(run_ingest, NORTHWIND)
    assert not first.failed, first.error
    before = snapshot(warehouse, NORTHWIND)

    again = load(run_ingest, NORTHWIND)
    assert not again.failed, again.error
    assert again.rows == first.rows
    after = snapshot(warehouse, NORTHWIND)
    assert after[0][:-1] == before[0][:-1]  # only _dlt_loads grew
    assert after[0][-1] == before[0][-1] + 1
    assert_unique_keys(warehouse, NORTHWIND)


def test_a_reloaded_day_loses_the_rows_ga4_no_longer_serves(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    """Each day a load holds replaces that day's rows: a source GA4 stopped reporting (its
    thresholding) leaves; a day outside the reloaded window keeps its rows."""
    window = (FIRST_DAY, FIRST_DAY + timedelta(days=3))
    assert not load(run_ingest, NORTHWIND, *window).failed
    reloaded = (window[1] - timedelta(days=1), window[1])
    for day in window:
        add_a_source_ga4_no_longer_serves(warehouse, NORTHWIND, day)
    ghost_days = f"""select date from {schema(NORTHWIND)}.traffic_daily
                     where session_source = 'thresholded.example' order by 1"""
    assert query(warehouse, ghost_days) == [(day,) for day in window]

    run = load(run_ingest, NORTHWIND, *reloaded)
    assert not run.failed, run.error

    assert query(warehouse, ghost_days) == [(window[0],)]
    days = raw_days(warehouse, NORTHWIND)
    assert {day: days[day] for day in reloaded} == true_days(sandbox, NORTHWIND, *reloaded)
    assert_unique_keys(warehouse, NORTHWIND)


def add_a_source_ga4_no_longer_serves(warehouse: Path, tenant_id: str, day: date) -> None:
    """A copy of one of `day`'s rows for a made-up source, as if GA4 had reported it before."""
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            f"""insert into {schema(tenant_id)}.traffic_daily
                select * replace ('thresholded.example' as session_source,
                                  'thresholded-' || date as _dlt_id)
                from {schema(tenant_id)}.traffic_daily where date = ? limit 1""",
            [day],
        )


def test_incremental_run_rereads_the_lag_window_and_restated_days_settle(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    """A later run re-reads the 3 restatement days before the last loaded day plus the new
    days, and the days GA4 was still processing then equal the new truth; a backfill in
    between does not move the cursor."""
    tenant = registry.get(LEDGERLY).model_copy(update={"history_days": 14})
    short = registry.model_copy(update={"tenants": [tenant]})
    first_today, second_today = date(2026, 10, 20), date(2026, 10, 27)
    assert tenant.restatement_days(GA4) == 3
    raw = schema(LEDGERLY)

    def run(today: date, **window: date) -> SourceRun:
        sandbox.world.clock.set(today)
        [result] = ingest(short, IngestRequest(sources=("ga4",), today=today, **window))
        assert not result.failed, result.error
        return result

    run(first_today)
    history = (first_today - timedelta(days=14), first_today - timedelta(days=1))
    first_days = raw_days(warehouse, LEDGERLY)
    assert first_days == true_days(sandbox, LEDGERLY, *history)

    earlier = history[0] - timedelta(days=7)
    run(second_today, first_day=earlier, last_day=history[0] - timedelta(days=1))
    second = run(second_today)

    reread_from = history[1] - timedelta(days=3)
    latest = query(
        warehouse,
        f"""select distinct date from {raw}.traffic_daily
            where _dlt_load_id = (select max(load_id) from {raw}._dlt_loads) order by date""",
    )
    new_days = (second_today - reread_from).days
    assert [day for (day,) in latest] == [reread_from + timedelta(days=n) for n in range(new_days)]
    [(latest_rows,)] = query(
        warehouse,
        f"""select count(*) from {raw}.traffic_daily
            where _dlt_load_id = (select max(load_id) from {raw}._dlt_loads)""",
    )
    assert second.rows == latest_rows + 1

    settled = raw_days(warehouse, LEDGERLY)
    assert settled == true_days(sandbox, LEDGERLY, earlier, second_today - timedelta(days=1))
    for day in (history[1] - timedelta(days=1), history[1]):  # were still being processed
        assert settled[day][0] > first_days[day][0]
    assert_unique_keys(warehouse, LEDGERLY)


def test_without_a_restatement_lag_a_later_run_reads_from_the_last_loaded_day(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    northwind = registry.get(NORTHWIND)
    no_lag = northwind.sources[GA4].model_copy(update={"restatement_days": 0})
    tenant = northwind.model_copy(
        update={"history_days": 3, "sources": {**northwind.sources, GA4: no_lag}}
    )
    short = registry.model_copy(update={"tenants": [tenant]})
    first_today, second_today = date(2026, 10, 20), date(2026, 10, 22)
    for today in (first_today, second_today):
        sandbox.world.clock.set(today)
        [run] = ingest(short, IngestRequest(sources=("ga4",), today=today))
        assert not run.failed, run.error

    raw = schema(NORTHWIND)
    latest = query(
        warehouse,
        f"""select distinct date from {raw}.traffic_daily
            where _dlt_load_id = (select max(load_id) from {raw}._dlt_loads) order by date""",
    )
    # the cursor's own day again (the range starts closed, and replacing it whole is harmless)
    assert latest == [(first_today + timedelta(days=n),) for n in (-1, 0, 1)]
    assert_unique_keys(warehouse, NORTHWIND)


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(FaultKind.RATE_LIMIT, count=3, seconds=1),
        Fault(FaultKind.SERVER_ERROR, count=3),
    ],
    ids=["429_resource_exhausted", "503_unavailable"],
)
def test_quota_and_server_errors_are_retried(
    run_ingest, warehouse: Path, sandbox: SandboxServer, fault: Fault
) -> None:
    sandbox.faults.arm(NORTHWIND, GA4, fault)
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(NORTHWIND, GA4, fault.kind) >= 3
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)


def test_an_exhausted_quota_that_stays_fails_the_run_clearly(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(LEDGERLY, GA4, Fault(FaultKind.RATE_LIMIT, seconds=1))
    run = load(run_ingest, LEDGERLY, LAST_DAY, LAST_DAY)
    assert run.failed
    assert f"tenant '{LEDGERLY}', source 'ga4'" in run.error
    assert "HTTP 429 after 6 attempts" in run.error
    assert "RESOURCE_EXHAUSTED" in run.error
    assert "rerun later" in run.error
    assert_secrets_absent(run.error, LEDGERLY)


def test_an_access_token_that_expires_mid_run_is_renewed(
    run_ingest, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens live 3 seconds; the first report answers after 4: the next call's token has
    expired (401 ACCESS_TOKEN_EXPIRED) and the refresh token gets a new one."""
    monkeypatch.setattr(google_oauth, "TOKEN_LIFETIME_SECONDS", 3)
    sandbox.faults.arm(NORTHWIND, GA4, Fault(FaultKind.SLOW, count=1, seconds=4))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(NORTHWIND, GA4, FaultKind.SLOW) == 1
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)


def test_a_refused_token_is_renewed_once(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, GA4, Fault(FaultKind.EXPIRED_TOKEN, count=1, skip=1))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(NORTHWIND, GA4, FaultKind.EXPIRED_TOKEN) == 1
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault(FaultKind.EXPIRED_TOKEN), "the API refused the credentials (HTTP 401"),
        (Fault(FaultKind.MALFORMED, count=1, skip=3), "malformed page"),
    ],
    ids=["token_refused_again", "malformed_later_page"],
)
def test_a_failing_run_says_why_and_keeps_the_loaded_rows(
    run_ingest,
    warehouse: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault,
    problem: str,
) -> None:
    monkeypatch.setattr(ga4, "PAGE_SIZE", 10)  # several pages: a later one fails
    assert not load(run_ingest, LEDGERLY, **RECENT).failed
    before, before_days = snapshot(warehouse, LEDGERLY), raw_days(warehouse, LEDGERLY)

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))  # recent days would restate
    sandbox.faults.arm(LEDGERLY, GA4, fault)
    failed = load(run_ingest, LEDGERLY, **RECENT)
    assert failed.failed
    assert f"tenant '{LEDGERLY}', source 'ga4'" in failed.error
    assert "endpoint 'POST /v1beta/properties/402286117:runReport'" in failed.error
    assert problem in failed.error
    assert "What to do:" in failed.error
    assert_secrets_absent(failed.error, LEDGERLY)
    assert snapshot(warehouse, LEDGERLY) == before

    sandbox.faults.clear()
    recovered = load(run_ingest, LEDGERLY, **RECENT)
    assert not recovered.failed, recovered.error
    assert raw_days(warehouse, LEDGERLY) == true_days(sandbox, LEDGERLY, *RECENT.values())
    assert raw_days(warehouse, LEDGERLY) != before_days  # the restated days the failure kept


@pytest.mark.parametrize(
    ("key", "bad_value", "problem", "action"),
    [
        ("refresh_token", "1//0revoked-refresh-token", "invalid_grant", "authorise the app again"),
        ("client_secret", "GOCSPX-not-the-secret", "invalid_client", "check client_id and"),
    ],
    ids=["revoked_refresh_token", "wrong_client_secret"],
)
def test_refused_oauth_credentials_fail_clearly_and_keep_the_loaded_rows(
    run_ingest,
    warehouse: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    bad_value: str,
    problem: str,
    action: str,
) -> None:
    assert not load(run_ingest, NORTHWIND, **RECENT).failed
    before = snapshot(warehouse, NORTHWIND)

    variable = f"SOURCES__GA4__{NORTHWIND.upper()}__{key.upper()}"
    good_value = sandbox_credentials(NORTHWIND, GA4)[key]
    monkeypatch.setenv(variable, bad_value)
    failed = load(run_ingest, NORTHWIND, **RECENT)
    assert failed.failed
    assert f"tenant '{NORTHWIND}', source 'ga4'" in failed.error
    assert f"Google refused the refresh-token grant ({problem}" in failed.error
    assert action in failed.error
    assert f"[sources.ga4.{NORTHWIND}]" in failed.error
    assert_secrets_absent(failed.error, NORTHWIND, bad_value)
    assert snapshot(warehouse, NORTHWIND) == before

    monkeypatch.setenv(variable, good_value)
    recovered = load(run_ingest, NORTHWIND, **RECENT)
    assert not recovered.failed, recovered.error


def test_a_property_the_user_cannot_read_says_which_setting_to_check(
    registry: TenantRegistry, warehouse: Path
) -> None:
    tenant = registry.get(NORTHWIND)
    others = registry.get(LEDGERLY).sources[GA4].account_id
    sources = {**tenant.sources, GA4: tenant.sources[GA4].model_copy(update={"account_id": others})}
    wrong = registry.model_copy(
        update={"tenants": [tenant.model_copy(update={"sources": sources})]}
    )
    request = IngestRequest(
        sources=("ga4",), first_day=LAST_DAY, last_day=LAST_DAY, today=SANDBOX_TODAY
    )
    [run] = ingest(wrong, request)
    assert run.failed
    assert (
        f"GA4 denied access to property {others} (HTTP 403 PERMISSION_DENIED: User does not "
        "have sufficient permissions for this property.)"
    ) in run.error
    assert f"check the ga4 account_id '{others}' of tenant '{NORTHWIND}' in tenants.yaml" in (
        run.error
    )
    assert_secrets_absent(run.error, NORTHWIND)


def test_a_token_without_the_analytics_scope_asks_to_authorise_again(
    run_ingest, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Google Ads OAuth client's refresh token grants the adwords scope only."""
    ads_credentials = sandbox_credentials(NORTHWIND, SourceName.GOOGLE_ADS)
    for key in ("client_id", "client_secret", "refresh_token"):
        monkeypatch.setenv(
            f"SOURCES__GA4__{NORTHWIND.upper()}__{key.upper()}", ads_credentials[key]
        )
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "HTTP 403 PERMISSION_DENIED: Request had insufficient authentication scopes." in (
        run.error
    )
    assert (
        f"authorise the app again with the {ga4.ANALYTICS_SCOPE} scope and store client_id, "
        f"client_secret and the new refresh_token under [sources.ga4.{NORTHWIND}]"
    ) in run.error
    assert_secrets_absent(run.error, NORTHWIND, *ads_credentials.values())


def test_a_report_ga4_refuses_fails_with_googles_message(
    run_ingest, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ga4, "TRAFFIC_METRICS", (*ga4.TRAFFIC_METRICS, "conversions"))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "endpoint 'POST /v1beta/properties/311874502:runReport'" in run.error
    assert "HTTP 400" in run.error and "INVALID_ARGUMENT" in run.error
    assert "Field conversions is not a valid metric." in run.error
    assert not warehouse.exists() or not query(
        warehouse,
        f"""select 1 from information_schema.tables
            where table_schema = '{schema(NORTHWIND)}' and table_name = 'traffic_daily'""",
    )


def test_schema_drift_lands_as_a_column(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, GA4, Fault(FaultKind.SCHEMA_DRIFT))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    [(rows, with_metric)] = query(
        warehouse,
        f"select count(*), count(engaged_sessions) from {schema(NORTHWIND)}.traffic_daily",
    )
    assert rows == with_metric > 0
    assert raw_days(warehouse, NORTHWIND) == true_days(sandbox, NORTHWIND, LAST_DAY, LAST_DAY)


def test_the_real_api_is_googles(registry: TenantRegistry) -> None:
    builder, base_url = connector("ga4")
    assert builder is ga4.ga4_source
    config = registry.get(NORTHWIND).sources[GA4].model_copy(update={"base_url": None})
    assert config.resolved_base_url(base_url) == "https://analyticsdata.googleapis.com"
