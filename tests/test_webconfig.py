"""--web.config.file: TLS with a self-signed certificate made here, basic auth with bcrypt hashes, real clients."""

from __future__ import annotations

import base64
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from exporter import webconfig
from exporter.config import load_config
from exporter.simulator import World
from exporter.sources.builtin import BUILTIN
from exporter.webconfig import BasicAuth, WebConfigError, load_web_config
from exporter.wiring import Exporter

from .conftest import run_cli, wait_until, write_config
from .helpers.process import ExporterProcess
from .helpers.tls import htpasswd_hash, write_web_config

PASSWORD = "scrape-pw-7c1e"  # a distinctive value, so tests can grep outputs for it


@pytest.mark.integration
def test_scrape_needs_credentials_and_gets_200_with_them_over_tls(tmp_path, simulator_factory):
    sim = simulator_factory(World.demo())
    config = write_config(tmp_path / "c.yaml", sim.url, repositories={2111976239: [6]},
                          projects=["6ecbc5bac7c8442fb3d2563d53c13582"])
    web = write_web_config(tmp_path, users={"prometheus": PASSWORD})
    process = ExporterProcess(tmp_path, "tls", "--config.file", str(config), "--web.config.file", str(web))
    try:
        wait_until(lambda: "serving metrics on https://" in process.log.read_text(), timeout=30)
        url = re.search(r"serving metrics on (https://\S+)/metrics", process.log.read_text()).group(1)
        ca = str(tmp_path / "server.crt")
        for path in ("/metrics", "/healthz", "/readyz", "/"):
            anonymous = requests.get(url + path, verify=ca, timeout=10)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
        assert requests.get(f"{url}/metrics", auth=("prometheus", "wrong"), verify=ca, timeout=10).status_code == 401
        assert requests.get(f"{url}/metrics", auth=("nobody", PASSWORD), verify=ca, timeout=10).status_code == 401
        ok = requests.get(f"{url}/metrics", auth=("prometheus", PASSWORD), verify=ca, timeout=10)
        assert ok.status_code == 200
        assert "codearts_exporter_build_info" in ok.text
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url.replace("https://", "http://") + "/metrics", timeout=10)
        assert PASSWORD not in process.log.read_text()
    finally:
        process.stop()


@pytest.fixture
def tls_exporter(tmp_path, simulator_factory):
    sim = simulator_factory(World.demo())
    config = load_config(write_config(tmp_path / "c.yaml", sim.url, projects=["6ecbc5bac7c8442fb3d2563d53c13582"]),
                         sources=BUILTIN)
    exporter = Exporter(config)
    yield exporter
    exporter.close()


def test_tls_without_users_serves_everyone_and_rejects_untrusting_clients(tmp_path, tls_exporter):
    web = load_web_config(write_web_config(tmp_path))
    server = tls_exporter.serve(("127.0.0.1", 0), web)
    assert server.url.startswith("https://127.0.0.1:")
    assert requests.get(f"{server.url}/healthz", verify=str(tmp_path / "server.crt"), timeout=10).text == "ok\n"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/healthz", timeout=10)  # the system's CAs do not know our certificate


def test_basic_auth_without_tls(tmp_path, tls_exporter):
    web = load_web_config(write_web_config(tmp_path, tls=False, users={"a": PASSWORD}))
    server = tls_exporter.serve(("127.0.0.1", 0), web)
    assert server.url.startswith("http://")
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 401
    assert requests.get(f"{server.url}/healthz", auth=("a", PASSWORD), timeout=10).status_code == 200
    garbage = {"Authorization": "Basic !!!not-base64"}
    assert requests.get(f"{server.url}/healthz", headers=garbage, timeout=10).status_code == 401


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_verified_credentials_are_cached_so_bcrypt_runs_once(monkeypatch):
    calls = []
    real = webconfig.bcrypt.checkpw
    monkeypatch.setattr(webconfig.bcrypt, "checkpw", lambda pw, h: calls.append(pw) or real(pw, h))
    auth = BasicAuth({"prometheus": htpasswd_hash(PASSWORD).encode()})
    for _ in range(5):
        assert auth.check(header("prometheus", PASSWORD))
    assert len(calls) == 1
    assert not auth.check(header("prometheus", "other"))
    assert not auth.check(header("ghost", PASSWORD))  # checked against a dummy hash, never a match
    assert len(calls) == 3
    assert not auth.check(header("prometheus", "x" * 100))  # past bcrypt's 72 bytes: refused, no crash
    assert not auth.check(None) and not auth.check("Bearer abc") and not auth.check("Basic " + "dXNlcg==")


WEB_ERRORS = {
    "unknown_key": ("tls_server_config:\n  cert_file: a\n  key_file: b\n  ciphers: x\n",
                    'unknown key "tls_server_config.ciphers"'),
    "missing_key_file": ("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file: required"),
    "plain_password": ("basic_auth_users:\n  prometheus: hunter2-plain\n",
                       "basic_auth_users.prometheus: expected a bcrypt hash"),
    "bad_client_auth": ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
                        "tls_server_config.client_auth_type"),
    "missing_cert": ("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
                     "tls_server_config: cannot load certificate or key"),
    "not_a_mapping": ("- a\n- b\n", "the file: expected a mapping"),
    "duplicate_user": ("basic_auth_users:\n  prometheus: hunter2-a\n  prometheus: hunter2-b\n",
                       'YAML error at line 3, column 3: duplicate key "prometheus" (first at line 2)'),
}


@pytest.mark.parametrize("case", sorted(WEB_ERRORS))
def test_bad_web_config_exits_2_naming_the_field(tmp_path, case):
    text, message = WEB_ERRORS[case]
    web = tmp_path / "web.yml"
    web.write_text(text)
    with pytest.raises(WebConfigError, match=re.escape(message)):
        load_web_config(web)
    result = run_cli("--demo", "--web.config.file", str(web), "--web.listen-address", "127.0.0.1:0")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "hunter2" not in result.stderr


def test_tls_handshake_failure_does_not_stop_the_server(tmp_path, tls_exporter):
    web = load_web_config(write_web_config(tmp_path))
    server = tls_exporter.serve(("127.0.0.1", 0), web)
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP to the TLS port
        try:
            answer = raw.recv(1024)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/healthz", timeout=10)  # a client that does not trust the certificate
    assert requests.get(f"{server.url}/healthz", verify=str(tmp_path / "server.crt"), timeout=10).status_code == 200


def test_a_flood_of_wrong_credentials_neither_evicts_the_scraper_nor_runs_bcrypt_in_parallel(monkeypatch):
    running, most, calls = [0], [0], []
    lock = threading.Lock()
    real = webconfig.bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            calls.append(password)
        try:
            return real(password, hashed)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", counted)
    auth = BasicAuth({"prometheus": htpasswd_hash(PASSWORD).encode()})
    assert auth.check(header("prometheus", PASSWORD))
    wrong = [header("prometheus", f"guess-{n}") for n in range(webconfig.CACHE_SIZE + 40)]
    with ThreadPoolExecutor(8) as pool:
        assert not any(pool.map(auth.check, wrong))
    assert most[0] == webconfig.BCRYPT_AT_ONCE  # 8 attackers, one bcrypt at a time
    before = len(calls)
    assert auth.check(header("prometheus", PASSWORD))  # still cached after more failures than the cache holds
    assert len(calls) == before


def test_a_web_config_without_tls_or_users_is_warned_about(tmp_path):
    config, web = tmp_path / "c.yaml", tmp_path / "web.yml"
    write_config(config, "http://127.0.0.1:9", projects=["6ecbc5bac7c8442fb3d2563d53c13582"])
    web.write_text("{}\n")
    result = run_cli("--config.file", str(config), "--web.config.file", str(web), "--check-config")
    assert result.returncode == 0
    assert "sets neither TLS nor basic auth: serving plain HTTP to everyone" in result.stderr


def test_a_malformed_bcrypt_hash_is_logged_as_an_error_naming_the_user(tmp_path):
    config, web = tmp_path / "c.yaml", tmp_path / "web.yml"
    write_config(config, "http://127.0.0.1:9", projects=["6ecbc5bac7c8442fb3d2563d53c13582"])
    web.write_text(f"basic_auth_users:\n  broken: $2y$10$hunter2-too-short\n  fine: '{htpasswd_hash(PASSWORD)}'\n")
    result = run_cli("--config.file", str(config), "--web.config.file", str(web), "--check-config")
    assert result.returncode == 0  # a web config valid before stays valid
    assert "level=ERROR" in result.stderr and "basic_auth_users.broken is not a valid bcrypt hash" in result.stderr
    assert "fine" not in result.stderr and "hunter2" not in result.stderr
