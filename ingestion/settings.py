"""Where ingestion writes, and how pipelines and datasets are named per tenant and source.

All data lives under `AYA_DATA_DIR` (default `./data`): the warehouse `warehouse.duckdb` and
dlt's per-pipeline working folders under `dlt_pipelines/`. Each tenant × source has its own
pipeline (so incremental state is per tenant) writing dataset `raw_<source>__<tenant>`. FX
rates are shared by all tenants: one pipeline writing `raw_fx`.
"""

from __future__ import annotations

import os
from pathlib import Path

FX_SOURCE = "fx"
FX_DATASET = "raw_fx"
FX_PIPELINE = "aya__fx"


def data_dir() -> Path:
    return Path(os.environ.get("AYA_DATA_DIR", "data")).resolve()


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def pipelines_dir() -> Path:
    return data_dir() / "dlt_pipelines"


def dataset_name(source: str, tenant_id: str) -> str:
    return f"raw_{source}__{tenant_id}"


def pipeline_name(source: str, tenant_id: str) -> str:
    return f"aya__{source}__{tenant_id}"
