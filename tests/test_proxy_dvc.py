"""Real DVC through the proxy: pull, get --remote-config, dvc.api.read, push; our clear auth messages.

Each test clones this repository (fresh, empty DVC cache) so data can only come from the
remote behind nginx and the dev Gafaelfawr.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import DVC, REPO, sh

pytestmark = pytest.mark.slow

PZ = str(Path(DVC).parent / "pz")


def clone(tmp_path: Path, name: str = "clone") -> Path:
    """A fresh clone of the catalogue (committed state) with an empty DVC cache."""
    dest = tmp_path / name
    sh("git", "clone", "-q", str(REPO), str(dest), cwd=tmp_path)
    return dest


def publish_remote(root: Path, url: str) -> None:
    """Make the HTTP remote the committed default, as in the published catalogue."""
    sh(DVC, "remote", "add", "-d", "-f", "pz-server", url, cwd=root)
    sh("git", "-c", "user.email=t@example.org", "-c", "user.name=T", "commit", "-qam", "remote", cwd=root)


def tracked(root: Path) -> dict[str, str]:
    """path -> md5 of every file the clone's .dvc pointers track."""
    out = {}
    for pointer in sorted(root.glob("products/*/*.dvc")):
        for entry in yaml.safe_load(pointer.read_text())["outs"]:
            out[(pointer.parent / entry["path"]).relative_to(root).as_posix()] = entry["md5"]
    return out


def remote_config(token: str) -> list[str]:
    """The --remote-config options the site's product pages show."""
    return ["auth=custom", "custom_auth_header=Authorization", f"password=Bearer {token}"]


def pz(*args: str, cwd: Path, token: str | None = None) -> subprocess.CompletedProcess:
    env = {"ACCESS_TOKEN": token} if token else {}
    return sh(PZ, *args, cwd=cwd, env=env, check=False)


def test_dvc_pull_with_a_read_token_gets_every_file(stack, tmp_path):
    root = clone(tmp_path)
    assert pz("token", "--url", stack.remote_url, cwd=root, token=stack.tokens["read"]).returncode == 0
    local = (root / ".dvc" / "config.local")
    assert local.stat().st_mode & 0o777 == 0o600
    assert "config.local" not in sh("git", "status", "--porcelain", "--ignored=no", cwd=root).stdout
    before = stack.auth_requests()
    sh(DVC, "pull", cwd=root)
    asked = stack.auth_requests() - before
    files = tracked(root)
    assert len(files) >= 8
    for path, md5 in files.items():
        assert hashlib.md5((root / path).read_bytes()).hexdigest() == md5, path
    # the auth cache: far fewer auth subrequests than objects
    assert asked <= 2, f"{asked} auth subrequests for {len(files)} objects"


def test_dvc_get_and_api_read_with_remote_config(stack, tmp_path):
    root = clone(tmp_path)
    publish_remote(root, stack.remote_url)
    path, md5 = next(iter(sorted(tracked(root).items())))
    out = tmp_path / "got"
    sh(DVC, "get", str(root), path, "-o", str(out), "--remote-config",
       *remote_config(stack.tokens["read"]), cwd=tmp_path)
    assert hashlib.md5(out.read_bytes()).hexdigest() == md5

    other = clone(tmp_path, "other")
    publish_remote(other, stack.remote_url)
    code = (
        "import dvc.api, hashlib, json, sys\n"
        "cfg = json.loads(sys.argv[3])\n"
        "data = dvc.api.read(sys.argv[1], repo=sys.argv[2], mode='rb', remote_config=cfg)\n"
        "print(hashlib.md5(data).hexdigest())\n"
    )
    cfg = {"auth": "custom", "custom_auth_header": "Authorization",
           "password": f"Bearer {stack.tokens['read']}"}
    python = str(Path(DVC).parent / "python")
    result = sh(python, "-c", code, path, str(other), json.dumps(cfg), cwd=tmp_path)
    assert result.stdout.strip() == md5


def test_dvc_get_without_a_token_fails(stack, tmp_path):
    root = clone(tmp_path)
    publish_remote(root, stack.remote_url)
    path = next(iter(sorted(tracked(root))))
    result = sh(DVC, "get", str(root), path, "-o", str(tmp_path / "got"), cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert not (tmp_path / "got").exists()  # no login page saved as data


def test_without_a_token_dvc_misleads_and_pz_pull_explains(stack, tmp_path):
    root = clone(tmp_path)
    sh(DVC, "remote", "add", "--local", "-d", "pz-server", stack.remote_url, cwd=root)
    raw = sh(DVC, "pull", cwd=root, check=False)
    assert raw.returncode != 0
    assert "cache files do not exist" in raw.stderr + raw.stdout  # what DVC says about a 401

    ours = pz("pull", cwd=root)
    assert ours.returncode == 1
    assert ours.stderr.splitlines()[0] == (
        f"pz: error: cannot download from the DVC remote {stack.remote_url}: no RSP token was sent (HTTP 401)")
    assert "hint: get a token with the scope" not in ours.stderr  # no scope named: none was asked yet
    assert "pz token" in ours.stderr
    assert "cache files do not exist" not in ours.stderr


@pytest.mark.parametrize(("kind", "expected"), [
    ("unknown", "your RSP token is invalid or expired (HTTP 401)"),
    ("none", "your RSP token lacks the scope 'read:image' (HTTP 403)"),
])
def test_pz_pull_names_the_token_problem(stack, tmp_path, kind, expected):
    root = clone(tmp_path)
    token = "gt-" + "C" * 22 + "." + "D" * 22 if kind == "unknown" else stack.tokens[kind]
    assert pz("token", "--url", stack.remote_url, "--no-check", cwd=root, token=token).returncode == 0
    result = pz("pull", cwd=root)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].endswith(expected)
    assert token not in result.stderr + result.stdout


def test_pz_token_refuses_a_token_the_remote_refuses(stack, tmp_path):
    root = clone(tmp_path)
    result = pz("token", "--url", stack.remote_url, cwd=root, token=stack.tokens["none"])
    assert result.returncode == 1
    assert "lacks the scope 'read:image'" in result.stderr and "nothing was stored" in result.stderr
    assert not (root / ".dvc" / "config.local").exists()
    bad = pz("token", "--url", stack.remote_url, cwd=root, token="not-a-token")
    assert bad.returncode == 2 and "is not an RSP token" in bad.stderr


def test_dvc_push_needs_the_write_token(stack, tmp_path):
    root = clone(tmp_path)
    data = f"new data {tmp_path.name}\n".encode()
    (root / "newfile.txt").write_bytes(data)
    sh(DVC, "add", "-q", "newfile.txt", cwd=root)
    md5 = hashlib.md5(data).hexdigest()
    stored = stack.remote_dir / "files" / "md5" / md5[:2] / md5[2:]

    assert pz("token", "--url", stack.remote_url, cwd=root, token=stack.tokens["read"]).returncode == 0
    raw = sh(DVC, "push", cwd=root, check=False)
    assert raw.returncode != 0 and not stored.exists()
    ours = pz("push", cwd=root)
    assert ours.returncode == 1
    assert ours.stderr.splitlines()[0] == (
        f"pz: error: cannot upload to the DVC remote {stack.remote_url}: "
        "your RSP token lacks the scope 'write:pz-server' (HTTP 403)")
    assert not stored.exists()

    assert pz("token", "--url", stack.remote_url, cwd=root, token=stack.tokens["write"]).returncode == 0
    sh(DVC, "push", cwd=root)
    assert stored.read_bytes() == data
    # and it reads back through the proxy with the read token
    again = clone(tmp_path, "again")
    (again / "newfile.txt.dvc").write_text((root / "newfile.txt.dvc").read_text())
    assert pz("token", "--url", stack.remote_url, cwd=again, token=stack.tokens["read"]).returncode == 0
    sh(DVC, "pull", "newfile.txt.dvc", cwd=again)
    assert (again / "newfile.txt").read_bytes() == data


def test_dvc_push_with_method_put(stack, tmp_path):
    root = clone(tmp_path)
    data = f"put data {tmp_path.name}\n".encode()
    (root / "putfile.txt").write_bytes(data)
    sh(DVC, "add", "-q", "putfile.txt", cwd=root)
    assert pz("token", "--url", stack.remote_url, cwd=root, token=stack.tokens["write"]).returncode == 0
    sh(DVC, "remote", "modify", "--local", "pz-server", "method", "PUT", cwd=root)
    sh(DVC, "push", cwd=root)
    md5 = hashlib.md5(data).hexdigest()
    assert (stack.remote_dir / "files" / "md5" / md5[:2] / md5[2:]).read_bytes() == data
