"""A client straight at a hostile or fake server (no retries by default), and the project id those tests use."""

from __future__ import annotations

from exporter.auth.base import StaticTokenAuth
from exporter.client import CodeArtsClient
from exporter.retry import RetryPolicy

from ..conftest import SIM_TOKEN

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"


NO_RETRY = RetryPolicy(max_attempts=1)


def client_for(url: str, timeout: float = 2.0, retry: RetryPolicy = NO_RETRY) -> CodeArtsClient:
    return CodeArtsClient(base_urls={"repo": url, "build": url}, auth=StaticTokenAuth(SIM_TOKEN), timeout=timeout,
                          retry=retry)
