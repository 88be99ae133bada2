"""Default CodeArts Repo, CodeArts Build, CodeArts Pipeline and IAM endpoints per Huawei Cloud region.

Only regions for which the public docs or the official SDK give all three hosts are listed; any other
region works by giving the endpoints explicitly in the configuration.

Sources (see /work/shared/codearts-api.md section 2):
- Repo:  https://support.huaweicloud.com/intl/api-codeartsrepo/codeartsrepo_05_0001.html ,
  https://support.huaweicloud.com/eu/api-codeartsrepo/codeartsrepo_05_0022.html , and
  huaweicloud-sdk-python-v3 huaweicloudsdkcodeartsrepo/v4/region/codeartsrepo_region.py
- Build: https://support.huaweicloud.com/api-codeci/cloudbuild_03_0003.html ,
  https://support.huaweicloud.com/eu/api-codeci/cloudbuild_03_0003.html , and
  huaweicloud-sdk-python-v3 huaweicloudsdkcodeartsbuild/v3/region/codeartsbuild_region.py
- Pipeline: huaweicloud-sdk-python-v3 huaweicloudsdkcodeartspipeline/v2/region/codeartspipeline_region.py
  (``cloudpipeline-ext.<region>``; ``pipeline-external.<region>`` in tr-west-1 and la-south-2); optional: a
  region without a Pipeline host still serves Repo and Build, and ``endpoints.pipeline`` can name one
- TestPlan: huaweicloud-sdk-python-v3 huaweicloudsdkcloudtest/v1/region/cloudtest_region.py
  (``cloudtest-ext.<region>``; cn-east-2 on ``myhuaweicloud.cn``); optional, as Pipeline
- IAM:   https://support.huaweicloud.com/eu/api-iam/iam_01_0004.html and
  huaweicloud-sdk-python-v3 huaweicloudsdkiam/v3/region/iam_region.py

Left out because a host is missing from every source: cn-northeast-1 (no Repo host), me-east-1,
af-south-1 and af-north-1 (no Build host), cn-north-2, ap-southeast-1/2/4, cn-east-4/5 (no Repo or
Build host).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

__all__ = ["REGIONS", "RegionEndpoints", "endpoints_for"]


@dataclass(frozen=True, slots=True)
class RegionEndpoints:
    """Base URLs (https, no trailing slash) of the services the exporter calls in one region."""

    repo: str
    build: str
    iam: str
    pipeline: str | None = None  # CodeArts Pipeline (v5); None where the SDK lists no host
    testplan: str | None = None  # CodeArts TestPlan (CloudTest); None where the SDK lists no host

    def url(self, name: str) -> str | None:
        """The region's endpoint of the API ``name`` (a source's name, or ``iam``); None if it has none."""
        value = getattr(self, name, None) if name in self.__dataclass_fields__ else None
        return value if isinstance(value, str) else None


def _standard(region: str, repo_host: str, pipeline_host: str = "cloudpipeline-ext") -> RegionEndpoints:
    """The common layout: `<repo_host>.<region>`, `cloudbuild-ext.<region>`, `iam.<region>` and
    `<pipeline_host>.<region>` on myhuaweicloud.com."""
    return RegionEndpoints(
        repo=f"https://{repo_host}.{region}.myhuaweicloud.com",
        build=f"https://cloudbuild-ext.{region}.myhuaweicloud.com",
        iam=f"https://iam.{region}.myhuaweicloud.com",
        pipeline=f"https://{pipeline_host}.{region}.myhuaweicloud.com",
    )


_CODEHUB = "codehub-ext"
_CODEARTSREPO = "codeartsrepo-ext"
_PIPELINE_EXTERNAL = "pipeline-external"  # the SDK's Pipeline host in tr-west-1 and la-south-2

REGIONS: Mapping[str, RegionEndpoints] = MappingProxyType(
    {
        "cn-north-1": _standard("cn-north-1", _CODEHUB),
        "cn-north-4": _standard("cn-north-4", _CODEHUB),
        "cn-east-2": _standard("cn-east-2", _CODEHUB),
        "cn-east-3": _standard("cn-east-3", _CODEHUB),
        "cn-south-1": _standard("cn-south-1", _CODEHUB),
        "cn-south-2": _standard("cn-south-2", _CODEHUB),
        "cn-southwest-2": _standard("cn-southwest-2", _CODEHUB),
        "ap-southeast-3": _standard("ap-southeast-3", _CODEHUB),
        "la-north-2": _standard("la-north-2", _CODEHUB),
        "sa-brazil-1": _standard("sa-brazil-1", _CODEHUB),
        "la-south-2": _standard("la-south-2", _CODEARTSREPO, _PIPELINE_EXTERNAL),
        "tr-west-1": _standard("tr-west-1", _CODEARTSREPO, _PIPELINE_EXTERNAL),
        # EU-Dublin lives on its own domain (and the Pipeline SDK lists no host there). The SDK lists the Repo
        # host under .com, but the EU Repo docs' example, the EU Build docs and the SDK's IAM host all use .eu;
        # we follow the region's docs.
        "eu-west-101": RegionEndpoints(
            repo="https://codeartsrepo-ext.eu-west-101.myhuaweicloud.eu",
            build="https://build-backend.eu-west-101.myhuaweicloud.eu",
            iam="https://iam.eu-west-101.myhuaweicloud.eu",
        ),
    }
)


# CodeArts TestPlan hosts, only where the CloudTest SDK lists one (cn-east-2's is on .cn, unlike its others).
TESTPLAN_HOSTS: Mapping[str, str] = MappingProxyType({
    **{region: f"https://cloudtest-ext.{region}.myhuaweicloud.com" for region in (
        "cn-north-1", "cn-north-4", "cn-south-1", "cn-south-2", "cn-east-3", "la-north-2", "sa-brazil-1",
        "ap-southeast-3")},
    "cn-east-2": "https://cloudtest-ext.cn-east-2.myhuaweicloud.cn",
})
REGIONS = MappingProxyType({region: replace(endpoints, testplan=TESTPLAN_HOSTS.get(region))
                            for region, endpoints in REGIONS.items()})


def endpoints_for(region: str) -> RegionEndpoints | None:
    """Return the default endpoints of `region`, or None when the region is not in the table."""
    return REGIONS.get(region)
