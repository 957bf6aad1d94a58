"""Plain words for access failures of the DVC remote behind RSP (Gafaelfawr) auth.

DVC reports a 401 from an HTTP remote as "Some of the cache files do not
exist neither locally nor on remote", which sends users looking for missing
data. Our tools ask the remote themselves (one HEAD, or an empty POST to a
name no upload can have) with the same credentials and say what is really
wrong: the token is missing, invalid, or lacks a scope, and how to set it.

Standard library only, so the notebook client can use the same wording.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: What DVC prints when an HTTP remote refused it (it does not say 401/403).
DVC_FAILURE_MARKERS = (
    "cache files do not exist",
    "failed to pull data from the cloud",
    "failed to push data to the cloud",
    "failed to upload",
    "failed to fetch data from the cloud",
    "401",
    "403",
    "unauthorized",
    "forbidden",
)

# An object name no upload can have (its content would need md5 000…0), so
# probing the write side never stores anything.
PROBE_OBJECT = "files/md5/00/" + "0" * 30

HOW_TO_SET = (
    "set it with `pz token` (reads $ACCESS_TOKEN or asks), or for one command: "
    "--remote-config auth=custom custom_auth_header=Authorization password=\"Bearer $ACCESS_TOKEN\""
)


@dataclass(frozen=True)
class AccessProblem:
    """Why the remote refused: ``reason`` is missing, invalid, scope, malformed or rate_limited."""

    reason: str
    status: int
    remote_url: str
    scope: str | None = None
    detail: str | None = None

    def message(self, action: str = "download from") -> str:
        """One error line and a hint, e.g. "cannot download from ...: your RSP token lacks scope 'x'"."""
        what = {
            "missing": "no RSP token was sent",
            "invalid": "your RSP token is invalid or expired",
            "scope": f"your RSP token lacks the scope {self.scope!r}",
            "malformed": "the Authorization header sent is malformed",
            "rate_limited": "you have made too many requests",
            "forbidden": "access is forbidden",
        }[self.reason]
        line = f"cannot {action} the DVC remote {self.remote_url}: {what} (HTTP {self.status})"
        if self.detail and self.reason in ("malformed", "forbidden"):
            line += f": {self.detail}"
        if self.reason == "rate_limited":
            return line + "\n  hint: wait a minute and try again"
        need = f" with the scope {self.scope!r}" if self.scope else ""
        hint = f"  hint: get a token{need} on the RSP token page (in an RSP notebook it is $ACCESS_TOKEN); {HOW_TO_SET}"
        return f"{line}\n{hint}"


def parse_challenge(header: str | None) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate`` challenge: ``{"scheme": "bearer", "error": ..., ...}``."""
    if not header:
        return {}
    scheme, _, rest = header.strip().partition(" ")
    params = {"scheme": scheme.lower()}
    for name, value in re.findall(r'([A-Za-z_]+)="((?:[^"\\]|\\.)*)"', rest):
        params[name.lower()] = value
    return params


def classify(status: int, www_authenticate: str | None, remote_url: str,
             body: str | None = None) -> AccessProblem | None:
    """An :class:`AccessProblem` for an auth answer (400, 401, 403, 429), None for anything else."""
    challenge = parse_challenge(www_authenticate)
    error = challenge.get("error")
    if status == 401:
        return AccessProblem("invalid" if error == "invalid_token" else "missing", 401, remote_url)
    if status == 403 and error == "insufficient_scope":
        return AccessProblem("scope", 403, remote_url, scope=challenge.get("scope"))
    if status == 400:
        return AccessProblem("malformed", 400, remote_url, detail=challenge.get("error_description") or body)
    if status == 429:
        return AccessProblem("rate_limited", 429, remote_url)
    if status == 403:
        return AccessProblem("forbidden", 403, remote_url, detail=challenge.get("error_description"))
    return None


def probe_remote(remote_url: str, headers: dict[str, str] | None = None, *, write: bool = False,
                 timeout: float = 10.0) -> AccessProblem | None:
    """Ask the remote with ``headers`` (e.g. ``{"Authorization": "Bearer ..."}``) whether access is granted.

    Reads are checked with a HEAD of an object path, writes with an empty
    POST to :data:`PROBE_OBJECT` (refused by the upload service even when
    allowed, so nothing is stored). Returns None when auth let it through.

    Raises
    ------
    OSError
        The remote cannot be reached.
    """
    parts = urlsplit(remote_url)
    if parts.scheme not in ("http", "https"):
        return None  # a local or cloud remote: no RSP auth in front of it
    path = parts.path.rstrip("/") + "/" + PROBE_OBJECT
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("POST" if write else "HEAD", path, body=b"" if write else None,
                     headers={"Content-Length": "0", **(headers or {})} if write else (headers or {}))
        answer = conn.getresponse()
        body = answer.read(2000).decode("utf-8", "replace")
        return classify(answer.status, answer.getheader("WWW-Authenticate"), remote_url, body)
    finally:
        conn.close()


def looks_like_access_failure(dvc_output: str) -> bool:
    """Whether DVC's output is one of its ways of saying the remote refused (or of hiding it)."""
    text = dvc_output.lower()
    return any(marker in text for marker in DVC_FAILURE_MARKERS)


def auth_headers(config: dict) -> dict[str, str]:
    """The HTTP headers DVC sends for a remote's config (``auth``: custom or basic)."""
    import base64

    auth = config.get("auth")
    password = config.get("password")
    if auth == "custom" and password:
        return {config.get("custom_auth_header") or "Authorization": str(password)}
    if auth == "basic" and (config.get("user") or password):
        pair = f"{config.get('user') or ''}:{password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}
