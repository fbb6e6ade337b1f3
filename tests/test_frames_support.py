"""Helpers shared by the frame tests (no tests here): the machines frame's dtypes, and reading
a frame's dtypes and one machine's row."""

from __future__ import annotations

import pandas as pd


MACHINE_DTYPES = {
    "datacenter": "string", "id": "string", "name": "string", "state": "category",
    "type": "string", "brand": "string", "image": "string", "image_name": "string",
    "image_version": "string", "package": "string", "package_vcpus": "Int64",
    "package_memory": "Int64", "package_disk": "Int64", "package_swap": "Int64",
    "memory": "Int64", "disk": "Int64", "primary_ip": "string", "public_ips": "object",
    "private_ips": "object", "created": "datetime64[ns, UTC]", "updated": "datetime64[ns, UTC]",
    "age": "timedelta64[ns]", "firewall_enabled": "boolean", "deletion_protection": "boolean",
    "compute_node": "string", "docker": "boolean", "tag_count": "Int64", "tags": "object",
}


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def row_of(frame: pd.DataFrame, machine_id: str) -> pd.Series:
    rows = frame[frame["id"] == machine_id]
    assert len(rows) == 1
    return rows.iloc[0]
