"""The static JSON API (/api/v1/): schemas, content, history from git, determinism, scale."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shlex
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from site_builder.catalog.yamlio import read_yaml
from site_builder.site.api import (
    API_SCHEMA_DIR,
    SCHEMA_NAMES,
    ApiBuildError,
    build_api,
    collect_records,
)

from .conftest import REPO

TEMPLATE = REPO / "products" / "pzserver-upload-example"
TYPES = ("redshift_catalog", "training_set", "training_results", "validation_results",
         "photoz_estimates", "object_catalog", "other")
WORDS = ("photometric", "spectroscopic", "redshift", "catalogue", "deep", "wide", "field", "survey",
         "galaxies", "quasars", "training", "validation", "estimates", "pdf", "template", "neural",
         "forest", "gaussian", "process", "ugrizy", "cosmos", "vvds", "deep2", "zcosmos", "gama", "boss",
         "desi", "hsc", "kids", "des", "dc2", "healpix", "patch", "sample", "cut", "bright", "faint")


def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return "T" in value and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


FORMATS = FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_check_date_time)  # rfc3339-validator is not installed


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((API_SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FORMATS)


def _assert_valid(name: str, path: Path) -> None:
    errors = [f"{path.name}: {e.json_path}: {e.message}"
              for e in _validator(name).iter_errors(json.loads(path.read_bytes()))]
    assert errors == []


def _assert_api_valid(out: Path) -> int:
    base = out / "api" / "v1"
    for name in ("index", "products", "releases", "product-types"):
        _assert_valid(name, base / f"{name}.json")
    products = sorted((base / "products").glob("*.json"))
    validator = _validator("product")
    for path in products:
        errors = [f"{path.name}: {e.json_path}: {e.message}" for e in validator.iter_errors(json.loads(path.read_bytes()))]
        assert errors == []
    for name in SCHEMA_NAMES:
        assert (base / "schemas" / f"{name}.schema.json").read_bytes() == (API_SCHEMA_DIR / f"{name}.schema.json").read_bytes()
    return len(products)


def _load(out: Path, rel: str) -> dict:
    return json.loads((out / "api" / "v1" / rel).read_bytes())


# --- tiny catalogues in git --------------------------------------------------------------------


def git(repo: Path, *args: str, date: str = "2026-01-02T03:04:05+00:00", author: str = "Ada Tester") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "ada@example.org",
           "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": "ada@example.org",
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo)}  # no user configuration (signing, hooks) gets in
    done = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_all(repo: Path, message: str, **kwargs: str) -> str:
    git(repo, "add", "-A", **kwargs)
    git(repo, "commit", "-q", "-m", message, **kwargs)
    return git(repo, "rev-parse", "HEAD")


def new_catalog(root: Path, *, with_git: bool = True) -> Path:
    (root / "products").mkdir(parents=True)
    shutil.copy(REPO / "catalog.yaml", root / "catalog.yaml")
    if with_git:
        git(root, "init", "-q")
    return root


def add_product(root: Path, pid: str, **fields: object) -> Path:
    """The upload example under another id, with ``fields`` replaced (None removes one)."""
    folder = root / "products" / pid
    folder.mkdir()
    data = read_yaml(TEMPLATE / "product.yaml").data  # dates stay strings
    data["id"] = pid
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (folder / "product.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    shutil.copy(TEMPLATE / "summary.json", folder / "summary.json")
    main = next(f["path"] for f in data["files"] if f["role"] == "main")
    write_pointer(folder, main, hashlib.md5(pid.encode()).hexdigest(), 459)
    return folder


def write_pointer(folder: Path, name: str, md5: str, size: int) -> None:
    (folder / f"{name}.dvc").write_text(f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {name}\n")


# --- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12_and_open_to_new_keys(name: str) -> None:
    schema = json.loads((API_SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is True
    assert set(schema["required"]) <= set(schema["properties"])

    def walk(node: object) -> None:  # clients must ignore unknown keys, so no level may forbid them
        if isinstance(node, dict):
            assert node.get("additionalProperties") is not False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


# --- the real catalogue ------------------------------------------------------------------------


def test_api_of_the_repository_validates(tmp_path: Path) -> None:
    written = build_api(REPO, tmp_path)
    folders = sorted(p.name for p in (REPO / "products").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert _assert_api_valid(tmp_path) == len(folders)
    assert len(written) == 4 + len(folders) + len(SCHEMA_NAMES)
    index = _load(tmp_path, "index.json")
    assert index["counts"]["products"] == len(folders)
    assert sum(index["counts"]["by_type"].values()) == len(folders)
    assert datetime.fromisoformat(index["generated_at"].replace("Z", "+00:00")).tzinfo is not None
    listing = _load(tmp_path, "products.json")
    assert [p["id"] for p in listing["products"]] == folders
    types = _load(tmp_path, "product-types.json")["product_types"]
    assert [t["name"] for t in types] == list(TYPES)
    assert sum(t["products"] for t in types) == len(folders)


def test_remote_paths_are_where_dvc_stores_objects() -> None:
    """Every object of the sample DVC remote (dvc-remote/) is some file's remote_path."""
    files = [f for r in collect_records(REPO) for f in r.files]
    for f in files:
        if f["md5"] is not None:
            assert f["remote_path"] == f"files/md5/{f['md5'][:2]}/{f['md5'][2:]}"
            assert f["url"] == f"https://pz-server.lsst.io/dvc/{f['remote_path']}"
    stored = {p.relative_to(REPO / "dvc-remote").as_posix() for p in (REPO / "dvc-remote" / "files").rglob("*")
              if p.is_file()}
    assert stored and stored <= {f["remote_path"] for f in files}


def test_history_of_the_repository_matches_git_per_product() -> None:
    """The single `git log` of products/ agrees with one `git log` per product."""
    for record in collect_records(REPO):
        spec = [f"products/{record.id}", f":(exclude)products/{record.id}/summary.json"]
        commits = subprocess.run(["git", "log", "--format=%H", "--", *spec], cwd=REPO, capture_output=True,
                                 text=True, check=True).stdout.split()
        assert [h["commit"] for h in record.history] == commits
        if commits:
            assert set(record.history[0]["md5s"]) == {f["path"] for f in record.files if f["md5"]}


# --- a generated catalogue of 1,000 products ---------------------------------------------------


def make_big_catalog(root: Path, count: int = 1000) -> Path:
    """``count`` varied copies of the upload example in git: one commit adds them all, a second
    changes the data of every tenth; every fifth is derived from the one before."""
    root = new_catalog(root)
    rng = random.Random(count)
    ids: list[str] = []
    for i in range(count):
        kind = TYPES[i % len(TYPES)]
        words = rng.sample(WORDS, 4)
        pid = f"{words[0]}-{words[1]}-{i:04d}"
        ids.append(pid)
        add_product(
            root, pid, title=f"{' '.join(words).capitalize()} sample {i}",
            summary=f"{rng.randint(10, 10**7):,} objects from {words[2]} and {words[3]} ({kind}).",
            product_type=kind, official=i % 10 == 0,
            release=None if kind == "redshift_catalog" else rng.choice(["dp0.2", "dp1", "dr1", None]),
            tags=sorted(set(rng.sample(WORDS, 3))), survey=[w.upper() for w in rng.sample(WORDS, 2)],
            pz_code=rng.choice(["BPZ", "FlexZBoost", "GPz", "TPZ"]) if kind in TYPES[3:5] else None,
            status="deprecated" if i % 97 == 5 else "active",
            status_reason="superseded" if i % 97 == 5 else None,
            provenance={"derived_from": [ids[i - 1]] if i % 5 == 1 else []},
        )
    commit_all(root, "Add the products", date="2026-01-01T00:00:00+00:00")
    for pid in ids[::10]:
        write_pointer(root / "products" / pid, "upload_example.csv", hashlib.md5(b"v2" + pid.encode()).hexdigest(), 999)
    commit_all(root, "New data for 100 products", date="2026-02-01T00:00:00+00:00", author="Bo Second")
    return root


@pytest.fixture(scope="module")
def big_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_big_catalog(tmp_path_factory.mktemp("big") / "catalog")


def test_api_of_1000_products_validates_and_builds_in_seconds(big_catalog: Path, tmp_path: Path) -> None:
    start = time.perf_counter()
    records = collect_records(big_catalog)
    build_api(big_catalog, tmp_path, records, generated_at=None)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"API of 1,000 products took {elapsed:.1f} s"
    assert _assert_api_valid(tmp_path) == 1000

    listing = (tmp_path / "api" / "v1" / "products.json").read_bytes()
    assert listing.count(b"\n") == 1  # compact: one line
    assert len(gzip.compress(listing, 9)) < 150_000
    index = _load(tmp_path, "index.json")
    assert index["counts"]["products"] == 1000 and index["counts"]["official"] == 100
    assert index["counts"]["by_type"]["other"] == sum(1 for i in range(1000) if i % 7 == 6)

    assert {r.history[-1]["message"] for r in records} == {"Add the products"}
    histories = [len(r.history) for r in records]
    assert histories.count(2) == 100 and histories.count(1) == 900
    assert sum(len(r.outputs) for r in records) == sum(1 for i in range(1000) if i % 5 == 1)


# --- history, outputs, files -------------------------------------------------------------------


def test_history_lists_pointer_changes_newest_first(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog")
    folder = add_product(root, "spec-z", updated=None)
    first_md5 = hashlib.md5(b"spec-z").hexdigest()
    first = commit_all(root, "Add spec-z", date="2026-03-01T10:00:00+01:00", author="Alice Adder")
    write_pointer(folder, "upload_example.csv", "0123456789abcdef0123456789abcdef", 1000)
    second = commit_all(root, "Fix redshifts of spec-z", date="2026-04-02T12:00:00+00:00", author="Bob Fixer")
    (folder / "summary.json").write_text('{"schema_version": 1, "files": {}}\n')
    commit_all(root, "Refresh summaries only")  # derived from the data: not a version of the product
    add_product(root, "other-product")
    commit_all(root, "Add another product")

    record = {r.id: r for r in collect_records(root)}["spec-z"]
    assert record.history == [
        {"commit": second, "date": "2026-04-02T12:00:00+00:00", "author": "Bob Fixer",
         "message": "Fix redshifts of spec-z", "md5s": {"upload_example.csv": "0123456789abcdef0123456789abcdef"}},
        {"commit": first, "date": "2026-03-01T10:00:00+01:00", "author": "Alice Adder",
         "message": "Add spec-z", "md5s": {"upload_example.csv": first_md5}},
    ]
    out = tmp_path / "site"
    build_api(root, out, generated_at=None)
    assert _load(out, "products/spec-z.json")["history"] == record.history
    entry = next(p for p in _load(out, "products.json")["products"] if p["id"] == "spec-z")
    assert entry["updated"] == "2026-04-02"  # no `updated` in product.yaml: the last commit's date
    assert entry["size"] == 1000


def test_history_drops_a_deleted_pointer(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog")
    folder = add_product(root, "two-files", files=[{"path": "upload_example.csv", "role": "main"},
                                                    {"path": "extra.fits", "role": "auxiliary"}])
    write_pointer(folder, "extra.fits", "f" * 32, 10)
    commit_all(root, "Add two files")
    (folder / "extra.fits.dvc").unlink()
    commit_all(root, "Drop the extra file")
    history = collect_records(root)[0].history
    assert [sorted(h["md5s"]) for h in history] == [["upload_example.csv"], ["extra.fits", "upload_example.csv"]]


def test_history_of_a_file_whose_name_git_quotes(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog")
    name = 'données "v2"\tfinal.csv'  # git writes this path C-quoted
    folder = add_product(root, "quoted", files=[{"path": "upload_example.csv", "role": "main"},
                                                 {"path": name, "role": "auxiliary"}])
    write_pointer(folder, name, "e" * 32, 10)
    first = commit_all(root, "Add a product with an odd file name")
    write_pointer(folder, name, "d" * 32, 10)
    second = commit_all(root, "New version of that file")
    (folder / 'notes "v2"\t.md').write_text("Notes.\n")
    third = commit_all(root, "Add notes")  # the one path of the commit is quoted
    history = collect_records(root)[0].history
    assert [h["commit"] for h in history] == [third, second, first]
    upload = hashlib.md5(b"quoted").hexdigest()
    assert [h["md5s"] for h in history] == [{name: "d" * 32, "upload_example.csv": upload}] * 2 + [
        {name: "e" * 32, "upload_example.csv": upload}]


def test_history_is_empty_outside_git(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "no-git", updated=None)
    (record,) = collect_records(root)
    assert record.history == []
    build_api(root, tmp_path / "out", generated_at=None)
    assert _load(tmp_path / "out", "products.json")["products"][0]["updated"] is None


def test_outputs_invert_derived_from(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "parent")
    add_product(root, "child", provenance={"derived_from": ["parent"]})
    add_product(root, "grandchild", provenance={"derived_from": ["child", "parent", "missing-one"]})
    outputs = {r.id: r.outputs for r in collect_records(root)}
    assert outputs == {"parent": ["child", "grandchild"], "child": ["grandchild"], "grandchild": []}
    build_api(root, tmp_path / "out", generated_at=None)
    assert _load(tmp_path / "out", "products/parent.json")["outputs"] == ["child", "grandchild"]


def test_files_carry_pointer_facts_and_untracked_files_null(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "files", files=[{"path": "upload_example.csv", "role": "main", "format": "csv"},
                                      {"path": "notes.md", "role": "auxiliary", "format": "markdown"}])
    build_api(root, tmp_path / "out", generated_at=None)
    main, notes = _load(tmp_path / "out", "products/files.json")["files"]
    md5 = hashlib.md5(b"files").hexdigest()
    assert main == {"path": "upload_example.csv", "role": "main", "format": "csv", "table": None,
                    "description": None, "size": 459, "md5": md5, "remote_path": f"files/md5/{md5[:2]}/{md5[2:]}",
                    "url": f"https://pz-server.lsst.io/dvc/files/md5/{md5[:2]}/{md5[2:]}"}
    assert (notes["size"], notes["md5"], notes["remote_path"], notes["url"]) == (None, None, None, None)


def test_product_json_has_links_citation_and_commands(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "cmds", citation=None, created="2025-06-01",
                files=[{"path": "my data 'v1'.csv", "role": "main", "format": "csv"}])
    build_api(root, tmp_path / "out", generated_at=None)
    doc = _load(tmp_path / "out", "products/cmds.json")
    assert doc["metadata"] == read_yaml(root / "products" / "cmds" / "product.yaml").data
    assert doc["links"]["page"] == "/products/cmds/"
    assert doc["links"]["json_url"] == "https://pz-server.lsst.io/api/v1/products/cmds.json"
    assert doc["citation"].startswith("LIneA (2025), PZ Server upload example")
    get = doc["get"]
    assert shlex.split(get["dvc_get"]) == ["dvc", "get", "https://github.com/lsst-pz/pz-server",
                                           "products/cmds/my data 'v1'.csv"]
    assert shlex.split(get["dvc_pull"]) == ["dvc", "pull", "products/cmds/my data 'v1'.csv.dvc"]
    assert shlex.split(get["dvc_get_with_token"])[-1] == "password=Bearer $ACCESS_TOKEN"
    assert 'catalog.load("cmds")' in get["python"]


# --- output properties -------------------------------------------------------------------------


def test_build_is_byte_identical_without_timestamp(tmp_path: Path) -> None:
    build_api(REPO, tmp_path / "a", generated_at=None)
    build_api(REPO, tmp_path / "b", generated_at=None)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert "generated_at" not in _load(tmp_path / "a", "index.json")
    build_api(REPO, tmp_path / "c", generated_at="2026-01-01T00:00:00Z")
    assert _load(tmp_path / "c", "index.json")["generated_at"] == "2026-01-01T00:00:00Z"


def test_hostile_strings_stay_data(tmp_path: Path) -> None:
    title = '</script><script>alert("x")</script> & \'quotes\' \\ \u2028 <!--'
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "hostile", title=title, tags=["</script>"], owner={"github": "x", "name": '"><img src=x>'})
    build_api(root, tmp_path / "out", generated_at=None)
    raw = (tmp_path / "out" / "api" / "v1" / "products.json").read_bytes()
    assert b"</script><script>" in raw  # JSON strings hold the text itself, not HTML escapes
    entry = json.loads(raw)["products"][0]
    assert entry["title"] == title and entry["tags"] == ["</script>"]
    doc = _load(tmp_path / "out", "products/hostile.json")
    assert doc["metadata"]["title"] == title and doc["metadata"]["owner"]["name"] == '"><img src=x>'


def test_rebuild_removes_products_that_are_gone(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "old-name")
    build_api(root, tmp_path / "out", generated_at=None)
    (root / "products" / "old-name").rename(root / "products" / "new-name")
    build_api(root, tmp_path / "out", generated_at=None)
    assert sorted(p.name for p in (tmp_path / "out" / "api" / "v1" / "products").iterdir()) == ["new-name.json"]


def test_unreadable_products_stop_the_build_with_every_problem(tmp_path: Path) -> None:
    root = new_catalog(tmp_path / "catalog", with_git=False)
    add_product(root, "fine")
    (root / "products" / "broken").mkdir()
    (root / "products" / "broken" / "product.yaml").write_text("title: [unclosed\n")
    bad = add_product(root, "bad-pointer")
    (bad / "upload_example.csv.dvc").write_text("outs: []\n")
    with pytest.raises(ApiBuildError) as err:
        build_api(root, tmp_path / "out")
    lines = str(err.value).splitlines()
    assert lines[0].startswith("products/bad-pointer: error: ")
    assert lines[1].startswith("products/broken/product.yaml:")
    assert lines[-1].startswith("2 products cannot be read")
    assert not (tmp_path / "out").exists()  # nothing written before everything was read
