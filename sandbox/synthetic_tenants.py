"""Synthetic tenant registries for scale work: N tenants cloned from the demo tenants' shapes.

Tenant k copies demo tenant k mod 3 (sources, currencies, business) under a new id and new
account ids, so 100 tenants exercise every source and hard case while each has its own world.
"""

from __future__ import annotations

from aya.tenants import Tenant, TenantRegistry
from sandbox.world.randomness import stable_digits


def synthetic_registry(template: TenantRegistry, count: int) -> TenantRegistry:
    """`count` tenants `t001`, `t002`, ... modelled on `template`'s tenants in turn."""
    tenants = [
        _clone(template.tenants[index % len(template.tenants)], index + 1) for index in range(count)
    ]
    return template.model_copy(update={"tenants": tenants})


def _clone(model: Tenant, number: int) -> Tenant:
    tenant_id = f"t{number:03d}_{model.id}"[:40]
    sources = {}
    for source, config in model.sources.items():
        account_id = config.account_id
        if account_id.isdigit():
            account_id = stable_digits(len(account_id), tenant_id, source.value)
        else:
            account_id = f"{account_id}-{number:03d}"
        base_url = (config.base_url or "").replace(f"/{config.account_id}", f"/{account_id}")
        sources[source] = config.model_copy(
            update={"account_id": account_id, "base_url": base_url or None}
        )
    return model.model_copy(
        update={
            "id": tenant_id,
            "display_name": f"{model.display_name} #{number}",
            "sources": sources,
        }
    )
