"""ProjectMan's endpoint per region: its column of :mod:`exporter.regions`' table, for project names only.

The ProjectMan v4 SDK's region table (HuaweiCloud.SDK.ProjectMan.V4 ProjectManRegion) lists
``projectman-ext.<region>`` in cn-north-4, cn-north-1, cn-east-2 and cn-south-1. Optional: elsewhere
``endpoints.projectman`` can name one, and without one the projects are shown by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exporter.regions import standard_column

ENDPOINTS: Mapping[str, str] = MappingProxyType(
    standard_column("projectman-ext", regions=("cn-north-4", "cn-north-1", "cn-east-2", "cn-south-1")))
