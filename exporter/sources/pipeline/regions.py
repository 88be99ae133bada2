"""CodeArts Pipeline's endpoint per region: its column of :mod:`exporter.regions`' table.

huaweicloud-sdk-python-v3 huaweicloudsdkcodeartspipeline/v2/region/codeartspipeline_region.py
(``cloudpipeline-ext.<region>``; ``pipeline-external.<region>`` in tr-west-1 and la-south-2). The SDK lists no
host in eu-west-101: there a region without a Pipeline host still serves Repo and Build, and
``endpoints.pipeline`` can name one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exporter.regions import standard_column

ENDPOINTS: Mapping[str, str] = MappingProxyType(
    standard_column("cloudpipeline-ext", hosts={"la-south-2": "pipeline-external", "tr-west-1": "pipeline-external"}))
