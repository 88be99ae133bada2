"""IAM test credentials, a password-mode configuration, and the three auth modes a source's host must take,
shared by the IAM, secrets and source tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exporter.simulator import AccessKey, IamService, IamUser

from ..conftest import SIM_TOKEN

PASSWORD = "pw-Very-5ecret-8c1d"  # distinctive: tests grep logs for it


DOMAIN, USER = "my-account", "ci-observer"
IAM_PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def password_config(path: Path, url: str, *, projects: list[str], password_file: Path | None = None,
                    concurrency: int = 4) -> Path:
    """A password-mode config; the password comes from ${TEST_IAM_PASSWORD} unless a file is given."""
    secret = f"password_file: {password_file}" if password_file else "password: ${TEST_IAM_PASSWORD}"
    lines = [
        "region: test", "endpoints:", f"  repo: {url}", f"  build: {url}", f"  iam: {url}",
        "auth:", "  password:", f"    domain: {DOMAIN}", f"    username: {USER}", f"    {secret}",
        f"    project_id: {IAM_PROJECT}",
        "poll:", "  interval_seconds: 60", "  timeout_seconds: 5", f"  concurrency: {concurrency}",
        "  rate_limit: {repo: 1000, build: 1000}",  # these tests poll back to back; the budget is not their subject
        "projects:", *(f"  - id: {project}" for project in projects),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


AK, SK = "SOURCEAK000000000001", "source-sk-secret-0001"
Clock = Callable[[], float]
# mode -> (the simulator's IAM for it, None: the static token; the config's auth: lines)
AUTH_MODES: dict[str, tuple[Callable[[Clock], IamService] | None, list[str]]] = {
    "token": (None, [f"  token: {SIM_TOKEN}"]),
    "password": (lambda clock: IamService(users=[IamUser(DOMAIN, USER, PASSWORD, IAM_PROJECT)], clock=clock),
                 ["  password:", f"    domain: {DOMAIN}", f"    username: {USER}", f"    password: {PASSWORD}",
                  f"    project_id: {IAM_PROJECT}"]),
    "aksk": (lambda clock: IamService(access_keys=[AccessKey(AK, SK, IAM_PROJECT)], clock=clock),
             ["  aksk:", f"    ak: {AK}", f"    sk: {SK}", f"    project_id: {IAM_PROJECT}"]),
}
