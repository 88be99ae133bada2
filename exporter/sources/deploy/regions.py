"""CodeArts Deploy's endpoint per region: its column of :mod:`exporter.regions`' table.

huaweicloud-sdk-python-v3 huaweicloudsdkcodeartsdeploy/v2/region/codeartsdeploy_region.py
(``codearts-deploy.<region>`` in ap-southeast-3, cn-south-1, cn-east-2, cn-east-3, cn-north-1, cn-north-4,
sa-brazil-1, la-north-2 and tr-west-1; the API Explorer's host for cn-north-4 agrees). Elsewhere a region
still serves the other APIs, and ``endpoints.deploy`` can name a Deploy host.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exporter.regions import standard_column

REGIONS = ("ap-southeast-3", "cn-south-1", "cn-east-2", "cn-east-3", "cn-north-1", "cn-north-4", "sa-brazil-1",
           "la-north-2", "tr-west-1")
ENDPOINTS: Mapping[str, str] = MappingProxyType(standard_column("codearts-deploy", REGIONS))
