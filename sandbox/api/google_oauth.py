"""Google's OAuth 2.0 token endpoint for the Google Ads and GA4 tenants, and the bearer check.

Mounted at `/oauth2`: `POST /token` takes the form-encoded refresh-token grant (`grant_type`,
`client_id`, `client_secret`, `refresh_token`) as developers.google.com/identity/protocols/oauth2
documents it and answers `access_token`, `expires_in` (3599), `scope` and `token_type` "Bearer",
or Google's own failures: `invalid_request` and `unsupported_grant_type` (400), an unknown client
or wrong secret `invalid_client` (401), an unknown refresh token `invalid_grant` "Bad Request"
(400) and one issued to another client `unauthorized_client` (401). Access tokens are the
world's stateless `ya29.` tokens, valid for an hour of real (wall-clock) time. `check_bearer`
and `authenticate_bearer` check `Authorization: Bearer` for the Google APIs the way Google's
front end does: a missing credential, a forged or expired token (401 UNAUTHENTICATED, with
`WWW-Authenticate`) and a token minted for the other API (403 insufficient scopes), answered in
the google.rpc error envelope `{"error": {"code", "message", "status", "details"}}`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aya.tenants import SourceName, Tenant
from sandbox.api.common import world_of
from sandbox.world.tenant_world import (
    World,
    issue_access_token,
    read_access_token,
    sandbox_credentials,
)

TOKEN_LIFETIME_SECONDS = 3599
GOOGLE_SOURCES = (SourceName.GOOGLE_ADS, SourceName.GA4)
SCOPES = {
    SourceName.GOOGLE_ADS: "https://www.googleapis.com/auth/adwords",
    SourceName.GA4: "https://www.googleapis.com/auth/analytics.readonly",
}
SERVICES = {
    SourceName.GOOGLE_ADS: "googleads.googleapis.com",
    SourceName.GA4: "analyticsdata.googleapis.com",
}
_CREDENTIAL_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIALS_MESSAGE = (
    f"Request is missing required authentication credential. {_CREDENTIAL_HELP}"
)
INVALID_CREDENTIALS_MESSAGE = f"Request had invalid authentication credentials. {_CREDENTIAL_HELP}"
_NO_CACHE = {
    "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
    "Pragma": "no-cache",
}
_REALM = 'Bearer realm="https://accounts.google.com/"'


# --- the google.rpc error envelope ----------------------------------------------------------


def google_error_body(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`{"error": {...}}` as Google's JSON APIs answer a failed call."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def google_error(
    code: int,
    status: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(google_error_body(code, status, message, details), code, headers=headers)


# --- the bearer check ---------------------------------------------------------------------


@dataclass(frozen=True)
class BearerFailure:
    """Why a request's bearer token was refused, as Google's front end reports it."""

    code: int
    status: str
    message: str
    reason: str  # google.rpc.ErrorInfo reason

    @property
    def headers(self) -> dict[str, str]:
        if self.code != 401:
            return {}
        if self.reason == "CREDENTIALS_MISSING":
            return {"WWW-Authenticate": _REALM}
        return {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'}


CREDENTIALS_MISSING = BearerFailure(
    401, "UNAUTHENTICATED", MISSING_CREDENTIALS_MESSAGE, "CREDENTIALS_MISSING"
)
TOKEN_INVALID = BearerFailure(
    401, "UNAUTHENTICATED", INVALID_CREDENTIALS_MESSAGE, "ACCESS_TOKEN_TYPE_UNSUPPORTED"
)
TOKEN_EXPIRED = BearerFailure(
    401, "UNAUTHENTICATED", INVALID_CREDENTIALS_MESSAGE, "ACCESS_TOKEN_EXPIRED"
)
SCOPE_INSUFFICIENT = BearerFailure(
    403,
    "PERMISSION_DENIED",
    "Request had insufficient authentication scopes.",
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
)


def check_bearer(request: Request, source: SourceName) -> Tenant | BearerFailure:
    """The tenant whose unexpired `source` token the request bears, or why there is none."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return CREDENTIALS_MISSING
    claims = read_access_token(token.strip())
    if claims is None:
        return TOKEN_INVALID
    tenant_id, token_source, expires_at = claims
    registry = world_of(request).registry
    if tenant_id not in registry.ids:
        return TOKEN_INVALID
    if expires_at < time.time():
        return TOKEN_EXPIRED
    if token_source is not source:
        return SCOPE_INSUFFICIENT
    return registry.get(tenant_id)


def error_info(failure: BearerFailure, source: SourceName) -> list[dict[str, Any]]:
    """The `google.rpc.ErrorInfo` detail Google attaches to an authentication failure."""
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": failure.reason,
            "domain": "googleapis.com",
            "metadata": {"service": SERVICES[source]},
        }
    ]


def authenticate_bearer(
    request: Request,
    source: SourceName,
    details: Callable[[BearerFailure], list[dict[str, Any]]] | None = None,
) -> Tenant | Response:
    """The bearer's tenant, or the error response; `details` replaces the ErrorInfo detail."""
    checked = check_bearer(request, source)
    if isinstance(checked, Tenant):
        return checked
    return google_error(
        checked.code,
        checked.status,
        checked.message,
        details(checked) if details else error_info(checked, source),
        headers=checked.headers,
    )


# --- the token endpoint -------------------------------------------------------------------


def _oauth_error(status_code: int, error: str, description: str) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code, headers=_NO_CACHE)


def _client_of(world: World, client_id: str) -> tuple[Tenant, SourceName] | None:
    for source in GOOGLE_SOURCES:
        tenant = world.tenant_for_secret(source, client_id)
        if tenant and sandbox_credentials(tenant.id, source)["client_id"] == client_id:
            return tenant, source
    return None


def _refresh_token_owner(world: World, refresh_token: str) -> tuple[Tenant, SourceName] | None:
    for source in GOOGLE_SOURCES:
        tenant = world.tenant_for_secret(source, refresh_token)
        if tenant and sandbox_credentials(tenant.id, source)["refresh_token"] == refresh_token:
            return tenant, source
    return None


async def token(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    grant_type = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    refresh_token = form.get("refresh_token", "")
    if grant_type != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    if not client_id:
        return _oauth_error(400, "invalid_request", "Could not determine client ID from request.")
    world = world_of(request)
    client = _client_of(world, client_id)
    if client is None:
        return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
    tenant, source = client
    if form.get("client_secret") != sandbox_credentials(tenant.id, source)["client_secret"]:
        return _oauth_error(401, "invalid_client", "Unauthorized")
    if not refresh_token:
        return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
    owner = _refresh_token_owner(world, refresh_token)
    if owner is None:
        return _oauth_error(400, "invalid_grant", "Bad Request")
    if owner != (tenant, source):
        return _oauth_error(401, "unauthorized_client", "Unauthorized")
    expires_at = int(time.time()) + TOKEN_LIFETIME_SECONDS
    answer = {
        "access_token": issue_access_token(tenant.id, source, expires_at),
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "scope": SCOPES[source],
        "token_type": "Bearer",
    }
    return JSONResponse(answer, headers=_NO_CACHE)


routes = [Route("/token", token, methods=["POST"])]
