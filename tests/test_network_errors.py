"""Network failures name their cause and host (issue 14 item 3), and the proxy / CA environment is honoured."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys

import pytest

from exporter.auth.base import StaticTokenAuth
from exporter.client import CodeArtsClient
from exporter.errors import TransportError
from exporter.retry import RetryPolicy
from exporter.sources.build.fetch import list_build_jobs

from .conftest import SIM_TOKEN, write_config
from .helpers.tls import self_signed
from .hostile import HostileServer, response

PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
JOBS = {"total": 1, "jobs": [{"id": "j1", "job_name": "one", "last_build_status": "blue"}]}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                   "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def list_jobs(url: str) -> TransportError:
    client = CodeArtsClient(base_urls={"repo": url, "build": url}, auth=StaticTokenAuth(SIM_TOKEN), timeout=2.0,
                            retry=RetryPolicy(max_attempts=1))
    try:
        with pytest.raises(TransportError) as caught:
            list_build_jobs(client, PROJECT)
    finally:
        client.close()
    return caught.value


def test_a_refused_connection_names_host_and_port():
    port = closed_port()
    assert str(list_jobs(f"http://127.0.0.1:{port}")).startswith(f"connection to 127.0.0.1:{port} refused")


@pytest.fixture
def tls_server(tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with HostileServer(lambda server, conn, request: conn.sendall(response(200, JOBS)), tls=context) as server:
        yield server, cert


def test_an_untrusted_certificate_is_named_and_a_ca_bundle_from_the_environment_is_used(tls_server, monkeypatch):
    server, cert = tls_server
    error = str(list_jobs(server.url))
    assert error.startswith("certificate of 127.0.0.1 not trusted: self-signed certificate"), error
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    client = CodeArtsClient(base_urls={"repo": server.url, "build": server.url}, auth=StaticTokenAuth(SIM_TOKEN),
                            timeout=2.0)
    try:
        assert [job.id for job in list_build_jobs(client, PROJECT).records] == ["j1"]
    finally:
        client.close()


def test_an_unreachable_proxy_is_a_proxy_error_and_no_proxy_bypasses_it(monkeypatch):
    proxy_port = closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    with HostileServer(lambda server, conn, request: conn.sendall(response(200, JOBS))) as server:
        error = str(list_jobs(server.url))
        assert error.startswith(f"proxy error on the way to 127.0.0.1:{server.port}: connection to the proxy "
                                "refused"), error
        assert server.requests == []
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        client = CodeArtsClient(base_urls={"repo": server.url, "build": server.url}, auth=StaticTokenAuth(SIM_TOKEN),
                                timeout=2.0)
        try:
            assert len(list_build_jobs(client, PROJECT).records) == 1
        finally:
            client.close()


def test_a_name_that_does_not_resolve_is_named(tmp_path):
    """Run in a network namespace of its own (only a loopback interface): the resolver fails there
    without a packet leaving the machine."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"], check=False,
                                                          capture_output=True).returncode != 0:
        pytest.skip("needs unshare -rn (user and network namespaces)")
    path = write_config(tmp_path / "c.yaml", "http://codearts.example.invalid", projects=[PROJECT])
    result = subprocess.run(["unshare", "-rn", sys.executable, "-m", "exporter", "--once", "--config.file", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "name resolution of host codearts.example.invalid failed" in result.stderr, result.stderr
