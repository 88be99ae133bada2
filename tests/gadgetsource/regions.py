"""The gadget API's endpoint per region: its column of the region table."""

from __future__ import annotations

from exporter.regions import standard_column

ENDPOINTS = standard_column("gadget-ext", regions=("cn-north-4", "tr-west-1"))
