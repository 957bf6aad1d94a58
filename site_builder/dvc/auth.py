"""RSP tokens for the catalogue's DVC remote, and DVC runs that explain auth failures.

:func:`store_token` writes the remote's ``auth = custom`` settings into
``.dvc/config.local`` (never committed, mode 0600); :func:`run_dvc` runs
``dvc pull``/``push``/... and, when it fails the way DVC fails on a 401/403,
asks the remote what is wrong (:mod:`site_builder.dvc.access`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from site_builder.dvc.access import (
    AccessProblem,
    auth_headers,
    looks_like_access_failure,
    probe_remote,
)
from site_builder.errors import PzError, UsageError

TOKEN_RE = re.compile(r"^gt-[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$")


class RemoteAccessError(PzError):
    """The DVC remote refused our credentials (the message says which and how to fix it)."""


@dataclass(frozen=True)
class DvcRun:
    """The outcome of one DVC command; ``problem`` is the real reason when the remote refused."""

    returncode: int
    stdout: str
    stderr: str
    problem: AccessProblem | None = None


def _dvc_config(root: Path):
    from dvc.config import Config

    if not (root / ".dvc").is_dir():
        raise UsageError(f"{root} is not a DVC repository (no .dvc/)\n  hint: run this inside the catalogue clone")
    return Config(dvc_dir=str(root / ".dvc"))


def get_remote(root: Path, name: str | None = None) -> tuple[str, dict]:
    """The name and merged settings (all config levels) of remote ``name`` or the default one."""
    config = _dvc_config(root)
    name = name or config["core"].get("remote")
    if not name:
        raise UsageError("no DVC remote given and no default remote\n  hint: pass --remote NAME or run `pz token`")
    if name not in config["remote"]:
        known = ", ".join(sorted(config["remote"])) or "none"
        raise UsageError(f"no DVC remote {name!r} (known: {known})\n  hint: create it with `pz token --url URL`")
    return name, dict(config["remote"][name])


def check_token(token: str) -> str:
    """``token`` stripped, if it looks like an RSP (Gafaelfawr) token; raise otherwise."""
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not TOKEN_RE.match(token):
        shown = token[:6] + "…" if len(token) > 6 else token
        raise UsageError(f"{shown!r} is not an RSP token (expected gt-<22 characters>.<22 characters>)\n"
                         "  hint: copy the whole token from the RSP token page, or use $ACCESS_TOKEN in a notebook")
    return token


def store_token(root: Path, token: str, *, name: str, url: str | None = None, default: bool = True,
                check: bool = True) -> AccessProblem | None:
    """Write remote ``name`` (``url``, ``auth = custom``, the bearer token) into ``.dvc/config.local``.

    With ``check``, ask the remote first and write nothing if it refuses
    the token for reading (the problem is returned instead).
    """
    token = check_token(token)
    config = _dvc_config(root)
    url = url or dict(config["remote"].get(name, {})).get("url")
    if not url:
        raise UsageError(f"no URL known for the DVC remote {name!r}\n  hint: pass --url https://.../dvc")
    settings = {"url": url, "auth": "custom", "custom_auth_header": "Authorization", "password": f"Bearer {token}"}
    if check:
        try:
            problem = probe_remote(url, auth_headers(settings))
        except OSError as exc:
            raise RemoteAccessError(f"cannot reach the DVC remote {url}: {exc}\n"
                                    "  hint: check the URL, or pass --no-check to store the token anyway") from exc
        if problem is not None:
            return problem
    local = root / ".dvc" / "config.local"
    if not local.exists():
        local.touch(mode=0o600)
    os.chmod(local, 0o600)
    with config.edit("local") as conf:
        conf["remote"].setdefault(name, {}).update(settings)
        if default:
            conf["core"]["remote"] = name
    os.chmod(local, 0o600)
    return None


def run_dvc(root: Path, args: list[str], *, remote: str | None = None, write: bool = False) -> DvcRun:
    """Run ``dvc ARGS`` in ``root``; on failure that smells of auth, find the real problem."""
    dvc = Path(sys.executable).parent / "dvc"
    argv = [str(dvc) if dvc.exists() else "dvc", *args]
    result = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    problem = None
    if result.returncode != 0 and looks_like_access_failure(result.stdout + result.stderr):
        problem = diagnose(root, remote, write=write)
    return DvcRun(result.returncode, result.stdout, result.stderr, problem)


def diagnose(root: Path, remote: str | None, *, write: bool = False) -> AccessProblem | None:
    """Ask the remote, with the credentials DVC would use, whether it lets us read (or write)."""
    try:
        _name, settings = get_remote(root, remote)
    except PzError:
        return None
    url = str(settings.get("url") or "")
    try:
        problem = probe_remote(url, auth_headers(settings))
        if problem is None and write:
            problem = probe_remote(url, auth_headers(settings), write=True)
    except OSError:
        return None
    return problem
