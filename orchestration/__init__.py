"""Dagster orchestration of Ask Your Ads: the code location `orchestration.definitions` loads.

Wiring only: raw dlt assets per source, dbt assets by layer, a serving snapshot per tenant, all
partitioned by tenant; schedules, sensors and checks. The work itself lives in `ingestion/`
(loads), the dbt project (models) and `aya/` (warehouse lock, snapshots). docs/architecture.md
explains how the parts fit.
"""
