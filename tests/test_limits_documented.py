"""Every limit the exporter enforces is named, with its value, in docs/reliability.md."""

from __future__ import annotations

from pathlib import Path

from exporter import limits

DOC = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text()


def test_every_limit_is_named_in_the_reliability_doc():
    names = [name for name in vars(limits) if name.isupper()]
    assert len(names) >= 10
    missing = [name for name in names if f"`{name}`" not in DOC]
    assert missing == []


def test_the_documented_defaults_are_the_code_s():
    for text in ("| 32 MiB |", "| 1 MiB |", "| 250 requests |", "| 20,000 |", "| 256 characters |", "| 30 s |",
                 "| 10 s |", "| 60 s |", "| 128 (the kernel"):
        assert text in DOC, text
    assert limits.MAX_BODY_BYTES == 32 * 2**20 and limits.IAM_MAX_BODY_BYTES == 2**20
    assert (limits.MAX_PAGES_PER_LISTING, limits.MAX_ITEMS_PER_LISTING, limits.MAX_LABEL_CHARS) == (250, 20_000, 256)
    server = (limits.IDLE_TIMEOUT, limits.HEADER_TIMEOUT, limits.WRITE_TIMEOUT, limits.LISTEN_BACKLOG)
    assert server == (30, 10, 60, 128)
