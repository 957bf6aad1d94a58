"""A Gafaelfawr-compatible auth service for development and tests.

It answers nginx ``auth_request`` subrequests the way the Rubin Science
Platform's Gafaelfawr does (see /ingress/auth in Gafaelfawr's user guide and
DESIGN.md), with tokens read from a JSON file instead of a database::

    {"tokens": {"gt-<22>.<22>": {"username": "ann", "email": "ann@example.org",
                                 "scopes": ["read:image"]}}}

A token entry may carry ``"quota_exceeded": true`` to get the 429 answer
Gafaelfawr gives when a user's quota is used up.

Routes
------
GET /ingress/auth?scope=S[&scope=S2][&satisfy=any|all][&auth_type=bearer|basic]
    (also /auth, the older name) 200 with ``X-Auth-Request-User`` and
    ``X-Auth-Request-Email``; 401 with ``WWW-Authenticate: Bearer realm=...``
    (plus ``error="invalid_token"`` for a bad token); 403 with
    ``error="insufficient_scope"`` and ``scope="..."``; a 400 (malformed
    ``Authorization``) or 429 reaches nginx as 403 with the real status in
    ``X-Error-Status`` and the JSON body in ``X-Error-Body``.
GET /login?rd=URL, POST /login
    A development login page: paste a token, get the session cookie
    ``gafaelfawr`` (HttpOnly, SameSite=Lax) and a redirect back to ``rd``
    (only to the host the page was served from). Real Gafaelfawr sends the
    browser to the identity provider here.
GET /logout
    Clears the cookie.
GET /_dev/stats
    ``{"ingress_auth": N}``: how many auth requests were answered (for the
    benchmark that counts auth subrequests). Not part of Gafaelfawr.

Run: ``python deploy/dev/gafaelfawr_dev.py --listen 127.0.0.1:PORT --tokens FILE
--realm HOST``. Standard library only; tokens are never logged.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import html
import json
import re
import sys
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# Gafaelfawr tokens: "gt-", a 16-byte key and a 16-byte secret, each base64url without padding.
TOKEN_RE = re.compile(r"^gt-[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$")
COOKIE_NAME = "gafaelfawr"


class InvalidRequest(Exception):
    """A malformed ``Authorization`` header (Gafaelfawr answers 400 invalid_request)."""


def is_token(value: str) -> bool:
    """Whether ``value`` has the shape of a Gafaelfawr token."""
    return bool(TOKEN_RE.match(value))


def find_token(authorization: str | None, cookie: str | None) -> str | None:
    """The token of a request: from ``Authorization`` (Bearer or either Basic field), else the cookie.

    Raises
    ------
    InvalidRequest
        A header without a scheme, an unknown scheme, undecodable Basic
        credentials, or two different tokens in the Basic fields.
    """
    if authorization:
        if " " not in authorization.strip():
            raise InvalidRequest("Malformed Authorization header")
        scheme, blob = authorization.strip().split(None, 1)
        if scheme.lower() == "bearer":
            return blob.strip()
        if scheme.lower() != "basic":
            raise InvalidRequest(f"Unknown Authorization type {scheme}")
        try:
            user, password = base64.b64decode(blob, validate=True).decode().strip().split(":")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequest(f"Invalid Basic auth string: {exc}") from exc
        if is_token(user):
            if is_token(password) and password != user:
                raise InvalidRequest("Conflicting tokens in Basic username and password fields")
            return user
        if is_token(password):
            return password
        # Basic credentials without a token count as no credentials (as in Gafaelfawr).
    if cookie:
        try:
            jar = SimpleCookie(cookie)
        except CookieError:
            return None
        morsel = jar.get(COOKIE_NAME)
        # A bad session cookie is no session: the browser goes to the login page again.
        if morsel is not None and is_token(morsel.value):
            return morsel.value
    return None


class TokenStore:
    """Token → user record, loaded from the tokens file once at start."""

    def __init__(self, path: Path):
        data = json.loads(path.read_text())
        self.tokens: dict[str, dict] = data["tokens"]
        for token in self.tokens:
            if not is_token(token):
                raise SystemExit(f"{path}: error: entry is not a Gafaelfawr token (gt-<22>.<22>)")

    def get(self, token: str) -> dict | None:
        return self.tokens.get(token)


class Handler(BaseHTTPRequestHandler):
    server: AuthServer
    protocol_version = "HTTP/1.1"  # keep-alive with nginx's upstream pool

    # -- plumbing
    def log_message(self, format: str, *args) -> None:
        # The request line may carry ?rd=...; never headers. Quiet unless asked.
        if self.server.verbose:
            sys.stderr.write(f"gafaelfawr-dev: {self.address_string()} {format % args}\n")

    def _send(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"",
              content_type: str = "application/json") -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _challenge(self, auth_type: str, error: str | None = None, description: str | None = None,
                   scope: str | None = None) -> str:
        parts = [f'{auth_type.capitalize()} realm="{self.server.realm}"']
        if error:
            parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{description}"')
        if scope:
            parts.append(f'scope="{scope}"')
        return ", ".join(parts)

    # -- routes -----------------------------------------------------------
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/ingress/auth", "/auth"):
            self.ingress_auth(parse_qs(url.query))
        elif url.path == "/login":
            self.login_page(parse_qs(url.query).get("rd", [""])[0])
        elif url.path == "/logout":
            self._send(303, {"Location": "/", "Set-Cookie": f"{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"})
        elif url.path == "/_dev/stats":
            self._send(200, body=json.dumps({"ingress_auth": self.server.count}).encode())
        else:
            self._send(404, body=b'{"detail": [{"msg": "Not found", "type": "not_found"}]}')

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/login":
            self._send(405, {"Allow": "GET, HEAD"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 10_000:
            self._send(413)
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        token = form.get("token", [""])[0].strip()
        rd = form.get("rd", [""])[0]
        if not (is_token(token) and self.server.store.get(token)):
            self.login_page(rd, error="That is not a valid token.", status=401)
            return
        cookie = f"{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax"
        self._send(303, {"Location": self._safe_return(rd), "Set-Cookie": cookie,
                         "Cache-Control": "no-store"}, b"", "text/plain")

    # -- /ingress/auth ----------------------------------------------------
    def ingress_auth(self, query: dict[str, list[str]]) -> None:
        with self.server.lock:
            self.server.count += 1
        scopes = query.get("scope", [])
        satisfy = query.get("satisfy", ["all"])[0]
        auth_type = query.get("auth_type", ["bearer"])[0]
        no_store = {"Cache-Control": "no-cache, no-store"}
        if not scopes or satisfy not in ("any", "all") or auth_type not in ("bearer", "basic"):
            # A configuration error of the ingress, not of the user: Gafaelfawr answers 422.
            self._error(422, "invalid_request", "scope is required; satisfy is any or all", auth_type)
            return
        try:
            token = find_token(self.headers.get("Authorization"), self.headers.get("Cookie"))
        except InvalidRequest as exc:
            self._error(400, "invalid_request", str(exc), auth_type)
            return
        if token is not None and not self.headers.get("Authorization") and not self.server.store.get(token):
            token = None  # an unknown session cookie is no session: the browser logs in again
        if token is None:
            headers = {**no_store, "WWW-Authenticate": self._challenge(auth_type)}
            status = 401
            # Background XHRs get 403 so nginx does not redirect them to the login page.
            if (self.headers.get("X-Requested-With") or "").lower() == "xmlhttprequest":
                status = 403
            self._send(status, headers, b'{"detail": {"msg": "Authentication required", "type": "no_authorization"}}')
            return
        user = self.server.store.get(token) if is_token(token) else None
        if user is None:
            description = "Token is not valid" if is_token(token) else "Token does not look like a Gafaelfawr token"
            headers = {**no_store, "WWW-Authenticate": self._challenge(auth_type, "invalid_token", description)}
            body = json.dumps({"detail": [{"msg": description, "type": "invalid_token"}]}).encode()
            self._send(401, headers, body)
            return
        if user.get("quota_exceeded"):
            self._error(429, "rate_limited", "Rate limit exceeded", None)
            return
        have = set(user.get("scopes", []))
        wanted = set(scopes)
        ok = bool(have & wanted) if satisfy == "any" else wanted <= have
        if not ok:
            self._error(403, "insufficient_scope", "Token missing required scope", auth_type,
                        scope=" ".join(sorted(wanted)))
            return
        self._send(200, {**no_store, "X-Auth-Request-User": user["username"],
                         "X-Auth-Request-Email": user.get("email", "")})

    def _error(self, status: int, error: str, description: str, auth_type: str | None,
               scope: str | None = None) -> None:
        """401/403 as they are; any other status as 403 with X-Error-Status/X-Error-Body."""
        body = json.dumps({"detail": [{"msg": description, "type": error}]})
        headers = {"Cache-Control": "no-cache, no-store", "X-Error-Status": str(status), "X-Error-Body": body}
        if auth_type and status in (400, 401, 403):
            headers["WWW-Authenticate"] = self._challenge(auth_type, error, description, scope)
        self._send(status if status in (401, 403) else 403, headers, body.encode())

    # -- /login -----------------------------------------------------------
    def _safe_return(self, rd: str) -> str:
        """``rd`` if it points back to the host this page was served from, else ``/``."""
        target = urlsplit(rd)
        host = self.headers.get("Host") or ""  # nginx passes the browser's Host; never trust X-Forwarded-Host
        if target.scheme in ("http", "https") and target.netloc == host:
            return rd
        if not target.scheme and not target.netloc and rd.startswith("/") and not rd.startswith("//"):
            return rd
        return "/"

    def login_page(self, rd: str, error: str = "", status: int = 200) -> None:
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in (development)</title></head>
<body><h1>Log in to the PZ Server (development)</h1>
<p>Paste an RSP token (<code>deploy/dev/tokens.json</code>).</p>{message}
<form method="post" action="/login">
<input type="hidden" name="rd" value="{html.escape(rd, quote=True)}">
<label>Token <input name="token" type="password" autocomplete="off" size="50"></label>
<button type="submit">Log in</button></form></body></html>
"""
        self._send(status, {"Cache-Control": "no-store"}, page.encode(), "text/html; charset=utf-8")


class AuthServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: TokenStore, realm: str, verbose: bool):
        super().__init__(address, Handler)
        self.store = store
        self.realm = realm
        self.verbose = verbose
        self.count = 0
        self.lock = threading.Lock()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT (default %(default)s)")
    parser.add_argument("--tokens", type=Path, required=True, help="JSON tokens file")
    parser.add_argument("--realm", default="localhost", help="realm of WWW-Authenticate challenges")
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = AuthServer((host, int(port)), TokenStore(args.tokens), args.realm, args.verbose)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
