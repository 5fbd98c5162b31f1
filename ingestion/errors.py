"""The one error a user sees when a tenant's source cannot be loaded, and secret redaction.

`SourceError` always names the tenant, the source, the endpoint and what to do about it.
`redact` removes secret values (and secret-looking query parameters) from any text before it
reaches a log line or an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dlt.sources.helpers.rest_client.redaction import SENSITIVE_PARAMS

_SECRET_PARAM = re.compile(
    r"(?i)\b(" + "|".join(re.escape(p) for p in sorted(SENSITIVE_PARAMS)) + r")=([^&\s\"']+)"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every given secret value and every secret-looking parameter masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}***", text)


class SourceError(RuntimeError):
    """Loading one tenant × source failed; nothing of the failed window was committed."""

    def __init__(
        self, tenant_id: str, source: str, endpoint: str, problem: str, action: str
    ) -> None:
        self.tenant_id = tenant_id
        self.source = source
        self.endpoint = endpoint
        self.problem = problem
        self.action = action
        super().__init__(
            f"tenant '{tenant_id}', source '{source}', endpoint '{endpoint}': {problem}. "
            f"What to do: {action}"
        )
