"""The ad accounts of the synthetic world: campaigns, ad groups (ad sets) and rotating ads.

Each tenant × ad platform gets an account built from a template that fits the tenant's
business (a fashion shop buys Shopping and Advantage+, a SaaS buys LinkedIn lead gen). Ids are
stable hashes in each platform's id format. Every ad group runs two creatives at a time; a new
creative starts every three weeks and retires after six, so ad age (and with it creative
fatigue) moves through the calendar the way it does in a real account.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sandbox.world.randomness import stable_digits, stable_fraction

CREATIVE_SPACING_DAYS = 21
CREATIVE_LIFETIME_DAYS = 42
WORLD_SPAN_DAYS = 1500  # creatives are planned this far ahead of WORLD_START

# Rough units of each currency per USD, to size budgets and order values in account currency.
USD_PRICE_LEVEL = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 148.0}


@dataclass(frozen=True)
class CampaignTemplate:
    name: str
    objective: str
    daily_budget_usd: float
    cpm: float  # USD per 1000 impressions
    ctr: float  # clicks per impression for a fresh creative
    cvr: float  # store orders per click
    audiences: tuple[str, str]
    start_day: int = 0


_TEMPLATES: dict[tuple[str, str], tuple[CampaignTemplate, ...]] = {
    ("dtc", "google_ads"): (
        CampaignTemplate("Brand Search", "SEARCH", 250, 45, 0.12, 0.05, ("Exact", "Phrase")),
        CampaignTemplate(
            "Generic Search - Dresses", "SEARCH", 600, 28, 0.045, 0.026, ("Summer", "Evening")
        ),
        CampaignTemplate(
            "Shopping - All Products", "SHOPPING", 800, 12, 0.011, 0.024, ("Tops", "Bottoms")
        ),
        CampaignTemplate(
            "Performance Max - Bestsellers",
            "PERFORMANCE_MAX",
            700,
            9,
            0.008,
            0.021,
            ("Asset Group A", "Asset Group B"),
            start_day=120,
        ),
    ),
    ("dtc", "meta_ads"): (
        CampaignTemplate(
            "Prospecting - Broad",
            "OUTCOME_SALES",
            900,
            11,
            0.009,
            0.014,
            ("Women 25-44", "Lookalike 1%"),
        ),
        CampaignTemplate(
            "Retargeting - Site Visitors 30d",
            "OUTCOME_SALES",
            300,
            16,
            0.018,
            0.038,
            ("Cart Abandoners", "Product Viewers"),
        ),
        CampaignTemplate(
            "Advantage+ Shopping", "OUTCOME_SALES", 700, 10, 0.011, 0.019, ("Advantage+", "Catalog")
        ),
    ),
    ("saas", "google_ads"): (
        CampaignTemplate("Brand Search", "SEARCH", 120, 60, 0.10, 0.02, ("Exact", "Phrase")),
        CampaignTemplate(
            "Competitor Search", "SEARCH", 300, 80, 0.04, 0.012, ("Legacy Tools", "Challengers")
        ),
        CampaignTemplate(
            "Generic - Invoicing Software",
            "SEARCH",
            400,
            70,
            0.035,
            0.01,
            ("Invoicing", "AP Automation"),
        ),
    ),
    ("saas", "linkedin_ads"): (
        CampaignTemplate(
            "CFO Audience - Lead Gen",
            "LEAD_GENERATION",
            500,
            38,
            0.0065,
            0.02,
            ("CFOs DACH", "CFOs UK"),
        ),
        CampaignTemplate(
            "Website Retargeting",
            "WEBSITE_CONVERSION",
            150,
            30,
            0.01,
            0.03,
            ("Visitors 90d", "Pricing Page"),
        ),
        CampaignTemplate(
            "Thought Leadership - Video",
            "VIDEO_VIEW",
            250,
            22,
            0.004,
            0.008,
            ("Finance Teams", "Founders"),
        ),
    ),
    ("saas", "meta_ads"): (
        CampaignTemplate(
            "Founders Lookalike",
            "OUTCOME_LEADS",
            200,
            9,
            0.01,
            0.006,
            ("Lookalike 2%", "Interests"),
        ),
    ),
}
_TEMPLATES[("dtc", "linkedin_ads")] = _TEMPLATES[("saas", "linkedin_ads")]

_ID_DIGITS = {
    "google_ads": (11, 12, 12),  # campaign, ad group, ad
    "meta_ads": (18, 18, 18),
    "linkedin_ads": (9, 9, 9),
}


@dataclass(frozen=True)
class Campaign:
    index: int
    id: str
    name: str
    objective: str
    start_day: int
    daily_budget: float  # account currency
    cpm: float  # account currency
    ctr: float
    cvr: float
    group_id: str  # LinkedIn campaign group; a stable label elsewhere

    @property
    def utm_campaign(self) -> str:
        """What the account's tracking template writes into utm_campaign."""
        return self.name


@dataclass(frozen=True)
class AdGroup:
    index: int
    id: str
    name: str
    campaign_index: int


@dataclass(frozen=True)
class Ad:
    index: int
    id: str
    name: str
    ad_group_index: int
    campaign_index: int
    start_day: int
    end_day: int  # exclusive


@dataclass(frozen=True, eq=False)
class AdAccount:
    """One tenant's account on one ad platform, with flat arrays for vectorised days.

    Compared and hashed by identity: `build_account` returns one instance per account.
    """

    tenant_id: str
    platform: str
    account_id: str
    currency: str
    timezone: str
    campaigns: tuple[Campaign, ...]
    ad_groups: tuple[AdGroup, ...]
    ads: tuple[Ad, ...]
    ad_start: np.ndarray
    ad_end: np.ndarray
    ad_campaign: np.ndarray
    ad_weight: np.ndarray
    outage_offset: int

    def active_ads(self, day: int) -> np.ndarray:
        """Indices of ads delivering on world day `day`."""
        campaign_start = np.array([c.start_day for c in self.campaigns])[self.ad_campaign]
        mask = (self.ad_start <= day) & (day < self.ad_end) & (campaign_start <= day)
        return np.flatnonzero(mask)

    def is_outage(self, day: int) -> bool:
        """A day the account delivered nothing (billing hold): one every 97 days."""
        return (day + self.outage_offset) % 97 == 0

    def existing_ads(self, day: int) -> list[Ad]:
        """Ads created on or before world day `day` (what the API lists on that day)."""
        return [
            ad
            for ad in self.ads
            if ad.start_day <= day and self.campaigns[ad.campaign_index].start_day <= day
        ]


@lru_cache(maxsize=4096)
def build_account(
    tenant_id: str,
    platform: str,
    account_id: str,
    business: str,
    currency: str,
    timezone: str,
    scale: float,
) -> AdAccount:
    """The deterministic account of `tenant_id` on `platform`."""
    templates = _TEMPLATES[(business, platform)]
    campaign_digits, group_digits, ad_digits = _ID_DIGITS[platform]
    price_level = USD_PRICE_LEVEL.get(currency, 1.0)
    campaigns, ad_groups, ads = [], [], []
    for c_index, template in enumerate(templates):
        campaign_id = stable_digits(campaign_digits, tenant_id, platform, "campaign", c_index)
        campaigns.append(
            Campaign(
                index=c_index,
                id=campaign_id,
                name=template.name,
                objective=template.objective,
                start_day=template.start_day,
                daily_budget=round(template.daily_budget_usd * scale * price_level, 2),
                cpm=template.cpm * price_level,
                ctr=template.ctr,
                cvr=template.cvr,
                group_id=stable_digits(9, tenant_id, platform, "group", c_index // 2),
            )
        )
        for g_offset, audience in enumerate(template.audiences):
            g_index = len(ad_groups)
            group_id = stable_digits(group_digits, tenant_id, platform, "adgroup", g_index)
            ad_groups.append(AdGroup(g_index, group_id, f"{template.name} | {audience}", c_index))
            stagger = int(stable_fraction(tenant_id, platform, "stagger", g_index) * 14)
            first_start = template.start_day - CREATIVE_LIFETIME_DAYS + stagger + g_offset * 7
            creative = 0
            start = first_start
            while start < WORLD_SPAN_DAYS:
                a_index = len(ads)
                ads.append(
                    Ad(
                        index=a_index,
                        id=stable_digits(ad_digits, tenant_id, platform, "ad", a_index),
                        name=f"{audience} - Creative {creative + 1:02d}",
                        ad_group_index=g_index,
                        campaign_index=c_index,
                        start_day=max(start, template.start_day),
                        end_day=start + CREATIVE_LIFETIME_DAYS,
                    )
                )
                creative += 1
                start += CREATIVE_SPACING_DAYS
    weights = np.array(
        [0.6 + 0.8 * stable_fraction(tenant_id, platform, "weight", a.index) for a in ads]
    )
    return AdAccount(
        tenant_id=tenant_id,
        platform=platform,
        account_id=account_id,
        currency=currency,
        timezone=timezone,
        campaigns=tuple(campaigns),
        ad_groups=tuple(ad_groups),
        ads=tuple(ads),
        ad_start=np.array([a.start_day for a in ads]),
        ad_end=np.array([a.end_day for a in ads]),
        ad_campaign=np.array([a.campaign_index for a in ads]),
        ad_weight=weights,
        outage_offset=int(stable_fraction(tenant_id, platform, "outage") * 97),
    )
