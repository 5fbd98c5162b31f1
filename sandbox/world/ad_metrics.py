"""Daily ad-level delivery of an ad account: impressions, clicks, spend and conversions.

`final_day` gives what the platform will eventually report for a day (and how many store orders
each ad truly drove, which the commerce side turns into orders). `reported_day` applies the
platform's restatement: for the last `RESTATEMENT_DAYS` before the sandbox's today, spend is a
little high (invalid clicks not yet credited) and conversions are still arriving. Platforms
over-count store orders: they add view-through and modelled conversions on top of the orders the
ads really drove.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sandbox.world.calendar import WEEKDAY_DEMAND, day_date, promo_multiplier
from sandbox.world.catalog import USD_PRICE_LEVEL, AdAccount
from sandbox.world.randomness import rng_for

RESTATEMENT_DAYS = 3
FATIGUE_HALF_LIFE_DAYS = 12.0
# Extra conversions a platform claims per store order its ads really drove.
OVERCOUNT = {"google_ads": 0.22, "meta_ads": 0.55, "linkedin_ads": 0.35}
# Spend granularity in micros: Meta bills in cents, the others report raw micros.
SPEND_STEP_MICROS = {"google_ads": 1, "meta_ads": 10_000, "linkedin_ads": 1}


@dataclass(frozen=True)
class AdDay:
    """Delivery of the ads that ran on one day; all arrays are aligned with `ad_index`."""

    day: int
    ad_index: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    spend_micros: np.ndarray  # account currency
    conversions: np.ndarray  # platform-reported (float)
    conversion_value_micros: np.ndarray  # account currency
    driven_orders: np.ndarray  # store orders these ads really drove (not reported by the API)

    def __len__(self) -> int:
        return len(self.ad_index)


@lru_cache(maxsize=65536)
def final_day(account: AdAccount, day: int) -> AdDay:
    """What the platform reports for `day` once the day has fully matured."""
    if day < 0 or account.is_outage(day):
        return _empty(day)
    active = account.active_ads(day)
    if active.size == 0:
        return _empty(day)
    rng = rng_for(account.tenant_id, account.platform, "delivery", day)
    calendar_day = day_date(day)
    promo = promo_multiplier(calendar_day)
    demand = WEEKDAY_DEMAND[calendar_day.weekday()] * promo

    campaign_of_ad = account.ad_campaign[active]
    campaign_noise = rng.lognormal(0.0, 0.08, size=len(account.campaigns))
    budget = np.array([c.daily_budget for c in account.campaigns])
    campaign_spend = budget * min(demand, 1.8) * campaign_noise

    weights = account.ad_weight[active] * rng.uniform(0.85, 1.15, size=active.size)
    weight_per_campaign = np.bincount(campaign_of_ad, weights, minlength=len(account.campaigns))
    spend = campaign_spend[campaign_of_ad] * weights / weight_per_campaign[campaign_of_ad]
    step = SPEND_STEP_MICROS[account.platform]
    spend_micros = (np.round(spend * 1e6 / step) * step).astype(np.int64)

    cpm = np.array([c.cpm for c in account.campaigns])[campaign_of_ad]
    impressions = rng.poisson(spend / (cpm * rng.uniform(0.9, 1.1, size=active.size)) * 1000)
    age = day - account.ad_start[active]
    fatigue = 0.55 + 0.45 * np.exp2(-age / FATIGUE_HALF_LIFE_DAYS)
    ctr = np.array([c.ctr for c in account.campaigns])[campaign_of_ad] * fatigue
    clicks = rng.binomial(impressions, np.clip(ctr, 0, 1))

    cvr = np.array([c.cvr for c in account.campaigns])[campaign_of_ad]
    driven = rng.poisson(clicks * cvr * (1 + 0.3 * (promo > 1)))
    claimed = driven + rng.poisson(driven * OVERCOUNT[account.platform] + 0.05)
    if account.platform == "google_ads":
        # data-driven attribution hands out fractional conversions
        conversions = np.round(claimed * rng.uniform(0.92, 1.08, size=active.size), 2)
    else:
        conversions = claimed.astype(np.float64)
    order_value = _typical_order_value(account) * rng.lognormal(0, 0.15, size=active.size)
    value_micros = np.round(conversions * order_value * 100).astype(np.int64) * 10_000

    delivered = impressions > 0
    return AdDay(
        day=day,
        ad_index=active[delivered],
        impressions=impressions[delivered],
        clicks=clicks[delivered],
        spend_micros=spend_micros[delivered],
        conversions=conversions[delivered],
        conversion_value_micros=value_micros[delivered],
        driven_orders=driven[delivered],
    )


def reported_day(account: AdAccount, day: int, today: int) -> AdDay:
    """What the platform's API answers for `day` when asked on world day `today`."""
    if day >= today:
        return _empty(day)
    final = final_day(account, day)
    age = today - day
    if age > RESTATEMENT_DAYS or len(final) == 0:
        return final
    immaturity = (RESTATEMENT_DAYS + 1 - age) / RESTATEMENT_DAYS  # 1 yesterday, 1/3 at the edge
    step = SPEND_STEP_MICROS[account.platform]
    spend = np.round(final.spend_micros * (1 + 0.04 * immaturity) / step).astype(np.int64) * step
    share = 1 - 0.35 * immaturity
    if account.platform == "google_ads":
        conversions = np.round(final.conversions * share, 2)
    else:
        conversions = np.floor(final.conversions * share)
    value = (
        np.round(
            final.conversion_value_micros
            * np.divide(
                conversions,
                final.conversions,
                out=np.zeros_like(conversions),
                where=final.conversions > 0,
            )
            / 10_000
        ).astype(np.int64)
        * 10_000
    )
    return AdDay(
        day=day,
        ad_index=final.ad_index,
        impressions=final.impressions,
        clicks=final.clicks,
        spend_micros=spend,
        conversions=conversions,
        conversion_value_micros=value,
        driven_orders=final.driven_orders,
    )


def _typical_order_value(account: AdAccount) -> float:
    usd = 85.0 if account.platform != "linkedin_ads" else 1400.0
    return usd * USD_PRICE_LEVEL.get(account.currency, 1.0)


def _empty(day: int) -> AdDay:
    ints = np.zeros(0, dtype=np.int64)
    return AdDay(day, ints, ints, ints, ints, np.zeros(0), ints, ints)
