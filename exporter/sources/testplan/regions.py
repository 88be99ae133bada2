"""CodeArts TestPlan's endpoint per region: its column of :mod:`exporter.regions`' table.

huaweicloud-sdk-python-v3 huaweicloudsdkcloudtest/v1/region/cloudtest_region.py (``cloudtest-ext.<region>``)
lists eight regions on myhuaweicloud.com, and cn-east-2 on myhuaweicloud.cn (the other services of cn-east-2
are on .com). Any other region: ``endpoints.testplan`` names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exporter.regions import standard_column

ENDPOINTS: Mapping[str, str] = MappingProxyType({
    **standard_column("cloudtest-ext", regions=("cn-north-1", "cn-north-4", "cn-south-1", "cn-south-2", "cn-east-3",
                                                "la-north-2", "sa-brazil-1", "ap-southeast-3")),
    "cn-east-2": "https://cloudtest-ext.cn-east-2.myhuaweicloud.cn",
})
