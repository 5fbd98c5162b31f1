"""Benchmark: ingestion throughput per source, next to a minimal baseline on the same payloads.

1. **Record.** A sandbox serves `tenants` synthetic tenants; `aya ingest` loads `days` days of
   every source end to end while every HTTP answer is recorded (wall time reported).
2. **Ours.** Each source is ingested again into a fresh warehouse with the recorded answers
   replayed in place of the network, so the figure is our connectors + dlt + DuckDB alone.
3. **Baseline.** The same recorded payloads go through the least one could do: `json.loads`,
   the records list into an Arrow table per endpoint, one DuckDB `CREATE TABLE AS` per endpoint.

Rows are the top-level records (what the connectors count). Peak memory is the process's peak
RSS sampled during each phase. Results go in docs/benchmarks.md by hand.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow as pa
import requests
from requests.adapters import HTTPAdapter

from aya.tenants import TenantRegistry
from ingestion.runner import IngestRequest, ingest
from ingestion.settings import FX_SOURCE
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from sandbox.synthetic_tenants import synthetic_registry
from sandbox.world.calendar import SandboxClock
from sandbox.world.tenant_world import World

BENCH_TODAY = date(2026, 11, 20)
RequestKey = tuple[str, str, bytes]


@dataclass(frozen=True)
class Recorded:
    status: int
    headers: dict[str, str]
    content: bytes


@dataclass(frozen=True)
class PhaseResult:
    rows: int
    seconds: float
    peak_rss_mib: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class HttpTape:
    """Every HTTP answer of a run, recorded by (method, URL, body), and replayed from it."""

    def __init__(self) -> None:
        self.answers: dict[RequestKey, Recorded] = {}
        self.sources: dict[RequestKey, str] = {}

    @contextmanager
    def recording(self, source_of_url: dict[str, str]) -> Iterator[None]:
        real_send = HTTPAdapter.send

        def send(adapter: HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any):
            response = real_send(adapter, request, **kwargs)
            key = _key(request)
            self.answers[key] = Recorded(
                response.status_code, dict(response.headers), response.content
            )
            self.sources[key] = _source_of(request.url or "", source_of_url)
            return response

        HTTPAdapter.send = send
        try:
            yield
        finally:
            HTTPAdapter.send = real_send

    @contextmanager
    def replaying(self) -> Iterator[None]:
        real_send = HTTPAdapter.send

        def send(_adapter: HTTPAdapter, request: requests.PreparedRequest, **_: Any):
            recorded = self.answers[_key(request)]
            response = requests.Response()
            response.status_code = recorded.status
            response.headers.update(recorded.headers)
            response._content = recorded.content
            response.url = request.url or ""
            response.request = request
            response.encoding = "utf-8"
            return response

        HTTPAdapter.send = send
        try:
            yield
        finally:
            HTTPAdapter.send = real_send

    def payloads(self, source: str) -> Iterator[tuple[str, bytes]]:
        """(endpoint, answer body) of every successful answer of `source`."""
        for key, recorded in self.answers.items():
            if self.sources[key] == source and recorded.status == 200:
                yield _endpoint_of(key), recorded.content


def run_ingest_benchmark(template: TenantRegistry, tenants: int, days: int) -> list[str]:
    registry = synthetic_registry(template, tenants)
    world = World(registry, SandboxClock(BENCH_TODAY))
    last = BENCH_TODAY - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    sources = [FX_SOURCE, *sorted({s.value for t in registry.tenants for s in t.sources})]
    tape = HttpTape()
    with tempfile.TemporaryDirectory(prefix="aya-bench-") as scratch, _environment(registry):
        with SandboxServer(world) as server:
            os.environ["AYA_SANDBOX_URL"] = server.url
            prefixes = _source_prefixes(server.url)
            os.environ["AYA_DATA_DIR"] = str(Path(scratch) / "recorded")
            started = time.perf_counter()
            with tape.recording(prefixes):
                runs = ingest(registry, _request(first, last))
            end_to_end = time.perf_counter() - started
        failed = [run.error for run in runs if run.failed]
        if failed:
            raise RuntimeError("the recording run failed: " + "; ".join(map(str, failed)))
        lines = [
            f"ingestion, {tenants} tenants x {days} days ({first}..{last}); end to end from the "
            f"sandbox (4 extraction threads): {sum(r.rows for r in runs)} rows in "
            f"{end_to_end:.1f} s",
            f"{'source':<14}{'rows':>9}{'ours rows/s':>13}{'ours MiB':>10}"
            f"{'base rows/s':>13}{'base MiB':>10}{'ratio':>8}",
        ]
        for source in sources:
            os.environ["AYA_DATA_DIR"] = str(Path(scratch) / f"ours-{source}")
            with tape.replaying():
                ours = _measure(lambda s=source: _ingest_source(registry, s, first, last))
            baseline = _measure(lambda s=source: _baseline(tape, s, Path(scratch) / "base.duckdb"))
            ratio = ours.rows_per_second / baseline.rows_per_second
            lines.append(
                f"{source:<14}{ours.rows:>9}{ours.rows_per_second:>13.0f}{ours.peak_rss_mib:>10.0f}"
                f"{baseline.rows_per_second:>13.0f}{baseline.peak_rss_mib:>10.0f}{ratio:>8.2f}"
            )
    return lines


def _request(first: date, last: date, sources: tuple[str, ...] = ()) -> IngestRequest:
    return IngestRequest(sources=sources, first_day=first, last_day=last, today=BENCH_TODAY)


def _ingest_source(registry: TenantRegistry, source: str, first: date, last: date) -> int:
    runs = ingest(registry, _request(first, last, (source,)), max_workers=1)
    failed = [run.error for run in runs if run.failed]
    if failed:
        raise RuntimeError(f"replaying {source} failed: {failed[0]}")
    return sum(run.rows for run in runs)


def _baseline(tape: HttpTape, source: str, database: Path) -> int:
    """json → records → one Arrow table per endpoint → DuckDB; the records it loaded."""
    records_by_endpoint: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for endpoint, content in tape.payloads(source):
        records_by_endpoint[endpoint].extend(_records(json.loads(content)))
    database.unlink(missing_ok=True)
    rows = 0
    with duckdb.connect(str(database)) as connection:
        for number, records in enumerate(records_by_endpoint.values()):
            if not records:
                continue
            table = pa.Table.from_struct_array(pa.array(records))  # all rows' keys
            connection.register("page", table)
            connection.execute(f"create table endpoint_{number} as select * from page")
            connection.unregister("page")
            rows += table.num_rows
    return rows


def _records(payload: Any) -> list[dict[str, Any]]:
    """The records of one answer, in each vendor's envelope."""
    if isinstance(payload, list):  # Google Ads searchStream: a list of batches
        return [row for batch in payload for row in batch.get("results", [])]
    for key in ("data", "elements", "rows", "results"):
        value = payload.get(key)
        if isinstance(value, list):
            return value
    if isinstance(payload.get("data"), dict):  # GraphQL: data.<connection>.nodes or an object
        [value] = payload["data"].values()
        return value.get("nodes", [value]) if isinstance(value, dict) else []
    if isinstance(payload.get("rates"), dict):  # Frankfurter time series
        return [
            {"date": day, "currency": currency, "rate": rate}
            for day, rates in payload["rates"].items()
            for currency, rate in rates.items()
        ]
    return [payload]  # a single object (an account, a customer)


def _measure(work) -> PhaseResult:
    process = psutil.Process()
    peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return PhaseResult(rows, seconds, max(peak, process.memory_info().rss) / 2**20)


@contextmanager
def _environment(registry: TenantRegistry) -> Iterator[None]:
    """Sandbox credentials as dlt environment variables; the environment restored after."""
    saved = dict(os.environ)
    os.environ.update(credential_variables(registry))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _source_prefixes(sandbox_url: str) -> dict[str, str]:
    from sandbox.app import VENDOR_PREFIXES

    prefixes = {f"{sandbox_url}{p.split('{')[0]}": s for s, p in VENDOR_PREFIXES.items()}
    prefixes[f"{sandbox_url}/oauth2"] = "oauth"
    prefixes[f"{sandbox_url}/fx"] = FX_SOURCE
    return prefixes


def _source_of(url: str, prefixes: dict[str, str]) -> str:
    return next((s for p, s in prefixes.items() if url.startswith(p)), "other")


def _key(request: requests.PreparedRequest) -> RequestKey:
    body = request.body or b""
    return (
        request.method or "GET",
        request.url or "",
        body.encode() if isinstance(body, str) else body,
    )


_IDS = re.compile(r"/(act_)?\d{5,}|/[a-z]+(-[a-z]+)+-\d{3}")
_GRAPHQL_OPERATION = re.compile(rb'"query":\s*"\s*query\s+(\w+)')


def _endpoint_of(key: RequestKey) -> str:
    """The path without account ids and query string (plus a GraphQL operation's name)."""
    _, url, body = key
    path = _IDS.sub("/{id}", url.split("?")[0].split("://", 1)[-1].split("/", 1)[-1])
    operation = _GRAPHQL_OPERATION.search(body)
    return f"{path} {operation.group(1).decode()}" if operation else path
