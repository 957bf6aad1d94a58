"""The nginx proxy with the dev Gafaelfawr: credentials × targets, with exact statuses and headers.

Real nginx, real auth service, real HTTP (http.client, so paths go out exactly as written).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

UNKNOWN = "gt-" + "A" * 22 + "." + "B" * 22  # well-formed, in no tokens file
REALM = 'Bearer realm="127.0.0.1"'


def request(stack, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """One raw request to the proxy; returns (status, headers with lower-case names, body)."""
    parts = urlsplit(stack.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
    finally:
        conn.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def credentials(stack) -> dict[str, tuple[str, dict]]:
    """name -> (outcome, headers). Outcomes: anon, bad, invalid, noscope, read, write."""
    t = stack.tokens
    return {
        "none": ("anon", {}),
        "bearer-malformed": ("bad", {"Authorization": "gt-no-scheme-at-all"}),
        "basic-malformed": ("bad", {"Authorization": "Basic %%%not-base64%%%"}),
        "bearer-unknown": ("invalid", {"Authorization": f"Bearer {UNKNOWN}"}),
        "basic-unknown": ("invalid", {"Authorization": basic("x-oauth-basic", UNKNOWN)}),
        "bearer-noscope": ("noscope", {"Authorization": f"Bearer {t['none']}"}),
        "basic-noscope": ("noscope", {"Authorization": basic(t["none"], "x-oauth-basic")}),
        "bearer-read": ("read", {"Authorization": f"Bearer {t['read']}"}),
        "basic-read-user": ("read", {"Authorization": basic(t["read"], "")}),
        "basic-read-password": ("read", {"Authorization": basic("ann", t["read"])}),
        "bearer-write": ("write", {"Authorization": f"Bearer {t['write']}"}),
        "basic-write": ("write", {"Authorization": basic("ann", t["write"])}),
    }


def an_object(stack) -> str:
    found = sorted(p for p in (stack.remote_dir / "files" / "md5").rglob("*") if p.is_file())
    assert found, "the sample remote is empty: run `make data`"
    return "/dvc/" + found[0].relative_to(stack.remote_dir).as_posix()


TARGETS = ["page", "asset", "json", "object", "upload", "git", "dvc-config", "traversal-hidden",
           "traversal-root", "directory", "remote-listing"]


def target_request(stack, target: str, case: str) -> tuple[str, str, bytes | None]:
    if target == "upload":
        data = f"upload by {case} {os.getpid()}".encode()  # new bytes per case: a fresh 201
        md5 = hashlib.md5(data).hexdigest()
        return "POST", f"/dvc/files/md5/{md5[:2]}/{md5[2:]}", data
    return "GET", {
        "page": "/catalog/",
        "asset": "/assets/catalog.js",
        "json": "/api/v1/index.json",
        "object": an_object(stack),
        "git": "/.git/config",
        "dvc-config": "/.dvc/config.local",
        "traversal-hidden": "/api/v1/%2e%2e/%2e%2e/.git/config",
        "traversal-root": "/products/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "directory": "/assets/",
        "remote-listing": "/dvc/files/md5/",
    }[target], None


def expected(outcome: str, target: str) -> tuple[int, dict[str, str | re.Pattern]]:
    """Status and headers (exact strings, or patterns) for one cell of the matrix."""
    if target in ("git", "dvc-config", "traversal-hidden", "remote-listing"):
        return 404, {}
    if target == "traversal-root":
        return 400, {}
    browser = target in ("page", "asset", "directory")
    scope = "write:pz-server" if target == "upload" else "read:image"
    if outcome == "anon":
        if browser:
            return 302, {"location": re.compile(r"^/login\?rd=http://127\.0\.0\.1:\d+/")}
        return 401, {"www-authenticate": REALM, "content-type": "application/json; charset=utf-8"}
    if outcome == "bad":
        return 400, {"www-authenticate": re.compile(r'^Bearer realm="127\.0\.0\.1", error="invalid_request"'),
                     "content-type": "application/json; charset=utf-8"}
    if outcome == "invalid":
        return 401, {"www-authenticate": re.compile(r'^Bearer realm="127\.0\.0\.1", error="invalid_token"')}
    if outcome == "noscope" or (outcome == "read" and target == "upload"):
        return 403, {"www-authenticate": re.compile(
            r'^Bearer realm="127\.0\.0\.1", error="insufficient_scope", .*scope="' + scope + '"$')}
    # read or write scope
    if target == "directory":
        return 404, {}
    if target == "upload":
        return 201, {}
    return 200, {
        "page": {"content-type": "text/html; charset=utf-8", "cache-control": "private, no-cache"},
        "asset": {"content-type": "application/javascript; charset=utf-8"},
        "json": {"content-type": "application/json; charset=utf-8"},
        "object": {"content-type": "application/octet-stream",
                   "cache-control": "private, max-age=31536000, immutable"},
    }[target]


SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def test_credentials_matrix(stack):
    """Every credential × every target: exact status, the headers that matter, security headers."""
    failures = []
    cells = 0
    for case, (outcome, headers) in credentials(stack).items():
        for target in TARGETS:
            method, path, body = target_request(stack, target, case)
            status, got, data = request(stack, method, path, headers, body)
            want_status, want_headers = expected(outcome, target)
            cells += 1
            where = f"{case} × {target} ({method} {path})"
            if status != want_status:
                failures.append(f"{where}: status {status}, expected {want_status}: {data[:120]!r}")
                continue
            for name, want in want_headers.items():
                value = got.get(name, "")
                ok = want.search(value) if isinstance(want, re.Pattern) else value == want
                if not ok:
                    failures.append(f"{where}: header {name} = {value!r}, expected {want!r}")
            if status != 400 or target != "traversal-root":  # nginx rejects that one before any location
                for name, want in SECURITY.items():
                    if got.get(name) != want:
                        failures.append(f"{where}: security header {name} = {got.get(name)!r}")
                if "frame-ancestors 'none'" not in got.get("content-security-policy", ""):
                    failures.append(f"{where}: no CSP with frame-ancestors")
            for secret in stack.tokens.values():
                if secret.encode() in data or any(secret in v for v in got.values()):
                    failures.append(f"{where}: a token appears in the answer")
            if "set-cookie" in got:
                failures.append(f"{where}: unexpected Set-Cookie")
    assert cells == len(credentials(stack)) * len(TARGETS)
    assert not failures, "\n".join(failures)


def test_read_answers_carry_the_data(stack):
    """A 200 for an object is the object itself (md5 matches its name), and pages are gzipped on request."""
    path = an_object(stack)
    status, _, data = request(stack, "GET", path, {"Authorization": f"Bearer {stack.tokens['read']}"})
    assert status == 200
    assert hashlib.md5(data).hexdigest() == path.split("/")[-2] + path.split("/")[-1]
    status, got, _ = request(stack, "GET", "/catalog/", {"Authorization": f"Bearer {stack.tokens['read']}",
                                                        "Accept-Encoding": "gzip"})
    assert got.get("content-encoding") == "gzip"
    status, got, _ = request(stack, "GET", path, {"Authorization": f"Bearer {stack.tokens['read']}",
                                                 "Accept-Encoding": "gzip"})
    assert "content-encoding" not in got  # DVC checks the md5 of what it receives


def test_json_errors_for_the_api(stack):
    """The API answers JSON errors a client can show, never HTML and never a redirect."""
    status, got, data = request(stack, "GET", "/api/v1/products/no-such-product.json",
                                {"Authorization": f"Bearer {stack.tokens['read']}"})
    assert status == 404 and got["content-type"].startswith("application/json")
    assert json.loads(data)["detail"][0]["type"] == "not_found"
    status, got, data = request(stack, "GET", "/api/v1/index.json")
    assert status == 401 and json.loads(data)["detail"][0]["type"] == "no_authorization"
    status, got, data = request(stack, "GET", "/api/v1/index.json", {"Authorization": f"Bearer {UNKNOWN}"})
    assert status == 401 and json.loads(data)["detail"][0]["type"] == "invalid_token"
    status, got, data = request(stack, "GET", "/api/v1/index.json",
                                {"Authorization": f"Bearer {stack.tokens['none']}"})
    assert status == 403 and json.loads(data)["detail"][0]["type"] == "insufficient_scope"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/catalog/", "GET, HEAD"),
    ("POST", "/api/v1/index.json", "GET, HEAD"),
    ("PROPFIND", "/dvc/files/md5/00/000000000000000000000000000000", "GET, HEAD, POST, PUT"),
    ("DELETE", "/dvc/files/md5/00/000000000000000000000000000000", "GET, HEAD, POST, PUT"),
])
def test_other_methods_are_refused(stack, method, path, allow):
    status, got, _ = request(stack, method, path, {"Authorization": f"Bearer {stack.tokens['write']}"})
    assert (status, got.get("allow")) == (405, allow)


def test_upload_checks_content_and_never_reaches_the_repository(stack):
    """PUT works like POST; a body that does not match its name is refused and not stored."""
    auth = {"Authorization": f"Bearer {stack.tokens['write']}"}
    data = b"put upload"
    md5 = hashlib.md5(data).hexdigest()
    path = f"/dvc/files/md5/{md5[:2]}/{md5[2:]}"
    assert request(stack, "PUT", path, auth, data)[0] == 201
    assert request(stack, "PUT", path, auth, data)[0] == 200  # already there
    assert (stack.remote_dir / "files" / "md5" / md5[:2] / md5[2:]).read_bytes() == data
    wrong = "/dvc/files/md5/00/" + "1" * 30
    assert request(stack, "PUT", wrong, auth, b"not that")[0] == 422
    assert not (stack.remote_dir / "files" / "md5" / "00" / ("1" * 30)).exists()
    assert not list((stack.remote_dir / "files" / "md5" / "00").glob(".upload-*"))
    assert request(stack, "GET", path, {"Authorization": f"Bearer {stack.tokens['read']}"})[2] == data


def test_login_redirect_keeps_simple_addresses(stack):
    status, got, _ = request(stack, "GET", "/catalog/?type=training_set")
    assert status == 302
    assert got["location"] == f"/login?rd={stack.url}/catalog/?type=training_set"
    # core nginx cannot URL-encode: an address with & keeps its path only
    status, got, _ = request(stack, "GET", "/catalog/?type=a&release=b")
    assert got["location"] == f"/login?rd={stack.url}/catalog/"
    # background requests (X-Requested-With) get 403, not a redirect
    status, got, _ = request(stack, "GET", "/catalog/", {"X-Requested-With": "XMLHttpRequest"})
    assert status == 403


def test_access_log_has_users_and_no_secrets(stack):
    request(stack, "GET", "/api/v1/index.json?token=" + stack.tokens["read"],
            {"Authorization": f"Bearer {stack.tokens['read']}", "Cookie": "gafaelfawr=" + stack.tokens["write"]})
    log = (stack.run_dir / "access.log").read_text()
    assert '"reader"' in log
    assert "/api/v1/index.json HTTP/1.1\" 200" in log
    for secret in stack.tokens.values():
        assert secret not in log
    assert "Bearer" not in log and "gafaelfawr=" not in log


def test_auth_answers_are_cached_per_credentials(stack):
    """Repeated requests with the same token reach the auth service once per cache period."""
    token = {"Authorization": f"Bearer {stack.tokens['read']}"}
    request(stack, "GET", "/api/v1/index.json", token)
    before = stack.auth_requests()
    for _ in range(20):
        assert request(stack, "GET", "/api/v1/index.json", token)[0] == 200
    assert stack.auth_requests() == before
    request(stack, "GET", "/api/v1/index.json", {"Authorization": f"Bearer {UNKNOWN}x"})
    assert stack.auth_requests() == before + 1  # other credentials: asked again


def test_stack_start_is_idempotent_and_stop_ends_every_process(tmp_path, stack):
    from site_builder.deploy.devstack import running_stack, start_stack, stop_stack

    first = start_stack(REPO, tmp_path / "run", site_dir=stack.site_dir)
    again = start_stack(REPO, tmp_path / "run", site_dir=stack.site_dir)
    assert again.pids == first.pids and again.url == first.url and again.tokens == first.tokens
    assert request(first, "GET", "/api/v1/index.json",
                   {"Authorization": f"Bearer {first.tokens['read']}"})[0] == 200
    assert sorted(stop_stack(tmp_path / "run")) == sorted(first.pids)
    for pid in first.pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    assert running_stack(tmp_path / "run") is None
    assert stop_stack(tmp_path / "run") == []


def test_missing_pages_get_the_site_404_page(stack):
    status, got, data = request(stack, "GET", "/no/such/page/", {"Authorization": f"Bearer {stack.tokens['read']}"})
    assert status == 404 and got["content-type"].startswith("text/html")
    assert data == (stack.site_dir / "404.html").read_bytes()
    # without credentials a missing page still asks for login first: nothing is revealed
    assert request(stack, "GET", "/no/such/page/")[0] == 302


def test_secrets_of_the_stack_are_ignored_by_git():
    import subprocess

    paths = ["deploy/dev/tokens.json", "deploy/dev/run/gafaelfawr-tokens.json", ".dvc/config.local"]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.stdout.split() == paths
