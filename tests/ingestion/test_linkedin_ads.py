"""LinkedIn creative delivery lands per account day exactly as the sandbox serves it.

Every test loads through the real runner (dlt, DuckDB, HTTP to the sandbox) and compares the raw
tables with the sandbox's ground truth: spend, impressions, clicks, conversions and conversion
value per day, to the cent, plus the dimension tables the daily rows point at. adAnalytics cuts
answers at an element cap without saying so; the tests lower the cap on both sides to watch the
connector split its requests until nothing is cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest

from aya.tenants import SourceName, TenantRegistry, load_registry
from ingestion import linkedin_ads
from ingestion.context import SourceContext
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, connector, ingest
from sandbox.api import linkedin_ads as sandbox_linkedin
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import REPO_ROOT, SANDBOX_TODAY
from tests.ingestion.conftest import query

LEDGERLY = "ledgerly_saas"
SOURCE = SourceName.LINKEDIN_ADS
FIRST_DAY = date(2026, 10, 1)
LAST_DAY = date(2026, 10, 14)
DIMENSION_PAGES = 4  # account, campaign groups, campaigns, creatives: one page each here
TENANTS_WITH_LINKEDIN = [
    tenant.id
    for tenant in load_registry(REPO_ROOT / "tenants.yaml").tenants
    if SOURCE in tenant.sources
]


@dataclass(frozen=True)
class DayTotals:
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


@pytest.fixture
def element_cap(monkeypatch: pytest.MonkeyPatch):
    """Sets adAnalytics' element cap on the sandbox's LinkedIn and in the connector alike."""

    def lower(cap: int) -> None:
        monkeypatch.setattr(sandbox_linkedin, "MAX_ELEMENTS", cap)
        monkeypatch.setattr(linkedin_ads, "MAX_ELEMENTS", cap)

    return lower


def load(run_ingest, first: date = FIRST_DAY, last: date = LAST_DAY, tenant_id: str = LEDGERLY):
    [run] = run_ingest(
        tenant_ids=(tenant_id,), sources=(SOURCE.value,), first_day=first, last_day=last
    )
    return run


def schema(tenant_id: str = LEDGERLY) -> str:
    return f"raw_linkedin_ads__{tenant_id}"


def raw_days(
    warehouse: Path, first: date, last: date, tenant_id: str = LEDGERLY
) -> dict[date, DayTotals]:
    rows = query(
        warehouse,
        f"""select date, sum(cost_in_local_currency), sum(impressions), sum(clicks),
                   sum(external_website_conversions), sum(conversion_value_in_local_currency)
            from {schema(tenant_id)}.creative_daily_analytics
            where date between '{first}' and '{last}'
            group by date""",
    )
    return {
        day: DayTotals(spend, int(impressions), int(clicks), Decimal(conversions), value)
        for day, spend, impressions, clicks, conversions, value in rows
    }


def true_days(
    sandbox: SandboxServer, first: date, last: date, tenant_id: str = LEDGERLY
) -> dict[date, DayTotals]:
    return {
        row.date: DayTotals(
            row.spend,
            row.impressions,
            row.clicks,
            row.platform_conversions,
            row.platform_conversion_value,
        )
        for row in truth(sandbox.world, tenant_id, first, last, [SOURCE])
    }


def snapshot(warehouse: Path, tenant_id: str = LEDGERLY) -> list[tuple]:
    """Row counts and money sums of every table, to prove a failed run changed nothing."""
    raw = schema(tenant_id)
    return query(
        warehouse,
        f"""select (select count(*) from {raw}.creative_daily_analytics),
                   (select sum(cost_in_local_currency) from {raw}.creative_daily_analytics),
                   (select sum(conversion_value_in_local_currency)
                      from {raw}.creative_daily_analytics),
                   (select count(*) from {raw}.creatives),
                   (select count(*) from {raw}.campaigns),
                   (select count(*) from {raw}.campaign_groups),
                   (select count(*) from {raw}.account),
                   (select count(*) from {raw}._dlt_loads)""",
    )


def assert_one_row_per_creative_day(warehouse: Path, tenant_id: str = LEDGERLY) -> None:
    [(rows, distinct)] = query(
        warehouse,
        f"""select count(*), count(distinct (tenant_id, creative_id, date))
            from {schema(tenant_id)}.creative_daily_analytics""",
    )
    assert rows == distinct > 0


def analytics_requests(run: SourceRun) -> int:
    return run.pages - DIMENSION_PAGES


# --- what lands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant_id", TENANTS_WITH_LINKEDIN)
def test_daily_delivery_equals_the_truth(
    run_ingest, warehouse: Path, sandbox: SandboxServer, tenant_id: str
) -> None:
    run = load(run_ingest, tenant_id=tenant_id)
    assert not run.failed, run.error

    expected = true_days(sandbox, FIRST_DAY, LAST_DAY, tenant_id)
    assert len(expected) == 14
    assert sum(day.conversion_value for day in expected.values()) > 0
    assert raw_days(warehouse, FIRST_DAY, LAST_DAY, tenant_id) == expected
    assert_one_row_per_creative_day(warehouse, tenant_id)

    currency = sandbox.world.ad_account(sandbox.world.registry.get(tenant_id), SOURCE).currency
    raw = schema(tenant_id)
    assert query(warehouse, f"select distinct currency from {raw}.creative_daily_analytics") == [
        (currency,)
    ]
    account_id = int(sandbox.world.registry.get(tenant_id).sources[SOURCE].account_id)
    assert query(warehouse, f"select tenant_id, id, currency from {raw}.account") == [
        (tenant_id, account_id, currency)
    ]


def test_ledgerly_is_the_demo_tenant_on_linkedin() -> None:
    assert TENANTS_WITH_LINKEDIN == [LEDGERLY]  # its account bills in EUR, its reporting currency


def test_daily_rows_reference_creatives_campaigns_and_groups(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    run = load(run_ingest, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    raw = schema()
    [(orphans,)] = query(
        warehouse,
        f"""select count(*) from {raw}.creative_daily_analytics a
            left join {raw}.creatives cr using (tenant_id, creative_id)
            left join {raw}.campaigns ca on ca.tenant_id = cr.tenant_id and ca.id = cr.campaign_id
            left join {raw}.campaign_groups g
              on g.tenant_id = ca.tenant_id and g.id = ca.campaign_group_id
            left join {raw}.account ac on ac.tenant_id = a.tenant_id and ac.id = a.account_id
            where g.id is null or ac.id is null""",
    )
    assert orphans == 0
    account = sandbox.world.ad_account(sandbox.world.registry.get(LEDGERLY), SOURCE)
    campaigns = query(
        warehouse, f"select id, name, campaign_group_id, daily_budget__amount from {raw}.campaigns"
    )
    assert sorted(campaigns) == sorted(
        (int(c.id), c.name, int(c.group_id), Decimal(f"{c.daily_budget:.2f}"))
        for c in account.campaigns
    )
    [(creatives, paused)] = query(
        warehouse,
        f"""select count(*), count(*) filter (where intended_status = 'PAUSED')
            from {raw}.creatives""",
    )
    assert creatives > paused > 0


def test_reloading_the_window_changes_nothing(run_ingest, warehouse: Path) -> None:
    first = load(run_ingest)
    assert not first.failed, first.error
    before = snapshot(warehouse)
    again = load(run_ingest)
    assert not again.failed, again.error
    assert again.rows == first.rows
    after = snapshot(warehouse)
    assert after[0][:-1] == before[0][:-1]  # only _dlt_loads grew
    assert after[0][-1] == before[0][-1] + 1
    assert_one_row_per_creative_day(warehouse)


def test_a_reloaded_day_loses_the_creatives_linkedin_no_longer_serves(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    """Each day a load holds replaces that day's rows: a creative whose delivery LinkedIn
    restated away leaves; a day outside the reloaded window keeps its rows."""
    assert not load(run_ingest).failed
    reloaded = (LAST_DAY - timedelta(days=1), LAST_DAY)
    for day in (FIRST_DAY, LAST_DAY):
        add_a_creative_linkedin_no_longer_serves(warehouse, day)
    ghost_days = f"select date from {schema()}.creative_daily_analytics where creative_id = 0"
    assert sorted(query(warehouse, ghost_days)) == [(FIRST_DAY,), (LAST_DAY,)]

    run = load(run_ingest, *reloaded)
    assert not run.failed, run.error

    assert query(warehouse, ghost_days) == [(FIRST_DAY,)]
    assert raw_days(warehouse, *reloaded) == true_days(sandbox, *reloaded)
    assert_one_row_per_creative_day(warehouse)


def add_a_creative_linkedin_no_longer_serves(warehouse: Path, day: date) -> None:
    """A copy of one of `day`'s rows for creative 0, as if LinkedIn had served it before."""
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            f"""insert into {schema()}.creative_daily_analytics
                select * replace (0 as creative_id, 'restated-away-' || date as _dlt_id)
                from {schema()}.creative_daily_analytics where date = ? limit 1""",
            [day],
        )


# --- the element cap ----------------------------------------------------------------------------


def test_a_window_over_the_element_cap_is_read_in_chunks(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    # ~300 creatives exist: at most 15,000 creative-days per answer means ~49 days per chunk.
    first, last = date(2026, 8, 1), date(2026, 10, 31)
    run = load(run_ingest, first, last)
    assert not run.failed, run.error
    assert analytics_requests(run) == 2
    assert raw_days(warehouse, first, last) == true_days(sandbox, first, last)
    assert_one_row_per_creative_day(warehouse)


def test_answers_at_the_cap_are_asked_again_per_campaign(
    run_ingest, warehouse: Path, sandbox: SandboxServer, element_cap
) -> None:
    # 12 creatives deliver each day, 4 per campaign: every one-day answer is cut at 5.
    element_cap(5)
    first, last = date(2026, 10, 5), date(2026, 10, 8)
    run = load(run_ingest, first, last)
    assert not run.failed, run.error
    assert analytics_requests(run) == 4 * (1 + 3)  # per day: the cut answer, then 3 campaigns
    assert raw_days(warehouse, first, last) == true_days(sandbox, first, last)
    assert_one_row_per_creative_day(warehouse)


def test_answers_at_the_cap_are_asked_again_in_halves(
    sandbox: SandboxServer, registry: TenantRegistry, element_cap
) -> None:
    # The day plan is exact for the sandbox; a creative LinkedIn no longer lists (deleted) would
    # make an answer reach the cap anyway. Asked for 10 days at once, halves must follow.
    first, last = date(2026, 10, 5), date(2026, 10, 14)
    api = linkedin_ads.MarketingApi(ledgerly_context(sandbox, registry, first, last))
    everything = api.analytics(first, last, api.account_facet())
    assert len(everything) == 120
    element_cap(50)
    pages = list(linkedin_ads.analytics_pages(api, first, last))
    assert all(len(page) < 50 for page in pages)
    served = [element for page in pages for element in page]
    assert sorted(served, key=creative_day) == sorted(everything, key=creative_day)


def creative_day(element: dict[str, Any]) -> tuple[str, str]:
    return str(element["dateRange"]), element["pivotValues"][0]


def ledgerly_context(
    sandbox: SandboxServer, registry: TenantRegistry, first: date, last: date
) -> SourceContext:
    return SourceContext(
        tenant=registry.get(LEDGERLY),
        source=SOURCE.value,
        base_url=f"{sandbox.url}/linkedin",
        credentials=sandbox_credentials(LEDGERLY, SOURCE),
        run=SourceRun(LEDGERLY, SOURCE.value),
        first_day=first,
        last_day=last,
        explicit_window=True,
        restatement_days=0,
    )


def test_one_campaign_day_at_the_cap_fails_clearly(
    run_ingest, warehouse: Path, element_cap
) -> None:
    element_cap(3)
    run = load(run_ingest, LAST_DAY, LAST_DAY)
    assert run.failed
    assert f"tenant '{LEDGERLY}', source 'linkedin_ads'" in run.error
    assert "reached LinkedIn's cap of 3 elements on 2026-10-14" in run.error
    assert not warehouse.exists() or not query(
        warehouse,
        f"select 1 from information_schema.tables where table_schema = '{schema()}'",
    )


def test_chunks_cover_the_window_and_stay_under_the_cap() -> None:
    first, last = date(2026, 1, 1), date(2026, 3, 31)
    created = [date(2025, 12, 1)] * 30 + [date(2026, 2, 1)] * 30
    chunks = linkedin_ads.plan_chunks(first, last, created, cap=1000)
    assert chunks[0][0] == first and chunks[-1][1] == last
    for (_, end), (start, _) in pairwise(chunks):
        assert start == end + timedelta(days=1)
    for start, end in chunks:
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        assert sum(sum(c <= day for c in created) for day in days) < 1000
    # 30 creatives a day in January, 60 from February 1st: 31 × 30 + 60 = 990, 16 × 60 = 960
    assert chunks[:2] == [
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 2), date(2026, 2, 17)),
    ]


# --- incremental runs ---------------------------------------------------------------------------


def test_incremental_run_rereads_the_restatement_window_and_new_days(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    """A later run fetches the `restatement_days` before the last loaded day plus the new days;
    the restated days then equal the new truth."""
    tenant = registry.get(LEDGERLY)
    linkedin = tenant.sources[SOURCE].model_copy(update={"restatement_days": 5})
    tenant = tenant.model_copy(
        update={"history_days": 20, "sources": {**tenant.sources, SOURCE: linkedin}}
    )
    short = registry.model_copy(update={"tenants": [tenant]})
    first_today, second_today = date(2026, 11, 10), date(2026, 11, 15)
    raw = schema()

    def incremental(today: date) -> SourceRun:
        sandbox.world.clock.set(today)
        [run] = ingest(short, IngestRequest(sources=(SOURCE.value,), today=today))
        assert not run.failed, run.error
        return run

    incremental(first_today)
    history = (first_today - timedelta(days=20), first_today - timedelta(days=1))
    before = true_days(sandbox, *history)
    assert raw_days(warehouse, *history) == before

    incremental(second_today)
    reread = query(
        warehouse,
        f"""select min(date), max(date), count(distinct date) from {raw}.creative_daily_analytics
            where _dlt_load_id = (select max(load_id) from {raw}._dlt_loads)""",
    )
    assert reread == [(history[1] - timedelta(days=5), second_today - timedelta(days=1), 11)]
    loaded = (history[0], second_today - timedelta(days=1))
    after = true_days(sandbox, *loaded)
    assert raw_days(warehouse, *loaded) == after
    restated = [day for day in before if before[day] != after[day]]
    assert restated == [history[1] - timedelta(days=n) for n in (2, 1, 0)]
    assert_one_row_per_creative_day(warehouse)


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR])
def test_bursts_of_throttling_and_server_errors_are_retried(
    run_ingest, warehouse: Path, sandbox: SandboxServer, kind: FaultKind
) -> None:
    sandbox.faults.arm(LEDGERLY, SOURCE.value, Fault(kind, count=3, skip=4))  # on adAnalytics
    run = load(run_ingest, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(LEDGERLY, SOURCE.value, kind) == 3
    assert raw_days(warehouse, LAST_DAY, LAST_DAY) == true_days(sandbox, LAST_DAY, LAST_DAY)


def test_throttling_that_does_not_end_says_when_to_rerun(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(LEDGERLY, SOURCE.value, Fault(FaultKind.RATE_LIMIT))
    run = load(run_ingest, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "LinkedIn kept throttling the requests (HTTP 429 TOO_MANY_REQUESTS" in run.error
    assert "daily API limits reset at midnight UTC" in run.error


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (
            Fault(FaultKind.EXPIRED_TOKEN),
            "LinkedIn refused the access token (HTTP 401 EXPIRED_ACCESS_TOKEN serviceErrorCode "
            "65601",
        ),
        (Fault(FaultKind.MALFORMED, count=1, skip=4), "malformed page"),
    ],
    ids=["expired_token", "malformed_page"],
)
def test_a_failing_run_says_why_and_keeps_the_loaded_rows(
    run_ingest, warehouse: Path, sandbox: SandboxServer, fault: Fault, problem: str
) -> None:
    window = {"first": LAST_DAY - timedelta(days=3), "last": LAST_DAY}
    assert not load(run_ingest, **window).failed
    before = snapshot(warehouse)

    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))  # what a new run would change
    sandbox.faults.arm(LEDGERLY, SOURCE.value, fault)
    failed = load(run_ingest, **window)
    assert failed.failed
    assert f"tenant '{LEDGERLY}', source 'linkedin_ads', endpoint 'GET /rest/" in failed.error
    assert problem in failed.error
    assert sandbox_credentials(LEDGERLY, SOURCE)["access_token"] not in failed.error
    assert snapshot(warehouse) == before

    sandbox.faults.clear()
    recovered = load(run_ingest, **window)
    assert not recovered.failed, recovered.error
    assert raw_days(warehouse, window["first"], window["last"]) == true_days(
        sandbox, window["first"], window["last"]
    )


def test_a_wrong_token_fails_without_showing_it(
    run_ingest, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "AQV-wrong-token-0123456789abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv(f"SOURCES__LINKEDIN_ADS__{LEDGERLY.upper()}__ACCESS_TOKEN", wrong)
    run = load(run_ingest, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "HTTP 401 INVALID_ACCESS_TOKEN serviceErrorCode 65600" in run.error
    assert f"under [sources.linkedin_ads.{LEDGERLY}]" in run.error
    assert wrong not in run.error
    assert sandbox_credentials(LEDGERLY, SOURCE)["access_token"] not in run.error


def test_a_retired_api_version_asks_to_bump_it(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    later = date(2027, 11, 5)  # twelve months after API_VERSION's release
    sandbox.world.clock.set(later)
    [run] = run_ingest(
        tenant_ids=(LEDGERLY,),
        sources=(SOURCE.value,),
        first_day=later - timedelta(days=2),
        last_day=later - timedelta(days=1),
        today=later,
    )
    assert run.failed
    assert f"LinkedIn no longer serves API version {linkedin_ads.API_VERSION}" in run.error
    assert "NONEXISTENT_VERSION" in run.error
    assert "bump API_VERSION in ingestion/linkedin_ads.py" in run.error


def test_schema_drift_lands_as_a_column(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(LEDGERLY, SOURCE.value, Fault(FaultKind.SCHEMA_DRIFT))
    run = load(run_ingest, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    [(rows, with_field, unchanged)] = query(
        warehouse,
        f"""select count(*), count(landing_page_clicks),
                   count(*) filter (where landing_page_clicks = clicks * 7 // 10)
            from {schema()}.creative_daily_analytics""",
    )
    assert rows == with_field == unchanged > 0


def test_the_real_api_is_linkedins(registry: TenantRegistry) -> None:
    builder, base_url = connector(SOURCE.value)
    assert builder is linkedin_ads.linkedin_ads_source
    config = registry.get(LEDGERLY).sources[SOURCE].model_copy(update={"base_url": None})
    assert config.resolved_base_url(base_url) == "https://api.linkedin.com"
    assert sandbox_linkedin.active_versions(SANDBOX_TODAY)[-1] == linkedin_ads.API_VERSION
