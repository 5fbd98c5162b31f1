"""dbt assets: every node of the dbt project at the repo root, keyed and grouped by layer.

Everything is read from the dbt manifest (target/dagster/manifest.json, parsed again at load
whenever a project file is newer), so models that appear later join the graph by themselves: a
model `models/<layer>/.../<name>` is asset `<layer>/<name>` in group `<layer>` (staging,
intermediate, marts...), a seed `seeds/<name>`, dbt Python models included, and dbt tests
become asset checks. A dbt source `<source>.<table>` is the raw asset that loads it:
`raw/<source>/<resource>`, where a dlt child table such as `orders__line_items` belongs to its
resource `orders`.

The assets are partitioned by tenant with a single-run backfill policy: a run over any number of
tenants makes one `dbt build --vars '{tenants: [...]}'` invocation, holding the warehouse lock
(and the `warehouse` pool) while dbt writes; tenants the nightly build holds back (`nightly`)
are left out of it. The marts layer is what serving snapshots publish.
"""

import fcntl
import json
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from aya.tenants import SourceName
from aya.warehouse import warehouse_lock
from ingestion.settings import FX_SOURCE
from orchestration.nightly import HOLD_SNAPSHOT_TAG, held_tenants
from orchestration.partitions import TENANTS
from orchestration.raw import WAREHOUSE_POOL, raw_asset_key, raw_specs

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_LAYER = "seeds"
SERVING_LAYER = "marts"
CONNECTOR_SOURCES = frozenset({*(source.value for source in SourceName), FX_SOURCE})

DBT_PROJECT = DbtProject(project_dir=REPO_ROOT, target_path=Path("target", "dagster"))
DBT_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "macros",
    "seeds",
    "analyses",
    "tests/dbt",
)


def dbt_cli() -> DbtCliResource:
    """dbt of this interpreter's environment, on the project at the repo root."""
    return DbtCliResource(
        project_dir=DBT_PROJECT, dbt_executable=str(Path(sys.executable).with_name("dbt"))
    )


def ensure_fresh_manifest() -> None:
    """`dbt parse` into target/dagster/ when the manifest is missing or older than a model,
    macro, seed or project file; one process at a time (tests run in parallel workers)."""
    lock = DBT_PROJECT.manifest_path.with_name("parse.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if _manifest_is_stale():
            dbt_cli().cli(["parse", "--quiet"], target_path=DBT_PROJECT.target_path).wait()


def _manifest_is_stale() -> bool:
    manifest = DBT_PROJECT.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    inputs = (REPO_ROOT / name for name in DBT_INPUTS)
    files = (f for path in inputs for f in ([path] if path.is_file() else path.rglob("*")))
    return any(f.stat().st_mtime > built for f in files if f.is_file())


ensure_fresh_manifest()


@cache
def dbt_manifest() -> Mapping[str, Any]:
    return json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))


def layer(node: Mapping[str, Any]) -> str:
    """`staging`, `intermediate`, `marts`... (the folder under models/), or `seeds`."""
    if node["resource_type"] == "seed":
        return SEED_LAYER
    return node["fqn"][1]


def model_key(node: Mapping[str, Any]) -> AssetKey:
    return AssetKey([layer(node), node["name"]])


@cache
def _resources_of(source: str) -> tuple[str, ...]:
    """The connector's resource names, longest first (so a child table finds its own)."""
    names = (spec.key.path[-1] for spec in raw_specs(source))
    return tuple(sorted(names, key=len, reverse=True))


def source_table_key(source: str, table: str) -> AssetKey:
    """The raw asset that loads `table` of dbt source `source`."""
    if source in CONNECTOR_SOURCES:
        for resource in _resources_of(source):
            if table == resource or table.startswith(f"{resource}__"):
                return raw_asset_key(source, resource)
    return raw_asset_key(source, table)


class LayeredDbtTranslator(DagsterDbtTranslator):
    """Keys `<layer>/<name>` grouped by layer; sources map to the raw assets that load them
    (several dbt sources, a dlt table and its child tables, share one)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return source_table_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
        return model_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return layer(dbt_resource_props)


def serving_models() -> dict[str, tuple[AssetKey, str]]:
    """name → (asset key, warehouse relation) of each model of the marts layer."""
    return {
        node["name"]: (model_key(node), node["relation_name"])
        for node in dbt_manifest()["nodes"].values()
        if node["resource_type"] == "model" and layer(node) == SERVING_LAYER
    }


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    name="dbt_models",
    dagster_dbt_translator=LayeredDbtTranslator(
        DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
    ),
    partitions_def=TENANTS,
    backfill_policy=BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator:
    """`dbt build` limited to the run's tenants, in one invocation however many they are, less
    those whose snapshot the run holds back (their ingestion failed: their rows stay as their
    served snapshot has them). dbt unit tests check model code, not data: they run in CI and
    analysts' builds, not here."""
    tenants = sorted(set(context.partition_keys) - held_tenants(context.run))
    if not tenants:
        raise Failure(
            f"every tenant of the run is held back ({HOLD_SNAPSHOT_TAG}): nothing to build"
        )
    build = ["build", "--vars", json.dumps({"tenants": tenants})]
    build += ["--exclude-resource-type", "unit_test"]
    with warehouse_lock():
        yield from dbt.cli(build, context=context).stream()
