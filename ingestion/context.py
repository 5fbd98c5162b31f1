"""What a connector gets for one run of one tenant × source: config, credentials, window.

Connectors (`ingestion/<source>.py`) build their dlt source from a `SourceContext`. It hands
them an `ApiClient` already bound to the tenant, and date cursors that implement the load
window: the first run backfills `history_days`; later runs re-read `restatement_days` before
the last loaded day (dlt's incremental `lag`), so restated days are fetched again and merged over
the old values; an explicit `--from/--to` backfill reads exactly that window and leaves the
cursor where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dlt

from aya.tenants import Tenant
from ingestion.http import ApiClient
from ingestion.progress import SourceRun


@dataclass
class SourceContext:
    tenant: Tenant
    source: str
    base_url: str
    credentials: dict[str, str]
    run: SourceRun
    first_day: date  # first day of the backfill when there is no state yet (or of --from)
    last_day: date  # last complete day to ask for (yesterday, or --to)
    explicit_window: bool  # --from/--to given: read exactly that window, keep the cursor
    restatement_days: int

    @property
    def tenant_id(self) -> str:
        return self.tenant.id

    def client(self, **options: Any) -> ApiClient:
        """An `ApiClient` on this source's base URL, redacting this tenant's credentials."""
        return ApiClient(
            tenant_id=self.tenant.id,
            source=self.source,
            base_url=self.base_url,
            run=self.run,
            secrets=self.credentials.values(),
            **options,
        )

    def date_cursor(self, cursor_path: str, lag_days: int | None = None) -> dlt.sources.incremental:
        """An incremental cursor on an ISO date column, lagging by the restatement window."""
        lag = self.restatement_days if lag_days is None else lag_days
        return dlt.sources.incremental(
            cursor_path,
            initial_value=self.first_day.isoformat(),
            end_value=(self.last_day + timedelta(days=1)).isoformat()
            if self.explicit_window
            else None,
            lag=lag or None,
            range_end="open",
            primary_key=(),  # no boundary dedup: the merge on natural keys removes duplicates
        )

    def window_start(self, cursor: dlt.sources.incremental) -> date:
        """The first day to request: the lagged cursor, never before the configured history."""
        start = cursor.start_value or self.first_day.isoformat()
        return max(date.fromisoformat(str(start)[:10]), self.first_day)
