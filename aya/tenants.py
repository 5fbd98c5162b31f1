"""The tenant registry: loads and validates `tenants.yaml`, the one list of the agency's clients.

A tenant is one client of the agency. Its id becomes schema names and paths, so it is a strict
slug. Everything else a part of the product needs to know about a tenant (branding, reporting
currency and timezone, which sources it uses with which accounts, attribution and report
settings) is read from here. Secrets never live in this file: they come from dlt's config
providers. Every validation problem is reported in one `TenantRegistryError` whose lines name the
file, the tenant and the field.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aya.currencies import ISO_4217_CODES

TENANT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
HEX_COLOUR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")
ENV_REFERENCE_PATTERN = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
DEFAULT_TENANTS_FILE = "tenants.yaml"


class SourceName(StrEnum):
    """The data sources a tenant can enable."""

    GOOGLE_ADS = "google_ads"
    META_ADS = "meta_ads"
    LINKEDIN_ADS = "linkedin_ads"
    GA4 = "ga4"
    SHOPIFY = "shopify"
    STRIPE = "stripe"


AD_PLATFORMS = (SourceName.GOOGLE_ADS, SourceName.META_ADS, SourceName.LINKEDIN_ADS)

# How far back each incremental load re-reads, because the platform restates recent days.
DEFAULT_RESTATEMENT_DAYS: dict[SourceName, int] = {
    SourceName.GOOGLE_ADS: 30,
    SourceName.META_ADS: 28,
    SourceName.LINKEDIN_ADS: 30,
    SourceName.GA4: 3,
    SourceName.SHOPIFY: 0,
    SourceName.STRIPE: 0,
}


class TenantRegistryError(ValueError):
    """The registry file is missing or invalid; the message lists every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Branding(_Strict):
    """How the tenant's app and reports look."""

    logo: str | None = None
    primary_color: str = "#1F4E79"

    @field_validator("primary_color")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not HEX_COLOUR_PATTERN.match(value):
            raise ValueError(f"must be a hex colour like '#1F4E79', got {value!r}")
        return value


class SourceConfig(_Strict):
    """One enabled source of a tenant: which vendor account, and where its API lives."""

    account_id: Annotated[str, Field(min_length=1)]
    base_url: str | None = None
    token_url: str | None = None  # OAuth token endpoint, for sources that refresh tokens
    restatement_days: Annotated[int | None, Field(ge=0, le=400)] = None

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("base_url", "token_url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "${")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if value else value

    def resolved_base_url(self, default: str) -> str:
        """The API base URL with `${ENV_VAR}` references expanded, or `default` if unset."""
        return resolve_base_url(self.base_url, default)

    def resolved_token_url(self, default: str) -> str:
        """The OAuth token endpoint with `${ENV_VAR}` references expanded, or `default`."""
        return resolve_base_url(self.token_url, default)


class Attribution(_Strict):
    """Multi-touch attribution settings of a tenant."""

    default_model: str = "last_non_direct_click"
    lookback_days: Annotated[int, Field(ge=1, le=180)] = 30
    half_life_days: Annotated[float, Field(gt=0, le=90)] = 7.0

    @field_validator("default_model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        known = {
            "first_click",
            "last_click",
            "last_non_direct_click",
            "linear",
            "time_decay",
            "position_based",
        }
        if value not in known:
            raise ValueError(f"unknown model {value!r}; choose one of {sorted(known)}")
        return value


class ReportSchedule(_Strict):
    """When the tenant's PDF report is sent, and to whom."""

    cron: str = "0 7 * * 1"
    recipients: list[str] = Field(default_factory=list)

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"must be a 5-field cron expression, got {value!r}")
        return value

    @field_validator("recipients")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address):
                raise ValueError(f"not an e-mail address: {address!r}")
        return value


class SandboxProfile(_Strict):
    """How the local sandbox simulates this tenant; ignored by the pipeline itself.

    `business` chooses the shape of the synthetic world, `account_currencies` sets a vendor
    account's currency where it differs from the reporting currency, and
    `extra_payment_currencies` adds Stripe payments in other currencies.
    """

    business: str = "dtc"
    scale: Annotated[float, Field(gt=0, le=100)] = 1.0
    account_currencies: dict[SourceName, str] = Field(default_factory=dict)
    extra_payment_currencies: list[str] = Field(default_factory=list)

    @field_validator("business")
    @classmethod
    def _known_business(cls, value: str) -> str:
        if value not in {"dtc", "saas"}:
            raise ValueError(f"must be 'dtc' or 'saas', got {value!r}")
        return value

    @field_validator("account_currencies")
    @classmethod
    def _account_currency_codes(cls, value: dict[SourceName, str]) -> dict[SourceName, str]:
        for code in value.values():
            _check_currency(code)
        return value

    @field_validator("extra_payment_currencies")
    @classmethod
    def _payment_currency_codes(cls, value: list[str]) -> list[str]:
        for code in value:
            _check_currency(code)
        return value


def _check_currency(code: str) -> str:
    if code not in ISO_4217_CODES:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (like USD, EUR, GBP)")
    return code


class Tenant(_Strict):
    """One client of the agency."""

    id: str
    display_name: Annotated[str, Field(min_length=1)]
    branding: Branding = Branding()
    reporting_currency: str
    timezone: str
    history_days: Annotated[int, Field(ge=1, le=1100)] = 90
    attribution: Attribution = Attribution()
    reports: ReportSchedule = ReportSchedule()
    sources: dict[SourceName, SourceConfig]
    sandbox: SandboxProfile = SandboxProfile()

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not TENANT_ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a tenant slug: use 2-40 lowercase letters, digits or '_', "
                "starting with a letter (it becomes schema names and paths)"
            )
        return value

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return _check_currency(value)

    @field_validator("timezone")
    @classmethod
    def _iana_timezone(cls, value: str) -> str:
        if value not in _iana_timezones():
            raise ValueError(f"{value!r} is not an IANA timezone (like Europe/Berlin)")
        return value

    @field_validator("sources")
    @classmethod
    def _at_least_one_source(
        cls, value: dict[SourceName, SourceConfig]
    ) -> dict[SourceName, SourceConfig]:
        if not value:
            raise ValueError("enable at least one source")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def restatement_days(self, source: SourceName) -> int:
        """Days an incremental load of `source` re-reads for this tenant."""
        configured = self.sources[source].restatement_days
        return DEFAULT_RESTATEMENT_DAYS[source] if configured is None else configured

    def account_currency(self, source: SourceName) -> str:
        """The currency the sandbox bills `source` in for this tenant."""
        return self.sandbox.account_currencies.get(source, self.reporting_currency)


class FxConfig(_Strict):
    """Where daily reference rates come from (one feed for all tenants)."""

    base_url: str | None = None

    def resolved_base_url(self, default: str) -> str:
        return resolve_base_url(self.base_url, default)


class TenantRegistry(_Strict):
    """All tenants of the agency, in file order."""

    tenants: list[Tenant]
    fx: FxConfig = FxConfig()

    @model_validator(mode="after")
    def _unique_ids(self) -> TenantRegistry:
        seen: set[str] = set()
        for tenant in self.tenants:
            if tenant.id in seen:
                raise ValueError(f"duplicate tenant id {tenant.id!r}")
            seen.add(tenant.id)
        return self

    @property
    def ids(self) -> list[str]:
        return [tenant.id for tenant in self.tenants]

    def get(self, tenant_id: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise KeyError(f"no tenant {tenant_id!r} in the registry; known tenants: {self.ids}")


def _iana_timezones() -> frozenset[str]:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    return _TIMEZONES


_TIMEZONES: frozenset[str] | None = None


def resolve_base_url(base_url: str | None, default: str) -> str:
    """`base_url` with `${ENV_VAR}` references expanded, or `default` when it is unset."""
    if base_url is None:
        return default

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise TenantRegistryError(
                f"base_url {base_url!r} refers to ${{{name}}}, which is not set: "
                f"export {name} (for the sandbox: the URL `aya sandbox serve` prints)"
            )
        return os.environ[name].rstrip("/")

    return ENV_REFERENCE_PATTERN.sub(expand, base_url).rstrip("/")


def tenants_file_path() -> Path:
    """Where the registry lives: `AYA_TENANTS_FILE`, else `tenants.yaml` in the working dir."""
    return Path(os.environ.get("AYA_TENANTS_FILE", DEFAULT_TENANTS_FILE))


def load_registry(path: Path | str | None = None) -> TenantRegistry:
    """Read and validate the registry at `path` (default: `tenants_file_path()`)."""
    file = Path(path) if path is not None else tenants_file_path()
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TenantRegistryError(
            f"{file}: tenant registry not found; set AYA_TENANTS_FILE or create the file"
        ) from None
    except yaml.YAMLError as error:
        raise TenantRegistryError(f"{file}: not valid YAML: {error}") from None
    return parse_registry(document, source_name=str(file))


def parse_registry(document: Any, source_name: str = "tenants.yaml") -> TenantRegistry:
    """Validate an already-parsed registry document; errors name `source_name`."""
    if not isinstance(document, dict) or "tenants" not in document:
        raise TenantRegistryError(f"{source_name}: expected a mapping with a 'tenants' list")
    try:
        return TenantRegistry.model_validate(document)
    except ValidationError as error:
        lines = [_describe(error_item, document, source_name) for error_item in error.errors()]
        raise TenantRegistryError(
            f"{source_name}: invalid tenant registry ({len(lines)} problem"
            f"{'s' if len(lines) != 1 else ''}):\n" + "\n".join(lines)
        ) from None


def _describe(error: Any, document: dict[str, Any], source_name: str) -> str:
    location = [part for part in error["loc"] if part != "[key]"]
    message = error["msg"].removeprefix("Value error, ")
    if location[:1] == ["tenants"] and len(location) >= 2 and isinstance(location[1], int):
        index = location[1]
        tenants = document.get("tenants") or []
        raw = tenants[index] if index < len(tenants) else {}
        name = raw.get("id") if isinstance(raw, dict) else None
        tenant = f"tenant {name!r}" if name else f"tenant #{index + 1}"
        field = ".".join(str(part) for part in location[2:]) or "(entry)"
        return f"  - {source_name}: {tenant}, field '{field}': {message}"
    field = ".".join(str(part) for part in location) or "(top level)"
    return f"  - {source_name}: field '{field}': {message}"
