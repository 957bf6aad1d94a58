"""The dev Gafaelfawr (deploy/dev/gafaelfawr_dev.py) against the contract in DESIGN.md, over real HTTP,
and its 400/429 answers rebuilt by nginx's @autherror."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from site_builder.deploy.devstack import free_port, new_token, start_stack
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = REPO / "deploy" / "dev" / "gafaelfawr_dev.py"
READ = new_token()
BOTH = new_token()
WRITE_ONLY = new_token()
LIMITED = new_token()
UNKNOWN = new_token()
USERS = {
    READ: {"username": "ann", "email": "ann@example.org", "scopes": ["read:image"]},
    BOTH: {"username": "bob", "email": "bob@example.org", "scopes": ["read:image", "write:pz-server"]},
    WRITE_ONLY: {"username": "cy", "email": "cy@example.org", "scopes": ["write:pz-server"]},
    LIMITED: {"username": "dee", "email": "dee@example.org", "scopes": ["read:image"], "quota_exceeded": True},
}


@pytest.fixture(scope="module")
def auth(tmp_path_factory) -> Iterator[int]:
    """The dev auth service on a free port; yields the port."""
    folder = tmp_path_factory.mktemp("auth")
    (folder / "tokens.json").write_text(json.dumps({"tokens": USERS}))
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--listen", f"127.0.0.1:{port}",
                             "--tokens", str(folder / "tokens.json"), "--realm", "rsp.example.org"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.025)
        yield port
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
        for token in USERS:  # nothing about tokens is ever logged
            assert token not in output


def ask(port: int, path: str, headers: dict | None = None, method: str = "GET", body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = "/ingress/auth?scope=read:image"


def test_success_names_the_user(auth):
    status, headers, _ = ask(auth, AUTH, bearer(READ))
    assert status == 200
    assert headers["x-auth-request-user"] == "ann"
    assert headers["x-auth-request-email"] == "ann@example.org"


@pytest.mark.parametrize("creds", [basic(READ, "x-oauth-basic"), basic("x-oauth-basic", READ), basic(READ, ""),
                                   basic(READ, READ), {"Cookie": f"other=1; gafaelfawr={READ}"}])
def test_basic_either_field_and_cookie(auth, creds):
    status, headers, _ = ask(auth, AUTH, creds)
    assert (status, headers.get("x-auth-request-user")) == (200, "ann")


def test_no_credentials(auth):
    status, headers, _ = ask(auth, AUTH)
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="rsp.example.org"'
    assert headers["cache-control"] == "no-cache, no-store"
    # Basic without any token counts as no credentials, as in Gafaelfawr
    status, headers, _ = ask(auth, AUTH, basic("ann", "secret"))
    assert status == 401 and "error=" not in headers["www-authenticate"]
    # auth_type=basic asks for Basic
    status, headers, _ = ask(auth, AUTH + "&auth_type=basic")
    assert headers["www-authenticate"] == 'Basic realm="rsp.example.org"'
    # AJAX requests get 403 so that nginx does not redirect them to a login page
    status, _, _ = ask(auth, AUTH, {"X-Requested-With": "XMLHttpRequest"})
    assert status == 403


@pytest.mark.parametrize("creds", [bearer(UNKNOWN), bearer("not-a-token"), basic("x", UNKNOWN),
                                   {"Cookie": "gafaelfawr=" + UNKNOWN}])
def test_bad_token(auth, creds):
    status, headers, _ = ask(auth, AUTH, creds)
    if "Cookie" in creds:  # a bad session cookie is no session
        assert status == 401 and "error=" not in headers["www-authenticate"]
        return
    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer realm="rsp.example.org", error="invalid_token"')


@pytest.mark.parametrize(("query", "token", "ok"), [
    ("scope=read:image", READ, True),
    ("scope=write:pz-server", READ, False),
    ("scope=read:image", WRITE_ONLY, False),
    ("scope=read:image&scope=write:pz-server", BOTH, True),
    ("scope=read:image&scope=write:pz-server", READ, False),
    ("scope=read:image&scope=write:pz-server&satisfy=all", READ, False),
    ("scope=read:image&scope=write:pz-server&satisfy=any", READ, True),
    ("scope=read:image&scope=write:pz-server&satisfy=any", WRITE_ONLY, True),
    ("scope=exec:admin&scope=read:tap&satisfy=any", BOTH, False),
])
def test_scopes_and_satisfy(auth, query, token, ok):
    status, headers, _ = ask(auth, "/ingress/auth?" + query, bearer(token))
    if ok:
        assert status == 200
        return
    wanted = " ".join(sorted(v.split("=")[1] for v in query.split("&") if v.startswith("scope=")))
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer realm="rsp.example.org", error="insufficient_scope", '
        f'error_description="Token missing required scope", scope="{wanted}"')
    assert headers["x-error-status"] == "403"
    assert json.loads(headers["x-error-body"])["detail"][0]["type"] == "insufficient_scope"


@pytest.mark.parametrize(("creds", "why"), [
    ({"Authorization": READ}, "Malformed Authorization header"),
    ({"Authorization": f"Token {READ}"}, "Unknown Authorization type Token"),
    ({"Authorization": "Basic %%%"}, "Invalid Basic auth string"),
    (basic(READ, BOTH), "Conflicting tokens"),
])
def test_malformed_requests_come_as_403_with_the_real_status(auth, creds, why):
    status, headers, _ = ask(auth, AUTH, creds)
    assert status == 403  # nginx's auth_request only passes 401 and 403
    assert headers["x-error-status"] == "400"
    assert why in json.loads(headers["x-error-body"])["detail"][0]["msg"]
    assert 'error="invalid_request"' in headers["www-authenticate"]


def test_rate_limit_and_bad_configuration(auth):
    status, headers, _ = ask(auth, AUTH, bearer(LIMITED))
    assert (status, headers["x-error-status"]) == (403, "429")
    status, headers, _ = ask(auth, "/ingress/auth", bearer(READ))  # no scope: the ingress is wrong
    assert (status, headers["x-error-status"]) == (403, "422")
    status, headers, _ = ask(auth, "/auth?scope=read:image", bearer(READ))  # the older route
    assert status == 200


def test_login_page_escapes_and_only_returns_home(auth):
    hostile = '"><script>alert(1)</script>'
    status, headers, body = ask(auth, "/login?rd=" + quote(hostile))
    assert status == 200 and b"<script>" not in body and b"&lt;script&gt;" in body
    form = f"token={READ}&rd=" + quote(f"http://127.0.0.1:{auth}/catalog/?type=x")
    status, headers, _ = ask(auth, "/login", {"Content-Type": "application/x-www-form-urlencoded"}, "POST",
                             form.encode())
    assert status == 303 and headers["location"] == f"http://127.0.0.1:{auth}/catalog/?type=x"
    assert headers["set-cookie"] == f"gafaelfawr={READ}; Path=/; HttpOnly; SameSite=Lax"
    form = f"token={READ}&rd=" + quote("https://evil.example.org/")
    status, headers, _ = ask(auth, "/login", {"Content-Type": "application/x-www-form-urlencoded"}, "POST",
                             form.encode())
    assert headers["location"] == "/"  # no open redirect
    status, headers, _ = ask(auth, "/login", {"Content-Type": "application/x-www-form-urlencoded",
                                              "X-Forwarded-Host": "evil.example.org"}, "POST", form.encode())
    assert headers["location"] == "/"  # not even with a forged X-Forwarded-Host
    status, headers, body = ask(auth, "/login", {"Content-Type": "application/x-www-form-urlencoded"}, "POST",
                                f"token={UNKNOWN}&rd=/".encode())
    assert status == 401 and "set-cookie" not in headers and b"not a valid token" in body


def test_a_tokens_file_with_a_bad_entry_is_refused(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps({"tokens": {"secret123": {"username": "x", "scopes": []}}}))
    result = subprocess.run([sys.executable, str(SCRIPT), "--listen", f"127.0.0.1:{free_port()}",
                             "--tokens", str(tmp_path / "t.json")], capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "not a Gafaelfawr token" in result.stderr and "secret123" not in result.stderr


def test_nginx_rebuilds_429_and_400_from_the_error_headers(tmp_path, stack):
    """@autherror turns Gafaelfawr's 403 + X-Error-Status back into the real status and body."""
    limited = new_token()
    own = start_stack(REPO, tmp_path / "run", site_dir=Path(stack.site_dir), extra_tokens={
        limited: {"username": "dee", "scopes": ["read:image"], "quota_exceeded": True}})
    try:
        port = int(own.url.rsplit(":", 1)[1])
        for path in ("/", "/api/v1/index.json", "/dvc/files/md5/00/" + "0" * 30):
            status, headers, body = ask(port, path, bearer(limited))
            assert status == 429, path
            assert headers["retry-after"] == "60"
            assert json.loads(body)["detail"][0]["type"] == "rate_limited"
            status, headers, body = ask(port, path, {"Authorization": "Bearer"})
            assert status == 400, path
            assert json.loads(body)["detail"][0]["msg"] == "Malformed Authorization header"
    finally:
        own.stop()
    assert own.run_dir.is_dir() and not (own.run_dir / "stack.json").exists()
