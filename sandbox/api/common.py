"""Helpers every vendor module of the sandbox shares: reaching the world, faults and clock."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from starlette.requests import Request

from sandbox.faults import Fault, FaultBoard, FaultKind
from sandbox.world.calendar import WORLD_START
from sandbox.world.tenant_world import World


def world_of(request: Request) -> World:
    return request.app.state.world


def faults_of(request: Request) -> FaultBoard:
    return request.app.state.faults


async def take_fault(request: Request, tenant_id: str, source: str) -> Fault | None:
    """The fault for this request after sleeping out a SLOW one (which then lets it through)."""
    fault = faults_of(request).take(tenant_id, source)
    if fault is not None and fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.seconds)
        return None
    return fault


def served_days(world: World, first: date, last: date) -> list[date]:
    """The days in [first, last] that have data: inside the world and before the sandbox today."""
    start = max(first, WORLD_START)
    stop = min(last, world.today_date() - timedelta(days=1))
    return [start + timedelta(days=n) for n in range((stop - start).days + 1)]
