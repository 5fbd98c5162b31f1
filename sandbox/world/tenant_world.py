"""The sandbox's view of the tenant registry: which vendor account belongs to which tenant.

`World` is built from the same `tenants.yaml` the pipeline reads, so the sandbox serves exactly
the accounts the tenants are configured with. Each request names an account (a Google customer
id, a Meta `act_` id, a shop) or, for Stripe, only an API key; `World` resolves it to the
tenant's deterministic world and checks the credentials the vendor would check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from datetime import date

from aya.tenants import AD_PLATFORMS, SourceName, Tenant, TenantRegistry
from sandbox.world.calendar import SandboxClock, day_number
from sandbox.world.catalog import AdAccount, build_account

SANDBOX_SECRET_ENV = "AYA_SANDBOX_SECRET"
_DEFAULT_SANDBOX_SECRET = "aya-local-sandbox"


def _secret() -> bytes:
    return os.environ.get(SANDBOX_SECRET_ENV, _DEFAULT_SANDBOX_SECRET).encode()


def _sign(*parts: str, length: int = 32) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(_secret(), message, hashlib.sha256).hexdigest()[:length]


def sandbox_credentials(tenant_id: str, source: SourceName) -> dict[str, str]:
    """The credentials the sandbox accepts for `tenant_id`'s `source`, named as dlt config keys.

    Derived from `AYA_SANDBOX_SECRET`, so they are not stored anywhere and differ per machine
    when that secret does.
    """

    def sign(purpose: str, length: int = 32) -> str:
        return _sign(tenant_id, source.value, purpose, length=length)

    match source:
        case SourceName.GOOGLE_ADS | SourceName.GA4:
            credentials = {
                "client_id": f"{sign('client', length=12)}.apps.googleusercontent.com",
                "client_secret": f"GOCSPX-{sign('secret', length=24)}",
                "refresh_token": f"1//{sign('refresh', length=40)}",
            }
            if source is SourceName.GOOGLE_ADS:
                credentials["developer_token"] = sign("developer", length=22)
            return credentials
        case SourceName.META_ADS:
            return {"access_token": f"EAAB{sign('token', length=48)}"}
        case SourceName.LINKEDIN_ADS:
            return {"access_token": f"AQV{sign('token', length=48)}"}
        case SourceName.SHOPIFY:
            return {"access_token": f"shpat_{sign('token', length=32)}"}
        case SourceName.STRIPE:
            return {"api_key": f"sk_test_{sign('key', length=40)}"}
    raise ValueError(f"no sandbox credentials for source {source!r}")


def issue_access_token(tenant_id: str, source: SourceName, expires_at: int) -> str:
    """A stateless OAuth access token for `tenant_id`'s `source`, valid until `expires_at`."""
    body = f"{tenant_id}.{source.value}.{expires_at}"
    return f"ya29.{body}.{_sign('access', body)}"


def read_access_token(token: str) -> tuple[str, SourceName, int] | None:
    """(tenant, source, expiry) of a token made by `issue_access_token`, or None if forged."""
    parts = token.removeprefix("ya29.").split(".")
    if not token.startswith("ya29.") or len(parts) != 4:
        return None
    tenant_id, source, expires_at, signature = parts
    body = f"{tenant_id}.{source}.{expires_at}"
    if not hmac.compare_digest(signature, _sign("access", body)) or not expires_at.isdigit():
        return None
    return tenant_id, SourceName(source), int(expires_at)


@dataclass
class World:
    """Every tenant's synthetic world, addressed the way the vendors address accounts."""

    registry: TenantRegistry
    clock: SandboxClock = field(default_factory=SandboxClock)

    def __post_init__(self) -> None:
        self._by_account: dict[tuple[SourceName, str], Tenant] = {}
        self._by_secret: dict[tuple[SourceName, str], Tenant] = {}
        for tenant in self.registry.tenants:
            for source, config in tenant.sources.items():
                self._by_account[(source, normalise_account_id(source, config.account_id))] = tenant
                for value in sandbox_credentials(tenant.id, source).values():
                    self._by_secret[(source, value)] = tenant

    def today(self) -> int:
        """The sandbox's today as a world day number; data exists for days before it."""
        return day_number(self.clock.today())

    def today_date(self) -> date:
        return self.clock.today()

    def tenant_for_account(self, source: SourceName, account_id: str) -> Tenant | None:
        return self._by_account.get((source, normalise_account_id(source, account_id)))

    def tenant_for_secret(self, source: SourceName, secret: str) -> Tenant | None:
        return self._by_secret.get((source, secret))

    def tenants_with(self, source: SourceName) -> list[Tenant]:
        return [tenant for tenant in self.registry.tenants if source in tenant.sources]

    def ad_account(self, tenant: Tenant, platform: SourceName) -> AdAccount:
        if platform not in AD_PLATFORMS or platform not in tenant.sources:
            raise KeyError(f"tenant {tenant.id!r} has no {platform.value} account")
        return build_account(
            tenant.id,
            platform.value,
            normalise_account_id(platform, tenant.sources[platform].account_id),
            tenant.sandbox.business,
            tenant.account_currency(platform),
            tenant.timezone,
            tenant.sandbox.scale,
        )

    def ad_accounts(self, tenant: Tenant) -> list[AdAccount]:
        return [self.ad_account(tenant, p) for p in AD_PLATFORMS if p in tenant.sources]


def normalise_account_id(source: SourceName, account_id: str) -> str:
    """Account ids as the world keys them: Google without dashes, Meta without `act_`."""
    text = account_id.strip()
    if source is SourceName.GOOGLE_ADS:
        return text.replace("-", "")
    if source is SourceName.META_ADS:
        return text.removeprefix("act_")
    return text
