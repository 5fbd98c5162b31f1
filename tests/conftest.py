"""Shared fixtures: the demo tenant registry and a sandbox running on a free port.

The sandbox's clock is fixed at SANDBOX_TODAY so every test sees the same world.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from aya.tenants import TenantRegistry, load_registry
from sandbox.server import SandboxServer
from sandbox.world.calendar import SandboxClock
from sandbox.world.tenant_world import World

REPO_ROOT = Path(__file__).resolve().parents[1]
SANDBOX_TODAY = date(2026, 11, 20)


@pytest.fixture(scope="session")
def registry() -> TenantRegistry:
    return load_registry(REPO_ROOT / "tenants.yaml")


@pytest.fixture(scope="session")
def sandbox(registry: TenantRegistry) -> Iterator[SandboxServer]:
    """A sandbox serving the demo tenants, started once per test session."""
    world = World(registry, SandboxClock(SANDBOX_TODAY))
    with SandboxServer(world) as server:
        yield server


@pytest.fixture
def sandbox_client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An HTTP client on the sandbox; faults and the clock are reset after each test."""
    with httpx.Client(base_url=sandbox.url, timeout=60) as client:
        yield client
    sandbox.faults.clear()
    sandbox.world.clock.set(SANDBOX_TODAY)
