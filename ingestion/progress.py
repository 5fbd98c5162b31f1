"""Live progress of an ingestion run: one line per tenant × source, and the final summary.

Sources report pages and rows into their `SourceRun`; the runner moves each run through
waiting → extracting → loading → done/failed. `ProgressBoard` renders the runs as a rich table,
live while the run goes (`show_live`) and once more at the end, failures in full.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table


@dataclass
class SourceRun:
    tenant_id: str
    source: str
    status: str = "waiting"
    pages: int = 0
    rows: int = 0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_page(self) -> None:
        with self._lock:
            self.pages += 1

    def count_rows(self, rows: int) -> None:
        with self._lock:
            self.rows += rows

    def start(self, status: str) -> None:
        self.status = status
        self.started = self.started or time.monotonic()

    def finish(self, error: str | None = None) -> None:
        self.status = "failed" if error else "done"
        self.error = error
        self.finished = time.monotonic()

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class ProgressBoard:
    """All runs of one `aya ingest`, rendered as a table."""

    def __init__(self, runs: list[SourceRun]) -> None:
        self.runs = runs

    def table(self, title: str = "ingestion") -> Table:
        table = Table(
            "tenant", "source", "status", "pages", "rows", "elapsed", "error", title=title
        )
        colours = {"done": "green", "failed": "red", "waiting": "dim"}
        for run in self.runs:
            colour = colours.get(run.status, "yellow")
            table.add_row(
                run.tenant_id,
                run.source,
                f"[{colour}]{run.status}[/{colour}]",
                str(run.pages),
                str(run.rows),
                f"{run.elapsed:.1f}s",
                run.error or "",
            )
        return table


def show_live(runs: list[SourceRun], work: Callable[[], object], console: Console) -> None:
    """Run `work` in a thread while the board of `runs` updates live; then print the summary
    table and every failure in full (a table cell may cut it)."""
    board = ProgressBoard(runs)
    with Live(board.table(), console=console, refresh_per_second=4, transient=True) as live:
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        while worker.is_alive():
            live.update(board.table())
            worker.join(timeout=0.25)
    console.print(board.table(title="ingestion summary"))
    failed = [run for run in runs if run.failed]
    for run in failed:
        console.print(f"[red]✗[/red] {run.error}", soft_wrap=True)
    if failed:
        console.print(f"[red]{len(failed)} of {len(runs)} tenant × source runs failed[/red]")
