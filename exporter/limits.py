"""Every bound the exporter puts on what an upstream, a client or a file can make it do.

One table, so docs/reliability.md can list them and a test can check that it does. None of these is a
configuration key: each is far above what a real CodeArts account needs and far below what hurts the
process, so a wrong setting could only make it worse. Raise one here (and in the docs) if a real account
ever hits it; the error or warning it produces names the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

# Upstream HTTP (exporter/transport.py, exporter/client.py, exporter/auth/iam.py)
MAX_BODY_BYTES = 32 * 1024 * 1024  # a CodeArts answer; a page of 100 jobs is ~100 KiB
IAM_MAX_BODY_BYTES = 1024 * 1024  # an IAM token answer asked with nocatalog=true is ~2 KiB

# Listings (exporter/pagination.py, exporter/client.py)
MAX_ITEMS_PER_LISTING = 20_000  # jobs, repositories or merge requests of one target or source
MAX_PAGES_PER_LISTING = 250  # requests of one listing walk: 200 full pages plus room for misread paging
SKIP_WARNINGS_PER_LISTING = 5  # malformed items logged one by one per listing; the rest in one summary line

# What reaches /metrics (exporter/payload.py, exporter/sources/build/models.py)
MAX_LABEL_CHARS = 256  # a label value from upstream text (job, stage, branch...) is cut to this, with "..."
MAX_HEALTH_SCORE = 100.0  # a health score outside 0..100 is unknown (not exported)
MAX_DURATION_SECONDS = 366 * 24 * 3600.0  # a duration or queue time beyond a year is unknown

# The HTTP server (exporter/server.py)
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may wait for its next request
HEADER_TIMEOUT = 10.0  # seconds from a request's first byte to the end of its headers
WRITE_TIMEOUT = 60.0  # seconds to send one whole response
LISTEN_BACKLOG = 128  # connections the kernel queues before accept (socketserver's default is 5)
ACCEPT_PAUSE = 0.1  # seconds the accept loop rests after running out of file descriptors


@dataclass(frozen=True, slots=True)
class ServerTimeouts:
    """The HTTP server's timeouts, in seconds (tests shorten them)."""

    idle: float = IDLE_TIMEOUT
    header: float = HEADER_TIMEOUT
    write: float = WRITE_TIMEOUT
