"""English for people: counts with their nouns in the right number ("1 repository", "2 repositories").

No I/O, no imports from the rest of the package: the landing page, ``--check-config`` and the ``--once``
summary all speak through it.
"""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 repository``, ``2 repositories``, ``0 targets``: ``count`` with ``noun``, or its plural ``nouns``
    (by default the regular English plural of ``noun``)."""
    if count == 1:
        return f"{count} {noun}"
    if nouns is None:
        consonant_y = noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u")
        nouns = noun[:-1] + "ies" if consonant_y else noun + "s"
    return f"{count} {nouns}"
