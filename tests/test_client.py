"""pzclient without a server: a clone as the source, the table readers, the pzserver-compatible
API, HTML escaping, packaging (importable and installable without the builder)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.table import Table

from pzclient import (
    FormatError,
    NotTabularError,
    ObjectNotFoundError,
    ProductNotFoundError,
    ProductTooBigError,
    PzServer,
    UploadNotSupportedError,
    compat,
    open_catalog,
)
from pzclient.source import PRODUCT_TYPES
from tests.conftest import BIN, REPO
from tests.test_client_server import NEW_ROW, client_repo  # noqa: F401  (session fixture)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
BIG_ID = 2**62 + 1  # not representable as float64


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Nothing is written to ~/.cache/pzclient by the tests."""
    monkeypatch.setenv("PZCLIENT_CACHE", str(tmp_path / "default-cache"))


def add_product(root: Path, product_id: str, files: dict[str, bytes], meta: dict,
                formats: dict[str, str] | None = None) -> None:
    """Write products/<id>/ with product.yaml and .dvc pointers; objects go to .dvc/cache."""
    folder = root / "products" / product_id
    folder.mkdir(parents=True)
    entries = []
    for i, (name, data) in enumerate(files.items()):
        md5 = hashlib.md5(data).hexdigest()
        obj = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
        pointer = {"outs": [{"md5": md5, "size": len(data), "hash": "md5", "path": name}]}
        (folder / f"{name}.dvc").write_text(yaml.safe_dump(pointer))
        entries.append({"path": name, "role": "main" if i == 0 else "auxiliary",
                        "format": (formats or {}).get(name, Path(name).suffix.lstrip("."))})
    doc = {"id": product_id, "title": product_id, "product_type": "training_set", "official": False,
           "status": "active", "owner": {"github": "someone", "name": "Some One"},
           "created": "2026-01-01", "files": entries, **meta}
    (folder / "product.yaml").write_text(yaml.safe_dump(doc))


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """A small clone-like catalogue (no git) with one product per reader and hostile metadata."""
    root = tmp_path / "cat"
    (root / "products").mkdir(parents=True)
    shutil.copy(REPO / "catalog.yaml", root / "catalog.yaml")
    ids = np.array([BIG_ID, BIG_ID + 2, 7], dtype=np.int64)
    z = np.array([0.1, 0.5, 1.25])
    frame = pd.DataFrame({"id": ids, "z": z})
    add_product(root, "csv-ids", {"t.csv": frame.to_csv(index=False).encode()}, {
        "title": HOSTILE, "summary": HOSTILE,
        "columns": [{"name": "id", "role": "id"}, {"name": "z", "role": "z"}, {"name": HOSTILE, "role": "other"}]})
    add_product(root, "tsv", {"t.tsv": b"# comment\nid\tz\n1\t0.5\n2\t0.75\n"}, {})
    add_product(root, "headerless", {"t.txt": b"# two columns, no header\n1  0.5\n2   0.75\n"},
                {"columns": [{"name": "id"}, {"name": "z"}]}, {"t.txt": "text"})
    buf = io.BytesIO()
    Table({"id": ids, "pdf": np.arange(9.0).reshape(3, 3)}).write(buf, format="fits")
    add_product(root, "fits-pdf", {"p.fits": buf.getvalue()}, {})
    buf = io.BytesIO()
    Table({"id": ids, "z": z}).write(buf, format="votable")
    add_product(root, "votable", {"t.xml": buf.getvalue()}, {}, {"t.xml": "votable"})
    import h5py

    h5 = tmp_path / "c.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("cat", data=np.array(list(zip(ids, z, strict=True)),
                                               dtype=[("id", ">i8"), ("z", ">f8")]))
    add_product(root, "hdf5-compound", {"c.hdf5": h5.read_bytes()}, {})
    add_product(root, "model", {"model.zip": b"PK\x05\x06" + bytes(18)},
                {"product_type": "training_results"}, {"model.zip": "zip"})
    return root


def test_import_never_loads_the_builder_or_its_tools():
    code = ("import sys, pzclient\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'site_builder', 'mkdocs', 'jinja2', 'dvc', 'click', 'jsonschema'})\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_installable_alone(tmp_path):
    """`pip install ./pzclient` builds a wheel of the client only, which imports and works."""
    src = tmp_path / "pzclient"
    shutil.copytree(REPO / "pzclient", src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    pip = [str(BIN / "python"), "-m", "pip"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", str(src), "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("pzclient-*.whl")
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)],
                   check=True, capture_output=True)
    code = ("import pzclient, sys; print(pzclient.__file__); "
            f"c = pzclient.open_catalog({str(REPO)!r}, cache={str(tmp_path / 'cache')!r}, progress=False); "
            "print(c['pzserver-upload-example'].load().shape)")
    (tmp_path / "run").mkdir()  # not beside the source copy: `python -c` puts the cwd first
    out = subprocess.run([str(BIN / "python"), "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path / "run", env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    where, shape = out.stdout.split("\n")[:2]
    assert where.startswith(str(tmp_path / "site"))
    assert shape == "(10, 6)"


def test_product_types_in_step_with_the_builder():
    from site_builder.catalog.model import PRODUCT_TYPES as BUILDER

    assert [(t.name, t.display_name, t.tabular) for t in BUILDER.values()] == list(PRODUCT_TYPES)


def test_readers(local):
    catalog = open_catalog(local, cache=local.parent / "cache", progress=False)
    ids = [BIG_ID, BIG_ID + 2, 7]
    frame = catalog["csv-ids"].load()
    assert frame["id"].dtype == np.int64 and frame["id"].tolist() == ids  # exact above 2**53
    assert catalog["csv-ids"].load(format="astropy")["id"].dtype == np.int64
    assert catalog["tsv"].load().to_dict("list") == {"id": [1, 2], "z": [0.5, 0.75]}
    assert catalog["headerless"].load().to_dict("list") == {"id": [1, 2], "z": [0.5, 0.75]}
    pdf = catalog["fits-pdf"].load()
    assert pdf["id"].tolist() == ids and pdf["pdf"][2].tolist() == [6.0, 7.0, 8.0]
    assert catalog["fits-pdf"].load(format="astropy")["pdf"].shape == (3, 3)
    assert catalog["votable"].load()["id"].tolist() == ids
    h5 = catalog["hdf5-compound"].load()
    assert h5["id"].tolist() == ids and h5["z"].dtype == np.float64 and h5["id"].dtype.byteorder in "=|"
    assert catalog["csv-ids"].load(columns=["z"]).columns.tolist() == ["z"]
    with pytest.raises(FormatError, match=r"no column 'Z'; the columns are 'id', 'z'"):
        catalog["csv-ids"].load(columns=["Z"])
    with pytest.raises(FormatError, match=r"is 'zip', not a table.*download"):
        catalog["model"].load()


def test_sample_products_from_a_clone(client_repo, tmp_path):  # noqa: F811
    catalog = open_catalog(client_repo, cache=tmp_path / "cache", progress=False)
    assert sorted(catalog) == sorted(p.parent.name for p in (REPO / "products").glob("*/product.yaml"))
    assert catalog._ipython_key_completions_() == list(catalog)
    shapes = {i: catalog[i].load().shape for i in catalog}
    assert shapes == {"2dflens-kids-south": (21875, 5), "bpz-lite-dc2-pdfs": (10, 1),
                      "dc2-training-9816": (10225, 14), "dc2-validation-9816": (20449, 14),
                      "pzserver-upload-example": (11, 6), "rubin-dm-dc2-example": (100, 15)}
    product = catalog["pzserver-upload-example"]
    versions = product.versions()
    assert versions["message"].tolist()[0] == "pzserver-upload-example: one more row"
    old = product.load(rev=versions["commit"].iloc[-1])
    assert len(old) == 10 and product.load()["ID"].iloc[-1] == int(NEW_ROW.split(",")[0])
    written = product.download(tmp_path / "out")
    assert [p.name for p in written] == ["upload_example.csv"]
    assert hashlib.md5(written[0].read_bytes()).hexdigest() == product.main_file["md5"]
    dc2 = catalog.products(type="Training Set", release="dp0.2", official=True, search="validation")
    assert dc2["id"].tolist() == ["dc2-validation-9816"]
    assert catalog.products(search="kids 2dflens")["id"].tolist() == ["2dflens-kids-south"]
    # the snippet the JSON API gives for every product (get.python)
    assert catalog.load("pzserver-upload-example", columns=["ID"]).shape == (11, 1)


def test_clone_without_the_data_says_dvc_pull(local, tmp_path):
    catalog = open_catalog(local, cache=tmp_path / "cache", progress=False)
    shutil.rmtree(local / ".dvc" / "cache")
    with pytest.raises(ObjectNotFoundError, match=r"not in the DVC cache.*run `dvc pull`"):
        catalog["tsv"].load()


def test_html_reprs_escape_metadata(local):
    catalog = open_catalog(local, cache=local.parent / "cache", progress=False)
    html = catalog["csv-ids"]._repr_html_() + catalog._repr_html_() + catalog.products()._repr_html_()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_pzserver_display_escapes_metadata(local, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.to_html()))
    server = PzServer(host=str(local), progress=False)
    server.display_products_list()
    server.display_product_metadata("csv-ids")
    assert len(shown) == 2
    for html in shown:
        assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_pzserver_filters_and_records(client_repo):  # noqa: F811
    server = PzServer(host=str(client_repo), progress=False)

    def ids(filters):
        return [r["internal_name"] for r in server.get_products_list(filters)]

    assert ids({"product_type": "estimates"}) == ["bpz-lite-dc2-pdfs"]
    assert ids({"release": "DP0.2", "product_type": "Training Set"}) == [
        "dc2-training-9816", "dc2-validation-9816"]
    assert ids({"product_type__or": ["object catalog", "Reference Redshift Catalog"]}) == [
        "2dflens-kids-south", "pzserver-upload-example", "rubin-dm-dc2-example"]
    assert ids({"official_product": True}) == ["dc2-training-9816", "dc2-validation-9816"]
    with pytest.raises(ValueError, match=r"unknown filter 'colour'"):
        server.get_products_list({"colour": "red"})
    record = server.get_product_metadata("dc2-training-9816")
    assert record["product_type_name"] == "Training Set" and record["release_name"] == "LSST DP0.2"
    assert record["main_file"]["n_rows"] == 10225 and record["main_file"]["size"] == 662976
    assert {"column_name": "redshift", "alias": "z"} in record["main_file"]["columns_association"]
    assert [t["name"] for t in server.get_product_types()] == [t[0] for t in PRODUCT_TYPES]
    assert [r["name"] for r in server.get_releases()] == ["dp0.2", "dp1", "dr1"]
    assert {"username": "linea-it", "first_name": "", "last_name": "LIneA"} in server.get_users()
    with pytest.raises(ProductNotFoundError, match=r"display_products_list\(\)"):
        server.get_product_metadata("no-such-product")


def test_pzserver_refusals(local, monkeypatch, capsys):
    server = PzServer(host=str(local), progress=False)
    with pytest.raises(NotTabularError, match=r"does not support non-tabular data.*download_product\('model'\)"):
        server.get_product("model")
    monkeypatch.setattr(compat, "MAX_IN_MEMORY_PRODUCT_SIZE_BYTES", 10)
    with pytest.raises(ProductTooBigError, match=r"get_big_products=True"):
        server.get_product("tsv")
    assert server.get_product("tsv", get_big_products=True)["z"].tolist() == [0.5, 0.75]
    for method in ("upload", "delete_product", "combine_redshift_catalogs", "training_set_maker"):
        with pytest.raises(UploadNotSupportedError, match=r"pull request.*`pz add FILE"):
            getattr(server, method)(name="x", product_type="training_set", main_file="x.csv")
    assert "Connecting to PZ Server..." in capsys.readouterr().out


def test_pzserver_download_is_a_zip_of_every_file(client_repo, tmp_path, capsys):  # noqa: F811
    import zipfile

    server = PzServer(host=str(client_repo), cache=tmp_path / "cache", progress=False)
    assert server.download_product("dc2-training-9816", save_in=tmp_path) is None
    out = capsys.readouterr().out
    assert f"File saved as: {tmp_path / 'dc2-training-9816.zip'}" in out and "Done!" in out
    with zipfile.ZipFile(tmp_path / "dc2-training-9816.zip") as archive:
        names = sorted(archive.namelist())
        assert names == ["dc2-training-9816/product.json", "dc2-training-9816/test_dc2_training_9816.hdf5",
                         "dc2-training-9816/test_dc2_training_9816.pq"]
        meta = json.loads(archive.read("dc2-training-9816/product.json"))
        data = archive.read("dc2-training-9816/test_dc2_training_9816.pq")
    assert meta["id"] == "dc2-training-9816"
    assert hashlib.md5(data).hexdigest() == "c8a8234a315bdc37f7c9d0166d800a14"


def test_download_never_writes_outside_the_product_folder(local, tmp_path):
    from pzclient import Product, PzClientError

    catalog = open_catalog(local, cache=tmp_path / "cache", progress=False)
    doc = catalog._source.product("tsv")
    evil = {**doc, "files": [{**doc["files"][0], "path": "../../evil.tsv"}]}
    with pytest.raises(PzClientError, match=r"leaves the product folder; not written"):
        Product(catalog, evil).download(tmp_path / "out")
    assert not (tmp_path / "evil.tsv").exists()


def test_same_object_in_two_files_is_fetched_once(local, tmp_path):
    add_product(local, "twins", {"a.csv": b"id,z\n1,0.5\n", "b.csv": b"id,z\n1,0.5\n"}, {})
    catalog = open_catalog(local, cache=tmp_path / "cache", progress=False)
    written = catalog["twins"].download(tmp_path / "out")
    assert [p.read_bytes() for p in written] == [b"id,z\n1,0.5\n"] * 2



def test_ipython_completes_product_ids(local, tmp_path):
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.user_ns["catalog"] = open_catalog(local, cache=tmp_path / "cache", progress=False)
        text = 'catalog["hdf'
        with provisionalcompleter():
            completions = sorted(c.text for c in shell.Completer.completions(text, len(text)))
    finally:
        InteractiveShell.clear_instance()
    assert completions == ["hdf5-compound"]
