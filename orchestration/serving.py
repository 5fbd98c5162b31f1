"""The serving snapshot asset: once a tenant's marts are built, publish them for the app.

`serving/tenant_snapshot`, partitioned by tenant, depends on every model of the marts layer
(read from the dbt manifest). Materialising a partition exports that tenant's rows of each mart
to Parquet as a new version under `AYA_DATA_DIR/serving/<tenant>/` and switches its `CURRENT`
pointer (`aya.snapshots`), recording when each of the tenant's sources last loaded completely.
It reads the warehouse, so it holds the warehouse lock and the `warehouse` pool. A tenant whose
run fails before this step keeps serving its previous version; `sensors` marks it stale.
"""

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, asset

from aya.snapshots import publish_snapshot
from aya.warehouse import last_successful_loads, read_only_warehouse
from orchestration.dbt_models import serving_models
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
    description="Each tenant's marts as an immutable Parquet version under "
    "AYA_DATA_DIR/serving/<tenant>/, served through its CURRENT pointer (aya/snapshots.py).",
)
def tenant_snapshot(context: AssetExecutionContext) -> MaterializeResult:
    tables = {name: relation for name, (_, relation) in serving_models().items()}
    with read_only_warehouse() as warehouse:
        manifests = [
            publish_snapshot(
                tenant_id=tenant,
                warehouse=warehouse,
                tables=tables,
                data_as_of=last_successful_loads(warehouse, tenant),
                run_id=context.run.run_id,
            )
            for tenant in context.partition_keys
        ]
    return MaterializeResult(
        metadata={
            "versions": {m["tenant_id"]: m["version"] for m in manifests},
            "rows": {
                m["tenant_id"]: {name: t["rows"] for name, t in m["tables"].items()}
                for m in manifests
            },
            "data_as_of": {m["tenant_id"]: m["data_as_of"] for m in manifests},
        }
    )
