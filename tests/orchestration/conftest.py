"""Fixtures for orchestration tests: a data directory wired to the session's sandbox, tenants on a
short history, an ephemeral Dagster instance, and the code location with test resources.

Everything runs for real: Dagster executes the jobs in-process, the raw assets load the sandbox
through dlt into DuckDB, dbt builds the models, snapshots are written to disk. Only the clock of
ingestion is fixed to the sandbox's, and the Slack webhook is a local HTTP server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from dagster import DagsterInstance, Definitions, instance_for_test

from aya.tenants import TenantRegistry
from sandbox.credentials import credential_variables
from sandbox.server import SandboxServer
from tests.conftest import SANDBOX_TODAY

if TYPE_CHECKING:  # importing orchestration parses the dbt project: only once env is set
    from orchestration.refresh import Refresh

HISTORY_DAYS = 4
NORTHWIND = "northwind_fashion"
LEDGERLY = "ledgerly_saas"
THISTLE = "thistle_and_thread"


@dataclass
class SlackInbox:
    """A local stand-in for a Slack incoming webhook: what was posted to it."""

    url: str
    messages: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackInbox]:
    inbox: list[str] = []

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            inbox.append(json.loads(body)["text"])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SlackInbox(f"http://127.0.0.1:{server.server_port}/services/T0/B0/secret", inbox)
    server.shutdown()
    thread.join()


def short_registry(registry: TenantRegistry, tenant_ids: tuple[str, ...]) -> TenantRegistry:
    tenants = [
        registry.get(tenant).model_copy(update={"history_days": HISTORY_DAYS})
        for tenant in tenant_ids
    ]
    return registry.model_copy(update={"tenants": tenants})


@pytest.fixture(scope="module")
def environment(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxServer, registry: TenantRegistry
) -> Iterator[Path]:
    """A fresh AYA_DATA_DIR holding a tenants.yaml of the demo tenants on a short history, with
    the sandbox's URL and credentials in the environment. Yields the data directory."""
    data = tmp_path_factory.mktemp("aya_data")
    tenants_file = data / "tenants.yaml"
    short = short_registry(registry, tuple(registry.ids))
    tenants_file.write_text(yaml.safe_dump(short.model_dump(mode="json", exclude_none=True)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AYA_DATA_DIR", str(data))
        patch.setenv("AYA_TENANTS_FILE", str(tenants_file))
        patch.setenv("AYA_SANDBOX_URL", sandbox.url)
        for variable, value in credential_variables(registry).items():
            patch.setenv(variable, value)
        yield data


@pytest.fixture(scope="module")
def definitions(environment: Path, slack: SlackInbox) -> Definitions:
    """The code location, ingesting as of the sandbox's day and alerting the local webhook."""
    from orchestration.definitions import build_definitions
    from orchestration.resources import Ingestion, SlackWebhook

    return build_definitions(
        ingestion=Ingestion(today=SANDBOX_TODAY.isoformat()), slack=SlackWebhook(url=slack.url)
    )


@pytest.fixture(scope="module")
def instance(environment: Path, registry: TenantRegistry) -> Iterator[DagsterInstance]:
    """A throwaway Dagster instance (temporary DAGSTER_HOME) with a partition per demo tenant."""
    with instance_for_test() as dagster_instance:
        dagster_instance.add_dynamic_partitions("tenants", registry.ids)
        yield dagster_instance


def refresh(definitions: Definitions, instance: DagsterInstance, *tenant_ids: str) -> Refresh:
    """The nightly refresh of `tenant_ids`, run in-process as the demo runs it: one ingestion
    run per tenant, then one build; failures are returned (and snapshots marked stale)."""
    from orchestration.refresh import refresh_tenants

    return refresh_tenants(definitions, instance, tenant_ids)
