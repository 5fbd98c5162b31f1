"""Runs ingestion for many tenants × sources: extraction in parallel, one writer at a time.

Each tenant × source is its own dlt pipeline (`aya__<source>__<tenant>`) writing dataset
`raw_<source>__<tenant>` in the warehouse. Extraction (the slow, API-bound part) runs in a thread
pool; normalising and loading into DuckDB, which allows one writer per file, happen one pipeline
at a time, across threads and processes, under `aya.warehouse.warehouse_lock()`. A failure (bad
credentials, an API down or answering garbage) fails that tenant × source only: its extracted
data is dropped, its cursor stays where it was, and every other run completes. FX rates, shared
by all tenants, load once per run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dlt

# dlt imports pyarrow lazily, when it writes its first parquet file: importing it here, before
# the extraction threads start, keeps two threads from racing on a half-imported module.
import dlt.common.libs.pyarrow
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource

from aya.tenants import SourceName, Tenant, TenantRegistry
from aya.warehouse import warehouse_lock
from ingestion import fx
from ingestion.context import SourceContext
from ingestion.credentials import source_credentials
from ingestion.errors import SourceError, redact
from ingestion.progress import SourceRun
from ingestion.settings import (
    FX_DATASET,
    FX_PIPELINE,
    FX_SOURCE,
    dataset_name,
    pipeline_name,
    pipelines_dir,
    warehouse_path,
)

SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
FX_HISTORY_DAYS = 400

ConnectorBuilder = Callable[[SourceContext], DltSource]


def connector(source: str) -> tuple[ConnectorBuilder, str]:
    """(builder, real API base URL) of `source`: `ingestion.<source>` defines
    `<source>_source(context)` and `API_BASE_URL`."""
    module = importlib.import_module(f"ingestion.{source}")
    return getattr(module, f"{source}_source"), module.API_BASE_URL


@dataclass(frozen=True)
class IngestRequest:
    """What to load: which tenants and sources, and optionally an explicit window."""

    tenant_ids: tuple[str, ...] = ()  # empty: all tenants
    sources: tuple[str, ...] = ()  # empty: all of each tenant's sources, plus fx
    first_day: date | None = None
    last_day: date | None = None
    today: date | None = None  # the connector's today (default: the UTC date)

    def wants(self, source: str) -> bool:
        return not self.sources or source in self.sources


def plan_runs(registry: TenantRegistry, request: IngestRequest) -> list[SourceRun]:
    """The tenant × source runs a request asks for, in registry order, FX first."""
    unknown = set(request.tenant_ids) - set(registry.ids)
    if unknown:
        raise ValueError(f"unknown tenants {sorted(unknown)}; known: {registry.ids}")
    runs = [SourceRun("*", FX_SOURCE)] if request.wants(FX_SOURCE) else []
    for tenant in registry.tenants:
        if request.tenant_ids and tenant.id not in request.tenant_ids:
            continue
        runs.extend(
            SourceRun(tenant.id, source.value)
            for source in tenant.sources
            if request.wants(source.value)
        )
    return runs


def ingest(
    registry: TenantRegistry,
    request: IngestRequest,
    runs: list[SourceRun] | None = None,
    max_workers: int = 4,
) -> list[SourceRun]:
    """Run every planned tenant × source; never raises for one failed run, see `.failed`."""
    runs = runs if runs is not None else plan_runs(registry, request)
    today = request.today or datetime.now(UTC).date()
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ingest") as pool:
        futures = [pool.submit(_run_one, registry, request, today, run) for run in runs]
        for future in futures:
            future.result()
    return runs


def _run_one(registry: TenantRegistry, request: IngestRequest, today: date, run: SourceRun) -> None:
    run.start("extracting")
    secrets: list[str] = []
    try:
        if run.source == FX_SOURCE:
            pipeline = _pipeline(FX_PIPELINE, FX_DATASET)
            source = fx.fx_source(_fx_context(registry, request, today, run))
        else:
            tenant = registry.get(run.tenant_id)
            context = _context(tenant, run.source, request, today, run)
            secrets = list(context.credentials.values())
            pipeline = _pipeline(
                pipeline_name(run.source, tenant.id), dataset_name(run.source, tenant.id)
            )
            source = connector(run.source)[0](context)
        _extract_and_load(pipeline, source, run)
    except Exception as error:  # one tenant's failure must not stop the others
        run.finish(_describe_failure(run, error, secrets))
    else:
        run.finish()


def _extract_and_load(pipeline: dlt.Pipeline, source: DltSource, run: SourceRun) -> LoadInfo:
    try:
        pipeline.extract(source, schema_contract=SCHEMA_CONTRACT, loader_file_format="parquet")
    except Exception:
        pipeline.abort_packages()  # a partial window is never committed
        raise
    run.start("loading")
    with warehouse_lock():
        _drop_packages_already_normalized(pipeline)
        pipeline.normalize()
        return pipeline.load()


def _drop_packages_already_normalized(pipeline: dlt.Pipeline) -> None:
    """Mend what a process killed inside dlt's normalize commit leaves behind.

    dlt commits a normalized package by renaming it into the load folder and then deleting its
    extracted copy; a SIGKILL between the two leaves both. The normalized one is complete and
    `load()` finishes it, so the extracted copy is deleted instead of being normalized again
    (which would fail on the existing folder and block the pipeline for good).
    """
    committed = set(pipeline.list_normalized_load_packages())
    extracted = pipeline._get_normalize_storage().extracted_packages
    for load_id in committed & set(extracted.list_packages()):
        extracted.delete_package(load_id)


def _pipeline(name: str, dataset: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(pipelines_dir()),
        destination=dlt.destinations.duckdb(
            str(warehouse_path()), enable_dataset_name_normalization=False
        ),
        dataset_name=dataset,
    )


def _context(
    tenant: Tenant, source: str, request: IngestRequest, today: date, run: SourceRun
) -> SourceContext:
    _, real_base_url = connector(source)
    config = tenant.sources[SourceName(source)]
    yesterday = today - timedelta(days=1)
    explicit = request.first_day is not None or request.last_day is not None
    return SourceContext(
        tenant=tenant,
        source=source,
        base_url=config.resolved_base_url(real_base_url),
        credentials=source_credentials(tenant.id, source),
        run=run,
        first_day=request.first_day or today - timedelta(days=tenant.history_days),
        last_day=min(request.last_day or yesterday, yesterday),
        explicit_window=explicit,
        restatement_days=tenant.restatement_days(SourceName(source)),
    )


def _fx_context(
    registry: TenantRegistry, request: IngestRequest, today: date, run: SourceRun
) -> fx.FxContext:
    longest_history = max(t.history_days for t in registry.tenants)
    yesterday = today - timedelta(days=1)
    return fx.FxContext(
        base_url=registry.fx.resolved_base_url(fx.API_BASE_URL),
        currencies=fx.currencies_in_use(registry),
        run=run,
        first_day=request.first_day
        or today - timedelta(days=max(longest_history, FX_HISTORY_DAYS)),
        last_day=min(request.last_day or yesterday, yesterday),
        explicit_window=request.first_day is not None or request.last_day is not None,
    )


def _describe_failure(run: SourceRun, error: BaseException, secrets: list[str]) -> str:
    """One line for the summary: our own `SourceError` if dlt wrapped one, else the root cause."""
    cause = error
    while not isinstance(cause, SourceError) and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, SourceError):
        return redact(str(cause), secrets)
    return redact(
        f"tenant '{run.tenant_id}', source '{run.source}': {type(cause).__name__}: {cause}. "
        "What to do: fix the input or the connector and rerun; data loaded before is untouched",
        secrets,
    )
