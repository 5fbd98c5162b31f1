"""The serving snapshot asset: once a tenant's marts are built, publish them for the app.

`serving/tenant_snapshot`, partitioned by tenant, depends on every model of the marts layer
(read from the dbt manifest). Materialising a partition exports that tenant's rows of each mart
to Parquet as a new version under `AYA_DATA_DIR/serving/<tenant>/` and switches its `CURRENT`
pointer (`aya.snapshots`), recording when each of the tenant's sources last loaded completely;
each published tenant gets its own materialization, with its version and row counts. It reads
the warehouse, so it holds the warehouse lock and the `warehouse` pool.

A tenant whose ingestion failed keeps serving its previous version, which the failure sensor
marks stale: its run fails before this step, or, in the nightly build over many tenants, the run
lists it under `aya/hold_snapshot` (`nightly`) and this step skips it.
"""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    BackfillPolicy,
    MetadataValue,
    asset,
)

from aya.snapshots import publish_snapshot
from aya.warehouse import last_successful_loads, read_only_warehouse
from orchestration.dbt_models import serving_models
from orchestration.nightly import held_tenants
from orchestration.partitions import TENANTS
from orchestration.raw import WAREHOUSE_POOL

SNAPSHOT_KEY = AssetKey(["serving", "tenant_snapshot"])


@asset(
    key=SNAPSHOT_KEY,
    group_name="serving",
    deps=[key for key, _ in serving_models().values()],
    partitions_def=TENANTS,
    backfill_policy=BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    kinds={"parquet"},
    output_required=False,
    description="Each tenant's marts as an immutable Parquet version under "
    "AYA_DATA_DIR/serving/<tenant>/, served through its CURRENT pointer (aya/snapshots.py).",
)
def tenant_snapshot(context: AssetExecutionContext) -> Iterator[AssetMaterialization]:
    held = held_tenants(context.run)
    if held & set(context.partition_keys):
        context.log.warning(
            f"not publishing {sorted(held)}: their ingestion failed in this refresh, so they keep "
            "serving their previous snapshot (marked stale)"
        )
    tables = {name: relation for name, (_, relation) in serving_models().items()}
    with read_only_warehouse() as warehouse:
        for tenant in context.partition_keys:
            if tenant in held:
                continue
            manifest = publish_snapshot(
                tenant_id=tenant,
                warehouse=warehouse,
                tables=tables,
                data_as_of=last_successful_loads(warehouse, tenant),
                run_id=context.run.run_id,
            )
            yield AssetMaterialization(
                asset_key=SNAPSHOT_KEY,
                partition=tenant,
                metadata={
                    "version": manifest["version"],
                    "rows": MetadataValue.json(
                        {name: table["rows"] for name, table in manifest["tables"].items()}
                    ),
                    "data_as_of": MetadataValue.json(manifest["data_as_of"]),
                },
            )
