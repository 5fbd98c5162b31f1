"""Daily reference exchange rates, published like the ECB's: EUR base, business days only.

Rates are a smooth deterministic function of the day (no random walk to replay), rounded as the
ECB rounds them. There is no rate on weekends and TARGET holidays; whoever converts money
carries the last published rate forward, and `rate_on` does exactly that for the ground truth.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from sandbox.world.randomness import stable_fraction

BASE_CURRENCY = "EUR"

# Typical EUR reference rates; unknown currencies get a stable made-up level.
_TYPICAL_LEVEL = {
    "USD": 1.09,
    "GBP": 0.855,
    "JPY": 161.0,
    "CHF": 0.95,
    "SEK": 11.4,
    "NOK": 11.6,
    "DKK": 7.46,
    "PLN": 4.31,
    "CAD": 1.48,
    "AUD": 1.65,
    "NZD": 1.79,
    "CZK": 25.2,
    "HUF": 395.0,
    "KRW": 1460.0,
    "CNY": 7.8,
    "INR": 91.0,
    "BRL": 5.9,
    "MXN": 19.8,
}


def is_publication_day(day: date) -> bool:
    """True on TARGET2 business days (weekdays except New Year, 1 May and Christmas)."""
    if day.weekday() >= 5:
        return False
    return (day.month, day.day) not in {(1, 1), (5, 1), (12, 25), (12, 26)}


@lru_cache(maxsize=200_000)
def published_rate(currency: str, day: date) -> Decimal | None:
    """Units of `currency` per 1 EUR published on `day`, or None if nothing was published."""
    if currency == BASE_CURRENCY:
        return Decimal(1)
    if not is_publication_day(day):
        return None
    level = _TYPICAL_LEVEL.get(currency, 0.5 + 50 * stable_fraction("fx-level", currency))
    phase = 2 * math.pi * stable_fraction("fx-phase", currency)
    t = day.toordinal()
    drift = 0.035 * math.sin(2 * math.pi * t / 211 + phase) + 0.012 * math.sin(
        2 * math.pi * t / 37 + 2 * phase
    )
    jitter = 0.003 * (stable_fraction("fx-day", currency, t) - 0.5)
    rate = level * math.exp(drift + jitter)
    digits = 4 if rate < 100 else 2
    return Decimal(str(round(rate, digits)))


def rate_on(currency: str, day: date) -> Decimal:
    """The rate in force on `day`: the latest one published on or before it."""
    for back in range(0, 10):
        rate = published_rate(currency, day - timedelta(days=back))
        if rate is not None:
            return rate
    raise LookupError(f"no {currency} rate published in the 10 days up to {day}")


def convert(amount: Decimal, from_currency: str, to_currency: str, day: date) -> Decimal:
    """`amount` of `from_currency` in `to_currency` at the cross rate in force on `day`."""
    if from_currency == to_currency:
        return amount
    return amount / rate_on(from_currency, day) * rate_on(to_currency, day)
