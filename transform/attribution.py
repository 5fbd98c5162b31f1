"""Multi-touch attribution: how each store order's credit and revenue split over its journey.

This module owns the attribution models of the warehouse (first click, last click, last
non-direct click, linear, time decay and position based) as pure Polars functions, DataFrame in
and DataFrame out, with no I/O. The dbt Python model of the attribution mart calls `attribute`
with frames it read from DuckDB and returns the frame it gets back. Credits and revenue are exact:
for every order and model the credits sum to exactly 1 and the attributed revenue to exactly the
order's revenue, both apportioned by the largest-remainder method.

Inputs (the contract):

- `orders`, one row per (tenant_id, order_id): tenant_id str, order_id str, ordered_at datetime
  (UTC; a zone-aware column is converted to UTC, a naive one is read as UTC), revenue Decimal or
  integer, the order's net revenue in reporting currency in whole cents (may be 0 or negative).
- `touchpoints`, the visits of each order's journey: tenant_id str, order_id str, touchpoint_id
  str (unique within a tenant), touched_at datetime (UTC, as ordered_at), channel str, platform
  str or null, campaign_id str or null, is_direct bool (null counts as direct). Touchpoints of an
  order missing from `orders`, or without touched_at, are ignored.
- `settings`, one row per tenant of `orders`: tenant_id str, lookback_days int >= 0,
  half_life_days number > 0 (time decay).

A touch is eligible for its order when touched_at <= ordered_at and ordered_at - touched_at <=
lookback_days. Journeys are ordered by (touched_at, touchpoint_id), which also breaks every tie.
Models: first_click, last_click, last_non_direct_click (the last touch that is not direct, else
the last touch), linear, time_decay (weight 2^-(age / half-life)) and position_based (40% to
the first and last touch, 20% split over the middle; one touch gets all, two get half each).

Output of `attribute`: one row per order x eligible touchpoint x model with tenant_id, order_id,
ordered_at, model, touchpoint_id, touched_at, channel, platform, campaign_id, credit
(`CREDIT_DTYPE`), attributed_revenue (`REVENUE_DTYPE`, split in proportion to the rounded
credits) and is_attributed (true). An order without an eligible touch gets one row per model
with touchpoint_id, touched_at, platform and campaign_id null, channel `UNATTRIBUTED_CHANNEL`,
credit 0, attributed_revenue 0 and is_attributed false. Rows of one order and model follow its
journey; the order of rows is otherwise meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import polars as pl

ALL_MODELS: tuple[str, ...] = (
    "first_click",
    "last_click",
    "last_non_direct_click",
    "linear",
    "time_decay",
    "position_based",
)
WINNER_TAKES_ALL_MODELS = frozenset({"first_click", "last_click", "last_non_direct_click"})
CREDIT_SCALE = 10
CREDIT_DTYPE = pl.Decimal(18, CREDIT_SCALE)
REVENUE_DTYPE = pl.Decimal(18, 2)
UNATTRIBUTED_CHANNEL = "(unattributed)"

CREDIT_UNITS_PER_ORDER = 10**CREDIT_SCALE
MICROSECONDS_PER_DAY = 86_400_000_000
POSITION_BASED_ENDS_SHARE = 0.4
POSITION_BASED_MIDDLE_SHARE = 0.2

REQUIRED_COLUMNS = {
    "orders": ("tenant_id", "order_id", "ordered_at", "revenue"),
    "touchpoints": (
        "tenant_id",
        "order_id",
        "touchpoint_id",
        "touched_at",
        "channel",
        "platform",
        "campaign_id",
        "is_direct",
    ),
    "settings": ("tenant_id", "lookback_days", "half_life_days"),
}
PER_ORDER = "order_row"
UTC_TIMESTAMP = pl.Datetime("us", "UTC")


def attribute(
    orders: pl.DataFrame,
    touchpoints: pl.DataFrame,
    settings: pl.DataFrame,
    models: Sequence[str] = ALL_MODELS,
) -> pl.DataFrame:
    """Credit and revenue of every order per touchpoint and model (see the module contract)."""
    check_models(models)
    check_inputs(orders, touchpoints, settings)
    conformed_orders = conform_orders(orders)
    journeys = eligible_journeys(  # collected once: every model and the unattributed rows read it
        conformed_orders, conform_touchpoints(touchpoints), settings
    ).collect()
    per_model = [attribute_model(journeys.lazy(), model) for model in models]
    unattributed = unattributed_orders(conformed_orders, journeys.lazy(), models)
    return pl.concat(
        [frame.select(as_output_columns()) for frame in [*per_model, unattributed]]
    ).collect()


def check_models(models: Sequence[str]) -> None:
    """Refuses an empty, repeated or unknown model list."""
    unknown = sorted(set(models) - set(ALL_MODELS))
    if unknown or not models or len(set(models)) != len(models):
        raise ValueError(
            f"attribution models must be distinct names from {list(ALL_MODELS)}, got {list(models)}"
        )


def check_inputs(orders: pl.DataFrame, touchpoints: pl.DataFrame, settings: pl.DataFrame) -> None:
    """Refuses inputs that break the contract, naming the frame, column and a few examples."""
    frames = {"orders": orders, "touchpoints": touchpoints, "settings": settings}
    for name, frame in frames.items():
        missing = [column for column in REQUIRED_COLUMNS[name] if column not in frame.columns]
        if missing:
            raise ValueError(f"attribution input `{name}` lacks the columns {missing}")
    revenue_dtype = orders.schema["revenue"]
    if not (revenue_dtype.is_decimal() or revenue_dtype.is_integer()):
        raise ValueError(
            f"attribution input orders.revenue must be Decimal (never float), got {revenue_dtype}"
        )
    refuse_rows(orders, pl.struct("tenant_id", "order_id").is_duplicated(), "orders", "repeat")
    refuse_rows(orders, pl.col("ordered_at").is_null(), "orders", "have no ordered_at")
    refuse_rows(orders, pl.col("revenue").is_null(), "orders", "have no revenue")
    refuse_rows(
        orders, (pl.col("revenue") * 100) % 1 != 0, "orders", "have revenue below whole cents"
    )
    refuse_rows(
        touchpoints,
        pl.struct("tenant_id", "touchpoint_id").is_duplicated(),
        "touchpoints",
        "repeat a touchpoint_id",
    )
    refuse_rows(settings, pl.col("tenant_id").is_duplicated(), "settings", "repeat a tenant")
    refuse_rows(
        settings,
        ~((pl.col("lookback_days") >= 0) & (pl.col("half_life_days") > 0)).fill_null(True),
        "settings",
        "need lookback_days >= 0 and half_life_days > 0",
    )
    tenants_without_settings = sorted(
        set(orders["tenant_id"].unique()) - set(settings["tenant_id"].unique())
    )
    if tenants_without_settings:
        raise ValueError(f"attribution settings are missing for tenants {tenants_without_settings}")


def refuse_rows(frame: pl.DataFrame, is_bad: pl.Expr, name: str, problem: str) -> None:
    """Raises when any row of `frame` matches `is_bad`, showing the first few of them."""
    bad = frame.filter(is_bad)
    if bad.height:
        raise ValueError(
            f"{bad.height} rows of attribution input `{name}` {problem}, e.g.:\n{bad.head(3)}"
        )


def as_utc(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The datetime `column` as microsecond UTC timestamps; naive values are taken as UTC."""
    dtype = frame.schema[column]
    if not isinstance(dtype, pl.Datetime):
        raise ValueError(f"attribution input column {column!r} must be a datetime, got {dtype}")
    zoned = (
        pl.col(column).dt.convert_time_zone("UTC")
        if dtype.time_zone
        else pl.col(column).dt.replace_time_zone("UTC")
    )
    return zoned.cast(UTC_TIMESTAMP)


def conform_orders(orders: pl.DataFrame) -> pl.LazyFrame:
    """Orders numbered in input order, with UTC times and revenue as integer cents."""
    return (
        orders.lazy()
        .select(
            pl.col("tenant_id").cast(pl.String),
            pl.col("order_id").cast(pl.String),
            as_utc(orders, "ordered_at"),
            (pl.col("revenue") * 100).cast(pl.Int64).alias("revenue_cents"),
        )
        .with_row_index("order_row")
    )


def conform_touchpoints(touchpoints: pl.DataFrame) -> pl.LazyFrame:
    """Touchpoints with the contract's columns, types and UTC times."""
    strings = ("tenant_id", "order_id", "touchpoint_id", "channel", "platform", "campaign_id")
    return touchpoints.lazy().select(
        *(pl.col(column).cast(pl.String) for column in strings),
        as_utc(touchpoints, "touched_at"),
        pl.col("is_direct").cast(pl.Boolean).fill_null(True),
    )


def eligible_journeys(
    orders: pl.LazyFrame, touchpoints: pl.LazyFrame, settings: pl.DataFrame
) -> pl.LazyFrame:
    """Eligible touches of each order in journey order, with what the models need to know."""
    age = pl.col("ordered_at") - pl.col("touched_at")
    age_microseconds = age.dt.total_microseconds()
    lookback_microseconds = pl.col("lookback_days").cast(pl.Int64) * MICROSECONDS_PER_DAY
    position = pl.col("touch_position")
    return (
        touchpoints.join(orders, on=["tenant_id", "order_id"], how="inner")
        .join(
            settings.lazy().select(
                pl.col("tenant_id").cast(pl.String),
                "lookback_days",
                pl.col("half_life_days").cast(pl.Float64),
            ),
            on="tenant_id",
            how="inner",
        )
        .filter(age_microseconds >= 0, age_microseconds <= lookback_microseconds)
        .sort("order_row", "touched_at", "touchpoint_id")
        .with_columns(
            age_microseconds.alias("age_microseconds"),
            pl.int_range(pl.len(), dtype=pl.Int64).over(PER_ORDER).alias("touch_position"),
            pl.len().over(PER_ORDER).cast(pl.Int64).alias("touch_count"),
        )
        .with_columns(
            pl.col("age_microseconds").min().over(PER_ORDER).alias("newest_age_microseconds"),
            pl.when(~pl.col("is_direct"))
            .then(position)
            .max()
            .over(PER_ORDER)
            .fill_null(pl.col("touch_count") - 1)
            .alias("last_non_direct_position"),
        )
    )


def model_weight(model: str) -> pl.Expr:
    """The unnormalised weight `model` gives a touch of an eligible journey."""
    position = pl.col("touch_position")
    count = pl.col("touch_count")
    is_end = (position == 0) | (position == count - 1)
    half_lives_older_than_newest = (
        pl.col("age_microseconds") - pl.col("newest_age_microseconds")
    ) / (pl.col("half_life_days") * MICROSECONDS_PER_DAY)
    weights = {
        "first_click": position == 0,
        "last_click": position == count - 1,
        "last_non_direct_click": position == pl.col("last_non_direct_position"),
        "linear": pl.lit(1.0),
        "time_decay": pl.lit(0.5).pow(half_lives_older_than_newest),
        "position_based": pl.when(count <= 2)
        .then(1.0)
        .when(is_end)
        .then(POSITION_BASED_ENDS_SHARE)
        .otherwise(POSITION_BASED_MIDDLE_SHARE / (count - 2)),
    }
    return weights[model].cast(pl.Float64)


def attribute_model(journeys: pl.LazyFrame, model: str) -> pl.LazyFrame:
    """Every eligible touch with the credit units and revenue cents `model` gives it."""
    weighted = journeys.with_columns(
        pl.lit(model).alias("model"),
        model_weight(model).alias("weight"),
        pl.lit(True).alias("is_attributed"),
    )
    if model in WINNER_TAKES_ALL_MODELS:
        return give_all_to_winner(weighted)
    return allocate_revenue(apportion_credit(weighted))


def give_all_to_winner(weighted: pl.LazyFrame) -> pl.LazyFrame:
    """Credit units and cents of a click model: the whole order to its touch of weight 1."""
    is_winner = pl.col("weight").cast(pl.Int64)
    return weighted.with_columns(
        (is_winner * CREDIT_UNITS_PER_ORDER).alias("credit_units"),
        (is_winner * pl.col("revenue_cents")).alias("attributed_cents"),
    )


def largest_remainder_bonus(remainder: pl.Expr, shortfall: pl.Expr) -> pl.Expr:
    """1 for the `shortfall` touches of an order with the largest `remainder`, else 0.

    Equal remainders go to the earlier touch, because the frame is in journey order and an
    ordinal rank keeps that order among ties.
    """
    rank = remainder.rank("ordinal", descending=True).over(PER_ORDER)
    return (rank <= shortfall).cast(pl.Int64)


def apportion_credit(weighted: pl.LazyFrame) -> pl.LazyFrame:
    """Adds `credit_units`, the touch's `weight` as a share of its order in 10^-CREDIT_SCALE.

    The exact share is floored to units and the units still missing to make the order's total
    go one each to the touches with the largest fractional remainders.
    """
    weight_total = pl.col("weight").sum().over(PER_ORDER)
    exact_units = pl.col("weight") / weight_total * CREDIT_UNITS_PER_ORDER
    floor_units = pl.col("floor_units")
    shortfall = CREDIT_UNITS_PER_ORDER - floor_units.sum().over(PER_ORDER)
    return weighted.with_columns(
        exact_units.alias("exact_units"),
        exact_units.floor().cast(pl.Int64).alias("floor_units"),
    ).with_columns(
        (
            floor_units + largest_remainder_bonus(pl.col("exact_units") - floor_units, shortfall)
        ).alias("credit_units")
    )


def allocate_revenue(credited: pl.LazyFrame) -> pl.LazyFrame:
    """Adds `attributed_cents`: the order's revenue cents split in proportion to credit_units.

    Exact in integers: each touch gets the floor of its share and the cents still missing go
    one each to the touches with the largest remainders. Negative revenue is split by magnitude.
    """
    revenue_cents = pl.col("revenue_cents")
    exact_share = revenue_cents.abs().cast(pl.Int128) * pl.col("credit_units")
    floor_cents = pl.col("floor_cents")
    shortfall = revenue_cents.abs() - floor_cents.sum().over(PER_ORDER)
    return credited.with_columns(
        (exact_share // CREDIT_UNITS_PER_ORDER).cast(pl.Int64).alias("floor_cents"),
        (exact_share % CREDIT_UNITS_PER_ORDER).cast(pl.Int64).alias("remainder"),
    ).with_columns(
        (
            (floor_cents + largest_remainder_bonus(pl.col("remainder"), shortfall))
            * revenue_cents.sign()
        ).alias("attributed_cents")
    )


def unattributed_orders(
    orders: pl.LazyFrame, journeys: pl.LazyFrame, models: Sequence[str]
) -> pl.LazyFrame:
    """One row per model for each order without an eligible touch, with zero credit."""
    models_frame = pl.LazyFrame({"model": list(models)})
    return (
        orders.join(journeys.select("order_row").unique(), on="order_row", how="anti")
        .join(models_frame, how="cross")
        .with_columns(
            pl.lit(None, dtype=pl.String).alias("touchpoint_id"),
            pl.lit(None, dtype=UTC_TIMESTAMP).alias("touched_at"),
            pl.lit(UNATTRIBUTED_CHANNEL).alias("channel"),
            pl.lit(None, dtype=pl.String).alias("platform"),
            pl.lit(None, dtype=pl.String).alias("campaign_id"),
            pl.lit(0, dtype=pl.Int64).alias("credit_units"),
            pl.lit(0, dtype=pl.Int64).alias("attributed_cents"),
            pl.lit(False).alias("is_attributed"),
        )
    )


def as_output_columns() -> list[pl.Expr | str]:
    """The output contract's columns, with integer units turned into exact decimals."""
    credit_unit = pl.lit(Decimal(1).scaleb(-CREDIT_SCALE))
    cent = pl.lit(Decimal("0.01"))
    return [
        "tenant_id",
        "order_id",
        "ordered_at",
        "model",
        "touchpoint_id",
        "touched_at",
        "channel",
        "platform",
        "campaign_id",
        (pl.col("credit_units").cast(pl.Decimal(38, 0)) * credit_unit)
        .cast(CREDIT_DTYPE)
        .alias("credit"),
        (pl.col("attributed_cents").cast(pl.Decimal(38, 0)) * cent)
        .cast(REVENUE_DTYPE)
        .alias("attributed_revenue"),
        "is_attributed",
    ]
