"""Ask the DVC remote whether objects are there, without downloading them.

`pz check-pr` must tell a contributor, before review, that the data of the
pull request really reached the remote. Starting DVC costs about a second and
`dvc status --cloud` needs every pointer of the repository; here the remote is
read from DVC's own configuration and each object is looked up directly:

* a local-path remote: ``stat`` of ``<remote>/files/md5/<2 hex>/<30 hex>``;
* an HTTP(S) remote: a ``HEAD`` request for the same path, sending the
  credentials DVC would send (``auth = custom`` / ``basic`` in
  ``.dvc/config.local``), else ``Authorization: Bearer $PZ_DVC_TOKEN`` (or
  ``$ACCESS_TOKEN``, as set in an RSP notebook). Like DVC, any status below
  400 means "the object exists"; redirects are not followed (a redirect to a
  login page must not count as data).

Credentials never appear in results or messages: URLs are shown without
their user-info part.
"""

from __future__ import annotations

import base64
import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from site_builder.errors import PzError

TOKEN_VARIABLES = ("PZ_DVC_TOKEN", "ACCESS_TOKEN")
PRESENT, MISSING, DENIED, UNKNOWN = "present", "missing", "denied", "unknown"


class RemoteConfigError(PzError):
    """The DVC configuration names no usable remote."""


@dataclass(frozen=True)
class Remote:
    """A DVC remote as configured for this repository.

    ``headers`` may hold a secret: never print them (``repr`` hides them).
    """

    name: str
    url: str
    shown_url: str  # ``url`` without credentials, safe to print
    kind: str  # "local", "http" or another scheme ("s3", "gs", ...)
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    env_token: bool = False  # the credentials come from $PZ_DVC_TOKEN/$ACCESS_TOKEN, which DVC does not read

    def object_location(self, md5: str) -> str:
        """Where DVC 3 keeps an object (``files/md5/<2>/<30>``) on this remote, for messages."""
        return f"{self.shown_url.rstrip('/')}/{object_key(md5)}"


def object_key(md5: str) -> str:
    """The path of an object under a DVC 3 remote or cache."""
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def _read_config(root: Path, shared_text: str | None = None) -> dict[str, dict[str, str]]:
    """``.dvc/config`` then ``.dvc/config.local`` (which wins), as {section: {key: value}}.

    ``shared_text`` replaces the content of ``.dvc/config`` (e.g. as of another
    git revision). Relative local remote URLs are made absolute against the
    ``.dvc`` folder, as DVC does.
    """
    sections: dict[str, dict[str, str]] = {}
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            if name == "config" and shared_text is not None:
                parser.read_string(shared_text)
            elif path.is_file():
                parser.read(path, encoding="utf-8")
            else:
                continue
        except configparser.Error as exc:
            raise RemoteConfigError(f".dvc/{name}: cannot be read: {exc.message.splitlines()[0]}") from None
        for section in parser.sections():
            key = " ".join(section.strip("'").replace('"', " ").split())  # ['remote "x"'] -> remote x
            values = sections.setdefault(key, {})
            for option, value in parser.items(section):
                if option == "url" and key.startswith("remote ") and "://" not in value:
                    value = str((path.parent / os.path.expanduser(value)).resolve())
                values[option] = value
    return sections


def find_remote(root: Path, name: str | None = None, *, shared_config: str | None = None) -> Remote:
    """The remote ``name`` (default: ``core.remote``) of the repository at ``root``.

    ``shared_config``: the text to use for ``.dvc/config`` instead of the file
    (`pz check-pr` takes it from the base revision, so that a pull request
    cannot point the check, and the token, at another server).

    Raises
    ------
    RemoteConfigError
        No remote configured, or the named one does not exist.
    """
    config = _read_config(root, shared_config)
    name = name or config.get("core", {}).get("remote")
    if not name:
        raise RemoteConfigError("no default DVC remote is configured, so pushed data cannot be checked; "
                                "set one with `dvc remote add -d NAME URL`")
    section = config.get(f"remote {name}")
    if section is None or not section.get("url"):
        raise RemoteConfigError(f"DVC remote {name!r} is not configured (no url in .dvc/config)")
    url = section["url"]
    scheme = urllib.parse.urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("", "file"):
        local = urllib.parse.urlsplit(url).path if scheme == "file" else url
        return Remote(name, local, local, "local")
    shown = _without_credentials(url)
    if scheme not in ("http", "https"):
        return Remote(name, url, shown, scheme)
    headers, from_env = _auth_headers(section, url)
    return Remote(name, url, shown, "http", headers, from_env)


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _auth_headers(section: dict[str, str], url: str) -> tuple[dict[str, str], bool]:
    """The header DVC would send (its ``auth`` settings), else a bearer token from the environment.

    The flag says the header comes from the environment.
    """
    auth = section.get("auth", "").lower()
    password = section.get("password")
    if auth == "custom" and password:
        return {section.get("custom_auth_header", "Authorization"): password}, False
    if auth == "basic" and (section.get("user") or password):
        pair = f"{section.get('user', '')}:{password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}, False
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}, False
    for variable in TOKEN_VARIABLES:
        token = os.environ.get(variable, "").strip()
        if token:
            return {"Authorization": token if token.lower().startswith("bearer ") else f"Bearer {token}"}, True
    return {}, False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        return None  # the 3xx answer itself is the result


_OPENER = urllib.request.build_opener(_NoRedirect)


def _head(remote: Remote, md5: str, timeout: float) -> tuple[str, str]:
    # Credentials written in the URL travel in the header (see _auth_headers), not the URL.
    url = _without_credentials(f"{remote.url.rstrip('/')}/{object_key(md5)}")
    request = urllib.request.Request(url, method="HEAD", headers=remote.headers)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return UNKNOWN, f"the remote did not answer ({reason})"
    if status < 400:
        return PRESENT, f"HTTP {status}"
    if status in (404, 410):
        return MISSING, f"HTTP {status}"
    if status in (401, 403):
        return DENIED, f"HTTP {status}"
    return UNKNOWN, f"HTTP {status}"


def check_objects(remote: Remote, md5s: Iterable[str], *, timeout: float = 20.0) -> dict[str, tuple[str, str]]:
    """Look up each object on the remote: ``{md5: (state, detail)}``.

    ``state`` is PRESENT, MISSING, DENIED (401/403: the token is missing or
    lacks the scope) or UNKNOWN (no answer, an unexpected status, or a remote
    type this function cannot query; ``detail`` says which).
    """
    wanted = sorted(set(md5s))
    if remote.kind == "local":
        base = Path(remote.url)
        # A folder remote that does not exist yet simply has had nothing pushed to it.
        return {m: (PRESENT, "file") if (base / object_key(m)).is_file() else (MISSING, "no file") for m in wanted}
    if remote.kind != "http":
        return {m: (UNKNOWN, f"objects on a {remote.kind!r} remote are not looked up by pz; "
                             "run `dvc status --cloud` to check them") for m in wanted}
    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
        return dict(zip(wanted, pool.map(lambda m: _head(remote, m, timeout), wanted), strict=True))


def find_dvc() -> str | None:
    """The ``dvc`` executable beside this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.is_file() else shutil.which("dvc")


def pull(root: Path, targets: list[str], remote: Remote) -> str | None:
    """``dvc pull --remote NAME TARGETS``; None on success, else the last line DVC printed.

    A token that only the environment holds reaches DVC through a temporary
    global configuration (``DVC_GLOBAL_CONFIG_DIR``, readable by this user
    only, removed afterwards), which DVC merges into the remote's settings.
    """
    dvc = find_dvc()
    if dvc is None:
        return "DVC is not installed (pip install 'dvc>=3.50')"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    with tempfile.TemporaryDirectory(prefix="pz-dvc-") as tmp:
        if remote.env_token:
            [(header, value)] = remote.headers.items()
            config = Path(tmp) / "config"
            config.touch(mode=0o600)
            config.write_text(f"['remote \"{remote.name}\"']\n    auth = custom\n"
                              f"    custom_auth_header = {header}\n    password = {value}\n", encoding="utf-8")
            env["DVC_GLOBAL_CONFIG_DIR"] = tmp
        done = subprocess.run([dvc, "pull", "--remote", remote.name, *targets], cwd=root, capture_output=True,
                              text=True, check=False, env=env, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.startswith("ERROR")]
    return lines[0].removeprefix("ERROR:").strip() if lines else f"exit status {done.returncode}"
