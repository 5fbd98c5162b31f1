"""The sandbox's own control endpoints (`/_sandbox/...`): clock, faults, health, a Slack inbox.

Not part of any vendor API. Tests and the demo use them to move the sandbox's today (to watch
restatements) and to arm faults for one tenant × source. `/_sandbox/slack` stands in for a Slack
incoming webhook in the demo: it accepts `{"text": ...}` as Slack does and lists what it got.
"""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.faults import Fault, FaultKind


async def health(request: Request) -> JSONResponse:
    world = request.app.state.world
    return JSONResponse(
        {"status": "ok", "today": world.today_date().isoformat(), "tenants": world.registry.ids}
    )


async def clock(request: Request) -> JSONResponse:
    world = request.app.state.world
    if request.method == "POST":
        body = await request.json()
        today = body.get("today")
        world.clock.set(date.fromisoformat(today) if today else None)
    return JSONResponse({"today": world.today_date().isoformat()})


async def faults(request: Request) -> JSONResponse:
    board = request.app.state.faults
    if request.method == "DELETE":
        board.clear(request.query_params.get("tenant"), request.query_params.get("source"))
        return JSONResponse({"cleared": True})
    body = await request.json()
    try:
        fault = Fault(
            kind=FaultKind(body["kind"]),
            count=body.get("count"),
            skip=int(body.get("skip", 0)),
            seconds=float(body.get("seconds", 2.0)),
        )
        board.arm(body["tenant"], body["source"], fault)
    except (KeyError, ValueError) as error:
        return JSONResponse(
            {"error": f"bad fault {body!r}: {error}; kinds: {[k.value for k in FaultKind]}"},
            status_code=400,
        )
    return JSONResponse({"armed": body})


async def slack(request: Request) -> JSONResponse:
    inbox: list[str] = request.app.state.slack_inbox
    if request.method == "POST":
        inbox.append(str((await request.json()).get("text", "")))
        return JSONResponse("ok")
    return JSONResponse({"messages": inbox})


routes = [
    Route("/health", health),
    Route("/clock", clock, methods=["GET", "POST"]),
    Route("/faults", faults, methods=["POST", "DELETE"]),
    Route("/slack", slack, methods=["GET", "POST"]),
]
