"""Configurable resources: how ingestion runs, where Slack alerts go, how fresh sources must be.

`Ingestion` runs `ingestion.runner` for some tenants and one source, reading `tenants.yaml`
afresh each time (its path comes from `AYA_TENANTS_FILE`, as everywhere). `SlackWebhook` posts a
message to a Slack incoming webhook (`AYA_SLACK_WEBHOOK_URL`). `SourceFreshness` is the cadence a
source is expected to load at: the daily refresh, plus grace for a slow night.
"""

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta

import httpx
from dagster import ConfigurableResource
from pydantic import Field

from aya.tenants import load_registry
from ingestion.progress import SourceRun
from ingestion.runner import IngestRequest, ingest
from ingestion.settings import FX_SOURCE


class Ingestion(ConfigurableResource):
    """Loads tenants' sources through `ingestion.runner` (retries, windows, recovery live there)."""

    today: str | None = Field(
        default=None,
        description="The day ingestion treats as today (ISO date); default: the UTC date. Set it "
        "to match a sandbox whose clock is fixed.",
    )

    def load(self, tenant_ids: Sequence[str], source: str) -> list[SourceRun]:
        """One run of `source` per tenant of `tenant_ids`; never raises for a failed run (see
        each run's `.error`)."""
        if not tenant_ids:
            raise ValueError(f"no tenant to load {source} for")
        return self._ingest(IngestRequest(tenant_ids=tuple(tenant_ids), sources=(source,)))

    def load_fx(self) -> SourceRun:
        """The shared FX feed, for every currency the registry uses."""
        [run] = self._ingest(IngestRequest(sources=(FX_SOURCE,)))
        return run

    def _ingest(self, request: IngestRequest) -> list[SourceRun]:
        today = date.fromisoformat(self.today) if self.today else None
        return ingest(load_registry(), dataclasses.replace(request, today=today))


class SlackWebhook(ConfigurableResource):
    """A Slack incoming webhook (https://api.slack.com/messaging/webhooks)."""

    url: str = Field(description="The webhook URL, a secret: set AYA_SLACK_WEBHOOK_URL.")

    def post(self, text: str) -> None:
        response = httpx.post(self.url, json={"text": text}, timeout=10)
        response.raise_for_status()


class SourceFreshness(ConfigurableResource):
    """How old a tenant's last complete load of a source may be before it counts as stale."""

    expected_cadence_hours: float = Field(default=24, description="The refresh runs daily.")
    grace_hours: float = Field(default=3, description="Slack for a slow or retried night.")

    @property
    def max_age(self) -> timedelta:
        return timedelta(hours=self.expected_cadence_hours + self.grace_hours)
