"""CodeArts Build's endpoint per region: its column of :mod:`exporter.regions`' table.

https://support.huaweicloud.com/api-codeci/cloudbuild_03_0003.html ,
https://support.huaweicloud.com/eu/api-codeci/cloudbuild_03_0003.html , and huaweicloud-sdk-python-v3
huaweicloudsdkcodeartsbuild/v3/region/codeartsbuild_region.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exporter.regions import standard_column

ENDPOINTS: Mapping[str, str] = MappingProxyType(
    standard_column("cloudbuild-ext") | {"eu-west-101": "https://build-backend.eu-west-101.myhuaweicloud.eu"})
