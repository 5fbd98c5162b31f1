"""HTTP for one tenant × source: retries on the vendor's throttle signals, clear failures.

Every connector talks to its API through `ApiClient`. Requests go through dlt's retrying
session: 429 and 5xx are retried with exponential backoff that honours `Retry-After`, and a
vendor-specific predicate can ask for a retry on signals that are not HTTP statuses (Shopify's
THROTTLED answer with status 200, Meta's rate-limit codes with status 400). The session checks
the status before any predicate, so a vendor's wait hint in a 429 body never reaches `retry_on`:
`response_hooks` (requests' hook signature) run on every attempt's response before the retry
decision and may set `Retry-After` from it. Whatever still fails becomes a `SourceError` naming
the tenant, source and endpoint, with secrets redacted: `explain_refusal` may say what a final
error answer means in the vendor's terms (a `Refusal`: problem and action); otherwise a generic
message per status does. `refresh_auth` supplies the auth headers before the first request and
renews an expired OAuth token once, on a 401, before giving up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import requests
from dlt.sources.helpers.requests import Client

from ingestion.errors import SourceError, redact
from ingestion.progress import SourceRun

RETRY_STATUSES = (429, 500, 502, 503, 504)
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_BACKOFF_FACTOR = 0.5
DEFAULT_MAX_RETRY_DELAY = 60.0

RetryPredicate = Callable[[requests.Response | None, BaseException | None], bool]
ResponseHook = Callable[..., None]  # hook(response, *args, **kwargs), as requests calls it


class Refusal(NamedTuple):
    """What a vendor's error answer means (`problem`) and what to do about it (`action`)."""

    problem: str
    action: str


RefusalExplainer = Callable[[requests.Response], Refusal | None]


class ApiClient:
    """A vendor API as seen by one tenant × source."""

    def __init__(
        self,
        *,
        tenant_id: str,
        source: str,
        base_url: str,
        run: SourceRun,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        retry_on: RetryPredicate | None = None,
        refresh_auth: Callable[[], dict[str, str]] | None = None,
        response_hooks: Iterable[ResponseHook] = (),
        explain_refusal: RefusalExplainer | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    ) -> None:
        """`response_hooks` see every attempt's response before the retry decision (and may set
        its `Retry-After`); `explain_refusal` is asked first what a final answer of HTTP 4xx/5xx
        means, and `None` leaves it to the generic messages."""
        self.tenant_id = tenant_id
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.run = run
        self.headers = dict(headers or {})
        self.secrets = [s for s in secrets if s]
        self._refresh_auth = refresh_auth
        self._authenticated = False
        self._explain_refusal = explain_refusal
        self._max_attempts = max_attempts
        self._session = Client(
            raise_for_status=False,
            status_codes=RETRY_STATUSES,
            retry_condition=retry_on,
            request_max_attempts=max_attempts,
            request_backoff_factor=backoff_factor,
            request_max_retry_delay=DEFAULT_MAX_RETRY_DELAY,
            respect_retry_after_header=True,
        ).session
        self._session.hooks["response"].extend(response_hooks)

    def add_secret(self, value: str) -> None:
        """Also redact `value` (a token obtained at run time) from errors."""
        self.secrets.append(value)

    def fail(self, endpoint: str, problem: str, action: str) -> SourceError:
        """A `SourceError` for this tenant × source, with secrets redacted."""
        return SourceError(
            self.tenant_id,
            self.source,
            redact(endpoint, self.secrets),
            redact(problem, self.secrets),
            action,
        )

    def require(self, payload: Any, key: str, endpoint: str) -> Any:
        """`payload[key]`, or a `SourceError` saying the API answered an unexpected shape."""
        if not isinstance(payload, dict) or key not in payload:
            raise self.fail(
                endpoint,
                f"the API answered an unexpected shape (no '{key}' in the answer)",
                "rerun; if it persists the vendor changed its API: update the connector",
            )
        return payload[key]

    def request_json(
        self,
        method: str,
        path_or_url: str,
        *,
        endpoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer, after retries; raises `SourceError` otherwise."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"
        endpoint = endpoint or f"{method} {path_or_url.split('?')[0]}"
        if self._refresh_auth is not None and not self._authenticated:
            self.headers.update(self._refresh_auth())  # the first token, on the first request
            self._authenticated = True
        response = self.send(method, url, endpoint, params, json_body, form, headers)
        if response.status_code == 401 and self._refresh_auth is not None:
            self.headers.update(self._refresh_auth())
            response = self.send(method, url, endpoint, params, json_body, form, headers)
        if response.status_code >= 400:
            raise self.refused(endpoint, response)
        try:
            payload = response.json()
        except (json.JSONDecodeError, ValueError):
            raise self.fail(
                endpoint,
                f"the API answered a malformed page (not valid JSON, {len(response.content)} "
                "bytes)",
                "rerun; nothing of this window was committed, so the next run fetches it again",
            ) from None
        self.run.count_page()
        return payload

    def refused(self, endpoint: str, response: requests.Response) -> SourceError:
        """The `SourceError` for a final error answer: the vendor's explanation if
        `explain_refusal` has one, else a generic message for its status."""
        explained = self._explain_refusal(response) if self._explain_refusal else None
        if explained is not None:
            return self.fail(endpoint, *explained)
        if response.status_code in (401, 403):
            return self.fail(
                endpoint,
                f"the API refused the credentials (HTTP {response.status_code}: "
                f"{_excerpt(response)})",
                f"renew or fix the {self.source} credentials of tenant '{self.tenant_id}' "
                f"under [sources.{self.source}.{self.tenant_id}] and check the account id "
                "in tenants.yaml; data loaded before is untouched",
            )
        if response.status_code in RETRY_STATUSES:
            return self.fail(
                endpoint,
                f"HTTP {response.status_code} after {self._max_attempts} attempts: "
                f"{_excerpt(response)}",
                "rerun later (the vendor may be down or throttling); data loaded before is "
                "untouched",
            )
        return self.fail(
            endpoint,
            f"the API refused the request (HTTP {response.status_code}: {_excerpt(response)})",
            f"check the account id in tenants.yaml; otherwise the vendor changed its API: "
            f"update ingestion/{self.source}.py. Data loaded before is untouched",
        )

    def send(
        self,
        method: str,
        url: str,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """The response after retries, whatever its status; `SourceError` if unreachable."""
        try:
            return self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=form,
                headers={**self.headers, **(headers or {})},
            )
        except requests.RequestException as error:
            raise self.fail(
                endpoint,
                f"could not reach the API after {self._max_attempts} attempts "
                f"({type(error).__name__}: {error})",
                "check the source's base_url in tenants.yaml and the network, then rerun",
            ) from None


def _excerpt(response: requests.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")
