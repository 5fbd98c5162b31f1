"""The tenant registry accepts the demo file and refuses bad entries with a precise message."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from aya.tenants import SourceName, TenantRegistryError, load_registry, parse_registry

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def document() -> dict:
    return yaml.safe_load((REPO_ROOT / "tenants.yaml").read_text())


def _error_for(document: dict, tmp_path: Path) -> str:
    file = tmp_path / "tenants.yaml"
    file.write_text(yaml.safe_dump(document))
    with pytest.raises(TenantRegistryError) as caught:
        load_registry(file)
    return str(caught.value)


def test_demo_registry_covers_every_source_and_the_hard_cases() -> None:
    registry = load_registry(REPO_ROOT / "tenants.yaml")
    assert len(registry.tenants) == 3
    used = {source for tenant in registry.tenants for source in tenant.sources}
    assert used == set(SourceName)
    uk = registry.get("thistle_and_thread")
    assert uk.reporting_currency == "GBP"
    assert uk.account_currency(SourceName.META_ADS) == "EUR"
    assert "JPY" in uk.sandbox.extra_payment_currencies
    assert registry.get("ledgerly_saas").timezone == "Europe/Berlin"


def test_restatement_days_default_per_source_and_override(document: dict) -> None:
    document["tenants"][0]["sources"]["meta_ads"]["restatement_days"] = 7
    tenant = parse_registry(document).tenants[0]
    assert tenant.restatement_days(SourceName.META_ADS) == 7
    assert tenant.restatement_days(SourceName.GOOGLE_ADS) == 30
    assert tenant.restatement_days(SourceName.GA4) == 3


@pytest.mark.parametrize(
    ("mutate", "field", "hint"),
    [
        (lambda t: t.update(id="Bad-Slug"), "id", "not a tenant slug"),
        (lambda t: t.update(id="../etc/passwd"), "id", "not a tenant slug"),
        (lambda t: t.update(id="x"), "id", "not a tenant slug"),
        (lambda t: t.update(reporting_currency="USX"), "reporting_currency", "ISO 4217"),
        (lambda t: t.update(timezone="Mars/Olympus"), "timezone", "IANA timezone"),
        (lambda t: t["sources"].update(tiktok_ads={"account_id": "1"}), "sources.tiktok_ads", ""),
        (lambda t: t["branding"].update(primary_color="red"), "branding.primary_color", "hex"),
        (lambda t: t["sources"]["shopify"].pop("account_id"), "sources.shopify.account_id", ""),
        (lambda t: t.update(sources={}), "sources", "at least one source"),
        (lambda t: t.update(colour="blue"), "colour", "Extra inputs"),
    ],
)
def test_bad_entry_names_file_tenant_and_field(
    document: dict, tmp_path: Path, mutate, field: str, hint: str
) -> None:
    broken = copy.deepcopy(document)
    mutate(broken["tenants"][0])
    message = _error_for(broken, tmp_path)
    assert str(tmp_path / "tenants.yaml") in message
    assert f"field '{field}'" in message
    assert "tenant " in message
    assert hint in message


def test_duplicate_ids_are_refused(document: dict, tmp_path: Path) -> None:
    document["tenants"][1]["id"] = document["tenants"][0]["id"]
    message = _error_for(document, tmp_path)
    assert "duplicate tenant id 'northwind_fashion'" in message


def test_every_problem_is_reported_at_once(document: dict, tmp_path: Path) -> None:
    document["tenants"][0]["timezone"] = "Nowhere/City"
    document["tenants"][2]["reporting_currency"] = "XYZ"
    message = _error_for(document, tmp_path)
    assert "2 problems" in message
    assert "tenant 'northwind_fashion', field 'timezone'" in message
    assert "tenant 'thistle_and_thread', field 'reporting_currency'" in message


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TenantRegistryError, match="not found; set AYA_TENANTS_FILE"):
        load_registry(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("tenants: [unclosed")
    with pytest.raises(TenantRegistryError, match="not valid YAML"):
        load_registry(tmp_path / "bad.yaml")


def test_base_url_expands_environment_and_names_a_missing_variable(
    document: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = parse_registry(document).tenants[0].sources[SourceName.META_ADS]
    monkeypatch.setenv("AYA_SANDBOX_URL", "http://127.0.0.1:9999/")
    assert source.resolved_base_url("https://graph.facebook.com") == "http://127.0.0.1:9999/meta"
    monkeypatch.delenv("AYA_SANDBOX_URL")
    with pytest.raises(TenantRegistryError, match=r"\$\{AYA_SANDBOX_URL\}, which is not set"):
        source.resolved_base_url("https://graph.facebook.com")
