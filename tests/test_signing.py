"""AK/SK signing: byte-for-byte equal to the official SDK's signer, and accepted by the simulator's own verifier."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from exporter.auth.factory import build_auth
from exporter.auth.secretfile import SecretSource
from exporter.auth.signing import AkSkSigner, canonical_query, canonical_uri
from exporter.config import AkSkAuth, Secret
from exporter.simulator import AccessKey, IamService, Simulator, World

AK = "HPUAK7EXAMPLE0000001"
SK = "sk-5ecret-9Qz1xVb7T2mW4pL0aR8n"  # a distinctive value: the logging test greps for it
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # the IAM project id, sent as X-Project-Id
BUILD_PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"  # a CodeArts project the simulated world knows
SIGNED_AT = datetime(2026, 11, 23, 9, 30, 15, tzinfo=UTC).timestamp()

# (method, path, query pairs, body, extra headers): query strings with repeated keys, unicode and reserved
# characters; empty and non-empty bodies; JSON and non-JSON content types; a path with unicode and spaces.
CASES: list[tuple[str, str, list[tuple[str, object]], bytes | None, dict[str, str]]] = [
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("page_index", "0"), ("page_size", "100")], None, {}),
    ("GET", "/v4/repositories/2111976239/pipelines/6/jobs", [("offset", "0"), ("limit", "100")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs/", [("page_size", "10")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("tag", "b"), ("tag", "a"), ("tag", "c")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("tag", ["z", "y", "x"]), ("page_size", "5")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("b", "2"), ("a", "2"), ("a", "1"), ("B", "0")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("search", "构建 任务")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("q", "naïve café ☃")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("q", "a+b=c&d/e?f#g")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("reserved", "!*'();:@&=+$,/?%#[]")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("tilde~key", "~v-_.")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("empty", ""), ("page_index", "1")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("space key", "space value")], None, {}),
    ("GET", "/v3/проект сборки/jobs", [("page_size", "1")], None, {}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("page_size", "1")], None, {"X-Request-Note": "inner  spaces, trailing  "}),
    ("GET", f"/v3/{BUILD_PROJECT}/jobs", [("page_size", "1")], b"", {"Content-Type": "application/json"}),
    ("POST", f"/v3/{BUILD_PROJECT}/jobs", [], b'{"job_name":"nightly"}', {"Content-Type": "application/json"}),
    ("POST", f"/v3/{BUILD_PROJECT}/jobs", [("dry_run", "true")], '{"名前":"ビルド"}'.encode(),
     {"Content-Type": "application/json;charset=utf8"}),
    ("PUT", f"/v3/{BUILD_PROJECT}/jobs", [], b"plain text body\n", {"Content-Type": "text/plain"}),
    ("POST", f"/v3/{BUILD_PROJECT}/jobs", [("a", "1")], b"k=v&k2=v%202",
     {"Content-Type": "application/x-www-form-urlencoded"}),
    ("DELETE", "/v4/repositories/2111976239/pipelines/6/jobs", [("id", "1"), ("id", "10"), ("id", "2")], None, {}),
    ("PATCH", f"/v3/{BUILD_PROJECT}/jobs", [], b"\x00\x01binary\xff", {"Content-Type": "application/json"}),
    ("GET", "/v4/repositories/2111976239/pipelines/7/jobs", [("offset", "100"), ("limit", "100")], None,
     {"Accept": "application/json", "X-Trace": "abc"}),
]


def prepared(base_url: str, method: str, path: str, query: list[tuple[str, object]], body: bytes | None,
             headers: dict[str, str]) -> requests.PreparedRequest:
    """The request as the exporter's session prepares it, before any auth."""
    with requests.Session() as session:
        session.headers["User-Agent"] = "codearts-exporter/test"
        request = requests.Request(method, base_url + path, params=query, data=body, headers=headers)
        return session.prepare_request(request)


def sdk_authorization(request: requests.PreparedRequest, path: str, query: list[tuple[str, object]],
                      body: bytes | None) -> str:
    """The official SDK's Authorization for the same request: same headers and date, its own Host."""
    headers = {name: value for name, value in request.headers.items() if name not in ("Authorization", "Host")}
    headers.pop("X-Project-Id", None)
    headers.pop("X-Sdk-Content-Sha256", None)  # the SDK decides that itself from the Content-Type
    sdk_request = SdkRequest(method=request.method, schema="http", host=urlsplit(request.url).netloc,
                             resource_path=path, query_params=[(k, list(v) if isinstance(v, list) else v)
                                                               for k, v in query],
                             header_params=headers, body=body or "")
    signed = BasicCredentials(AK, SK, PROJECT).sign_request(sdk_request)
    return signed.header_params["Authorization"]


def signer() -> AkSkSigner:
    return AkSkSigner(AK, SecretSource("sk", Secret(SK)), PROJECT, clock=lambda: SIGNED_AT)


@pytest.mark.parametrize("case", CASES, ids=[f"{i:02d}-{c[0]}" for i, c in enumerate(CASES)])
def test_signature_is_byte_for_byte_the_official_sdks(case):
    method, path, query, body, headers = case
    request = signer()(prepared("http://codearts.example:8443", method, path, query, body, headers))
    assert request.headers["X-Sdk-Date"] == "20261123T093015Z"
    assert request.headers["X-Project-Id"] == PROJECT
    assert request.headers["Host"] == "codearts.example:8443"
    ours = request.headers["Authorization"]
    assert ours.startswith(f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=")
    signed = ours.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-project-id", "x-sdk-date", "user-agent"} <= set(signed) and signed == sorted(signed)
    assert ours == sdk_authorization(request, path, query, body)


def test_there_are_at_least_twenty_varied_cases():
    assert len(CASES) >= 20
    assert sum(1 for c in CASES if c[3]) >= 4 and sum(1 for c in CASES if not c[3]) >= 4
    assert any(len({k for k, _ in c[2]}) < len(c[2]) or any(isinstance(v, list) for _, v in c[2]) for c in CASES)


def test_canonical_uri_always_ends_with_a_slash_and_reencodes_segments():
    assert canonical_uri("/v3/abc/jobs") == "/v3/abc/jobs/"
    assert canonical_uri("/v3/abc/jobs/") == "/v3/abc/jobs/"
    assert canonical_uri("/v3/a%20b/%E6%9E%84") == "/v3/a%20b/%E6%9E%84/"


def test_canonical_query_sorts_by_name_then_value_and_encodes_all_but_unreserved():
    assert canonical_query("b=2&a=2&a=1&c=") == "a=1&a=2&b=2&c="
    assert canonical_query("q=a+b%2Bc~") == "q=a%20b%2Bc~"


@pytest.fixture
def signing_simulator(simulator_factory):
    iam = IamService(access_keys=[AccessKey(AK, SK, PROJECT)], clock=lambda: SIGNED_AT + 30)
    world = World(seed=3, clock=lambda: SIGNED_AT, projects={BUILD_PROJECT: 3},
                  pipelines={(2111976239, 6): 2, (2111976239, 7): 2})
    return simulator_factory(world, token=None, iam=iam)


def send(sim: Simulator, request: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as session:
        return session.send(request, timeout=10)


@pytest.mark.parametrize("case", CASES, ids=[f"{i:02d}-{c[0]}" for i, c in enumerate(CASES)])
def test_simulator_verifies_each_signed_request_with_its_own_code(signing_simulator, case):
    method, path, query, body, headers = case
    request = signer()(prepared(signing_simulator.url, method, path, query, body, headers))
    response = send(signing_simulator, request)
    assert response.status_code != 401, response.text
    assert response.status_code == (200 if method == "GET" and "проект" not in path else
                                    405 if method != "GET" else 404)


@pytest.mark.parametrize("tamper", ["query", "path", "body", "header", "project", "date", "signature"])
def test_simulator_rejects_a_tampered_request(signing_simulator, tamper):
    method, path, query, body = "POST", f"/v3/{BUILD_PROJECT}/jobs", [("page_size", "5")], b'{"a":1}'
    request = signer()(prepared(signing_simulator.url, method, path, query, body,
                                {"Content-Type": "application/json"}))
    if tamper == "query":
        request.url = request.url.replace("page_size=5", "page_size=6")
    elif tamper == "path":
        request.url = request.url.replace(BUILD_PROJECT, "f" * 32)
    elif tamper == "body":
        request.body = b'{"a":2}'
    elif tamper == "header":
        request.headers["User-Agent"] = "someone-else"
    elif tamper == "project":
        request.headers["X-Project-Id"] = "f" * 32
    elif tamper == "date":
        request.headers["X-Sdk-Date"] = "20261123T093016Z"
    else:
        auth = request.headers["Authorization"]
        request.headers["Authorization"] = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    assert send(signing_simulator, request).status_code == 401


def test_simulator_rejects_a_signature_older_than_fifteen_minutes(simulator_factory):
    iam = IamService(access_keys=[AccessKey(AK, SK, PROJECT)], clock=lambda: SIGNED_AT + 16 * 60)
    sim = simulator_factory(World(seed=3, projects={BUILD_PROJECT: 1}), token=None, iam=iam)
    request = signer()(prepared(sim.url, "GET", f"/v3/{BUILD_PROJECT}/jobs", [("page_size", "5")], None, {}))
    assert send(sim, request).status_code == 401


def test_a_rotated_sk_file_is_read_after_a_401_and_the_request_retried(tmp_path):
    sk_file = tmp_path / "sk"
    sk_file.write_text("old-secret-key\n")
    auth = build_auth(AkSkAuth(AK, None, str(sk_file), PROJECT), clock=lambda: SIGNED_AT)
    first = auth(prepared("http://h", "GET", "/v3/x/jobs", [], None, {})).headers["Authorization"]
    assert auth.renew_after_unauthorized() is False  # unchanged file: a retry would be refused again
    sk_file.write_text("new-secret-key\n")
    assert auth.renew_after_unauthorized() is True
    second = auth(prepared("http://h", "GET", "/v3/x/jobs", [], None, {})).headers["Authorization"]
    assert first != second
    expected = AkSkSigner(AK, SecretSource("sk", Secret("new-secret-key")), PROJECT, clock=lambda: SIGNED_AT)
    assert second == expected(prepared("http://h", "GET", "/v3/x/jobs", [], None, {})).headers["Authorization"]
