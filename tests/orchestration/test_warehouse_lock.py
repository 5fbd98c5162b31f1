"""The warehouse lock keeps every other process and thread out while one holds it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aya.warehouse import lock_path, warehouse_lock
from tests.conftest import REPO_ROOT

HOLD_SECONDS = 1.5
HOLDER = f"""
import sys, time
from aya.warehouse import warehouse_lock
with warehouse_lock():
    print("held", flush=True)
    time.sleep({HOLD_SECONDS})
"""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AYA_DATA_DIR", str(tmp_path))
    return tmp_path


def test_another_process_waits_for_the_holder(data_dir: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        asked = time.monotonic()
        with warehouse_lock():
            waited = time.monotonic() - asked
    finally:
        holder.wait(timeout=30)
    assert waited > HOLD_SECONDS * 0.8, f"got the lock after {waited:.2f}s, while it was held"
    assert lock_path() == data_dir / "warehouse.lock"


def test_threads_of_one_process_take_turns(data_dir: Path) -> None:
    inside = 0
    most_inside = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most_inside
        with warehouse_lock():
            with guard:
                inside += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.05)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most_inside == 1
