"""Text from upstream (error messages, names, headers, request paths) made safe for a log line or a label.

A raw newline or carriage return in an upstream ``error_msg`` forged whole log lines (``level=ERROR``
included), and ANSI escapes rewrote the operator's terminal. Control characters (C0, DEL, C1) and the
Unicode line and paragraph separators become visible escapes (``\\n``, ``\\x1b``, ``\\u2028``).
Backslashes are left alone, so escaping twice (an error message escaped, then its log line) changes
nothing more.
"""

from __future__ import annotations

import logging
import re

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters (with ``...``) if given."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


class SafeFormatter(logging.Formatter):
    """A formatter that escapes control characters in each record's message, so one event is one line.

    The traceback of ``log.exception`` is appended after the message and keeps its line breaks: it is
    the exporter's own text (the exception message inside it comes from our code, already escaped).
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - the base class's name
        """The formatted line, its message escaped."""
        record.message = printable(record.message)
        return super().formatMessage(record)
