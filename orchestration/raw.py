"""Raw assets: one per dlt resource of each connector, `raw/<source>/<resource>`, grouped by source.

dagster-dlt's translator turns each connector's resources into asset specs; the assets do not run
dlt themselves but `ingestion.runner` (through the `Ingestion` resource), which owns retries,
error messages, windows and kill recovery. One multi-asset per source, partitioned by tenant: a
run loads the partition's tenants through their own pipelines (`aya__<source>__<tenant>`) and
reports one materialization per resource table with the rows it wrote, the pages read and the
time taken. A tenant that does not use the source gets a quick no-op materialization marked
`enabled: false`, so its partition is complete and its downstream models still run. A tenant
whose load fails fails the step with the runner's message (tenant, source, endpoint, what to
do). FX rates, shared by all tenants, are one unpartitioned asset.

Specs are derived without network I/O: each connector is built with a placeholder context just
to list its resources (building a connector sends nothing; the Google ones fetch their OAuth
token on the first request).
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from functools import cache

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    multi_asset,
)
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource

from aya.tenants import SourceConfig, SourceName, Tenant, load_registry
from aya.warehouse import read_only_warehouse, rows_loaded_since
from ingestion import fx
from ingestion.context import SourceContext
from ingestion.credentials import REQUIRED_KEYS
from ingestion.progress import SourceRun
from ingestion.runner import connector
from ingestion.settings import FX_DATASET, FX_SOURCE, dataset_name
from orchestration.partitions import TENANTS
from orchestration.resources import Ingestion

WAREHOUSE_POOL = "warehouse"
RAW_PREFIX = "raw"
OFFLINE_URL = "http://offline.invalid"
SPEC_TENANT_ID = "asset_specs"
SPEC_DAY = date(2000, 1, 1)


def raw_asset_key(source: str, resource: str) -> AssetKey:
    return AssetKey([RAW_PREFIX, source, resource])


def raw_group(source: str) -> str:
    return f"{RAW_PREFIX}_{source}"


class RawTableTranslator(DagsterDltTranslator):
    """`raw/<source>/<resource>` in group `raw_<source>`, with no upstream asset."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        resource = data.resource
        source = resource.source_name
        dataset = FX_DATASET if source == FX_SOURCE else dataset_name(source, "<tenant>")
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=raw_asset_key(source, resource.name),
                group_name=raw_group(source),
                deps=[],
                kinds={"dlt", "duckdb"},
                description=f"`{resource.name}` of ingestion/{source}.py, loaded into {dataset}.",
            )
            .merge_attributes(metadata={"dataset": dataset})
        )


# --- specs, built offline -----------------------------------------------------------------------


def source_for_specs(source: str) -> DltSource:
    """The connector's dlt source, built only to list its resources: no request is sent."""
    if source == FX_SOURCE:
        return fx.fx_source(
            fx.FxContext(OFFLINE_URL, (), SourceRun("*", source), SPEC_DAY, SPEC_DAY, False)
        )
    return connector(source)[0](_placeholder_context(source))


def _placeholder_context(source: str) -> SourceContext:
    tenant = Tenant(
        id=SPEC_TENANT_ID,
        display_name="asset specs",
        reporting_currency="EUR",
        timezone="UTC",
        sources={SourceName(source): SourceConfig(account_id="0")},
    )
    return SourceContext(
        tenant=tenant,
        source=source,
        base_url=OFFLINE_URL,
        credentials=dict.fromkeys(REQUIRED_KEYS[source], "unused"),
        run=SourceRun(SPEC_TENANT_ID, source),
        first_day=SPEC_DAY,
        last_day=SPEC_DAY,
        explicit_window=False,
        restatement_days=0,
    )


@cache
def raw_specs(source: str) -> tuple[AssetSpec, ...]:
    """One spec per resource of the connector, through dagster-dlt's translator."""
    translator = RawTableTranslator()
    return tuple(
        translator.get_asset_spec(DltResourceTranslatorData(resource=resource, pipeline=None))
        for resource in source_for_specs(source).selected_resources.values()
    )


# --- assets -------------------------------------------------------------------------------------


def tenant_source_assets(source: str) -> AssetsDefinition:
    """The raw tables of `source`, partitioned by tenant: one run per tenant in backfills."""
    specs = raw_specs(source)

    @multi_asset(
        name=raw_group(source),
        specs=specs,
        partitions_def=TENANTS,
        backfill_policy=BackfillPolicy.multi_run(1),
    )
    def load_source(context: AssetExecutionContext, ingestion: Ingestion) -> Iterator:
        yield from _load_tenants(context.partition_keys, source, specs, ingestion)

    return load_source


def _load_tenants(
    tenant_ids: Sequence[str], source: str, specs: Sequence[AssetSpec], ingestion: Ingestion
) -> Iterator[MaterializeResult]:
    registry = load_registry()
    unknown = sorted(set(tenant_ids) - set(registry.ids))
    if unknown:
        raise Failure(f"tenants {unknown} are not in tenants.yaml (removed?): {registry.ids}")
    enabled = [t for t in tenant_ids if SourceName(source) in registry.get(t).sources]
    started = datetime.now(UTC)
    runs = ingestion.load(enabled, source) if enabled else []
    _fail_on_errors(runs, source)
    rows = _rows_loaded(source, enabled, started) if enabled else {}
    for spec in specs:
        resource = spec.key.path[-1]
        yield MaterializeResult(
            asset_key=spec.key,
            metadata={
                "enabled": bool(enabled),
                "tenants": ", ".join(enabled) or "none uses this source",
                "rows": sum(per_table.get(resource, 0) for per_table in rows.values()),
                **_run_metadata(runs),
            },
        )


def _rows_loaded(source: str, tenant_ids: Sequence[str], since: datetime) -> dict[str, dict]:
    with read_only_warehouse() as warehouse:
        return {
            tenant: rows_loaded_since(warehouse, dataset_name(source, tenant), since)
            for tenant in tenant_ids
        }


def _run_metadata(runs: Sequence[SourceRun]) -> dict[str, int | float]:
    return {
        "pages": sum(run.pages for run in runs),
        "elapsed_seconds": round(max((run.elapsed for run in runs), default=0.0), 3),
    }


def _fail_on_errors(runs: Sequence[SourceRun], source: str) -> None:
    failed = [run for run in runs if run.failed]
    if failed:
        raise Failure(
            description="\n".join(run.error or "" for run in failed),
            metadata={"source": source, "failed_tenants": ", ".join(r.tenant_id for r in failed)},
        )


def fx_assets() -> AssetsDefinition:
    """FX rates shared by every tenant: one unpartitioned load, one writer at a time."""
    specs = raw_specs(FX_SOURCE)

    @multi_asset(name=raw_group(FX_SOURCE), specs=specs, pool=WAREHOUSE_POOL)
    def load_fx(ingestion: Ingestion) -> Iterator[MaterializeResult]:
        started = datetime.now(UTC)
        run = ingestion.load_fx()
        _fail_on_errors([run], FX_SOURCE)
        with read_only_warehouse() as warehouse:
            rows = rows_loaded_since(warehouse, FX_DATASET, started)
        for spec in specs:
            yield MaterializeResult(
                asset_key=spec.key,
                metadata={"rows": rows.get(spec.key.path[-1], 0), **_run_metadata([run])},
            )

    return load_fx


def tenant_raw_assets() -> list[AssetsDefinition]:
    """The raw assets of every tenant source (all but FX)."""
    return [tenant_source_assets(source.value) for source in SourceName]
