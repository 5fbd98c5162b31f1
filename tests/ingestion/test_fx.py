"""FX rates land once per publication day and currency, idempotently, and equal the sandbox's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sandbox.world.fx import published_rate
from tests.ingestion.conftest import query


def test_rates_for_every_currency_in_use_land_without_weekends(run_ingest, warehouse: Path) -> None:
    [run] = run_ingest(sources=("fx",), first_day=date(2026, 10, 1), last_day=date(2026, 10, 31))
    assert not run.failed, run.error
    rows = query(warehouse, "select rate_date, currency, rate from raw_fx.daily_rates")
    currencies = {currency for _, currency, _ in rows}
    assert currencies == {"USD", "GBP", "JPY"}  # EUR is the base
    days = {day for day, _, _ in rows}
    assert len(days) == 22  # October 2026 has 22 weekdays
    assert all(date.fromisoformat(str(day)).weekday() < 5 for day in days)
    for day, currency, rate in rows:
        assert Decimal(rate) == published_rate(currency, date.fromisoformat(str(day)))


def test_reloading_a_window_does_not_duplicate(run_ingest, warehouse: Path) -> None:
    window = {"sources": ("fx",), "first_day": date(2026, 9, 1), "last_day": date(2026, 9, 30)}
    run_ingest(**window)
    first = query(warehouse, "select count(*), sum(rate) from raw_fx.daily_rates")
    [run] = run_ingest(**window)
    assert not run.failed, run.error
    assert query(warehouse, "select count(*), sum(rate) from raw_fx.daily_rates") == first


def test_incremental_run_reads_from_the_cursor_not_the_start(run_ingest, warehouse: Path) -> None:
    [first] = run_ingest(sources=("fx",))
    assert not first.failed, first.error
    [second] = run_ingest(sources=("fx",))
    assert not second.failed, second.error
    assert 0 < second.rows < first.rows / 20  # only the few lag days are re-read
    assert query(warehouse, "select count(*) from raw_fx.daily_rates")[0][0] == first.rows
