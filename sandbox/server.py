"""Runs the sandbox app with uvicorn, in the foreground (CLI) or in a thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from sandbox.app import create_app
from sandbox.faults import FaultBoard
from sandbox.world.tenant_world import World


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SandboxServer:
    """A sandbox listening on 127.0.0.1:`port` in a background thread."""

    def __init__(self, world: World, port: int | None = None) -> None:
        self.world = world
        self.faults = FaultBoard()
        self.port = port or free_port()
        config = uvicorn.Config(
            create_app(world, self.faults),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="sandbox")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sandbox did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve_forever(world: World, port: int) -> None:
    """Serve in the foreground until interrupted (`aya sandbox serve`)."""
    uvicorn.run(create_app(world), host="127.0.0.1", port=port, log_level="info")
