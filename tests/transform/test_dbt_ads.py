"""The ad-platform and GA4 side of the dbt project equals what the sandbox served, to the cent.

Google Ads, Meta Ads, LinkedIn Ads and GA4 of the three demo tenants, and the ECB rates, are
ingested from the sandbox (dlt, DuckDB, HTTP) for two weeks ending on the sandbox's yesterday
(the last three days still restating), `dbt build` runs for real on the ad models and their
parents, and then:
- per tenant × day × platform, fct_ad_performance_daily's spend, impressions, clicks, platform
  conversions and their value equal the sandbox's truth in the account currency, and its
  reporting-currency spend and conversion value, summed and rounded half-even per day as the
  truth rounds them, equal the truth's (Thistle & Thread's Meta account bills in EUR and
  reports in GBP); Meta's conversions are its omni_purchase action, not a sum of action types;
- vertical integrity: the unified int_ad_performance_daily is exactly the sum of the three
  platforms' staging models, and the mart is exactly the unified model;
- every ad sits in the campaign and ad group the platform put it in, and dim_campaigns lists
  every campaign the platforms list, with the days it delivered;
- GA4 staging equals the truth's sessions, users, key events and purchase revenue;
- a run limited to one tenant rewrites only that tenant's ad rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pytest

from aya.currencies import minor_unit_exponent
from aya.tenants import AD_PLATFORMS, SourceName, TenantRegistry
from ingestion.runner import IngestRequest, ingest
from sandbox.server import SandboxServer
from sandbox.world.calendar import day_number
from sandbox.world.tenant_world import sandbox_credentials
from sandbox.world.truth import truth
from tests.conftest import SANDBOX_TODAY
from tests.transform.conftest import copy_warehouse, query, run_dbt

pytestmark = pytest.mark.slow

NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
THISTLE = "thistle_and_thread"
TENANTS = (NORTHWIND, LEDGERLY, THISTLE)
AD_WINDOW = (SANDBOX_TODAY - timedelta(days=14), SANDBOX_TODAY - timedelta(days=1))
FX_WINDOW = (AD_WINDOW[0] - timedelta(days=14), AD_WINDOW[1])
AD_SOURCES = ("google_ads", "meta_ads", "linkedin_ads")
SOURCES = (*AD_SOURCES, "ga4")
# The ad models and everything they read; `cautious` leaves out tests of other models (Stripe,
# Shopify) that merely share a parent such as the currencies seed.
BUILD_ARGS = (
    "build",
    "--indirect-selection",
    "cautious",
    "--select",
    "+fct_ad_performance_daily",
    "+dim_campaigns",
    *(f"path:models/staging/{source}" for source in SOURCES),
)
METRICS = ("spend", "impressions", "clicks", "conversions", "conversions_value")
PLATFORM_STAGING_DAYS = {
    "google_ads": "staging.stg_google_ads__ad_daily_metrics",
    "meta_ads": "staging.stg_meta_ads__insights",
    "linkedin_ads": "staging.stg_linkedin_ads__creative_daily_analytics",
}


@pytest.fixture(scope="module")
def ads_data_dir(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxServer, registry: TenantRegistry
) -> Iterator[Path]:
    """A warehouse holding every demo tenant's ad platforms, GA4 and the ECB rates, built."""
    data_dir = tmp_path_factory.mktemp("dbt_ads_warehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AYA_DATA_DIR", str(data_dir))
        patch.setenv("AYA_SANDBOX_URL", sandbox.url)
        for tenant in registry.tenants:
            for source in tenant.sources:
                for key, value in sandbox_credentials(tenant.id, source).items():
                    name = f"SOURCES__{source.value.upper()}__{tenant.id.upper()}__{key.upper()}"
                    patch.setenv(name, value)
        runs = [
            *ingest(
                registry,
                IngestRequest(
                    sources=("fx",),
                    first_day=FX_WINDOW[0],
                    last_day=FX_WINDOW[1],
                    today=SANDBOX_TODAY,
                ),
            ),
            *ingest(
                registry,
                IngestRequest(
                    sources=SOURCES,
                    first_day=AD_WINDOW[0],
                    last_day=AD_WINDOW[1],
                    today=SANDBOX_TODAY,
                ),
            ),
        ]
    failed = [f"{run.tenant_id}/{run.source}: {run.error}" for run in runs if run.failed]
    assert not failed, failed
    build = run_dbt(data_dir, *BUILD_ARGS)
    assert build.succeeded, build.output
    yield data_dir


def rounded(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_unit_exponent(currency)), ROUND_HALF_EVEN)


def true_ad_days(sandbox: SandboxServer, tenant_id: str) -> dict[tuple[str, date], tuple]:
    rows = truth(sandbox.world, tenant_id, *AD_WINDOW, list(AD_PLATFORMS))
    return {
        (row.source, row.date): (
            row.currency,
            row.spend,
            row.impressions,
            row.clicks,
            row.platform_conversions,
            row.platform_conversion_value,
            row.reporting_currency,
            row.reporting["spend"],
            row.reporting["platform_conversion_value"],
        )
        for row in rows
    }


def mart_ad_days(data_dir: Path, tenant_id: str) -> dict[tuple[str, date], tuple]:
    rows = query(
        data_dir,
        """select platform, date_day, any_value(currency_code), count(distinct currency_code),
                  sum(spend), sum(impressions), sum(clicks), sum(conversions),
                  sum(conversions_value), any_value(reporting_currency),
                  sum(spend_reporting), sum(conversions_value_reporting)
           from marts.fct_ad_performance_daily
           where tenant_id = ? and date_day between ? and ?
           group by platform, date_day""",
        [tenant_id, *AD_WINDOW],
    )
    days = {}
    for platform, day, currency, currencies, *totals, reporting, spend_rep, value_rep in rows:
        assert currencies == 1, (tenant_id, platform, day)
        days[(platform, day)] = (
            currency,
            *totals,
            reporting,
            rounded(spend_rep, reporting),
            rounded(value_rep, reporting),
        )
    return days


def run_results(data_dir: Path) -> list[dict]:
    return json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]


def test_the_ad_models_and_their_tests_all_pass(ads_data_dir: Path) -> None:
    results = run_results(ads_data_dir)
    assert [
        (r["unique_id"], r["status"])
        for r in results
        if r["status"] not in {"pass", "success", "warn"}
    ] == []
    built = {r["unique_id"] for r in results if r["unique_id"].startswith("model.")}
    assert {
        "model.aya.stg_google_ads__ad_daily_metrics",
        "model.aya.stg_meta_ads__insights",
        "model.aya.stg_meta_ads__insight_actions",
        "model.aya.stg_linkedin_ads__creative_daily_analytics",
        "model.aya.stg_ga4__traffic_daily",
        "model.aya.int_ad_performance_daily",
        "model.aya.fct_ad_performance_daily",
        "model.aya.dim_campaigns",
    } <= built
    unit_tests = {
        r["unique_id"].rsplit(".", 1)[-1]
        for r in results
        if r["unique_id"].startswith("unit_test.")
    }
    assert {
        "google_ads_micros_become_money_and_iso_dates_become_dates",
        "meta_conversions_are_the_omni_purchase_action_not_a_sum_of_types",
        "ad_performance_is_unified_and_converted_to_the_reporting_currency",
    } <= unit_tests
    grain_tests = [
        r for r in results if "unique_combination_of_columns_fct_ad_performance" in r["unique_id"]
    ]
    assert [r["status"] for r in grain_tests] == ["pass"]


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_ad_days_in_the_mart_equal_the_truth_to_the_cent(
    ads_data_dir: Path, sandbox: SandboxServer, registry: TenantRegistry, tenant_id: str
) -> None:
    expected = true_ad_days(sandbox, tenant_id)
    platforms = {s.value for s in registry.get(tenant_id).sources if s in AD_PLATFORMS}
    assert {platform for platform, _ in expected} == platforms
    assert len(expected) >= len(platforms) * 13  # every day of the window but an outage or so
    assert mart_ad_days(ads_data_dir, tenant_id) == expected


def test_thistles_euro_meta_spend_is_reported_in_pounds(
    ads_data_dir: Path, sandbox: SandboxServer
) -> None:
    days = mart_ad_days(ads_data_dir, THISTLE)
    assert {(currency, reporting) for currency, *_, reporting, _, _ in days.values()} == {
        ("EUR", "GBP")
    }
    euros = sum(day[1] for day in days.values())
    pounds = sum(day[-2] for day in days.values())
    assert Decimal("0.8") * euros < pounds < Decimal("0.92") * euros
    assert pounds == sum(day[-2] for day in true_ad_days(sandbox, THISTLE).values())


def test_meta_conversions_are_the_omni_purchase_action_only(ads_data_dir: Path) -> None:
    """One pixel purchase is listed under three action types; the models count it once."""
    [(omni, omni_value, all_types, all_values, purchase_types)] = query(
        ads_data_dir,
        """select sum(action_count) filter (where action_type = 'omni_purchase'),
                  sum(action_value) filter (where action_type = 'omni_purchase'),
                  sum(action_count), sum(action_value), count(distinct action_type)
           from staging.stg_meta_ads__insight_actions""",
    )
    assert purchase_types >= 3 and all_types >= 3 * omni > 0 and all_values >= 3 * omni_value
    [(conversions, value)] = query(
        ads_data_dir,
        """select sum(conversions), sum(conversions_value) from marts.fct_ad_performance_daily
           where platform = 'meta_ads'""",
    )
    assert (conversions, value) == (omni, omni_value)


def test_the_unified_model_is_the_sum_of_the_platform_staging_models(ads_data_dir: Path) -> None:
    sums = ", ".join(f"sum({metric})" for metric in METRICS)
    staging = {
        (platform, tenant, day): tuple(totals)
        for platform, model in PLATFORM_STAGING_DAYS.items()
        for tenant, day, *totals in query(
            ads_data_dir,
            f"select tenant_id, date_day, count(*), {sums} from {model} group by all",
        )
    }
    assert {platform for platform, _, _ in staging} == set(AD_SOURCES)
    for model in ("intermediate.int_ad_performance_daily", "marts.fct_ad_performance_daily"):
        unified = {
            (platform, tenant, day): tuple(totals)
            for platform, tenant, day, *totals in query(
                ads_data_dir,
                f"select platform, tenant_id, date_day, count(*), {sums} from {model} group by all",
            )
        }
        assert unified == staging, model
    mart_minus_unified = query(
        ads_data_dir,
        """select count(*) from (
               select * from marts.fct_ad_performance_daily
               except all
               select * from intermediate.int_ad_performance_daily)""",
    )
    assert mart_minus_unified == [(0,)]


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_every_ad_sits_in_the_campaign_and_ad_group_the_platform_gave_it(
    ads_data_dir: Path, sandbox: SandboxServer, registry: TenantRegistry, tenant_id: str
) -> None:
    """LinkedIn has no ad groups: its campaign is campaign and ad group, its creative the ad."""
    tenant = registry.get(tenant_id)
    expected = {}
    for account in sandbox.world.ad_accounts(tenant):
        for ad in account.ads:
            campaign = account.campaigns[ad.campaign_index]
            group = account.ad_groups[ad.ad_group_index]
            if account.platform == "linkedin_ads":
                group_id, group_name = campaign.id, campaign.name
            else:
                group_id, group_name = group.id, group.name
            expected[(account.platform, ad.id)] = (
                account.account_id,
                campaign.id,
                campaign.name,
                group_id,
                group_name,
                ad.name,
            )
    actual = query(
        ads_data_dir,
        """select distinct platform, ad_id, account_id, campaign_id, campaign_name, ad_group_id,
                  ad_group_name, ad_name
           from marts.fct_ad_performance_daily where tenant_id = ?""",
        [tenant_id],
    )
    placed = {(platform, ad_id): tuple(rest) for platform, ad_id, *rest in actual}
    assert len(placed) == len(actual) > 0  # one placement and one set of names per ad
    assert placed == {key: expected.get(key) for key in placed}


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_dim_campaigns_lists_every_campaign_with_its_delivery_days(
    ads_data_dir: Path, sandbox: SandboxServer, registry: TenantRegistry, tenant_id: str
) -> None:
    tenant = registry.get(tenant_id)
    today = day_number(SANDBOX_TODAY)
    listed = {
        (account.platform, campaign.id): (campaign.name, account.account_id, account.currency)
        for account in sandbox.world.ad_accounts(tenant)
        for campaign in account.campaigns
        if campaign.start_day <= today
    }
    dim = query(
        ads_data_dir,
        """select platform, campaign_id, campaign_name, account_id, currency_code, is_listed,
                  first_active_date, last_active_date, campaign_group_id
           from marts.dim_campaigns where tenant_id = ?""",
        [tenant_id],
    )
    assert {
        (p, c): (name, account, currency) for p, c, name, account, currency, *_ in dim
    } == listed
    assert all(row[5] for row in dim)
    delivered = {
        (platform, campaign): (first, last)
        for platform, campaign, first, last in query(
            ads_data_dir,
            """select platform, campaign_id, min(date_day), max(date_day)
               from marts.fct_ad_performance_daily where tenant_id = ? group by all""",
            [tenant_id],
        )
    }
    assert {(p, c): (first, last) for p, c, *_, first, last, _ in dim if first} == delivered
    linkedin_groups = {group for platform, *_, group in dim if platform == "linkedin_ads"}
    assert None not in linkedin_groups
    assert len(linkedin_groups) == (2 if tenant_id == LEDGERLY else 0)


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_ga4_days_in_staging_equal_the_truth(
    ads_data_dir: Path, sandbox: SandboxServer, tenant_id: str
) -> None:
    expected = {
        row.date: (row.currency, row.sessions, row.users, row.key_events, row.purchase_revenue)
        for row in truth(sandbox.world, tenant_id, *AD_WINDOW, [SourceName.GA4])
    }
    actual = {
        day: tuple(totals)
        for day, *totals in query(
            ads_data_dir,
            """select date_day, any_value(currency_code), sum(sessions), sum(total_users),
                      sum(key_events), sum(purchase_revenue)
               from staging.stg_ga4__traffic_daily
               where tenant_id = ? and date_day between ? and ? group by date_day""",
            [tenant_id, *AD_WINDOW],
        )
    }
    assert actual == expected
    if tenant_id != THISTLE:  # Thistle & Thread has no GA4
        assert len(actual) == 14
        assert sum(day[3] for day in actual.values()) > 0
    if tenant_id == NORTHWIND:  # the shop's purchases (Ledgerly, a SaaS, sells no carts)
        assert sum(day[4] for day in actual.values()) > 0


def test_a_run_limited_to_one_tenant_rewrites_only_its_ad_rows(
    ads_data_dir: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    warehouse = copy_warehouse(ads_data_dir, tmp_path / "data")
    with duckdb.connect(str(warehouse / "warehouse.duckdb")) as connection:
        for model in ("intermediate.int_ad_performance_daily", "marts.fct_ad_performance_daily"):
            connection.execute(f"update {model} set spend = -1")
        connection.execute("update marts.dim_campaigns set campaign_name = 'stale'")
    before = dict(
        query(
            warehouse, "select tenant_id, count(*) from marts.fct_ad_performance_daily group by 1"
        )
    )

    limited = run_dbt(warehouse, *BUILD_ARGS, "--vars", f"{{tenants: [{THISTLE}]}}")
    assert limited.succeeded, limited.output

    after = query(
        warehouse,
        """select tenant_id, count(*), count(*) filter (where spend = -1)
           from marts.fct_ad_performance_daily group by 1 order by 1""",
    )
    assert after == [
        (LEDGERLY, before[LEDGERLY], before[LEDGERLY]),
        (NORTHWIND, before[NORTHWIND], before[NORTHWIND]),
        (THISTLE, before[THISTLE], 0),
    ]
    assert mart_ad_days(warehouse, THISTLE) == true_ad_days(sandbox, THISTLE)
    stale = dict(
        query(
            warehouse,
            """select tenant_id, bool_and(campaign_name = 'stale') from marts.dim_campaigns
               group by 1""",
        )
    )
    assert stale == {LEDGERLY: True, NORTHWIND: True, THISTLE: False}
