"""Reads a tenant's credentials for one source from dlt's config providers.

Secrets live in `[sources.<source>.<tenant_id>]` of `.dlt/secrets.toml` or in environment
variables (`SOURCES__<SOURCE>__<TENANT_ID>__<KEY>`), never in tenants.yaml. A missing key is
reported with the exact section and variable name to set.
"""

from __future__ import annotations

import dlt

from ingestion.errors import SourceError

# The keys each source needs; README, "Configuring a real tenant", says where to get them.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "google_ads": ("client_id", "client_secret", "refresh_token", "developer_token"),
    "ga4": ("client_id", "client_secret", "refresh_token"),
    "meta_ads": ("access_token",),
    "linkedin_ads": ("access_token",),
    "shopify": ("access_token",),
    "stripe": ("api_key",),
    "fx": (),
}


def source_credentials(tenant_id: str, source: str) -> dict[str, str]:
    """Every key `source` needs for `tenant_id`, resolved through dlt's providers."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for key in REQUIRED_KEYS[source]:
        value = dlt.secrets.get(f"sources.{source}.{tenant_id}.{key}")
        if value in (None, ""):
            missing.append(key)
        else:
            values[key] = str(value)
    if missing:
        variables = ", ".join(
            f"SOURCES__{source.upper()}__{tenant_id.upper()}__{key.upper()}" for key in missing
        )
        raise SourceError(
            tenant_id,
            source,
            "(credentials)",
            f"missing credentials {missing}",
            f"set them under [sources.{source}.{tenant_id}] in .dlt/secrets.toml or as "
            f"environment variables {variables} (for the sandbox: "
            "`aya sandbox credentials --write .dlt/secrets.toml`)",
        )
    return values
