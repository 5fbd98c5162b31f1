"""Switchable faults per tenant and source, so tests and the demo can make an API misbehave.

A fault is armed for one tenant × source with a kind and, optionally, how many requests it
hits (`count`, default: until cleared) after how many clean ones (`skip`). Each vendor module
asks `take()` on every request and answers the fault in that vendor's own shape (a Meta code 17,
a Shopify THROTTLED body, a Stripe rate_limit error...). `schema_drift` is not consumed: while
armed, rows carry a field the vendor has just added.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    SLOW = "slow"
    MALFORMED = "malformed"
    EXPIRED_TOKEN = "expired_token"
    SCHEMA_DRIFT = "schema_drift"


@dataclass
class Fault:
    kind: FaultKind
    count: int | None = None  # requests it still hits; None = until cleared
    skip: int = 0  # clean requests to let through first
    seconds: float = 2.0  # delay for SLOW; Retry-After hint for RATE_LIMIT


class FaultBoard:
    """The armed faults, keyed by (tenant id, source name); safe across server threads."""

    def __init__(self) -> None:
        self._faults: dict[tuple[str, str], list[Fault]] = {}
        self._lock = threading.Lock()
        self.fired: dict[tuple[str, str, FaultKind], int] = {}

    def arm(self, tenant_id: str, source: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault((tenant_id, source), []).append(fault)

    def clear(self, tenant_id: str | None = None, source: str | None = None) -> None:
        """Disarm the faults of a tenant and/or source (all by default) and forget how often
        they fired, so the next test counts from zero."""

        def matches(key: tuple[str, ...]) -> bool:
            return (tenant_id is None or key[0] == tenant_id) and (
                source is None or key[1] == source
            )

        with self._lock:
            for key in [key for key in self._faults if matches(key)]:
                del self._faults[key]
            for fired in [fired for fired in self.fired if matches(fired)]:
                del self.fired[fired]

    def take(self, tenant_id: str, source: str) -> Fault | None:
        """The fault this request suffers, if any, consuming one use of it."""
        with self._lock:
            for fault in self._faults.get((tenant_id, source), []):
                if fault.kind is FaultKind.SCHEMA_DRIFT:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.count is not None:
                    if fault.count <= 0:
                        continue
                    fault.count -= 1
                key = (tenant_id, source, fault.kind)
                self.fired[key] = self.fired.get(key, 0) + 1
                return fault
            return None

    def drifting(self, tenant_id: str, source: str) -> bool:
        """True while rows of this tenant × source carry a newly added field."""
        with self._lock:
            return any(
                f.kind is FaultKind.SCHEMA_DRIFT for f in self._faults.get((tenant_id, source), [])
            )

    def fired_count(self, tenant_id: str, source: str, kind: FaultKind) -> int:
        with self._lock:
            return self.fired.get((tenant_id, source, kind), 0)
