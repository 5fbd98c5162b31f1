"""Tenants as Dagster partitions: one dynamic partition per tenant of `tenants.yaml`.

The partition set lives in the Dagster instance and the `tenant_registry` sensor keeps it in step
with the registry file, so adding a tenant to the file adds its partition (and its first load)
without a code change or a reload. `run_tenants` says which tenants a run covers, from the tags
Dagster puts on partitioned runs: one tenant, or a range of them (a single-run backfill).
"""

from dagster import DagsterInstance, DagsterRun, DynamicPartitionsDefinition

TENANTS = DynamicPartitionsDefinition(name="tenants")

# Dagster's documented run tags for a partitioned run (dagster._core.storage.tags).
PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def registered_tenants(instance: DagsterInstance) -> list[str]:
    """The tenant partitions the instance knows, in the order they were added."""
    return list(instance.get_dynamic_partitions(TENANTS.name))


def run_tenants(run: DagsterRun, instance: DagsterInstance) -> list[str]:
    """The tenants `run` covers; empty for a run that is not partitioned by tenant."""
    if PARTITION_TAG in run.tags:
        return [run.tags[PARTITION_TAG]]
    start, end = run.tags.get(PARTITION_RANGE_START_TAG), run.tags.get(PARTITION_RANGE_END_TAG)
    if start is None or end is None:
        return []
    tenants = registered_tenants(instance)
    return tenants[tenants.index(start) : tenants.index(end) + 1]
