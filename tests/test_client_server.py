"""The client against a live HTTP server: tokens, resumed downloads, corrupt objects.

The server is a small real one (stdlib ``http.server`` on a free loopback port) that
serves a site built by ``pz build`` and a DVC remote folder, checks bearer tokens the way
Gafaelfawr answers (401 without or with a bad token, 403 with ``insufficient_scope``),
honours ``Range`` requests, and can be told to cut the connection in the middle of a body
or to send corrupt bytes once. It also provides, for the other client tests, a catalogue
repository with two versions of one product (session fixture ``client_repo``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
import secrets
import shutil
import socket
import string
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import BIN, DVC, REPO, sh

pytestmark = pytest.mark.slow
READ_SCOPE = "read:image"
#: The row the second version of pzserver-upload-example adds (an id above 2**53).
NEW_ROW = "9007199254740993,31.0,-10.0,0.5,99.0,3\n"
_BUILT: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Nothing is written to ~/.cache/pzclient by the tests."""
    monkeypatch.setenv("PZCLIENT_CACHE", str(tmp_path / "default-cache"))


def make_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "gt-" + "".join(secrets.choice(alphabet) for _ in range(22)) + "." + "".join(
        secrets.choice(alphabet) for _ in range(22))


@dataclasses.dataclass
class ServerState:
    site: Path
    remote: Path
    tokens: dict[str, str]
    requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)
    cut_once: set[str] = dataclasses.field(default_factory=set)
    corrupt_once: set[str] = dataclasses.field(default_factory=set)
    corrupt_always: set[str] = dataclasses.field(default_factory=set)
    no_range: bool = False
    gzip_objects: bool = False  # send DVC objects with Content-Encoding: gzip (whole, no Range)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _deny(self, status: int, challenge: str) -> None:
        body = b"denied\n"
        self.send_response(status)
        self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        state.requests.append((path, self.headers.get("Range")))
        auth = self.headers.get("Authorization", "")
        if not auth:
            return self._deny(401, 'Bearer realm="pz-test"')
        if auth == f"Bearer {state.tokens['none']}":
            return self._deny(403, f'Bearer realm="pz-test", error="insufficient_scope", scope="{READ_SCOPE}"')
        if auth != f"Bearer {state.tokens['read']}":
            return self._deny(401, 'Bearer realm="pz-test", error="invalid_token"')
        base, rel = (state.remote, path[len("/dvc/"):]) if path.startswith("/dvc/") else (state.site, path.lstrip("/"))
        target = (base / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(base.resolve()) or not target.is_file():
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        if state.gzip_objects and path.startswith("/dvc/files/"):
            body = gzip.compress(target.read_bytes())
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        size = target.stat().st_size
        start, stop = 0, size  # bytes [start, stop) are sent
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match and not state.no_range:
            start = int(match.group(1))
            stop = min(size, int(match.group(2)) + 1) if match.group(2) else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Content-Type", "application/json" if target.suffix == ".json" else "application/octet-stream")
        self.end_headers()
        cut = path in state.cut_once
        corrupt = path in state.corrupt_once or path in state.corrupt_always
        state.cut_once.discard(path)
        state.corrupt_once.discard(path)
        with target.open("rb") as fh:
            fh.seek(start)
            data = fh.read(stop - start)
        if cut:  # half the body, then the connection drops
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return None
        if corrupt:
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0xFF
            data = bytes(damaged)
        self.wfile.write(data)
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState

    def handle_error(self, request, client_address) -> None:  # a client hung up: expected here
        pass


@dataclasses.dataclass
class ServedCatalog:
    """A running server: ``url`` of the site, ``tokens`` {read, none, bad}, ``state`` to steer it."""

    url: str
    tokens: dict[str, str]
    state: ServerState
    remote_url: str
    site_dir: Path


@pytest.fixture(scope="session")
def client_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this catalogue whose ``pzserver-upload-example`` has a second version.

    Version 1 is the committed sample; version 2 adds one row (``NEW_ROW``), tracked with real
    DVC and pushed to the clone's own copy of the sample remote. The DVC cache is filled.
    """
    if "repo" in _BUILT:  # other client test modules import this fixture: build it once
        return _BUILT["repo"]
    base = tmp_path_factory.mktemp("client")
    repo = base / "catalog"
    sh("git", "clone", "-q", str(REPO), str(repo), cwd=base)
    # the sample remote is dvc-remote/ in the repository; the GPL object in it is not committed
    shutil.copytree(REPO / "dvc-remote", repo / "dvc-remote", dirs_exist_ok=True)
    sh("git", "config", "user.email", "test@example.org", cwd=repo)
    sh("git", "config", "user.name", "Test", cwd=repo)
    sh(DVC, "pull", "-q", cwd=repo)
    csv = repo / "products" / "pzserver-upload-example" / "upload_example.csv"
    csv.chmod(0o644)
    csv.write_text(csv.read_text().rstrip("\n") + "\n" + NEW_ROW)
    sh(DVC, "add", "-q", str(csv.relative_to(repo)), cwd=repo)
    sh(DVC, "push", "-q", cwd=repo)
    sh(str(BIN / "pz"), "summarize", "pzserver-upload-example", cwd=repo)
    sh("git", "add", "-A", "products", cwd=repo)
    sh("git", "commit", "-q", "-m", "pzserver-upload-example: one more row", cwd=repo)
    _BUILT["repo"] = repo
    return repo


@pytest.fixture(scope="session")
def client_site(client_repo: Path) -> Path:
    """The site (with its JSON API) of ``client_repo``, built by ``pz build``."""
    out = client_repo.parent / "site"
    if out.is_dir():
        return out
    sh(str(BIN / "pz"), "build", "--out", str(out), cwd=client_repo)
    return out


@pytest.fixture(scope="session")
def client_server(client_repo: Path, client_site: Path):
    tokens = {"read": make_token(), "none": make_token(), "bad": make_token()}
    state = ServerState(site=client_site, remote=client_repo / "dvc-remote", tokens=tokens)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield ServedCatalog(url=url, tokens=tokens, state=state, remote_url=f"{url}/dvc", site_dir=client_site)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(client_server: ServedCatalog) -> ServedCatalog:
    """The session server with its fault injection and request log reset."""
    state = client_server.state
    state.requests.clear()
    state.cut_once.clear()
    state.corrupt_once.clear()
    state.corrupt_always.clear()
    state.no_range = False
    state.gzip_objects = False
    return client_server


def object_path(md5: str) -> str:
    return f"/dvc/files/md5/{md5[:2]}/{md5[2:]}"


def _open(server: ServedCatalog, tmp_path: Path, token: str | None, **kwargs):
    kwargs.setdefault("progress", False)
    from pzclient import open_catalog

    return open_catalog(server.url, token=token, cache=tmp_path / "cache", **kwargs)


def test_missing_token_says_how_to_set_it(server, tmp_path, monkeypatch):
    from pzclient import AuthError

    monkeypatch.delenv("ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("PZCLIENT_TOKEN_FILE", str(tmp_path / "no-such-file"))
    with pytest.raises(AuthError) as info:
        _open(server, tmp_path, None)
    message = str(info.value)
    assert "401 Unauthorized: your token is missing" in message
    assert "export ACCESS_TOKEN=" in message and "token=" in message


def test_wrong_token_is_called_invalid_and_never_printed(server, tmp_path):
    from pzclient import AuthError

    with pytest.raises(AuthError) as info:
        _open(server, tmp_path, server.tokens["bad"])
    message = str(info.value)
    assert "your token is invalid or expired" in message and repr(READ_SCOPE) in message
    assert server.tokens["bad"] not in message


def test_token_without_scope_names_the_scope(server, tmp_path):
    from pzclient import AuthError

    with pytest.raises(AuthError, match=r"403 Forbidden: your token lacks scope 'read:image'"):
        _open(server, tmp_path, server.tokens["none"])


def test_token_from_environment_and_from_file(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCESS_TOKEN", server.tokens["read"])
    assert len(_open(server, tmp_path, None)) == 6
    monkeypatch.delenv("ACCESS_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(server.tokens["read"] + "\n")
    monkeypatch.setenv("PZCLIENT_TOKEN_FILE", str(token_file))
    assert len(_open(server, tmp_path, None)) == 6


def test_interrupted_download_resumes_with_range(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    main = product.main_file
    path = object_path(main["md5"])
    server.state.cut_once.add(path)
    frame = product.load()
    assert frame.shape == (20449, 14)
    fetches = [r for r in server.state.requests if r[0] == path]
    assert fetches[0] == (path, None)  # the first request was cut half-way
    assert len(fetches) == 2 and fetches[1][1] == f"bytes={main['size'] // 2}-"
    cached = catalog.cache.path(main["md5"])
    assert hashlib.md5(cached.read_bytes()).hexdigest() == main["md5"]
    assert not catalog.cache.part(main["md5"]).exists()


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    main = catalog["dc2-training-9816"].main_file
    source = client_object(server, main["md5"])
    part = catalog.cache.part(main["md5"])
    part.parent.mkdir(parents=True)
    part.write_bytes(source.read_bytes()[:1000])  # what a killed process left behind
    catalog["dc2-training-9816"].load()
    assert (object_path(main["md5"]), "bytes=1000-") in server.state.requests
    assert hashlib.md5(catalog.cache.path(main["md5"]).read_bytes()).hexdigest() == main["md5"]


def test_server_without_range_support_restarts_the_download(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    main = catalog["dc2-training-9816"].main_file
    server.state.no_range = True
    server.state.cut_once.add(object_path(main["md5"]))
    assert catalog["dc2-training-9816"].load().shape == (10225, 14)
    assert hashlib.md5(catalog.cache.path(main["md5"]).read_bytes()).hexdigest() == main["md5"]


def test_corrupted_cached_object_is_detected_and_refetched(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["pzserver-upload-example"]
    first = product.load()
    md5 = product.main_file["md5"]
    cached = catalog.cache.path(md5)
    assert cached.stat().st_mode & 0o222 == 0  # read-only
    server.state.requests.clear()
    assert product.load().equals(first)  # warm: nothing fetched
    assert server.state.requests == []
    cached.chmod(0o644)
    cached.write_bytes(cached.read_bytes().replace(b"30.6", b"99.9"))  # same size, wrong data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = product.load()
    assert any("corrupted object" in str(w.message) for w in caught)
    assert again.equals(first)
    assert server.state.requests == [(object_path(md5), None)]
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5


def test_corrupt_transfer_is_refetched_once(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["rubin-dm-dc2-example"]
    path = object_path(product.main_file["md5"])
    server.state.corrupt_once.add(path)
    frame = product.load()
    assert frame.shape == (100, 15)
    assert [r[0] for r in server.state.requests].count(path) == 2


def test_object_corrupt_in_the_remote_is_an_error(server, tmp_path):
    from pzclient import CorruptObjectError

    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["rubin-dm-dc2-example"]
    path = object_path(product.main_file["md5"])
    server.state.corrupt_always.add(path)
    with pytest.raises(CorruptObjectError, match=r"twice in a row: the copy in the DVC remote is corrupt"):
        product.load()
    assert [r[0] for r in server.state.requests].count(path) == 2
    assert not catalog.cache.path(product.main_file["md5"]).exists()
    assert not catalog.cache.part(product.main_file["md5"]).exists()


def test_object_missing_from_the_remote_says_push(server, tmp_path, client_repo):
    from pzclient import ObjectNotFoundError

    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["pzserver-upload-example"]
    md5 = product.main_file["md5"]
    stored = client_object(server, md5)
    hidden = stored.with_name(stored.name + ".hidden")
    stored.rename(hidden)
    try:
        with pytest.raises(ObjectNotFoundError, match=r"is not in the DVC remote.*`dvc push`"):
            product.load()
    finally:
        hidden.rename(stored)


def test_unknown_product_suggests_close_ids(server, tmp_path):
    from pzclient import ProductNotFoundError

    catalog = _open(server, tmp_path, server.tokens["read"])
    with pytest.raises(ProductNotFoundError, match=r"did you mean 'dc2-training-9816'"):
        catalog["dc2-training-9817"]


def test_token_is_not_sent_to_another_origin(server, tmp_path):
    from pzclient.http import HttpClient

    client = HttpClient("gt-secret", [server.url])
    assert client._headers(server.url + "/x")["Authorization"] == "Bearer gt-secret"
    assert "Authorization" not in client._headers("https://elsewhere.example.org/x")
    assert "gt-secret" not in repr(client)


def test_older_version_from_the_site(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["pzserver-upload-example"]
    versions = product.versions()
    assert len(versions) == 2 and versions["message"][0].endswith("one more row")
    new, old = product.load(), product.load(rev=versions["commit"][1][:10])
    assert (len(new), len(old)) == (11, 10)
    assert new["ID"].iloc[-1] == 9007199254740993 and new["ID"].dtype == "int64"
    assert pd.concat([old, new.iloc[[-1]]], ignore_index=True).equals(new)


def client_object(server: ServedCatalog, md5: str) -> Path:
    return server.state.remote / "files" / "md5" / md5[:2] / md5[2:]


def test_concurrent_loads_share_one_download(server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    catalogs = [_open(server, tmp_path, server.tokens["read"]) for _ in range(3)]  # one cache
    md5 = catalogs[0]["dc2-validation-9816"].main_file["md5"]
    server.state.requests.clear()
    with ThreadPoolExecutor(3) as pool:
        frames = list(pool.map(lambda c: c["dc2-validation-9816"].load(), catalogs))
    assert all(f.equals(frames[0]) for f in frames) and frames[0].shape == (20449, 14)
    assert [r[0] for r in server.state.requests].count(object_path(md5)) == 1


def test_progress_bar_while_downloading_only(server, tmp_path, capsys):
    catalog = _open(server, tmp_path, server.tokens["read"], progress=True)
    catalog["dc2-training-9816"].download(tmp_path / "out")
    assert "pzclient: 2 files" in capsys.readouterr().err
    catalog["dc2-training-9816"].load()  # cached: no bar
    assert "pzclient" not in capsys.readouterr().err


def test_damage_that_keeps_the_stat_is_found_by_verify(server, tmp_path):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["pzserver-upload-example"]
    good = product.load()
    md5 = product.main_file["md5"]
    cached = catalog.cache.path(md5)
    cached.chmod(0o644)
    cached.write_bytes(cached.read_bytes().replace(b"30.6", b"99.9"))
    cached.chmod(0o444)
    catalog.cache._write_stamp(md5, cached, cached.stat())  # as if a disk had flipped bits
    assert not product.load().equals(good)  # the fast check trusts an unchanged stat
    strict = _open(server, tmp_path, server.tokens["read"], verify=True)
    with pytest.warns(UserWarning, match="corrupted object"):
        assert strict["pzserver-upload-example"].load().equals(good)
    cached.chmod(0o644)
    cached.write_bytes(b"rot")
    assert catalog.cache.verify_all() == [md5] and not cached.exists()


@pytest.fixture
def split(monkeypatch):
    """Objects of 100 kB or more get a second connection after one block (the link is "slow")."""
    import pzclient.http

    monkeypatch.setattr(pzclient.http, "SPLIT_SIZE", 100_000)
    monkeypatch.setattr(pzclient.http, "PROBE_SECONDS", 0.0)
    monkeypatch.setattr(pzclient.http, "SLOW_RATE", 1 << 60)
    monkeypatch.setattr(pzclient.http, "CHUNK", 64 << 10)  # the speed is judged after one block


def test_large_object_comes_in_two_halves(server, tmp_path, split):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    md5, size = product.main_file["md5"], product.main_file["size"]
    mid = (size // 2) // 65536 * 65536
    assert product.load().shape == (20449, 14)
    ranges = [r[1] for r in server.state.requests if r[0] == object_path(md5)]
    # the first connection asked for everything, found itself slow and stopped at mid
    assert ranges == [None, f"bytes={mid}-"]
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5
    assert list(catalog.cache.part(md5).parent.glob("*.tail")) == []


def test_fast_large_object_comes_over_one_connection(server, tmp_path, monkeypatch):
    import pzclient.http

    monkeypatch.setattr(pzclient.http, "SPLIT_SIZE", 100_000)
    monkeypatch.setattr(pzclient.http, "PROBE_SECONDS", 0.0)
    monkeypatch.setattr(pzclient.http, "SLOW_RATE", 0)  # any speed is fast enough
    monkeypatch.setattr(pzclient.http, "CHUNK", 64 << 10)  # the speed is judged after one block
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    md5 = product.main_file["md5"]
    assert product.main_file["size"] > 100_000
    assert product.load().shape == (20449, 14)
    assert [r[1] for r in server.state.requests if r[0] == object_path(md5)] == [None]
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_cut_second_half_resumes(server, tmp_path, split, monkeypatch):
    import pzclient.http

    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    md5, size = product.main_file["md5"], product.main_file["size"]
    mid = (size // 2) // 65536 * 65536
    start = pzclient.http._Split.start

    def start_and_cut(self):
        server.state.cut_once.add(object_path(md5))  # the second half's request is cut
        start(self)

    monkeypatch.setattr(pzclient.http._Split, "start", start_and_cut)
    assert product.load().shape == (20449, 14)
    ranges = [r[1] for r in server.state.requests if r[0] == object_path(md5)]
    assert ranges[:2] == [None, f"bytes={mid}-"] and len(ranges) == 3
    resumed = int(ranges[2].removeprefix("bytes=").rstrip("-"))
    assert mid < resumed < size and ranges[2] == f"bytes={resumed}-"
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_halves_left_by_an_earlier_run_are_resumed(server, tmp_path, split):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    md5, size = product.main_file["md5"], product.main_file["size"]
    mid = (size // 2) // 65536 * 65536
    data = client_object(server, md5).read_bytes()
    part = catalog.cache.part(md5)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    part.with_name(part.name + ".tail").write_bytes(data[mid:mid + 2000])
    assert product.load().shape == (20449, 14)
    ranges = sorted(r[1] for r in server.state.requests if r[0] == object_path(md5))
    assert ranges == [f"bytes=1000-{mid - 1}", f"bytes={mid + 2000}-"]
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_object_sent_gzip_encoded_is_decoded(server, tmp_path):
    # a server may compress what it sends; the md5 is of the object, not of the gzip stream
    server.state.gzip_objects = True
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    md5 = product.main_file["md5"]
    assert product.load().shape == (20449, 14)
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_halves_from_a_server_without_range(server, tmp_path, split):
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    server.state.no_range = True
    assert product.load().shape == (20449, 14)
    md5 = product.main_file["md5"]
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_halves_joined_without_copy_file_range(server, tmp_path, split, monkeypatch):
    import errno

    def unsupported(*args):
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr("os.copy_file_range", unsupported)
    catalog = _open(server, tmp_path, server.tokens["read"])
    product = catalog["dc2-validation-9816"]
    assert product.load().shape == (20449, 14)
    md5 = product.main_file["md5"]
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5
