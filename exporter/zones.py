"""The UTC offset in which a source reads an API's zone-less times (``"2023-08-18 09:40:16"``).

CodeArts Pipeline's stage times and every CodeArts Deploy time carry no zone. No live account confirmed
which zone they are in (codearts-pipeline-api.md, "Verify before relying on it" 3;
codearts-deploy-dora-tests-api.md §7.1), so each such source takes a setting whose default is the region's
standard time, and the user can say otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, timedelta, timezone

from exporter.validation import Checker

_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")
# Standard time by region; any other region: DEFAULT_ZONE.
REGION_ZONES = {"tr-west-1": "+03:00", "la-south-2": "-04:00", "la-north-2": "-06:00", "sa-brazil-1": "-03:00",
                "af-south-1": "+02:00", "af-north-1": "+02:00", "me-east-1": "+03:00"}
DEFAULT_ZONE = "+08:00"  # China Standard Time: the cn-* and ap-southeast-* regions
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


def parse_zone(text: str) -> timezone | None:
    """A fixed UTC offset from ``+08:00`` / ``-03:00`` (or ``Z``); None if unreadable."""
    if text in ("Z", "UTC", "+00:00", "-00:00"):
        return UTC
    match = _OFFSET.fullmatch(text)
    if match is None or int(match[2]) > 14 or int(match[3]) >= 60:
        return None
    minutes = int(match[2]) * 60 + int(match[3])
    return timezone(timedelta(minutes=-minutes if match[1] == "-" else minutes))


def zone_setting(check: Checker, top: Mapping[str, object], section: str, keys: tuple[str, ...],
                 key: str) -> timezone | None:
    """``<section>.<key>`` (a section taking ``keys``), defaulting from ``region``; None if invalid (recorded)."""
    options = check.section(section, top.get(section), keys)
    if options is None:
        return None
    region = top.get("region")
    default = REGION_ZONES.get(region, DEFAULT_ZONE) if isinstance(region, str) else DEFAULT_ZONE
    got = check.scalar(f"{section}.{key}", options.get(key, default))
    if got is None:
        return None
    zone = parse_zone(got.value) if isinstance(got.value, str) else None
    if zone is None:
        check.add(f"{section}.{key}", f"expected a UTC offset such as +08:00, got {got.shown}")
    return zone
