"""The development stack: nginx + the dev Gafaelfawr + the DVC remote, on loopback.

``make stack`` (through ``deploy/dev/stack.py``) and the tests' ``stack``
fixture (``tests/stack.py``) both use :func:`start_stack` / :func:`stop_stack`.
Everything the stack writes lives in its run folder (private to the user):
the rendered ``nginx.conf``, pid and log files, the auth cache, the token
database, a copy of the site and of the DVC remote (so ``dvc push`` never
writes into the repository's committed ``dvc-remote/``).

Processes are started in their own sessions and recorded in
``<run>/stack.json``; :func:`stop_stack` ends exactly those processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from site_builder.deploy.nginx import TEMPLATE, build_csp, load_proxy_settings, render_nginx_config
from site_builder.errors import PzError
from site_builder.system import pid_alive

AUTH_SCRIPT = Path("deploy") / "dev" / "gafaelfawr_dev.py"
UPLOAD_SCRIPT = Path("deploy") / "dev" / "dvc_upload.py"
STATE = "stack.json"
TOKEN_KINDS = ("read", "write", "none")


class StackError(PzError):
    """The development stack cannot start (port taken, nginx missing, a service died)."""


@dataclass(frozen=True)
class Stack:
    """A running stack. ``tokens`` maps read/write/none to RSP-style tokens.

    ``url`` is the proxy (site at ``/``, API at ``/api/v1/``), ``remote_url``
    the DVC HTTP remote through the proxy, ``auth_url`` the dev auth service
    itself (``/_dev/stats`` counts auth subrequests), ``noauth_url`` the
    identical server without auth (only when started with ``noauth=True``).
    """

    url: str
    remote_url: str
    tokens: dict[str, str]
    site_dir: Path
    remote_dir: Path
    run_dir: Path
    auth_url: str
    noauth_url: str | None = None
    pids: tuple[int, ...] = field(default=(), repr=False)

    def stop(self) -> None:
        """Stop the processes of this stack."""
        stop_stack(self.run_dir)

    def auth_requests(self) -> int:
        """How many auth requests the dev Gafaelfawr has answered so far."""
        from urllib.request import urlopen

        with urlopen(self.auth_url + "/_dev/stats", timeout=5) as answer:
            return int(json.load(answer)["ingress_auth"])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def new_token() -> str:
    """A token shaped like Gafaelfawr's: ``gt-<22 chars>.<22 chars>`` (16 random bytes each)."""
    return f"gt-{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(16)}"


def _tokens(path: Path | None) -> dict[str, str]:
    """The read/write/none tokens: kept from ``path`` when it holds valid ones, else new."""
    if path is not None and path.is_file():
        try:
            old = json.loads(path.read_text())
            if set(TOKEN_KINDS) <= set(old) and all(str(old[k]).startswith("gt-") for k in TOKEN_KINDS):
                return {k: old[k] for k in TOKEN_KINDS}
        except (ValueError, TypeError):
            pass
    return {kind: new_token() for kind in TOKEN_KINDS}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def find_nginx() -> str:
    """The nginx binary (Debian puts it in /usr/sbin, which may not be on PATH)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise StackError("nginx is not installed\n  hint: run `make system-deps` (apt-get install nginx)")
    return found


def running_stack(run_dir: Path) -> Stack | None:
    """The stack recorded in ``run_dir`` if all its processes still run, else None."""
    state = run_dir / STATE
    if not state.is_file():
        return None
    data = json.loads(state.read_text())
    if not all(pid_alive(pid) for pid in data["pids"]):
        return None
    return Stack(url=data["url"], remote_url=data["remote_url"], tokens=data["tokens"],
                 site_dir=Path(data["site_dir"]), remote_dir=Path(data["remote_dir"]), run_dir=run_dir,
                 auth_url=data["auth_url"], noauth_url=data.get("noauth_url"), pids=tuple(data["pids"]))


def start_stack(root: Path, run_dir: Path, *, port: int | None = None, site_dir: Path | None = None,
                remote_src: Path | None = None, tokens_file: Path | None = None, noauth: bool = False,
                workers: int = 1, auth_cache: str = "5m", build: bool = True,
                extra_tokens: dict[str, dict] | None = None) -> Stack:
    """Start nginx, the dev auth service and the upload service; return the running stack.

    Parameters
    ----------
    root
        The catalogue repository (``catalog.yaml``, ``deploy/``, ``dvc-remote/``).
    run_dir
        Folder for everything the stack writes; made private (0700).
    port
        Proxy port on 127.0.0.1; None picks a free one.
    site_dir
        A built site to serve; None builds one into ``run_dir/site`` with ``pz build``.
    remote_src
        Folder of the DVC remote to serve (copied); default ``root/dvc-remote``.
    tokens_file
        Where to write ``{"read", "write", "none"}`` tokens (valid ones found there are kept);
        default ``run_dir/tokens.json``.
    noauth
        Also serve the identical site and remote without auth on another port (benchmarks).
    workers, auth_cache
        nginx ``worker_processes`` and the auth cache duration ("" for none).
    build
        With ``site_dir`` None, build the site (False: reuse ``run_dir/site`` if present).
    extra_tokens
        More entries for the auth service's token database (token -> user record), for tests.

    Raises
    ------
    StackError
        The port is taken, nginx is missing, or a process did not come up.
    """
    # Long on purpose: one start-up sequence (site, remote copy, ports, tokens, config, three
    # processes) whose cleanup on failure must see every step; most of the length is the docstring.
    root = root.resolve()
    run_dir = run_dir.resolve()
    existing = running_stack(run_dir)
    if existing is not None:
        return existing
    stop_stack(run_dir)  # leftovers of a stack that half died
    if port is not None and _port_open(port):
        raise StackError(f"port {port} on 127.0.0.1 is in use\n"
                         "  hint: stop what listens there (`make stack-stop` if it is an old stack) or pick another port")
    nginx = find_nginx()
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o700)
    for sub in ("authcache",):
        (run_dir / sub).mkdir(exist_ok=True)

    if site_dir is None:
        site_dir = run_dir / "site"
        if build or not (site_dir / "index.html").is_file():
            from site_builder.site.build import build_site

            build_site(root, site_dir)  # the site and its JSON API
    site_dir = site_dir.resolve()
    remote_dir = run_dir / "remote"
    if remote_dir.exists():
        shutil.rmtree(remote_dir)
    shutil.copytree(remote_src or root / "dvc-remote", remote_dir)

    port = port or free_port()
    auth_port, upload_port = free_port(), free_port()
    noauth_port = free_port() if noauth else None
    settings = load_proxy_settings(
        root, listen=f"127.0.0.1:{port}", site_dir=str(site_dir), remote_dir=str(remote_dir),
        auth_upstream=f"127.0.0.1:{auth_port}", upload_upstream=f"127.0.0.1:{upload_port}",
        run_dir=str(run_dir), csp=build_csp(site_dir), login_url="/login", dev_login=True,
        noauth_listen=f"127.0.0.1:{noauth_port}" if noauth_port else None, workers=workers,
        auth_cache=auth_cache, hsts=False, log_buffer=noauth,
        user=pwd.getpwuid(0).pw_name if os.geteuid() == 0 else None)

    tokens_file = tokens_file or run_dir / "tokens.json"
    tokens = _tokens(tokens_file)
    read, write = settings.read_scope, settings.write_scope
    database = {"tokens": {
        tokens["read"]: {"username": "reader", "email": "reader@example.org", "scopes": [read]},
        tokens["write"]: {"username": "writer", "email": "writer@example.org", "scopes": [read, write]},
        tokens["none"]: {"username": "noscope", "email": "noscope@example.org", "scopes": []},
        **(extra_tokens or {}),
    }}
    _write_private(run_dir / "gafaelfawr-tokens.json", json.dumps(database, indent=1))
    _write_private(tokens_file, json.dumps(tokens, indent=1) + "\n")
    (run_dir / "nginx.conf").write_text(render_nginx_config(settings, root / TEMPLATE))

    url = f"http://127.0.0.1:{port}"
    commands = [
        ([sys.executable, str(root / AUTH_SCRIPT), "--listen", f"127.0.0.1:{auth_port}",
          "--tokens", str(run_dir / "gafaelfawr-tokens.json"), "--realm", "127.0.0.1"], "auth.log", auth_port),
        ([sys.executable, str(root / UPLOAD_SCRIPT), "--listen", f"127.0.0.1:{upload_port}",
          "--root", str(remote_dir)], "upload.log", upload_port),
        ([nginx, "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"), "-g", "daemon off;"], "nginx.out", port),
    ]
    pids: list[int] = []
    state = {"url": url, "remote_url": url + settings.remote_path, "tokens": tokens, "site_dir": str(site_dir),
             "remote_dir": str(remote_dir), "auth_url": f"http://127.0.0.1:{auth_port}",
             "noauth_url": f"http://127.0.0.1:{noauth_port}" if noauth_port else None, "pids": pids}
    try:
        for argv, log, wait_port in commands:
            with open(run_dir / log, "ab") as out:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                        start_new_session=True, cwd=run_dir)
            pids.append(proc.pid)
            _write_private(run_dir / STATE, json.dumps(state, indent=1))
            _wait_for(proc, wait_port, run_dir / log, run_dir / "error.log")
        if noauth_port:
            _wait_for(proc, noauth_port, run_dir / "nginx.out", run_dir / "error.log")
    except BaseException:
        stop_stack(run_dir)
        raise
    return running_stack(run_dir) or Stack(**{**state, "site_dir": site_dir, "remote_dir": remote_dir,
                                              "run_dir": run_dir, "pids": tuple(pids)})


def _wait_for(proc: subprocess.Popen, port: int, *logs: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(p.read_text(errors="replace")[-1500:] for p in logs if p.is_file())
            raise StackError(f"{Path(proc.args[0]).name} {' '.join(map(str, proc.args[1:2]))} exited "
                             f"with status {proc.returncode}:\n{tail.strip()}")
        if _port_open(port):
            return
        time.sleep(0.05)
    raise StackError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s (see {logs[0]})")


def stop_stack(run_dir: Path) -> list[int]:
    """Stop the processes recorded in ``run_dir/stack.json``; return the pids that were signalled."""
    state = run_dir / STATE
    if not state.is_file():
        return []
    pids = [int(p) for p in json.loads(state.read_text()).get("pids", [])]
    stopped = []
    for pid in reversed(pids):  # nginx first, then the services behind it
        if pid_alive(pid) and _ours(pid, run_dir):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    deadline = time.monotonic() + 10
    for pid in stopped:
        while pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    state.unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _ours(pid: int, run_dir: Path) -> bool:
    """Whether ``pid`` is still one of our processes (its command line names the run folder)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return str(run_dir) in cmdline
