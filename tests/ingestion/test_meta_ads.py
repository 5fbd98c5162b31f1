"""Meta ad insights land per ad and account-local day exactly as the ad account reported them.

Every test loads the sandbox's Marketing API through the real runner (dlt, DuckDB, HTTP) and
compares the raw tables with the sandbox's ground truth in the ad account's currency: spend,
impressions, clicks, and the platform's conversions and conversion value, which are the
`omni_purchase` entries of the `actions` and `action_values` child tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import requests

from aya.tenants import SourceName, TenantRegistry
from ingestion import meta_ads
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, connector, ingest
from sandbox.faults import Fault, FaultKind
from sandbox.server import SandboxServer
from sandbox.world.calendar import day_number
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.ingestion.conftest import query

NORTHWIND = "northwind_fashion"
THISTLE = "thistle_and_thread"
META = SourceName.META_ADS
FIRST_DAY = date(2026, 10, 1)
LAST_DAY = date(2026, 10, 14)
CONVERSIONS = "omni_purchase"  # what staging counts as the platform's conversions
PURCHASE_TYPES = ["offsite_conversion.fb_pixel_purchase", "omni_purchase", "purchase"]


@dataclass(frozen=True)
class DayTotals:
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal
    conversion_value: Decimal


@pytest.fixture(autouse=True)
def clean_sandbox(sandbox: SandboxServer) -> Iterator[None]:
    """No faults and the fixed clock, after each test."""
    yield
    sandbox.faults.clear()
    sandbox.world.clock.set(SANDBOX_TODAY)


def load(run_ingest, tenant_id: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> SourceRun:
    [run] = run_ingest(
        tenant_ids=(tenant_id,), sources=("meta_ads",), first_day=first, last_day=last
    )
    return run


def schema(tenant_id: str) -> str:
    return f"raw_meta_ads__{tenant_id}"


def token(tenant_id: str) -> str:
    return sandbox_credentials(tenant_id, META)["access_token"]


def raw_days(warehouse: Path, tenant_id: str, first: date, last: date) -> dict[date, DayTotals]:
    """Totals per day from the raw tables, actions joined on the insight's natural key."""
    raw = schema(tenant_id)
    rows = query(
        warehouse,
        f"""
        with conversions as (
          select ad_id, date_start, sum(value) conversions from {raw}.insights__actions
          where action_type = '{CONVERSIONS}' group by 1, 2),
        conversion_values as (
          select ad_id, date_start, sum(value) conversion_value from {raw}.insights__action_values
          where action_type = '{CONVERSIONS}' group by 1, 2)
        select i.date_start, sum(i.spend), sum(i.impressions), sum(i.clicks),
               coalesce(sum(c.conversions), 0), coalesce(sum(v.conversion_value), 0)
        from {raw}.insights i
        left join conversions c using (ad_id, date_start)
        left join conversion_values v using (ad_id, date_start)
        where i.date_start between '{first}' and '{last}'
        group by 1
        """,
    )
    return {row[0]: DayTotals(*row[1:]) for row in rows}


def true_days(sandbox: SandboxServer, tenant_id: str, first: date, last: date) -> dict:
    return {
        row.date: DayTotals(
            row.spend,
            row.impressions,
            row.clicks,
            row.platform_conversions,
            row.platform_conversion_value,
        )
        for row in truth(sandbox.world, tenant_id, first, last, [META])
    }


def snapshot(warehouse: Path, tenant_id: str) -> list[tuple]:
    """Row counts and sums of every table, to prove a failed run changed nothing."""
    raw = schema(tenant_id)
    return query(
        warehouse,
        f"""
        select (select count(*) from {raw}.insights),
               (select sum(spend) from {raw}.insights),
               (select sum(impressions) from {raw}.insights),
               (select count(*) from {raw}.insights__actions),
               (select sum(value) from {raw}.insights__action_values),
               (select count(*) from {raw}.campaigns),
               (select count(*) from {raw}.ad_sets),
               (select count(*) from {raw}.ads),
               (select count(*) from {raw}.account),
               (select count(*) from {raw}._dlt_loads)
        """,
    )


def assert_keys_unique_and_children_linked(warehouse: Path, tenant_id: str) -> None:
    """Each (ad, day) once; each action row once, under its insight, carrying its key."""
    raw = schema(tenant_id)
    [(rows, distinct)] = query(
        warehouse,
        f"select count(*), count(distinct (tenant_id, ad_id, date_start)) from {raw}.insights",
    )
    assert rows == distinct > 0
    for table in ("insights__actions", "insights__action_values"):
        [(rows, distinct, mismatched)] = query(
            warehouse,
            f"""select count(*), count(distinct (c.ad_id, c.date_start, c.action_type)),
                       count(*) filter (where i.ad_id is distinct from c.ad_id
                         or i.date_start is distinct from c.date_start
                         or i.tenant_id is distinct from c.tenant_id)
                from {raw}.{table} c left join {raw}.insights i on c._dlt_parent_id = i._dlt_id""",
        )
        assert (rows, mismatched) == (distinct, 0), table


# --- what lands -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant_id", "account_currency", "reporting_currency"),
    [(NORTHWIND, "USD", "USD"), (THISTLE, "EUR", "GBP")],
)
def test_insights_per_day_equal_the_truth_in_the_account_currency(
    run_ingest,
    warehouse: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tenant_id: str,
    account_currency: str,
    reporting_currency: str,
) -> None:
    monkeypatch.setattr(meta_ads, "INSIGHTS_DAYS_PER_REQUEST", 4)  # windows of 4, 4, 4, 2 days
    run = load(run_ingest, tenant_id)
    assert not run.failed, run.error
    assert run.pages >= 4 + 4  # account, three object edges, four insights windows

    expected = true_days(sandbox, tenant_id, FIRST_DAY, LAST_DAY)
    assert len(expected) == 14
    assert all(day.conversions > 0 for day in expected.values())
    assert raw_days(warehouse, tenant_id, FIRST_DAY, LAST_DAY) == expected
    currencies = {
        (row.currency, row.reporting_currency)
        for row in truth(sandbox.world, tenant_id, FIRST_DAY, LAST_DAY, [META])
    }
    assert currencies == {(account_currency, reporting_currency)}

    raw = schema(tenant_id)
    assert query(warehouse, f"select distinct account_currency from {raw}.insights") == [
        (account_currency,)
    ]
    assert query(warehouse, f"select currency from {raw}.account") == [(account_currency,)]
    assert_keys_unique_and_children_linked(warehouse, tenant_id)


def test_every_action_type_is_kept_with_decimal_values(run_ingest, warehouse: Path) -> None:
    assert not load(run_ingest, NORTHWIND).failed
    raw = schema(NORTHWIND)
    for table in ("insights__actions", "insights__action_values"):
        types = query(
            warehouse,
            f"select action_type, count(*), sum(value) from {raw}.{table} group by 1 order by 1",
        )
        assert [t[0] for t in types] == PURCHASE_TYPES
        assert len({t[1:] for t in types}) == 1  # one pixel event listed under three types
    columns = dict(
        query(
            warehouse,
            f"""select table_name || '.' || column_name, data_type
                from information_schema.columns where table_schema = '{raw}'""",
        )
    )
    assert columns["insights.spend"].startswith("DECIMAL")
    assert columns["insights.impressions"] == columns["insights.clicks"] == "BIGINT"
    assert columns["insights.date_start"] == columns["insights__actions.date_start"] == "DATE"
    assert columns["insights__action_values.value"].startswith("DECIMAL")
    assert columns["campaigns.daily_budget"] == "BIGINT"
    assert columns["ads.created_time"] == "TIMESTAMP WITH TIME ZONE"


def test_dimensions_land_and_insights_reference_them(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    assert not load(run_ingest, THISTLE).failed
    raw = schema(THISTLE)
    world = sandbox.world
    ad_account = world.ad_account(world.registry.get(THISTLE), META)
    today = day_number(SANDBOX_TODAY)

    assert query(
        warehouse,
        f"""select tenant_id, id, currency, timezone_name, timezone_offset_hours_utc
            from {raw}.account""",
    ) == [(THISTLE, f"act_{ad_account.account_id}", "EUR", "Europe/London", Decimal(0))]
    campaigns = query(warehouse, f"select tenant_id, id, daily_budget from {raw}.campaigns")
    assert sorted(campaigns) == sorted(
        (THISTLE, c.id, round(c.daily_budget * 100))
        for c in ad_account.campaigns
        if c.start_day <= today
    )
    [(ad_sets,)] = query(warehouse, f"select count(*) from {raw}.ad_sets")
    assert ad_sets == len(ad_account.ad_groups)
    ads = query(warehouse, f"select id from {raw}.ads order by id")
    assert ads == sorted((ad.id,) for ad in ad_account.existing_ads(today))

    [(orphans,)] = query(
        warehouse,
        f"""select count(*) from {raw}.insights i
            left join {raw}.ads a on a.tenant_id = i.tenant_id and a.id = i.ad_id
            left join {raw}.ad_sets s on s.id = i.adset_id and s.id = a.adset_id
            left join {raw}.campaigns c on c.id = i.campaign_id and c.id = s.campaign_id
            where a.id is null or s.id is null or c.id is null""",
    )
    assert orphans == 0


def test_reloading_the_window_changes_nothing(run_ingest, warehouse: Path) -> None:
    first = load(run_ingest, THISTLE)
    assert not first.failed, first.error
    before = snapshot(warehouse, THISTLE)
    again = load(run_ingest, THISTLE)
    assert not again.failed, again.error
    assert again.rows == first.rows > 0
    after = snapshot(warehouse, THISTLE)
    assert after[0][:-1] == before[0][:-1]  # only _dlt_loads grew
    assert after[0][-1] == before[0][-1] + 1
    assert_keys_unique_and_children_linked(warehouse, THISTLE)


def test_a_reloaded_day_loses_the_ads_meta_no_longer_serves(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    """Each day a load holds replaces that day's insights and actions; other days keep theirs."""
    assert not load(run_ingest, THISTLE).failed
    for day in (FIRST_DAY, LAST_DAY):
        add_an_ad_meta_no_longer_serves(warehouse, THISTLE, day)
    ghosts = f"""select i.date_start, count(a.ad_id) from {schema(THISTLE)}.insights i
                 left join {schema(THISTLE)}.insights__actions a on a._dlt_parent_id = i._dlt_id
                 where i.ad_id = '0' group by 1 order by 1"""
    assert [day for day, _ in query(warehouse, ghosts)] == [FIRST_DAY, LAST_DAY]

    reloaded = (LAST_DAY - timedelta(days=1), LAST_DAY)
    assert not load(run_ingest, THISTLE, *reloaded).failed

    assert [day for day, _ in query(warehouse, ghosts)] == [FIRST_DAY]
    [(orphans,)] = query(
        warehouse,
        f"""select count(*) from {schema(THISTLE)}.insights__actions
            where _dlt_root_id not in (select _dlt_id from {schema(THISTLE)}.insights)""",
    )
    assert orphans == 0
    assert raw_days(warehouse, THISTLE, *reloaded) == true_days(sandbox, THISTLE, *reloaded)
    assert_keys_unique_and_children_linked(warehouse, THISTLE)


def add_an_ad_meta_no_longer_serves(warehouse: Path, tenant_id: str, day: date) -> None:
    """A copy of one of `day`'s insights (and its actions) for ad 0, as if Meta had served it."""
    raw = schema(tenant_id)
    with duckdb.connect(str(warehouse)) as connection:
        [(source_id,)] = connection.execute(
            f"select _dlt_id from {raw}.insights where date_start = ? limit 1", [day]
        ).fetchall()
        ghost_id = f"restated-away-{day}"
        connection.execute(
            f"""insert into {raw}.insights select * replace ('0' as ad_id, ? as _dlt_id)
                from {raw}.insights where _dlt_id = ?""",
            [ghost_id, source_id],
        )
        connection.execute(
            f"""insert into {raw}.insights__actions select * replace (
                  '0' as ad_id, ? as _dlt_parent_id, ? as _dlt_root_id,
                  ? || '-' || _dlt_list_idx as _dlt_id)
                from {raw}.insights__actions where _dlt_parent_id = ?""",
            [ghost_id, ghost_id, ghost_id, source_id],
        )


def test_incremental_run_rereads_the_restatement_window_and_overwrites_restated_days(
    registry: TenantRegistry, warehouse: Path, sandbox: SandboxServer
) -> None:
    """A later run asks for the restatement window before the cursor plus the new days; the
    restated days then equal the new truth; a backfill in between does not move the cursor."""
    tenant = registry.get(NORTHWIND)
    config = tenant.sources[META].model_copy(update={"restatement_days": 3})
    tenant = tenant.model_copy(
        update={"history_days": 14, "sources": {**tenant.sources, META: config}}
    )
    short = registry.model_copy(update={"tenants": [tenant]})
    first_today, second_today = date(2026, 11, 10), date(2026, 11, 13)
    history_start = first_today - timedelta(days=14)
    raw = schema(NORTHWIND)

    def run(today: date, **window: date) -> SourceRun:
        [result] = ingest(short, IngestRequest(sources=("meta_ads",), today=today, **window))
        assert not result.failed, result.error
        return result

    sandbox.world.clock.set(first_today)
    run(first_today)
    loaded = raw_days(warehouse, NORTHWIND, history_start, first_today)
    assert loaded == true_days(sandbox, NORTHWIND, history_start, first_today)
    assert min(loaded) == history_start and max(loaded) == first_today - timedelta(days=1)

    sandbox.world.clock.set(second_today)
    backfill_day = history_start - timedelta(days=3)
    run(second_today, first_day=backfill_day, last_day=backfill_day)
    run(second_today)

    fetched = query(
        warehouse,
        f"""select distinct date_start from {raw}.insights
            where _dlt_load_id = (select max(load_id) from {raw}._dlt_loads) order by 1""",
    )
    restated_from = first_today - timedelta(days=4)  # last loaded day minus 3 days of lag
    days = (second_today - restated_from).days
    assert [d for (d,) in fetched] == [restated_from + timedelta(days=n) for n in range(days)]

    last_day = second_today - timedelta(days=1)
    now = true_days(sandbox, NORTHWIND, history_start, last_day)
    assert raw_days(warehouse, NORTHWIND, history_start, last_day) == now
    restated = [first_today - timedelta(days=n) for n in (1, 2, 3)]
    assert all(loaded[day].spend != now[day].spend for day in restated)
    assert_keys_unique_and_children_linked(warehouse, NORTHWIND)


# --- throttling and failures ----------------------------------------------------------------


def test_throttling_and_server_errors_are_survived(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, META, Fault(FaultKind.RATE_LIMIT, count=2))
    sandbox.faults.arm(THISTLE, META, Fault(FaultKind.SERVER_ERROR, count=3, skip=2))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    assert sandbox.faults.fired_count(THISTLE, META, FaultKind.RATE_LIMIT) == 2
    assert sandbox.faults.fired_count(THISTLE, META, FaultKind.SERVER_ERROR) == 3
    assert raw_days(warehouse, THISTLE, LAST_DAY, LAST_DAY) == true_days(
        sandbox, THISTLE, LAST_DAY, LAST_DAY
    )


def test_a_long_throttle_fails_at_once_saying_when_to_rerun(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(NORTHWIND, META, Fault(FaultKind.RATE_LIMIT, seconds=600))
    run = load(run_ingest, NORTHWIND, LAST_DAY, LAST_DAY)
    assert run.failed
    assert sandbox.faults.fired_count(NORTHWIND, META, FaultKind.RATE_LIMIT) == 1  # no retry
    assert f"tenant '{NORTHWIND}', source 'meta_ads'" in run.error
    assert "Meta kept throttling ad account act_120330000000517" in run.error
    assert "rerun in about 10 minutes" in run.error
    assert token(NORTHWIND) not in run.error


def graph_answer(status: int, error: dict, regain_minutes: int | None = None) -> requests.Response:
    """Meta's error envelope, with the usage header Meta sends on throttled answers."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error": {"type": "OAuthException", **error}}).encode()
    if regain_minutes is not None:
        usage = [{"type": "ads_insights", "estimated_time_to_regain_access": regain_minutes}]
        response.headers["X-Business-Use-Case-Usage"] = json.dumps({"1203": usage})
    return response


def test_rate_limit_codes_are_retried_after_the_estimated_time_to_regain_access() -> None:
    insights = graph_answer(400, {"code": 80000, "error_subcode": 2446079}, regain_minutes=3)
    assert meta_ads.throttled(insights, None)
    assert insights.headers["Retry-After"] == "180"
    for status, code in [(403, 4), (400, 17), (400, 32), (400, 613), (400, 80014)]:
        answer = graph_answer(status, {"code": code})
        assert meta_ads.throttled(answer, None), code
        assert "Retry-After" not in answer.headers  # exponential backoff
    too_long = graph_answer(400, {"code": 80004}, regain_minutes=10)
    assert not meta_ads.throttled(too_long, None)
    assert meta_ads.throttled(graph_answer(400, {"code": 2, "is_transient": True}), None)
    for code in (190, 100, 80015):
        assert not meta_ads.throttled(graph_answer(400, {"code": code}), None), code
    assert not meta_ads.throttled(graph_answer(500, {"code": 80000}), None)
    assert not meta_ads.throttled(None, requests.ConnectionError())


def assert_fails_cleanly(
    run_ingest, warehouse: Path, sandbox: SandboxServer, problem: str, action: str
) -> None:
    """With the fault armed, a run fails saying why and what to do, without secrets and
    without touching the rows loaded before; once the fault is gone the next run completes."""
    window = {"first": LAST_DAY - timedelta(days=3), "last": LAST_DAY}
    before = snapshot(warehouse, THISTLE)
    sandbox.world.clock.set(SANDBOX_TODAY + timedelta(days=1))  # what a new run would change
    failed = load(run_ingest, THISTLE, **window)
    assert failed.failed
    assert f"tenant '{THISTLE}', source 'meta_ads', endpoint 'GET /v26.0/act_" in failed.error
    assert problem in failed.error
    assert action in failed.error
    assert token(THISTLE) not in failed.error
    assert "access_token=" not in failed.error.replace("access_token=***", "")
    assert snapshot(warehouse, THISTLE) == before

    sandbox.faults.clear()
    recovered = load(run_ingest, THISTLE, **window)
    assert not recovered.failed, recovered.error
    assert raw_days(warehouse, THISTLE, window["first"], window["last"]) == true_days(
        sandbox, THISTLE, window["first"], window["last"]
    )


@pytest.mark.parametrize(
    ("fault", "problem", "action"),
    [
        (
            Fault(FaultKind.EXPIRED_TOKEN),
            "Meta refused the access token, which is invalid or expired (HTTP 400, Meta error "
            "190/463 OAuthException: Error validating access token: Session has expired",
            "a Meta system-user token cannot be refreshed: generate a new one",
        ),
        (
            Fault(FaultKind.MALFORMED, count=1, skip=2),
            "Meta answered a malformed page (not valid JSON",
            "rerun; nothing of this window was committed",
        ),
    ],
    ids=["expired_token", "malformed_page"],
)
def test_a_failing_run_says_why_and_keeps_the_loaded_rows(
    run_ingest, warehouse: Path, sandbox: SandboxServer, fault: Fault, problem: str, action: str
) -> None:
    assert not load(run_ingest, THISTLE, LAST_DAY - timedelta(days=3), LAST_DAY).failed
    sandbox.faults.arm(THISTLE, META, fault)
    assert_fails_cleanly(run_ingest, warehouse, sandbox, problem, action)


def test_a_wrong_token_fails_and_is_never_shown(
    run_ingest, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not load(run_ingest, THISTLE, LAST_DAY - timedelta(days=3), LAST_DAY).failed
    wrong = "EAABwrongTokenThatMetaNeverIssued0123456789"
    variable = f"SOURCES__META_ADS__{THISTLE.upper()}__ACCESS_TOKEN"
    monkeypatch.setenv(variable, wrong)
    before = snapshot(warehouse, THISTLE)
    failed = load(run_ingest, THISTLE, LAST_DAY - timedelta(days=3), LAST_DAY)
    assert failed.failed
    assert "Meta error 190 OAuthException: Invalid OAuth access token" in failed.error
    assert f"under [sources.meta_ads.{THISTLE}] or in {variable}" in failed.error
    assert wrong not in failed.error
    assert snapshot(warehouse, THISTLE) == before

    monkeypatch.setenv(variable, token(THISTLE))
    recovered = load(run_ingest, THISTLE, LAST_DAY - timedelta(days=3), LAST_DAY)
    assert not recovered.failed, recovered.error


def test_the_token_in_paging_next_links_never_reaches_an_error(
    run_ingest, warehouse: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meta's `paging.next` links carry the token; a failure on such a page names the page,
    never the link."""
    monkeypatch.setattr(meta_ads, "PAGE_SIZE", 3)
    sandbox.faults.arm(THISTLE, META, Fault(FaultKind.EXPIRED_TOKEN, skip=6))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert run.failed
    assert "(page " in run.error
    assert token(THISTLE) not in run.error
    assert "access_token" not in run.error.replace("access_token under", "")


def test_an_account_the_token_cannot_read_fails_clearly(
    registry: TenantRegistry, warehouse: Path
) -> None:
    tenant = registry.get(THISTLE)
    config = tenant.sources[META].model_copy(update={"account_id": "act_999999999"})
    tenant = tenant.model_copy(update={"sources": {**tenant.sources, META: config}})
    [run] = ingest(
        registry.model_copy(update={"tenants": [tenant]}),
        IngestRequest(
            sources=("meta_ads",), first_day=LAST_DAY, last_day=LAST_DAY, today=SANDBOX_TODAY
        ),
    )
    assert run.failed
    assert "endpoint 'GET /v26.0/act_999999999" in run.error
    assert "the access token cannot read ad account act_999999999" in run.error
    assert f"check the meta_ads account_id of tenant '{THISTLE}' in tenants.yaml" in run.error


def test_schema_drift_lands_as_a_column(
    run_ingest, warehouse: Path, sandbox: SandboxServer
) -> None:
    sandbox.faults.arm(THISTLE, META, Fault(FaultKind.SCHEMA_DRIFT))
    run = load(run_ingest, THISTLE, LAST_DAY, LAST_DAY)
    assert not run.failed, run.error
    [(rows, drifted)] = query(
        warehouse, f"select count(*), count(inline_link_clicks) from {schema(THISTLE)}.insights"
    )
    assert rows == drifted > 0


def test_the_real_api_is_graph_facebook_com(registry: TenantRegistry) -> None:
    builder, base_url = connector("meta_ads")
    assert builder is meta_ads.meta_ads_source
    assert base_url == "https://graph.facebook.com"
    config = registry.get(NORTHWIND).sources[META].model_copy(update={"base_url": None})
    assert config.resolved_base_url(base_url) == base_url
