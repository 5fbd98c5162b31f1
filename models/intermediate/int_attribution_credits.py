"""Multi-touch attribution of every order: one row per order × eligible touchpoint × model.

Reads the orders (int_revenue__orders: Shopify orders and Stripe payments, with net revenue
in the reporting currency rounded half-even to its minor unit per order), their touchpoints
(int_touchpoints) and each tenant's lookback and time-decay half-life (stg_registry__tenants),
and hands them to `transform.attribution.attribute`, which owns the models and their exact
arithmetic (credits sum to exactly 1 and attributed revenue to exactly the order's revenue;
an order without an eligible touch gets one unattributed row per model). The attribution key
of an order is "<source>:<order_id>", so ids of two sources can never collide. A run limited
by the `tenants` var attributes only those tenants (the table then holds only them; the mart
fct_attribution_credits keeps the others).
"""

import polars as pl

from transform.attribution import ALL_MODELS, attribute

KEY_SEPARATOR = ":"
# round_money's CASE, for a relation (Python models cannot call macros): half-even to the
# reporting currency's minor unit; attribution needs whole cents, so 3-decimal currencies
# are refused by transform.attribution with a clear error.
ROUNDED_REVENUE = """
    case minor_unit_exponent
        when 0 then round_even(net_revenue_reporting, 0)
        when 1 then round_even(net_revenue_reporting, 1)
        when 2 then round_even(net_revenue_reporting, 2)
        when 3 then round_even(net_revenue_reporting, 3)
    end
"""


def selected_tenant_ids(dbt) -> list[str]:
    """The tenants the run is limited to (config `selected_tenants`, from the `tenants` var)."""
    selected = dbt.config.get("selected_tenants") or ""
    return sorted({tenant.strip() for tenant in selected.split(",") if tenant.strip()})


def tenant_predicate(tenants: list[str], column: str = "tenant_id") -> str:
    """SQL predicate keeping `tenants` (every tenant when the list is empty); ids are slugs."""
    if not tenants:
        return "true"
    return f"{column} in ({', '.join(repr(tenant) for tenant in tenants)})"


def order_key() -> pl.Expr:
    """An order's attribution key, unique within a tenant across sources."""
    return pl.concat_str(pl.col("source"), pl.lit(KEY_SEPARATOR), pl.col("order_id"))


def model(dbt, session):
    dbt.config(materialized="table")
    tenants = tenant_predicate(selected_tenant_ids(dbt))

    orders = (
        dbt.ref("int_revenue__orders")
        .set_alias("orders")
        .join(
            dbt.ref("currencies").set_alias("currencies"),
            "orders.reporting_currency = currencies.currency_code",
            how="left",
        )
        .filter(tenants)
        .query(
            "orders_with_currency",
            f"""select tenant_id, source, order_id, ordered_at, {ROUNDED_REVENUE} as revenue
                from orders_with_currency""",
        )
        .pl()
    )
    touchpoints = (
        dbt.ref("int_touchpoints")
        .filter(tenants)
        .select(
            "tenant_id, source, order_id, touchpoint_id, touched_at, channel, platform, "
            "campaign_id, is_direct"
        )
        .pl()
    )
    settings = (
        dbt.ref("stg_registry__tenants")
        .filter(tenants)
        .select(
            "tenant_id, attribution_lookback_days as lookback_days, "
            "attribution_half_life_days as half_life_days"
        )
        .pl()
    )

    keyed_orders = orders.with_columns(order_key().alias("key"))
    credits = attribute(
        keyed_orders.select("tenant_id", pl.col("key").alias("order_id"), "ordered_at", "revenue"),
        touchpoints.with_columns(order_key().alias("order_id")),
        settings,
        ALL_MODELS,
    )
    keys = keyed_orders.select("tenant_id", "source", "order_id", "key")
    return (
        credits.rename({"order_id": "key"})
        .join(keys, on=["tenant_id", "key"], how="inner")
        .select(
            "tenant_id",
            "source",
            "order_id",
            "ordered_at",
            pl.col("model").alias("attribution_model"),
            "touchpoint_id",
            "touched_at",
            "channel",
            "platform",
            "campaign_id",
            "credit",
            "attributed_revenue",
            "is_attributed",
        )
        .sort("tenant_id", "source", "order_id", "attribution_model", "touched_at")
    )
