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

Tenants are attributed in batches, so memory does not grow with the number of tenants or days:
a batch is consecutive tenants (by tenant_id) with at most BATCH_INPUT_ROWS orders + touchpoints
together (a larger tenant is a batch of its own; attribution is per order, so a tenant is never
split). Batches are sized by rows, not by a number of tenants, because tenants differ a lot: a
Stripe-only tenant has no journeys, a shop's year is ~170k rows and grows with its history.
Each batch's credits are appended, sorted by tenant_id, source, order_id, attribution_model,
touched_at and touchpoint_id, to the scratch table `<this>__batches` through `session`; the model
returns that table as a DuckDB relation, which dbt-duckdb copies into the model's table inside
DuckDB (insertion order is kept, so the table is in that order), and the model's post_hook
(_int_revenue__models.yml) drops the scratch table.
"""

import polars as pl

from transform.attribution import ALL_MODELS, attribute

KEY_SEPARATOR = ":"
# Orders + touchpoints attributed at once. The model's peak memory grows ~2.6 GiB per million
# input rows (40 tenants x 365 days, 3.9M rows: 10.4 GiB in one go; 1.3 / 2.7 / 5.3 GiB in
# batches of 0.25 / 1 / 2M rows, for the same CPU time), so 1M rows (~6 shop-years) keeps it
# under 3 GiB next to the models dbt runs meanwhile.
BATCH_INPUT_ROWS = 1_000_000
SCRATCH_SUFFIX = "__batches"
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


def batch_predicate(batch: list[str]) -> str:
    """SQL predicate keeping exactly the tenants of `batch` (none when it is empty)."""
    return tenant_predicate(batch) if batch else "false"


def tenant_batches(rows_per_tenant: list[tuple[str, int]], budget: int) -> list[list[str]]:
    """Consecutive tenants (sorted by id) grouped so a batch holds at most `budget` rows, or
    one tenant above it; at least one (maybe empty) batch, so the output is always typed."""
    batches: list[list[str]] = [[]]
    batch_rows = 0
    for tenant, rows in sorted(rows_per_tenant):
        if batches[-1] and batch_rows + rows > budget:
            batches.append([])
            batch_rows = 0
        batches[-1].append(tenant)
        batch_rows += rows
    return batches


def order_key() -> pl.Expr:
    """An order's attribution key, unique within a tenant across sources."""
    return pl.concat_str(pl.col("source"), pl.lit(KEY_SEPARATOR), pl.col("order_id"))


def quoted(*parts: str) -> str:
    """A qualified DuckDB identifier: "database"."schema"."table"."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def attribute_batch(orders, touchpoints, settings) -> pl.DataFrame:
    """Credits of the orders of the given (filtered) relations, in the table's row order."""
    keyed_orders = orders.pl().with_columns(order_key().alias("key"))
    credits = attribute(
        keyed_orders.select("tenant_id", pl.col("key").alias("order_id"), "ordered_at", "revenue"),
        touchpoints.pl().with_columns(order_key().alias("order_id")),
        settings.pl(),
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
        .sort("tenant_id", "source", "order_id", "attribution_model", "touched_at", "touchpoint_id")
    )


def model(dbt, session):
    dbt.config(materialized="table")  # the yml's post_hook drops the scratch table
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
    )
    touchpoints = (
        dbt.ref("int_touchpoints")
        .filter(tenants)
        .select(
            "tenant_id, source, order_id, touchpoint_id, touched_at, channel, platform, "
            "campaign_id, is_direct"
        )
    )
    settings = (
        dbt.ref("stg_registry__tenants")
        .filter(tenants)
        .select(
            "tenant_id, attribution_lookback_days as lookback_days, "
            "attribution_half_life_days as half_life_days"
        )
    )
    touchpoints_per_tenant = dict(touchpoints.aggregate("tenant_id, count(*)").fetchall())
    rows_per_tenant = [  # tenants without orders have no credits
        (tenant, orders_count + touchpoints_per_tenant.get(tenant, 0))
        for tenant, orders_count in orders.aggregate("tenant_id, count(*)").fetchall()
    ]

    scratch = quoted(dbt.this.database, dbt.this.schema, dbt.this.identifier + SCRATCH_SUFFIX)
    frame_name = dbt.this.identifier + "__batch_frame"
    for index, batch in enumerate(tenant_batches(rows_per_tenant, BATCH_INPUT_ROWS)):
        predicate = batch_predicate(batch)
        credits = attribute_batch(
            orders.filter(predicate), touchpoints.filter(predicate), settings.filter(predicate)
        )
        session.register(frame_name, credits)
        if index == 0:
            session.execute(f"create or replace table {scratch} as select * from {frame_name}")
        else:
            session.execute(f"insert into {scratch} by name select * from {frame_name}")
        session.unregister(frame_name)
        del credits  # before the next batch is attributed, so two never share memory
    return session.sql(f"select * from {scratch}")
