"""dlt source for daily FX reference rates (ECB via a Frankfurter-compatible API).

One resource, `daily_rates`: one row per publication day × currency, units of the currency per
1 EUR, for every currency a tenant reports in or is billed in. There are no rows for weekends
and holidays: the models carry the last rate forward. Rates are merged on (rate_date, currency),
and the cursor re-reads a few days so a late publication is picked up.
"""

# No `from __future__ import annotations`: dlt reads the cursor parameter's annotation.
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dlt
from dlt.extract.source import DltSource

from aya.tenants import TenantRegistry
from ingestion.http import ApiClient
from ingestion.progress import SourceRun
from ingestion.settings import FX_SOURCE

API_BASE_URL = "https://api.frankfurter.app"
BASE_CURRENCY = "EUR"
LAG_DAYS = 5


@dataclass
class FxContext:
    base_url: str
    currencies: tuple[str, ...]
    run: SourceRun
    first_day: date
    last_day: date
    explicit_window: bool


def currencies_in_use(registry: TenantRegistry) -> tuple[str, ...]:
    """Every currency a tenant reports in, is billed in, or takes payments in, except EUR."""
    codes = set()
    for tenant in registry.tenants:
        codes.add(tenant.reporting_currency)
        codes.update(tenant.sandbox.account_currencies.values())
        codes.update(tenant.sandbox.extra_payment_currencies)
    codes.discard(BASE_CURRENCY)
    return tuple(sorted(codes))


@dlt.source(name="fx")
def fx_source(context: FxContext) -> DltSource:
    client = ApiClient(tenant_id="*", source=FX_SOURCE, base_url=context.base_url, run=context.run)
    cursor = dlt.sources.incremental(
        "rate_date",
        initial_value=context.first_day.isoformat(),
        end_value=(context.last_day + timedelta(days=1)).isoformat()
        if context.explicit_window
        else None,
        lag=LAG_DAYS,
        range_end="open",
    )
    return daily_rates(client, context, cursor)


@dlt.resource(
    name="daily_rates",
    primary_key=["rate_date", "currency"],
    write_disposition="merge",
    columns={"rate": {"data_type": "decimal", "precision": 18, "scale": 6}},
)
def daily_rates(
    client: ApiClient, context: FxContext, cursor: dlt.sources.incremental[str]
) -> Iterator[list[dict[str, Any]]]:
    start = max(date.fromisoformat(str(cursor.start_value)[:10]), context.first_day)
    if start > context.last_day or not context.currencies:
        return
    answer = client.request_json(
        "GET",
        f"/{start.isoformat()}..{context.last_day.isoformat()}",
        endpoint="GET /{start}..{end}",
        params={"base": BASE_CURRENCY, "symbols": ",".join(context.currencies)},
    )
    base = client.require(answer, "base", "GET /{start}..{end}")
    rows = [
        {
            "rate_date": day,
            "base_currency": base,
            "currency": currency,
            "rate": Decimal(str(rate)),
        }
        for day, rates in sorted(client.require(answer, "rates", "GET /{start}..{end}").items())
        for currency, rate in sorted(rates.items())
    ]
    context.run.count_rows(len(rows))
    yield rows
