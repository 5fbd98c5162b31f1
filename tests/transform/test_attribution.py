"""Multi-touch attribution: exact credit and revenue per order and model, per tenant's settings.

Property tests draw random journeys for two tenants with their own lookback and half-life and
check every model's contract against a plain-Python reading of it; worked examples pin exact
credits and cents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from transform.attribution import (
    ALL_MODELS,
    CREDIT_DTYPE,
    REVENUE_DTYPE,
    UNATTRIBUTED_CHANNEL,
    attribute,
)

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
CREDIT_UNIT = Decimal("1E-10")
TENANTS = ("acme", "globex")
property_test = hypothesis_settings(deadline=None, max_examples=100)


@dataclass(frozen=True)
class Touch:
    touchpoint_id: str
    touched_at: datetime
    is_direct: bool = False
    channel: str = "paid_search"
    platform: str | None = "google_ads"
    campaign_id: str | None = None


@dataclass(frozen=True)
class Order:
    tenant_id: str
    order_id: str
    ordered_at: datetime
    revenue: Decimal
    touches: tuple[Touch, ...] = ()


@dataclass(frozen=True)
class Setting:
    lookback_days: int
    half_life_days: float


@dataclass(frozen=True)
class Scenario:
    orders: tuple[Order, ...]
    settings: dict[str, Setting]
    orphan_touches: tuple[Touch, ...] = ()

    def journey(self, order: Order) -> list[Touch]:
        """The order's eligible touches in journey order, read straight from the contract."""
        lookback = timedelta(days=self.settings[order.tenant_id].lookback_days)
        eligible = [
            touch
            for touch in order.touches
            if touch.touched_at <= order.ordered_at
            and order.ordered_at - touch.touched_at <= lookback
        ]
        return sorted(eligible, key=lambda touch: (touch.touched_at, touch.touchpoint_id))


def input_frames(scenario: Scenario) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    orders = pl.DataFrame(
        [
            (order.tenant_id, order.order_id, order.ordered_at, order.revenue)
            for order in scenario.orders
        ],
        schema={
            "tenant_id": pl.String,
            "order_id": pl.String,
            "ordered_at": pl.Datetime("us", "UTC"),
            "revenue": pl.Decimal(18, 2),
        },
        orient="row",
    )
    touch_rows = [
        (order.tenant_id, order.order_id, touch)
        for order in scenario.orders
        for touch in order.touches
    ] + [("acme", "order-that-does-not-exist", touch) for touch in scenario.orphan_touches]
    touchpoints = pl.DataFrame(
        [
            (
                tenant_id,
                order_id,
                touch.touchpoint_id,
                touch.touched_at,
                touch.channel,
                touch.platform,
                touch.campaign_id,
                touch.is_direct,
            )
            for tenant_id, order_id, touch in reversed(touch_rows)
        ],
        schema={
            "tenant_id": pl.String,
            "order_id": pl.String,
            "touchpoint_id": pl.String,
            "touched_at": pl.Datetime("us", "UTC"),
            "channel": pl.String,
            "platform": pl.String,
            "campaign_id": pl.String,
            "is_direct": pl.Boolean,
        },
        orient="row",
    )
    settings = pl.DataFrame(
        [
            (tenant_id, setting.lookback_days, setting.half_life_days)
            for tenant_id, setting in scenario.settings.items()
        ],
        schema={"tenant_id": pl.String, "lookback_days": pl.Int64, "half_life_days": pl.Float64},
        orient="row",
    )
    return orders, touchpoints, settings


OutputRows = dict[tuple[str, str, str], list[dict]]


def attributed(scenario: Scenario, models: tuple[str, ...] = ALL_MODELS) -> OutputRows:
    """Output rows grouped by (tenant_id, order_id, model), in output order."""
    rows = defaultdict(list)
    for row in attribute(*input_frames(scenario), models=models).iter_rows(named=True):
        rows[row["tenant_id"], row["order_id"], row["model"]].append(row)
    return rows


def credits(rows: list[dict]) -> dict[str | None, Decimal]:
    return {row["touchpoint_id"]: row["credit"] for row in rows}


def revenues(rows: list[dict]) -> dict[str | None, Decimal]:
    return {row["touchpoint_id"]: row["attributed_revenue"] for row in rows}


MINUTES_BEFORE_ORDER = st.one_of(
    st.integers(-3 * 1440, 70 * 1440),  # negative: after the order
    st.sampled_from([0, 1, 60, 1440, 7 * 1440, 30 * 1440, 60 * 1440]),  # ties and boundaries
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    settings = {
        tenant_id: Setting(
            lookback_days=draw(st.integers(1, 60)),
            half_life_days=draw(st.floats(0.25, 30)),
        )
        for tenant_id in TENANTS
    }
    drafts = []
    for number in range(draw(st.integers(1, 6))):
        ordered_at = T0 + timedelta(minutes=draw(st.integers(0, 7 * 1440)))
        touches = [
            (
                ordered_at - timedelta(minutes=minutes),
                draw(st.booleans()),
                draw(st.sampled_from(["paid_search", "paid_social", "email", "direct"])),
            )
            for minutes in draw(st.lists(MINUTES_BEFORE_ORDER, max_size=8))
        ]
        revenue = Decimal(draw(st.integers(-(10**5), 10**10))).scaleb(-2)
        drafts.append((draw(st.sampled_from(TENANTS)), f"o{number}", ordered_at, revenue, touches))
    orphan_times = [
        T0 - timedelta(minutes=m) for m in draw(st.lists(MINUTES_BEFORE_ORDER, max_size=2))
    ]
    touch_count = sum(len(draft[4]) for draft in drafts) + len(orphan_times)
    ids = iter(draw(st.permutations([f"tp{number:03d}" for number in range(touch_count)])))
    orders = tuple(
        Order(
            tenant_id,
            order_id,
            ordered_at,
            revenue,
            tuple(
                Touch(next(ids), touched_at, is_direct, channel, campaign_id=f"c-{channel}")
                for touched_at, is_direct, channel in touches
            ),
        )
        for tenant_id, order_id, ordered_at, revenue, touches in drafts
    )
    orphans = tuple(Touch(next(ids), touched_at) for touched_at in orphan_times)
    return Scenario(orders, settings, orphans)


def attributed_journeys(
    scenario: Scenario,
) -> Iterator[tuple[Order, str, list[Touch], list[dict]]]:
    """(order, model, eligible journey, output rows) for every order with an eligible touch."""
    result = attributed(scenario)
    for order in scenario.orders:
        journey = scenario.journey(order)
        if journey:
            for model in ALL_MODELS:
                yield order, model, journey, result[order.tenant_id, order.order_id, model]


def unattributed_row(order: Order, model: str) -> dict:
    return {
        "tenant_id": order.tenant_id,
        "order_id": order.order_id,
        "ordered_at": order.ordered_at,
        "model": model,
        "touchpoint_id": None,
        "touched_at": None,
        "channel": UNATTRIBUTED_CHANNEL,
        "platform": None,
        "campaign_id": None,
        "credit": Decimal(0),
        "attributed_revenue": Decimal(0),
        "is_attributed": False,
    }


@property_test
@given(scenarios())
def test_credits_sum_to_exactly_one_per_order_and_model_or_the_order_is_unattributed(
    scenario: Scenario,
) -> None:
    result = attributed(scenario)
    for order in scenario.orders:
        for model in ALL_MODELS:
            rows = result[order.tenant_id, order.order_id, model]
            if scenario.journey(order):
                assert sum(row["credit"] for row in rows) == Decimal(1)
                assert all(row["is_attributed"] for row in rows)
            else:
                assert rows == [unattributed_row(order, model)]


@property_test
@given(scenarios())
def test_attributed_revenue_sums_exactly_to_the_order_revenue(scenario: Scenario) -> None:
    for order, _, _, rows in attributed_journeys(scenario):
        assert sum(row["attributed_revenue"] for row in rows) == order.revenue


@property_test
@given(scenarios())
def test_credits_are_non_negative_and_revenue_shares_never_exceed_or_oppose_revenue(
    scenario: Scenario,
) -> None:
    for order, _, _, rows in attributed_journeys(scenario):
        for row in rows:
            assert Decimal(0) <= row["credit"] <= Decimal(1)
            assert abs(row["attributed_revenue"]) <= abs(order.revenue)
            assert row["attributed_revenue"] * order.revenue >= 0


@property_test
@given(scenarios())
def test_each_tenants_lookback_keeps_exactly_the_eligible_touches_in_journey_order(
    scenario: Scenario,
) -> None:
    result = attributed(scenario)
    expected_orders = {(order.tenant_id, order.order_id) for order in scenario.orders}
    assert {(tenant_id, order_id) for tenant_id, order_id, _ in result} == expected_orders
    for _, _, journey, rows in attributed_journeys(scenario):
        assert [
            (row["touchpoint_id"], row["touched_at"], row["channel"], row["campaign_id"])
            for row in rows
        ] == [
            (touch.touchpoint_id, touch.touched_at, touch.channel, touch.campaign_id)
            for touch in journey
        ]


@property_test
@given(scenarios())
def test_click_models_give_the_whole_order_to_one_touch(scenario: Scenario) -> None:
    for order, model, journey, rows in attributed_journeys(scenario):
        non_direct = [touch for touch in journey if not touch.is_direct]
        winner = {
            "first_click": journey[0],
            "last_click": journey[-1],
            "last_non_direct_click": (non_direct or journey)[-1],
        }.get(model)
        if winner:
            assert credits(rows) == {
                touch.touchpoint_id: Decimal(touch == winner) for touch in journey
            }
            assert revenues(rows)[winner.touchpoint_id] == order.revenue


@property_test
@given(scenarios())
def test_linear_credits_are_equal_within_one_unit_of_rounding(scenario: Scenario) -> None:
    for _, model, _, rows in attributed_journeys(scenario):
        if model == "linear":
            shares = [row["credit"] for row in rows]
            assert max(shares) - min(shares) <= CREDIT_UNIT


@property_test
@given(scenarios())
def test_position_based_gives_40_percent_to_each_end_and_splits_20_over_the_middle(
    scenario: Scenario,
) -> None:
    for _, model, journey, rows in attributed_journeys(scenario):
        if model != "position_based":
            continue
        shares = [row["credit"] for row in rows]
        if len(journey) == 1:
            assert shares == [Decimal(1)]
        elif len(journey) == 2:
            assert shares == [Decimal("0.5"), Decimal("0.5")]
        else:
            middle_share = Decimal("0.2") / (len(journey) - 2)
            expected = [Decimal("0.4"), *[middle_share] * (len(journey) - 2), Decimal("0.4")]
            assert all(
                abs(share - exact) <= CREDIT_UNIT
                for share, exact in zip(shares, expected, strict=True)
            )


@property_test
@given(scenarios())
def test_time_decay_halves_credit_per_half_life_and_never_favours_older_touches(
    scenario: Scenario,
) -> None:
    for order, model, journey, rows in attributed_journeys(scenario):
        if model != "time_decay":
            continue
        half_life = timedelta(days=scenario.settings[order.tenant_id].half_life_days)
        ages = [order.ordered_at - touch.touched_at for touch in journey]
        shares = [row["credit"] for row in rows]
        newest_share = shares[ages.index(min(ages))]
        for age, share in zip(ages, shares, strict=True):
            halvings = (age - min(ages)) / half_life
            assert abs(float(share) - float(newest_share) * 0.5**halvings) <= 2.5e-10
        for age_a, share_a in zip(ages, shares, strict=True):
            for age_b, share_b in zip(ages, shares, strict=True):
                if age_a < age_b:
                    assert share_a >= share_b


def single_order(
    *touches: Touch, revenue: str = "100.00", lookback: int = 30, half_life: float = 7.0
) -> Scenario:
    """Tenant acme's order o1 at T0 with the given journey."""
    order = Order("acme", "o1", T0, Decimal(revenue), touches)
    return Scenario((order,), {"acme": Setting(lookback, half_life)})


def days_before_order(days: float) -> datetime:
    return T0 - timedelta(days=days)


def test_a_four_touch_journey_credits_each_model_exactly() -> None:
    scenario = single_order(
        Touch("search", days_before_order(7), channel="paid_search"),
        Touch("social", days_before_order(3), channel="paid_social", platform="meta_ads"),
        Touch("email", days_before_order(1), channel="email", platform=None),
        Touch("direct", days_before_order(0), is_direct=True, channel="direct", platform=None),
    )
    result = attributed(scenario)
    expected = {
        "first_click": ["1", "0", "0", "0"],
        "last_click": ["0", "0", "0", "1"],
        "last_non_direct_click": ["0", "0", "1", "0"],
        "linear": ["0.25", "0.25", "0.25", "0.25"],
        "position_based": ["0.4", "0.1", "0.1", "0.4"],
    }
    for model, shares in expected.items():
        assert credits(result["acme", "o1", model]) == dict(
            zip(["search", "social", "email", "direct"], map(Decimal, shares), strict=True)
        )
    assert revenues(result["acme", "o1", "position_based"]) == {
        "search": Decimal("40.00"),
        "social": Decimal("10.00"),
        "email": Decimal("10.00"),
        "direct": Decimal("40.00"),
    }


def test_linear_gives_the_leftover_unit_and_cent_to_the_earliest_touch() -> None:
    scenario = single_order(
        Touch("a", days_before_order(3)),
        Touch("b", days_before_order(2)),
        Touch("c", days_before_order(1)),
    )
    rows = attributed(scenario)["acme", "o1", "linear"]
    assert credits(rows) == {
        "a": Decimal("0.3333333334"),
        "b": Decimal("0.3333333333"),
        "c": Decimal("0.3333333333"),
    }
    assert revenues(rows) == {"a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}


def test_position_based_over_five_touches_apportions_units_and_cents_by_largest_remainder() -> None:
    scenario = single_order(
        *(Touch(f"t{day}", days_before_order(5 - day)) for day in range(5)), revenue="10.00"
    )
    rows = attributed(scenario)["acme", "o1", "position_based"]
    assert [row["credit"] for row in rows] == [
        Decimal("0.4"),
        Decimal("0.0666666667"),
        Decimal("0.0666666667"),
        Decimal("0.0666666666"),
        Decimal("0.4"),
    ]
    assert [row["attributed_revenue"] for row in rows] == [
        Decimal("4.00"),
        Decimal("0.67"),
        Decimal("0.67"),
        Decimal("0.66"),
        Decimal("4.00"),
    ]


def test_time_decay_weighs_a_touch_one_half_life_older_by_half() -> None:
    scenario = single_order(
        Touch("two_half_lives", days_before_order(14)),
        Touch("one_half_life", days_before_order(7)),
        Touch("at_order", days_before_order(0)),
        revenue="70.00",
        half_life=7,
    )
    rows = attributed(scenario)["acme", "o1", "time_decay"]
    assert credits(rows) == {  # 1/7, 2/7, 4/7
        "two_half_lives": Decimal("0.1428571429"),
        "one_half_life": Decimal("0.2857142857"),
        "at_order": Decimal("0.5714285714"),
    }
    assert revenues(rows) == {
        "two_half_lives": Decimal("10.00"),
        "one_half_life": Decimal("20.00"),
        "at_order": Decimal("40.00"),
    }


def test_time_decay_stays_exact_when_raw_weights_would_underflow() -> None:
    scenario = single_order(  # 0.5 ** 10_000 is 0.0 in floating point
        Touch("older", days_before_order(150)),
        Touch("newer", days_before_order(100)),
        lookback=180,
        half_life=0.01,
    )
    rows = attributed(scenario)["acme", "o1", "time_decay"]
    assert credits(rows) == {"older": Decimal(0), "newer": Decimal(1)}


def test_last_non_direct_click_falls_back_to_the_last_direct_touch() -> None:
    scenario = single_order(
        Touch("first_direct", days_before_order(2), is_direct=True),
        Touch("last_direct", days_before_order(1), is_direct=True),
    )
    rows = attributed(scenario)["acme", "o1", "last_non_direct_click"]
    assert credits(rows) == {"first_direct": Decimal(0), "last_direct": Decimal(1)}


def test_a_touch_of_unknown_directness_counts_as_direct() -> None:
    orders, touchpoints, settings = input_frames(
        single_order(Touch("search", days_before_order(2)), Touch("unknown", days_before_order(1)))
    )
    touchpoints = touchpoints.with_columns(
        is_direct=pl.when(pl.col("touchpoint_id") == "unknown").then(None).otherwise(False)
    )
    result = attribute(orders, touchpoints, settings, models=("last_non_direct_click",))
    assert dict(zip(result["touchpoint_id"], result["credit"], strict=True)) == {
        "search": Decimal(1),
        "unknown": Decimal(0),
    }


def test_simultaneous_touches_are_ordered_by_touchpoint_id() -> None:
    same_time = days_before_order(1)
    scenario = single_order(Touch("b", same_time), Touch("c", same_time), Touch("a", same_time))
    result = attributed(scenario)
    assert credits(result["acme", "o1", "first_click"])["a"] == 1
    assert credits(result["acme", "o1", "last_click"])["c"] == 1
    assert [row["touchpoint_id"] for row in result["acme", "o1", "linear"]] == ["a", "b", "c"]
    assert credits(result["acme", "o1", "linear"])["a"] == Decimal("0.3333333334")


def test_lookback_includes_its_boundary_and_excludes_older_and_later_touches() -> None:
    microsecond = timedelta(microseconds=1)
    scenario = single_order(
        Touch("too_old", days_before_order(30) - microsecond),
        Touch("at_boundary", days_before_order(30)),
        Touch("at_order", T0),
        Touch("after_order", T0 + microsecond),
        lookback=30,
    )
    rows = attributed(scenario)["acme", "o1", "linear"]
    assert credits(rows) == {"at_boundary": Decimal("0.5"), "at_order": Decimal("0.5")}


def test_each_tenant_uses_its_own_lookback_and_half_life() -> None:
    journey = (Touch("older", days_before_order(10)), Touch("newer", days_before_order(0)))
    scenario = Scenario(
        orders=(
            Order("acme", "o1", T0, Decimal("30.00"), journey),
            Order("globex", "o1", T0, Decimal("30.00"), journey),
            Order("initech", "o1", T0, Decimal("30.00"), journey),
        ),
        settings={
            "acme": Setting(lookback_days=7, half_life_days=7),
            "globex": Setting(lookback_days=30, half_life_days=10),
            "initech": Setting(lookback_days=30, half_life_days=5),
        },
    )
    result = attributed(scenario, models=("time_decay",))
    assert credits(result["acme", "o1", "time_decay"]) == {"newer": Decimal(1)}
    assert credits(result["globex", "o1", "time_decay"]) == {  # weights 1/2 and 1
        "older": Decimal("0.3333333333"),
        "newer": Decimal("0.6666666667"),
    }
    assert credits(result["initech", "o1", "time_decay"]) == {  # weights 1/4 and 1
        "older": Decimal("0.2"),
        "newer": Decimal("0.8"),
    }


def test_orders_without_eligible_touches_are_unattributed_and_orphan_touches_ignored() -> None:
    lonely = Order("acme", "lonely", T0, Decimal("12.50"))
    scenario = Scenario(
        orders=(lonely,),
        settings={"acme": Setting(30, 7.0)},
        orphan_touches=(Touch("orphan", days_before_order(1)),),
    )
    result = attributed(scenario)
    assert dict(result) == {
        ("acme", "lonely", model): [unattributed_row(lonely, model)] for model in ALL_MODELS
    }


def test_negative_revenue_is_split_by_magnitude() -> None:
    scenario = single_order(
        Touch("a", days_before_order(3)),
        Touch("b", days_before_order(2)),
        Touch("c", days_before_order(1)),
        revenue="-1.00",
    )
    rows = attributed(scenario)["acme", "o1", "linear"]
    assert revenues(rows) == {"a": Decimal("-0.34"), "b": Decimal("-0.33"), "c": Decimal("-0.33")}


def test_zoned_and_naive_times_are_compared_as_utc_instants() -> None:
    orders, touchpoints, settings = input_frames(
        single_order(Touch("half_an_hour_before", T0 - timedelta(minutes=30)))
    )
    new_york_orders = orders.with_columns(
        pl.col("ordered_at").dt.convert_time_zone("America/New_York")
    )
    naive_touchpoints = touchpoints.with_columns(pl.col("touched_at").dt.replace_time_zone(None))
    result = attribute(new_york_orders, naive_touchpoints, settings, models=("last_click",))
    assert result["touchpoint_id"].to_list() == ["half_an_hour_before"]
    assert result["ordered_at"].to_list() == [T0]
    assert result.schema["ordered_at"] == pl.Datetime("us", "UTC")


def test_output_has_the_contract_types_and_only_the_models_asked_for() -> None:
    scenario = single_order(Touch("a", days_before_order(1)), Touch("b", days_before_order(0)))
    result = attribute(*input_frames(scenario), models=("time_decay", "first_click"))
    assert result.schema == pl.Schema(
        {
            "tenant_id": pl.String,
            "order_id": pl.String,
            "ordered_at": pl.Datetime("us", "UTC"),
            "model": pl.String,
            "touchpoint_id": pl.String,
            "touched_at": pl.Datetime("us", "UTC"),
            "channel": pl.String,
            "platform": pl.String,
            "campaign_id": pl.String,
            "credit": CREDIT_DTYPE,
            "attributed_revenue": REVENUE_DTYPE,
            "is_attributed": pl.Boolean,
        }
    )
    assert sorted(result["model"].to_list()) == ["first_click"] * 2 + ["time_decay"] * 2


def test_no_orders_give_an_empty_frame_with_the_contract_types() -> None:
    orders, touchpoints, settings = input_frames(single_order(Touch("a", days_before_order(1))))
    result = attribute(orders.clear(), touchpoints, settings)
    assert result.height == 0
    assert result.schema["credit"] == CREDIT_DTYPE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o, t, s: (o, t, s, ("linear", "u_shaped")), "attribution models"),
        (lambda o, t, s: (o, t, s, ()), "attribution models"),
        (lambda o, t, s: (o.drop("revenue"), t, s, ALL_MODELS), r"lacks the columns \['revenue'\]"),
        (
            lambda o, t, s: (o.with_columns(pl.col("revenue").cast(pl.Float64)), t, s, ALL_MODELS),
            "never float",
        ),
        (
            lambda o, t, s: (
                o.with_columns(pl.col("revenue").cast(pl.Decimal(18, 3)) + Decimal("0.001")),
                t,
                s,
                ALL_MODELS,
            ),
            "below whole cents",
        ),
        (lambda o, t, s: (pl.concat([o, o]), t, s, ALL_MODELS), "`orders` repeat"),
        (lambda o, t, s: (o, pl.concat([t, t]), s, ALL_MODELS), "repeat a touchpoint_id"),
        (lambda o, t, s: (o, t, s.clear(), ALL_MODELS), r"missing for tenants \['acme'\]"),
        (
            lambda o, t, s: (o, t, s.with_columns(half_life_days=pl.lit(0.0)), ALL_MODELS),
            "half_life_days > 0",
        ),
    ],
)
def test_inputs_breaking_the_contract_are_refused_with_a_clear_message(change, message) -> None:
    scenario = single_order(Touch("a", days_before_order(1)))
    orders, touchpoints, settings, models = change(*input_frames(scenario))
    with pytest.raises(ValueError, match=message):
        attribute(orders, touchpoints, settings, models=models)
