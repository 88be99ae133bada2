"""Reading CodeArts payload fields defensively: what every source's record parsers share.

The CodeArts reference pages are loose about types and spellings (the Repo example spells a key
``updated_at"``; timestamps come as ISO 8601 strings or as epoch milliseconds), so every field is read
defensively. A record that cannot be understood at all raises :class:`RecordError`; the caller skips
that one record and keeps the rest of the page.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, tzinfo
from typing import Any

from exporter.limits import MAX_LABEL_CHARS

MAX_INT32 = 2_147_483_647
# Epoch values above this are taken as milliseconds (year 2286 in seconds; 1970-04-26 in ms).
_EPOCH_MS_THRESHOLD = 10_000_000_000
_ISO_FRACTION = re.compile(r"(\.\d+)")


class RecordError(ValueError):
    """A payload record that cannot be turned into a typed record."""


def parse_timestamp(value: object, naive: tzinfo = UTC) -> float | None:
    """Epoch seconds from an ISO 8601 string (offset, ``Z`` or none: read in ``naive``; a space for the ``T``
    and any fraction, ``.0`` included, are fine) or an epoch s/ms number.

    Returns None for missing, empty, zero or unreadable values: "unknown" is better than wrong.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch_number(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.lstrip("-").replace(".", "", 1).isdigit():  # "²".isdigit(), but not a number
        return _epoch_number(float(text))
    return _iso_timestamp(text, naive)


def _epoch_number(number: float) -> float | None:
    if not math.isfinite(number) or number <= 0:
        return None
    if number > _EPOCH_MS_THRESHOLD:
        number /= 1000.0
    return number if number < 1e11 else None


def _iso_timestamp(text: str, naive: tzinfo) -> float | None:
    normalised = text.replace("Z", "+00:00").replace("z", "+00:00")
    # fromisoformat wants 3 or 6 fraction digits; pad or trim whatever came.
    match = _ISO_FRACTION.search(normalised)
    if match:
        digits = match.group(1)[1:]
        fixed = "." + (digits + "000000")[:6]
        normalised = normalised[: match.start()] + fixed + normalised[match.end():]
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive)
    return moment.timestamp()


def field_of(raw: dict[str, Any], key: str) -> Any:
    """A field by name, also under the misspelt ``key"`` form seen in the Repo docs' example."""
    if key in raw:
        return raw[key]
    return raw.get(key + '"')


def text_of(value: object) -> str:
    """A field as text for a label value: "" for null or a container, at most ``MAX_LABEL_CHARS`` long."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    text = str(value)
    if not text.isascii():
        # JSON may carry a lone surrogate ("\ud800"), which no UTF-8 exposition can hold: it would fail
        # every render. Such a character becomes "?".
        text = text.encode("utf-8", "replace").decode("utf-8")
    # A label value: a 1 MB job name made a 52 MB exposition out of 10 jobs.
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS] + "..."


def within(number: float | None, high: float) -> float | None:
    """``number`` if in 0..``high``, else unknown: a health of -5 or a 1e305 s duration is no reading."""
    return number if number is not None and 0 <= number <= high else None


def number_of(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def flag_of(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or (isinstance(value, int | float) and value == 1)


def required_dict(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecordError(f"expected an object, got {type(raw).__name__}")
    return raw
