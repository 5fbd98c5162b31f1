"""Asset checks beyond dbt's tests (which dagster-dbt already turns into asset checks).

Freshness: per source, one check on each of its raw tables, evaluating every tenant that uses
the source (FX: the shared feed): stale when the last complete load (dlt's `_dlt_loads`) is older
than the expected cadence plus grace (`SourceFreshness`), or never happened. The metadata lists
each tenant's last load, so the data team sees which tenant × source is late.

Reconciliation: a model declares, in its dbt `meta`, that its totals per tenant-day must equal a
staging model's (models/README or docs/architecture.md shows the shape):

    meta:
      reconcile:
        - staging_model: stg_shopify__orders
          day: order_date              # the model's day column; staging_day if it differs
          measures:                    # model aggregate: staging aggregate
            sum(orders): count(*)
            sum(net_revenue): sum(net_revenue)
          where: "not is_test"         # optional filters: where, staging_where; tolerance

Each rule is a check `reconciles_with_<staging model>` on the model. It compares every tenant the
staging model currently holds (staging views follow the last dbt run's tenant selection) with
the model's rows for those tenants, day by day, and lists the tenant-days that differ.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from aya.tenants import SourceName, load_registry
from aya.warehouse import last_successful_load, read_only_warehouse
from ingestion.settings import FX_DATASET, FX_SOURCE, dataset_name, warehouse_path
from orchestration.dbt_models import dbt_manifest, model_key
from orchestration.raw import WAREHOUSE_POOL, raw_group, raw_specs
from orchestration.resources import SourceFreshness

FRESHNESS_CHECK = "fresh"
RECONCILE_META_KEY = "reconcile"
MAX_LISTED_MISMATCHES = 20

# --- freshness ----------------------------------------------------------------------------------


def freshness_checks() -> list[AssetChecksDefinition]:
    """One freshness check per source (and FX) over all of its raw tables."""
    return [
        *(_freshness_check(source.value, _tenant_datasets(source)) for source in SourceName),
        _freshness_check(FX_SOURCE, lambda: {"all tenants": FX_DATASET}),
    ]


def _tenant_datasets(source: SourceName) -> Callable[[], dict[str, str]]:
    def datasets() -> dict[str, str]:
        return {
            tenant.id: dataset_name(source.value, tenant.id)
            for tenant in load_registry().tenants
            if source in tenant.sources
        }

    return datasets


def _freshness_check(source: str, datasets: Callable[[], dict[str, str]]) -> AssetChecksDefinition:
    keys = [spec.key for spec in raw_specs(source)]
    specs = [
        AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=key,
            description=f"Every tenant's {source} loaded completely within the expected cadence.",
        )
        for key in keys
    ]

    @multi_asset_check(name=f"{raw_group(source)}_freshness", specs=specs)
    def source_is_fresh(freshness: SourceFreshness) -> Iterator[AssetCheckResult]:
        loads = _last_loads(datasets())
        stale = stale_loads(loads, datetime.now(UTC), freshness)
        metadata = {
            "stale": ", ".join(stale) or "none",
            "last_complete_load": MetadataValue.json(
                {who: at.isoformat() if at else "never" for who, at in loads.items()}
            ),
            "max_age_hours": freshness.max_age.total_seconds() / 3600,
        }
        for key in keys:
            yield AssetCheckResult(
                asset_key=key,
                check_name=FRESHNESS_CHECK,
                passed=not stale,
                severity=AssetCheckSeverity.WARN,
                metadata=metadata,
            )

    return source_is_fresh


def _last_loads(datasets: Mapping[str, str]) -> dict[str, datetime | None]:
    """who → last complete load of their dataset; None for all before the warehouse exists."""
    if not warehouse_path().exists():
        return dict.fromkeys(datasets)
    with read_only_warehouse() as warehouse:
        return {who: last_successful_load(warehouse, ds) for who, ds in datasets.items()}


def stale_loads(
    loads: Mapping[str, datetime | None], now: datetime, freshness: SourceFreshness
) -> list[str]:
    """Who (tenant) never loaded, or last loaded longer ago than the cadence allows."""
    return [who for who, at in loads.items() if at is None or now - at > freshness.max_age]


# --- reconciliation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """A model's totals per tenant-day must equal a staging model's (one `reconcile` entry)."""

    model: str
    staging_model: str
    day: str
    staging_day: str
    measures: Mapping[str, str] = field(default_factory=dict)
    where: str = "true"
    staging_where: str = "true"
    tolerance: float = 0.0

    @property
    def check_name(self) -> str:
        return f"reconciles_with_{self.staging_model}"


def reconciliations(manifest: Mapping[str, Any]) -> list[Reconciliation]:
    """Every `reconcile` rule declared in the meta of the manifest's models."""
    rules = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        meta = {**node.get("meta", {}), **node.get("config", {}).get("meta", {})}
        rules.extend(_rule(node["name"], entry) for entry in meta.get(RECONCILE_META_KEY, []))
    return rules


def _rule(model: str, entry: Mapping[str, Any]) -> Reconciliation:
    try:
        return Reconciliation(
            model=model,
            staging_model=entry["staging_model"],
            day=entry["day"],
            staging_day=entry.get("staging_day", entry["day"]),
            measures=dict(entry["measures"]),
            where=entry.get("where", "true"),
            staging_where=entry.get("staging_where", "true"),
            tolerance=float(entry.get("tolerance", 0)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"model {model}: meta.{RECONCILE_META_KEY} entry {dict(entry)} is invalid ({error}); "
            "it needs staging_model, day and measures (model aggregate: staging aggregate)"
        ) from None


def reconciliation_checks() -> list[AssetChecksDefinition]:
    """One multi-check evaluating every declared rule (none while no model declares one)."""
    nodes = {
        node["name"]: node
        for node in dbt_manifest()["nodes"].values()
        if node["resource_type"] == "model"
    }
    rules = reconciliations(dbt_manifest())
    if not rules:
        return []
    specs = [
        AssetCheckSpec(
            rule.check_name,
            asset=model_key(nodes[rule.model]),
            additional_deps=[model_key(nodes[rule.staging_model])],
            description=f"Totals per tenant-day equal {rule.staging_model}'s.",
        )
        for rule in rules
    ]

    @multi_asset_check(name="reconciliation", specs=specs, pool=WAREHOUSE_POOL)
    def reconcile() -> Iterator[AssetCheckResult]:
        with read_only_warehouse() as warehouse:
            for rule in rules:
                model, staging = nodes[rule.model], nodes[rule.staging_model]
                mismatches, tenants = reconciliation_mismatches(
                    warehouse, rule, model["relation_name"], staging["relation_name"]
                )
                yield _reconciliation_result(rule, model_key(model), mismatches, tenants)

    return [reconcile]


def reconciliation_mismatches(
    connection: duckdb.DuckDBPyConnection, rule: Reconciliation, relation: str, staging: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """(tenant-days whose totals differ, tenants compared): the tenants `staging` holds."""
    aggregates = list(rule.measures.items())
    model_columns = ", ".join(f"{mine} as m{i}" for i, (mine, _) in enumerate(aggregates))
    staging_columns = ", ".join(f"{theirs} as m{i}" for i, (_, theirs) in enumerate(aggregates))
    differs = " or ".join(
        f"abs(cast(coalesce(model.m{i}, 0) as double) - cast(coalesce(staging.m{i}, 0) as double))"
        f" > {rule.tolerance}"
        for i in range(len(aggregates))
    )
    values = ", ".join(
        f"model.m{i} as {_label('model', mine)}, staging.m{i} as {_label('staging', theirs)}"
        for i, (mine, theirs) in enumerate(aggregates)
    )
    tenants = [
        tenant
        for (tenant,) in connection.sql(
            f"select distinct tenant_id from {staging} where {rule.staging_where} order by 1"
        ).fetchall()
    ]
    mismatches = connection.sql(
        f"""
        with staging as (
            select tenant_id, {rule.staging_day} as day, {staging_columns}
            from {staging} where {rule.staging_where} group by all
        ),
        model as (
            select tenant_id, {rule.day} as day, {model_columns}
            from {relation}
            where ({rule.where}) and tenant_id in (select tenant_id from staging)
            group by all
        )
        select coalesce(model.tenant_id, staging.tenant_id) as tenant_id,
            coalesce(model.day, staging.day) as day, {values}
        from model full outer join staging
            on model.tenant_id = staging.tenant_id and model.day = staging.day
        where {differs}
        order by tenant_id, day
        """
    )
    columns = mismatches.columns
    return [dict(zip(columns, row, strict=True)) for row in mismatches.fetchall()], tenants


def _label(side: str, aggregate: str) -> str:
    return '"' + f"{side}: {aggregate}".replace('"', "'") + '"'


def _reconciliation_result(
    rule: Reconciliation, key: AssetKey, mismatches: Sequence[dict[str, Any]], tenants: list[str]
) -> AssetCheckResult:
    listed = [{k: str(v) for k, v in row.items()} for row in mismatches[:MAX_LISTED_MISMATCHES]]
    return AssetCheckResult(
        asset_key=key,
        check_name=rule.check_name,
        passed=not mismatches,
        metadata={
            "tenants_compared": ", ".join(tenants) or "none",
            "mismatched_tenant_days": len(mismatches),
            "first_mismatches": MetadataValue.json(listed),
        },
    )
