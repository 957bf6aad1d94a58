"""pzclient end to end against the real stack: nginx with Gafaelfawr-compatible auth, the site
and JSON API built by ``pz build``, and the DVC HTTP remote (``site_builder.deploy.devstack``).

``stack`` (tests/stack.py) serves this repository as it is; ``served`` is a second stack on a
clone in which ``pzserver-upload-example`` has a second version (fixture ``client_repo``), so
older versions are fetched for real. Interruptions are
made by a TCP relay between the client and nginx that drops one response half-way.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path

import nbformat
import numpy as np
import pyarrow.parquet as pq
import pytest
from nbclient import NotebookClient

from pzclient import AuthError, open_catalog
from tests.conftest import REPO
from tests.stack import stack  # noqa: F401  (session fixture: the stack serving this repository)
from tests.test_client_server import client_repo, client_site  # noqa: F401  (session fixtures)

pytestmark = pytest.mark.slow
NOTEBOOK = REPO / "docs" / "client-tutorial.ipynb"


@pytest.fixture(scope="session")
def served(client_repo, client_site, tmp_path_factory):  # noqa: F811
    """The real stack (nginx + dev Gafaelfawr + DVC remote) serving ``client_repo``."""
    from site_builder.deploy.devstack import start_stack

    running = start_stack(REPO, tmp_path_factory.mktemp("client-stack"), site_dir=client_site,
                          remote_src=client_repo / "dvc-remote")
    try:
        yield running
    finally:
        running.stop()


class CuttingRelay:
    """A TCP relay to ``target`` that records request heads and can drop one response early.

    ``cut(path, after)``: the next response to a GET of ``path`` is closed after ``after``
    bytes (headers included) have been relayed to the client.
    """

    def __init__(self, target: str) -> None:
        host, port = target.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.heads: list[str] = []
        self._cut: dict[str, int] = {}
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, path: str, after: int) -> None:
        self._cut[path] = after

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        with client, upstream:
            while True:  # one request at a time (the client does not pipeline)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = client.recv(65536)
                    if not data:
                        return
                    head += data
                text = head.decode("latin-1")
                self.heads.append(text)
                path = text.split(" ", 2)[1]
                limit = self._cut.pop(path, None)
                upstream.sendall(head)
                if not self._relay_response(upstream, client, limit):
                    return

    @staticmethod
    def _relay_response(upstream: socket.socket, client: socket.socket, limit: int | None) -> bool:
        """Relay one response; False when the connection is (or was made) closed."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = upstream.recv(65536)
            if not chunk:
                return False
            data += chunk
        head = data.partition(b"\r\n\r\n")[0]
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        sent = 0
        total = len(head) + 4 + length
        pending = data
        while True:
            if limit is not None and sent + len(pending) >= limit:
                client.sendall(pending[: limit - sent])
                client.shutdown(socket.SHUT_RDWR)
                return False
            client.sendall(pending)
            sent += len(pending)
            if sent >= total:
                return True
            pending = upstream.recv(1 << 20)
            if not pending:
                return False


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Nothing is written to ~/.cache/pzclient by the tests."""
    monkeypatch.setenv("PZCLIENT_CACHE", str(tmp_path / "default-cache"))


def _catalog(served, tmp_path, **kwargs):
    return open_catalog(served.url, token=served.tokens["read"], cache=tmp_path / "cache",
                        progress=False, **kwargs)


def test_every_sample_product_listed_loaded_and_downloaded(stack, tmp_path):  # noqa: F811
    catalog = _catalog(stack, tmp_path)
    ids = sorted(p.parent.name for p in (REPO / "products").glob("*/product.yaml"))
    assert sorted(catalog.products()["id"]) == ids
    for product_id in ids:
        product = catalog[product_id]
        frame = product.load()
        declared = product.columns
        assert frame.shape == (product.num_rows, len(declared)), product_id
        assert list(frame.columns) == list(declared["name"]), product_id
        for name, dtype in zip(declared["name"], declared["dtype"], strict=True):
            if dtype:
                assert str(frame[name].dtype) == dtype, (product_id, name)
        table = product.load(format="astropy")
        assert len(table) == product.num_rows and table.meta["product"] == product_id
        written = product.download(tmp_path / "out")
        assert len(written) == len([f for f in product.files if f["md5"]])
        for path, entry in zip(written, [f for f in product.files if f["md5"]], strict=True):
            assert path == (tmp_path / "out" / product_id / entry["path"]).resolve()
            assert hashlib.md5(path.read_bytes()).hexdigest() == entry["md5"]
    # 64-bit ids above 2**53 arrive exactly
    objects = catalog["rubin-dm-dc2-example"].load()["objectId"]
    original = pq.read_table(REPO / "products" / "rubin-dm-dc2-example" / "rubin_dm_dc2_example.pq")
    assert objects.dtype == np.int64 and (objects > 2**53).all()
    assert objects.tolist() == original.column("objectId").to_pylist()


def test_missing_wrong_and_scopeless_tokens_against_the_stack(stack, tmp_path, monkeypatch):  # noqa: F811
    served = stack
    monkeypatch.delenv("ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("PZCLIENT_TOKEN_FILE", str(tmp_path / "none"))
    with pytest.raises(AuthError, match=r"401 Unauthorized: your token is missing; set it with `export ACCESS_TOKEN="):
        open_catalog(served.url, cache=tmp_path / "c")
    with pytest.raises(AuthError, match=r"401 Unauthorized: your token is invalid or expired"):
        open_catalog(served.url, token="gt-AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB", cache=tmp_path / "c")
    with pytest.raises(AuthError, match=r"403 Forbidden: your token lacks scope 'read:image'"):
        open_catalog(served.url, token=served.tokens["none"], cache=tmp_path / "c")
    # the remote is guarded too: a catalogue opened with a good token, objects fetched with none
    product = _catalog(served, tmp_path)["pzserver-upload-example"]
    product._catalog._source.http._token = None
    with pytest.raises(AuthError, match=r"/dvc/files/md5/.*401 Unauthorized: your token is missing"):
        product.load()


def test_interrupted_download_resumes_against_the_stack(served, tmp_path):
    relay = CuttingRelay(served.url)
    catalog = _catalog(served, tmp_path, remote=relay.url + "/dvc")
    product = catalog["dc2-validation-9816"]
    md5, size = product.main_file["md5"], product.main_file["size"]
    path = f"/dvc/files/md5/{md5[:2]}/{md5[2:]}"
    relay.cut(path, 500_000)
    frame = product.load()
    assert frame.shape == (20449, 14)
    gets = [h for h in relay.heads if h.startswith(f"GET {path} ")]
    assert len(gets) == 2 and "range:" not in gets[0].lower()
    ranges = [line for line in gets[1].split("\r\n") if line.lower().startswith("range:")]
    (start,) = [int(r.split("=")[1].rstrip("-")) for r in ranges]
    assert 0 < start < 500_000 < size
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_two_connection_download_through_nginx(served, tmp_path, monkeypatch):
    import pzclient.http

    monkeypatch.setattr(pzclient.http, "SPLIT_SIZE", 100_000)  # and a link found slow at once:
    monkeypatch.setattr(pzclient.http, "PROBE_SECONDS", 0.0)
    monkeypatch.setattr(pzclient.http, "SLOW_RATE", 1 << 60)
    monkeypatch.setattr(pzclient.http, "CHUNK", 64 << 10)  # the speed is judged after one block
    relay = CuttingRelay(served.url)
    catalog = _catalog(served, tmp_path, remote=relay.url + "/dvc")
    product = catalog["dc2-validation-9816"]
    md5, size = product.main_file["md5"], product.main_file["size"]
    mid = (size // 2) // 65536 * 65536
    path = f"/dvc/files/md5/{md5[:2]}/{md5[2:]}"
    relay.cut(path, 200_000)  # the first half is cut, and resumed up to the second half's start
    assert product.load().shape == (20449, 14)
    gets = [h for h in relay.heads if h.startswith(f"GET {path} ")]
    ranges = [line.split(":", 1)[1].strip() for h in gets
              for line in h.split("\r\n") if line.lower().startswith("range:")]
    assert len(gets) == 3 and f"bytes={mid}-" in ranges
    (resumed,) = [r for r in ranges if r.endswith(f"-{mid - 1}")]
    assert 0 < int(resumed.removeprefix("bytes=").split("-")[0]) < 200_000 < mid
    assert hashlib.md5(catalog.cache.path(md5).read_bytes()).hexdigest() == md5


def test_corrupted_cached_object_is_refetched_from_the_stack(served, tmp_path):
    catalog = _catalog(served, tmp_path)
    product = catalog["2dflens-kids-south"]
    first = product.load()
    cached = catalog.cache.path(product.main_file["md5"])
    cached.chmod(0o644)
    with cached.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 64)
    with pytest.warns(UserWarning, match=r"corrupted object"):
        again = product.load()
    assert again.equals(first)
    assert hashlib.md5(cached.read_bytes()).hexdigest() == product.main_file["md5"]


def test_older_version_from_the_stack(served, tmp_path):
    product = _catalog(served, tmp_path)["pzserver-upload-example"]
    versions = product.versions()
    assert len(versions) == 2
    assert len(product.load(rev=versions["commit"].iloc[1])) == 10
    latest = product.load()
    assert len(latest) == 11 and latest["ID"].iloc[-1] == 9007199254740993
    (old,) = product.download(tmp_path / "out", rev=versions["commit"].iloc[1])
    assert old.parent.name == f"pzserver-upload-example@{versions['commit'].iloc[1][:10]}"
    assert hashlib.md5(old.read_bytes()).hexdigest() == versions["md5s"].iloc[1]["upload_example.csv"]


def _run(notebook: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def _outputs(cell: nbformat.NotebookNode) -> str:
    return json.dumps(cell.get("outputs", []))


# The cells of upstream pzserver's tutorial (docs/notebooks/pzserver_tutorial.ipynb, 0.3.7) that
# read: only the import differs. The product id and token are this catalogue's (upstream
# uses numeric ids of its database); the host comes from $PZCLIENT_URL.
UPSTREAM_CELLS = [
    "from pzclient import PzServer",
    'pz_server = PzServer(token="{token}")',
    "pz_server.display_product_types()",
    "pz_server.display_releases()",
    "pz_server.display_products_list()",
    'pz_server.display_products_list(filters={{"release": "DP0.2", \n'
    '                                         "product_type": "Training Set"}})',
    'pz_server.display_products_list(filters={{"product_type": "estimates"}})',
    'search_results = pz_server.get_products_list(filters={{"product_type": "training set"}})\nsearch_results',
    'product_id = "dc2-training-9816"\npz_server.display_product_metadata(product_id)',
    'pz_server.download_product(product_id, save_in=".")',
    "data = pz_server.get_product(product_id).to_pandas()\ndata",
    "data.describe()",
    "internal_name = pz_server.get_product_metadata(product_id)['internal_name']\ninternal_name",
]


def test_upstream_pzserver_cells_run_with_only_the_import_changed(stack, tmp_path, monkeypatch):  # noqa: F811
    served = stack
    monkeypatch.setenv("PZCLIENT_URL", served.url)
    monkeypatch.setenv("PZCLIENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PZCLIENT_PROGRESS", "0")
    cells = [nbformat.v4.new_code_cell(c.format(token=served.tokens["read"])) for c in UPSTREAM_CELLS]
    notebook = _run(nbformat.v4.new_notebook(cells=cells), tmp_path)
    html = [_outputs(c) for c in notebook.cells]
    assert "Reference Redshift Catalog" in html[2] and "LSST DP0.2" in html[3]
    assert all(i in html[4] for i in ("dc2-training-9816", "2dflens-kids-south", "bpz-lite-dc2-pdfs"))
    assert "dc2-validation-9816" in html[5] and "2dflens-kids-south" not in html[5]
    assert "bpz-lite-dc2-pdfs" in html[6] and "dc2-training-9816" not in html[6]
    assert "dc2-validation-9816" in html[7]
    assert "10225" in html[8] and "662976" not in html[8] and "0.66 MB" in html[8]
    assert "File saved as" in html[9] and (tmp_path / "dc2-training-9816.zip").is_file()
    assert "10225 rows" in html[10] and "mag_u_lsst" in html[10]
    assert "dc2-training-9816" in html[12]
    assert served.tokens["read"] not in "".join(html)


def test_tutorial_notebook_runs_against_the_stack(served, tmp_path, monkeypatch):
    monkeypatch.setenv("PZCLIENT_URL", served.url)
    monkeypatch.setenv("ACCESS_TOKEN", served.tokens["read"])
    monkeypatch.setenv("PZCLIENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PZCLIENT_PROGRESS", "0")
    notebook = _run(nbformat.read(NOTEBOOK, as_version=4), tmp_path)
    outputs = "".join(_outputs(c) for c in notebook.cells if c.cell_type == "code")
    images = outputs.count('"image/png"')
    assert images >= 2  # the z histogram and the sky map
    assert "dc2-training-9816" in outputs and served.tokens["read"] not in outputs
    assert list((tmp_path / "downloads").rglob("*.hdf5"))
