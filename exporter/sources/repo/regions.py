"""CodeArts Repo's endpoint per region: its column of :mod:`exporter.regions`' table.

https://support.huaweicloud.com/intl/api-codeartsrepo/codeartsrepo_05_0001.html ,
https://support.huaweicloud.com/eu/api-codeartsrepo/codeartsrepo_05_0022.html , and huaweicloud-sdk-python-v3
huaweicloudsdkcodeartsrepo/v4/region/codeartsrepo_region.py. The SDK lists the EU-Dublin host under .com, but
the EU Repo docs' example, the EU Build docs and the SDK's IAM host all use .eu: we follow the region's docs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exporter.regions import standard_column

ENDPOINTS: Mapping[str, str] = MappingProxyType(
    standard_column("codehub-ext", hosts={"la-south-2": "codeartsrepo-ext", "tr-west-1": "codeartsrepo-ext"})
    | {"eu-west-101": "https://codeartsrepo-ext.eu-west-101.myhuaweicloud.eu"})
