"""The default endpoint of each API per Huawei Cloud region: a table ``{region: {api: url}}``.

The core holds IAM's column, whose regions are the ones the exporter knows; each source with a regional
endpoint adds its own column (``Source.regional_endpoints``, kept in its folder with the documents it comes
from). A region is listed where the public docs or the official SDK give the IAM, Repo and Build hosts; a
column may leave a known region out (no Pipeline host in eu-west-101), and any other region works by giving
the endpoints explicitly in the configuration.

IAM: https://support.huaweicloud.com/eu/api-iam/iam_01_0004.html and huaweicloud-sdk-python-v3
huaweicloudsdkiam/v3/region/iam_region.py. Left out because a host is missing from every source:
cn-northeast-1 (no Repo host), me-east-1, af-south-1 and af-north-1 (no Build host), cn-north-2,
ap-southeast-1/2/4, cn-east-4/5 (no Repo or Build host).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = ["IAM", "IAM_ENDPOINTS", "RegionTable", "region_table", "standard_column"]

IAM = "iam"
RegionTable = Mapping[str, Mapping[str, str]]
"""``{region: {api: base URL}}``: https, no trailing slash; ``iam`` and each source's name as ``api``."""

# The regions on the myhuaweicloud.com domain; EU-Dublin (eu-west-101) lives on its own domain.
STANDARD_REGIONS = ("cn-north-1", "cn-north-4", "cn-east-2", "cn-east-3", "cn-south-1", "cn-south-2",
                    "cn-southwest-2", "ap-southeast-3", "la-north-2", "sa-brazil-1", "la-south-2", "tr-west-1")


def standard_column(host: str, regions: Iterable[str] = STANDARD_REGIONS,
                    hosts: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{region: https://<host>.<region>.myhuaweicloud.com}``, a region's host in ``hosts`` replacing ``host``."""
    return {region: f"https://{(hosts or {}).get(region, host)}.{region}.myhuaweicloud.com" for region in regions}


IAM_ENDPOINTS: Mapping[str, str] = MappingProxyType(
    standard_column("iam") | {"eu-west-101": "https://iam.eu-west-101.myhuaweicloud.eu"})


def region_table(columns: Mapping[str, Mapping[str, str]]) -> RegionTable:
    """IAM's column and each source's (``columns``: ``{api: {region: url}}``), as ``{region: {api: url}}``
    over the regions IAM's column knows."""
    for api, column in columns.items():
        unknown = sorted(set(column) - set(IAM_ENDPOINTS))
        if unknown:
            raise ValueError(f"the {api} endpoints name regions without an IAM endpoint: {', '.join(unknown)}")
    return MappingProxyType({
        region: MappingProxyType({IAM: iam, **{api: column[region] for api, column in columns.items()
                                               if region in column}})
        for region, iam in IAM_ENDPOINTS.items()})
