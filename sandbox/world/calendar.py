"""The world's calendar: day numbers, the sandbox clock, weekly seasonality and promotions.

Days are counted from `WORLD_START` (day 0) in each account's local time. The sandbox clock
says which day is "today": only days strictly before it have data, and the few days before it
are still being restated by the platforms. Tests move the clock; by default it is the real UTC
date.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

WORLD_START = date(2024, 1, 1)

# Sales weight by weekday (Monday first): shoppers buy more at the weekend.
WEEKDAY_DEMAND = (0.92, 0.95, 0.97, 1.0, 1.04, 1.12, 1.08)


def day_number(day: date) -> int:
    return (day - WORLD_START).days


def day_date(number: int) -> date:
    return WORLD_START + timedelta(days=number)


def world_now(today: int) -> datetime:
    """The instant the world treats as "now" on world day `today`: its UTC midnight.

    Refunds and other events dated before it have happened; later ones have not yet.
    """
    calendar_day = day_date(today)
    return datetime(calendar_day.year, calendar_day.month, calendar_day.day, tzinfo=UTC)


def promo_multiplier(day: date) -> float:
    """Demand lift of the yearly promotion: Black Friday to Cyber Monday, plus a ramp-up week."""
    thanksgiving = _fourth_thursday_of_november(day.year)
    black_friday = thanksgiving + timedelta(days=1)
    cyber_monday = black_friday + timedelta(days=3)
    if black_friday <= day <= cyber_monday:
        return 2.4
    if black_friday - timedelta(days=7) <= day < black_friday:
        return 1.35
    return 1.0


def _fourth_thursday_of_november(year: int) -> date:
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=3)


def add_months(day: date, months: int) -> date:
    """Same day of month `months` later, clipped to the month's last day (Stripe's billing rule)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


class SandboxClock:
    """Which day the sandbox believes is today; settable so tests can watch restatements."""

    def __init__(self, today: date | None = None) -> None:
        self._fixed = today
        self._lock = threading.Lock()

    def today(self) -> date:
        with self._lock:
            return self._fixed or datetime.now(UTC).date()

    def set(self, today: date | None) -> None:
        """Fix the clock at `today`, or follow the real date again with None."""
        with self._lock:
            self._fixed = today

    def last_complete_day(self) -> date:
        return self.today() - timedelta(days=1)
