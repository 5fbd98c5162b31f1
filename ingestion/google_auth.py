"""Google OAuth 2.0 for the Google Ads and GA4 connectors: a refresh token becomes access tokens.

Both APIs take `Authorization: Bearer <access token>`. The tenant's `client_id`,
`client_secret` and `refresh_token` (from dlt's providers) are exchanged at Google's token
endpoint (`token_url` in tenants.yaml, by default https://oauth2.googleapis.com/token) with the
refresh-token grant; an access token that expires during a run is renewed by the `ApiClient`
when the API answers 401. Google's refusals (`invalid_grant`, `invalid_client`,
`unauthorized_client`) become one clear `SourceError` saying which credential to renew.
`google_api_client` hands each connector's own `response_hooks` and `explain_refusal` (Google's
error envelope in that API's terms) to its `ApiClient`.
"""

from __future__ import annotations

from collections.abc import Iterable

from aya.tenants import SourceName
from ingestion.context import SourceContext
from ingestion.http import ApiClient, RefusalExplainer, ResponseHook

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
TOKEN_ENDPOINT = "POST /token (OAuth refresh-token grant)"


class GoogleAuth:
    """Access tokens for one tenant × Google source, obtained with its refresh token."""

    def __init__(self, context: SourceContext) -> None:
        config = context.tenant.sources[SourceName(context.source)]
        self._token_url = config.resolved_token_url(GOOGLE_TOKEN_URL)
        self._credentials = context.credentials
        self._source = context.source
        self._tenant_id = context.tenant_id
        self._client = context.client()
        self.secrets: list[str] = []

    def bearer_headers(self) -> dict[str, str]:
        """`Authorization` headers with a freshly issued access token."""
        return {"Authorization": f"Bearer {self._access_token()}"}

    def _access_token(self) -> str:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._credentials["client_id"],
            "client_secret": self._credentials["client_secret"],
            "refresh_token": self._credentials["refresh_token"],
        }
        response = self._client.send("POST", self._token_url, TOKEN_ENDPOINT, form=form)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or not isinstance(answer, dict):
            raise self._refused(response.status_code, answer if isinstance(answer, dict) else {})
        token = self._client.require(answer, "access_token", TOKEN_ENDPOINT)
        self.secrets.append(token)
        self._client.add_secret(token)
        return token

    def _refused(self, status: int, answer: dict) -> Exception:
        error = answer.get("error", f"HTTP {status}")
        description = answer.get("error_description", "")
        section = f"[sources.{self._source}.{self._tenant_id}]"
        if error == "invalid_grant":
            action = (
                f"the refresh_token under {section} was revoked or expired: authorise the app "
                "again (OAuth consent) and store the new refresh token"
            )
        elif error in ("invalid_client", "unauthorized_client"):
            action = (
                f"check client_id and client_secret under {section}: the refresh token must "
                "have been issued to that OAuth client"
            )
        else:
            action = f"check the OAuth credentials under {section} and the token_url"
        return self._client.fail(
            TOKEN_ENDPOINT,
            f"Google refused the refresh-token grant ({error}: {description})",
            f"{action}; data loaded before is untouched",
        )


def google_api_client(
    context: SourceContext,
    *,
    response_hooks: Iterable[ResponseHook] = (),
    explain_refusal: RefusalExplainer | None = None,
    **headers: str,
) -> ApiClient:
    """An `ApiClient` that fetches a bearer token on its first request (building it does no
    I/O), renews it once on a 401 and redacts it; the hooks and the explainer are
    `ApiClient`'s, `headers` are sent with every request."""
    auth = GoogleAuth(context)

    def renewed_headers() -> dict[str, str]:
        fresh = auth.bearer_headers()
        client.add_secret(auth.secrets[-1])
        return fresh

    client = context.client(
        headers=headers,
        refresh_auth=renewed_headers,
        response_hooks=response_hooks,
        explain_refusal=explain_refusal,
    )
    return client
