"""Benchmark: `dbt build` of the whole project, for the demo tenants and for many tenants, next to
the same SQL run directly in DuckDB.

1. **Demo tenants.** A sandbox serves the demo tenants (registry `template`); every source and
   the ECB rates are ingested for `days` days ending on the sandbox's yesterday (or read from
   `raw_cache`, a warehouse a previous run saved), and one `dbt build` of every model, data
   test and unit test runs on it.
2. **Many tenants.** Generating 100 tenants × 365 days through the sandbox would take hours, so
   the raw datasets are synthesised: tenant k of `sandbox.synthetic_tenants.synthetic_registry`
   gets a copy of the raw datasets of the demo tenant it is modelled on
   (`raw_<source>__<demo>` → `raw_<source>__t00k_<demo>`, DuckDB `CREATE TABLE AS`), the shared
   `raw_fx` once, and the generated registry is written to a temporary AYA_TENANTS_FILE.
   Then, on two copies of that raw warehouse:
   - `dbt build` (every tenant in one invocation, the profile's 4 threads), timed;
   - the same final SQL without dbt: `dbt compile` first, then with plain duckdb, in DAG order
     on one connection, the seeds (read_csv), every model's compiled SQL (`CREATE OR REPLACE
     VIEW/TABLE ... AS`; Python models' compiled code run as dbt-duckdb runs it) and every data
     test's compiled query. dbt build / direct is dbt's overhead (per-invocation start-up,
     materialisation bookkeeping, docs persisted as comments, unit tests).
The lines printed are what docs/benchmarks.md records.
"""

from __future__ import annotations

import graphlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import yaml

from aya.tenants import TenantRegistry
from ingestion.runner import IngestRequest, ingest
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from sandbox.synthetic_tenants import synthetic_registry
from sandbox.world.calendar import SandboxClock
from sandbox.world.tenant_world import World

BENCH_TODAY = date(2026, 11, 20)
REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
WAREHOUSE = "warehouse.duckdb"
FX_LEAD_DAYS = 14  # rates before the first day, so weekends at the start carry a rate
MARTS = (
    "mart_kpis_daily",
    "mart_channel_daily",
    "mart_campaign_daily",
    "mart_attribution_daily",
    "mart_reconciliation_daily",
)


@dataclass(frozen=True)
class DbtTiming:
    """One timed `dbt build`: wall time, and the sum of its nodes' own times by kind."""

    seconds: float
    models: int
    model_seconds: float
    tests: int
    test_seconds: float
    unit_tests: int
    peak_rss_gib: float  # of the largest dbt process so far (the build is the largest)
    slowest: str  # the slowest nodes and their times


@dataclass(frozen=True)
class DirectTiming:
    """The same compiled SQL run with plain duckdb, by phase."""

    seed_seconds: float
    models: int
    model_seconds: float
    tests: int
    test_seconds: float
    failing_tests: list[str]

    @property
    def seconds(self) -> float:
        return self.seed_seconds + self.model_seconds + self.test_seconds


def run_dbt_benchmark(
    template: TenantRegistry,
    tenants: int,
    days: int,
    raw_cache: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Lines with the dbt build figures of the demo tenants and of `tenants` synthetic tenants;
    `progress` hears what it is doing meanwhile."""
    last = BENCH_TODAY - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    with tempfile.TemporaryDirectory(prefix="aya-bench-dbt-") as scratch_name:
        scratch = Path(scratch_name)
        demo_raw = scratch / "demo_raw"
        progress(f"demo tenants' raw data, {first}..{last}")
        started = time.perf_counter()
        source = _demo_raw_warehouse(template, first, last, demo_raw, raw_cache)
        raw_seconds = time.perf_counter() - started
        demo_rows = _raw_rows(demo_raw)

        demo_tenants_file = _write_registry(template, scratch / "demo_tenants.yaml")
        demo_build = _copy_warehouse(demo_raw, scratch / "demo_build")
        progress("dbt build, demo tenants")
        demo = _timed_build(demo_build, demo_tenants_file)
        lines = [
            f"dbt, {len(template.tenants)} demo tenants x {days} days ({first}..{last}): "
            f"{demo_rows:,} raw rows ({source} in {raw_seconds:.0f} s)",
            f"  dbt build: {demo.seconds:.1f} s ({demo.models} models {demo.model_seconds:.1f} s, "
            f"{demo.tests} data tests {demo.test_seconds:.1f} s, {demo.unit_tests} unit tests; "
            f"node times summed over 4 threads; peak RSS {demo.peak_rss_gib:.1f} GiB)",
            f"  slowest nodes: {demo.slowest}",
            f"  marts: {_mart_rows(demo_build)}",
        ]

        registry = synthetic_registry(template, tenants)
        tenants_file = _write_registry(registry, scratch / "synthetic_tenants.yaml")
        synthetic_raw = scratch / "synthetic_raw"
        progress(f"cloning raw datasets into {tenants} tenants")
        started = time.perf_counter()
        _clone_tenants(template, registry, demo_raw, synthetic_raw)
        clone_seconds = time.perf_counter() - started
        size_mib = (synthetic_raw / WAREHOUSE).stat().st_size / 2**20

        compile_dir = _copy_warehouse(synthetic_raw, scratch / "synthetic_compile")
        progress("dbt compile")
        started = time.perf_counter()
        _dbt(compile_dir, tenants_file, "compile")
        compile_seconds = time.perf_counter() - started
        manifest = json.loads((compile_dir / "dbt_target" / "manifest.json").read_text())
        shutil.rmtree(compile_dir)

        dbt_dir = _copy_warehouse(synthetic_raw, scratch / "synthetic_dbt")
        progress(f"dbt build, {tenants} tenants")
        built = _timed_build(dbt_dir, tenants_file)
        marts = _mart_rows(dbt_dir)
        shutil.rmtree(dbt_dir)

        direct_dir = _copy_warehouse(synthetic_raw, scratch / "synthetic_direct")
        progress("the same SQL directly in DuckDB")
        with _environment(tenants_file, direct_dir):
            direct = _run_direct(manifest, direct_dir / WAREHOUSE)
        lines += [
            f"dbt, {tenants} synthetic tenants x {days} days (raw datasets cloned from the demo "
            f"tenants in {clone_seconds:.0f} s): {_raw_rows(synthetic_raw):,} raw rows, "
            f"{size_mib:,.0f} MiB",
            f"  dbt build: {built.seconds:.1f} s ({built.models} models "
            f"{built.model_seconds:.1f} s, {built.tests} data tests {built.test_seconds:.1f} s, "
            f"{built.unit_tests} unit tests; node times summed over 4 threads; peak RSS "
            f"{built.peak_rss_gib:.1f} GiB); dbt compile alone {compile_seconds:.1f} s",
            f"  slowest nodes: {built.slowest}",
            f"  direct DuckDB, same compiled SQL in DAG order on one connection: "
            f"{direct.seconds:.1f} s (seeds {direct.seed_seconds:.1f} s, {direct.models} models "
            f"{direct.model_seconds:.1f} s, {direct.tests} data tests {direct.test_seconds:.1f} s, "
            f"with failing rows: {', '.join(direct.failing_tests) or 'none'}; peak RSS of this "
            f"process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB)",
            f"  overhead: dbt build / direct = {built.seconds / direct.seconds:.2f}x "
            f"(+{built.seconds - direct.seconds:.1f} s)",
            f"  marts: {marts}",
        ]
    return lines


# --- raw data -------------------------------------------------------------------------------


def _demo_raw_warehouse(
    template: TenantRegistry, first: date, last: date, target: Path, raw_cache: Path | None
) -> str:
    """The demo tenants' raw data in `target`: copied from `raw_cache` when it holds this
    window, else ingested from a sandbox (and saved to `raw_cache`). Says which it was."""
    cached = raw_cache / f"demo_raw_{first}_{last}" if raw_cache else None
    if cached and (cached / WAREHOUSE).exists():
        _copy_warehouse(cached, target)
        return f"copied from {cached}"
    target.mkdir(parents=True)
    world = World(template, SandboxClock(BENCH_TODAY))
    saved = dict(os.environ)
    try:
        os.environ.update(credential_variables(template))
        os.environ["AYA_DATA_DIR"] = str(target)
        with SandboxServer(world) as server:
            os.environ["AYA_SANDBOX_URL"] = server.url
            runs = [
                *ingest(
                    template,
                    IngestRequest(
                        sources=("fx",),
                        first_day=first - timedelta(days=FX_LEAD_DAYS),
                        last_day=last,
                        today=BENCH_TODAY,
                    ),
                ),
                *ingest(
                    template,
                    IngestRequest(
                        sources=tuple(
                            sorted({s.value for t in template.tenants for s in t.sources})
                        ),
                        first_day=first,
                        last_day=last,
                        today=BENCH_TODAY,
                    ),
                ),
            ]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    failed = [f"{run.tenant_id}/{run.source}: {run.error}" for run in runs if run.failed]
    if failed:
        raise RuntimeError("ingesting the demo tenants failed: " + "; ".join(failed))
    if cached:
        _copy_warehouse(target, cached)
        return f"ingested from the sandbox, saved to {cached}"
    return "ingested from the sandbox"


def _raw_datasets(connection: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    """raw_* schema → its tables, for the datasets dlt finished loading (they have _dlt_loads)."""
    rows = connection.execute(
        """select table_schema, table_name from information_schema.tables
           where table_catalog = ? and starts_with(table_schema, 'raw_')
             and table_schema in (select table_schema from information_schema.tables
                                  where table_catalog = ? and table_name = '_dlt_loads')
           order by table_schema, table_name""",
        [catalog, catalog],
    ).fetchall()
    datasets: dict[str, list[str]] = {}
    for schema, table in rows:
        datasets.setdefault(schema, []).append(table)
    return datasets


def _clone_tenants(
    template: TenantRegistry, registry: TenantRegistry, demo_dir: Path, target_dir: Path
) -> None:
    """A raw warehouse holding, for each tenant of `registry`, a copy of the raw datasets of
    the template tenant it is modelled on (synthetic_registry's order), plus raw_fx."""
    target_dir.mkdir(parents=True)
    with duckdb.connect(str(target_dir / WAREHOUSE)) as connection:
        connection.execute(f"attach '{demo_dir / WAREHOUSE}' as demo (read_only)")
        datasets = _raw_datasets(connection, "demo")
        copies = [("raw_fx", "raw_fx")]
        for index, tenant in enumerate(registry.tenants):
            model = template.tenants[index % len(template.tenants)]
            copies += [
                (f"raw_{source.value}__{model.id}", f"raw_{source.value}__{tenant.id}")
                for source in tenant.sources
                if f"raw_{source.value}__{model.id}" in datasets
            ]
        for source_schema, target_schema in copies:
            connection.execute(f"create schema {target_schema}")
            for table in datasets[source_schema]:
                connection.execute(
                    f'create table {target_schema}."{table}" as '
                    f'select * from demo.{source_schema}."{table}"'
                )
        connection.execute("detach demo")
        connection.execute("checkpoint")


def _raw_rows(data_dir: Path) -> int:
    with duckdb.connect(str(data_dir / WAREHOUSE), read_only=True) as connection:
        catalog = Path(WAREHOUSE).stem
        total = 0
        for schema, tables in _raw_datasets(connection, catalog).items():
            for table in tables:
                if not table.startswith("_dlt"):
                    [(rows,)] = connection.execute(
                        f'select count(*) from {schema}."{table}"'
                    ).fetchall()
                    total += rows
        return total


def _copy_warehouse(source_dir: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source_dir / WAREHOUSE, target_dir / WAREHOUSE)
    return target_dir


def _write_registry(registry: TenantRegistry, path: Path) -> Path:
    document = registry.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _mart_rows(data_dir: Path) -> str:
    with duckdb.connect(str(data_dir / WAREHOUSE), read_only=True) as connection:
        counts = [
            f"{mart} {connection.execute(f'select count(*) from marts.{mart}').fetchall()[0][0]:,}"
            for mart in MARTS
        ]
    return ", ".join(counts)


# --- dbt --------------------------------------------------------------------------------------


def _dbt(data_dir: Path, tenants_file: Path, *args: str) -> None:
    """`dbt <args>` from the repo root on the warehouse in `data_dir`; raises if it fails."""
    environment = {
        **os.environ,
        "AYA_DATA_DIR": str(data_dir),
        "AYA_TENANTS_FILE": str(tenants_file),
        "DBT_TARGET_PATH": str(data_dir / "dbt_target"),
        "DBT_LOG_PATH": str(data_dir / "dbt_logs"),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
        "DBT_USE_COLORS": "false",
        "DBT_VERSION_CHECK": "false",
    }
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode < 0:  # killed by a signal: SIGKILL is usually the OOM killer
        raise RuntimeError(
            f"dbt {' '.join(args)} was killed by signal {-completed.returncode} after "
            f"{_peak_child_rss_gib():.1f} GiB (out of memory?); its last lines:\n"
            + completed.stdout[-2000:]
        )
    if completed.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{completed.stdout[-4000:]}")


def _peak_child_rss_gib() -> float:
    """Peak resident memory of the largest child process that has finished (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def _timed_build(data_dir: Path, tenants_file: Path) -> DbtTiming:
    started = time.perf_counter()
    _dbt(data_dir, tenants_file, "build")
    seconds = time.perf_counter() - started
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]

    def of_kind(prefix: str) -> list[dict]:
        return [result for result in results if result["unique_id"].startswith(prefix)]

    models, tests = of_kind("model."), of_kind("test.")
    return DbtTiming(
        seconds=seconds,
        models=len(models),
        model_seconds=sum(result["execution_time"] for result in models),
        tests=len(tests),
        test_seconds=sum(result["execution_time"] for result in tests),
        unit_tests=len(of_kind("unit_test.")),
        peak_rss_gib=_peak_child_rss_gib(),
        slowest=", ".join(
            f"{result['unique_id'].split('.')[-1]} {result['execution_time']:.1f} s"
            for result in sorted(results, key=lambda r: -r["execution_time"])[:4]
        ),
    )


# --- the same SQL without dbt -----------------------------------------------------------------


@contextmanager
def _environment(tenants_file: Path, data_dir: Path) -> Iterator[None]:
    """What the project's Python models read (the registry), as dbt would have it."""
    saved = dict(os.environ)
    os.environ["AYA_TENANTS_FILE"] = str(tenants_file)
    os.environ["AYA_DATA_DIR"] = str(data_dir)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run_direct(manifest: dict, database: Path) -> DirectTiming:
    """Seeds, models in DAG order and data tests of `manifest` (after `dbt compile`), run on
    `database` with plain duckdb on one connection, as dbt's compiled code says."""
    nodes = manifest["nodes"]
    ordered = list(
        graphlib.TopologicalSorter(
            {
                unique_id: [p for p in node["depends_on"].get("nodes", []) if p in nodes]
                for unique_id, node in nodes.items()
                if node["resource_type"] in {"seed", "model"}
            }
        ).static_order()
    )
    seeds = [nodes[i] for i in ordered if nodes[i]["resource_type"] == "seed"]
    models = [
        nodes[i]
        for i in ordered
        if nodes[i]["resource_type"] == "model"
        and nodes[i]["config"]["materialized"] != "ephemeral"
    ]
    tests = [node for node in nodes.values() if node["resource_type"] == "test"]
    with duckdb.connect(str(database)) as connection:
        connection.execute("set TimeZone = 'UTC'")  # as the profile's settings
        started = time.perf_counter()
        for seed in seeds:
            _load_seed(connection, seed)
        seed_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for model in models:
            _materialise(connection, model)
        model_seconds = time.perf_counter() - started

        started = time.perf_counter()
        failing = []
        for test in tests:
            [(failures,)] = connection.execute(
                f"select count(*) from ({test['compiled_code']}) as dbt_internal_test"
            ).fetchall()
            if failures:
                failing.append(f"{test['name']} ({test['config']['severity'].lower()})")
        test_seconds = time.perf_counter() - started
    return DirectTiming(seed_seconds, len(models), model_seconds, len(tests), test_seconds, failing)


def _load_seed(connection: duckdb.DuckDBPyConnection, seed: dict) -> None:
    types = seed["config"].get("column_types") or {}
    path = REPO_ROOT / seed["original_file_path"]
    header = connection.execute(
        "select * from read_csv(?, header = true, all_varchar = true) limit 0", [str(path)]
    ).description
    columns = ", ".join(
        f'cast("{name}" as {types[name]}) as "{name}"' if name in types else f'"{name}"'
        for name, *_ in header
    )
    connection.execute(f"create schema if not exists {seed['schema']}")
    connection.execute(
        f"create or replace table {seed['relation_name']} as select {columns} "
        "from read_csv(?, header = true, all_varchar = true)",
        [str(path)],
    )


def _materialise(connection: duckdb.DuckDBPyConnection, model: dict) -> None:
    connection.execute(f"create schema if not exists {model['schema']}")
    relation = model["relation_name"]
    if model["language"] == "python":
        frame = _run_python_model(connection, model)
        connection.register("direct_python_model_frame", frame)
        connection.execute(
            f"create or replace table {relation} as select * from direct_python_model_frame"
        )
        connection.unregister("direct_python_model_frame")
    elif model["config"]["materialized"] == "view":
        connection.execute(f"create or replace view {relation} as {model['compiled_code']}")
    else:  # table, and incremental models, which a run for every tenant rebuilds whole
        connection.execute(f"create or replace table {relation} as {model['compiled_code']}")


def _run_python_model(connection: duckdb.DuckDBPyConnection, model: dict):
    """The compiled Python model run as dbt-duckdb runs it: `model(dbtObj(...), connection)`."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as module_file:
        module_file.write(model["compiled_code"].lstrip())
    try:
        spec = importlib.util.spec_from_file_location(model["alias"], module_file.name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dbt = module.dbtObj(lambda name: connection.query(f"select * from {name}"))
        return module.model(dbt, connection)
    finally:
        Path(module_file.name).unlink()
