"""The `pz` command: exit codes, selection, formats, settings, help."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from site_builder.cli.main import cli

from .conftest import CORPUS, REPO


def pz(*args: str, cwd: Path | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False) if cwd is None else subprocess.run(
        [str(Path(sys.executable).parent / "pz"), *args], cwd=cwd, capture_output=True, text=True, check=False)


def data_present() -> bool:
    return (REPO / "products/dc2-training-9816/test_dc2_training_9816.hdf5").is_file()


@pytest.mark.parametrize("args", [["validate", "--no-data"], ["validate"], ["validate", "--strict"]])
def test_repository_validates(args):
    if "--no-data" not in args and not data_present():
        pytest.fail("sample data missing: run `make data` (make test does it)")
    result = pz("--repo", str(REPO), *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().startswith("ok: ")
    assert result.stdout == ""


def test_validate_selected_products(make_catalog):
    root = make_catalog(CORPUS / "invalid" / "bad-ucd")
    ok = pz("--repo", str(root), "validate", "minimal-spec-z", "tiny-training-set")
    assert ok.exit_code == 0
    assert ok.stderr == "ok: 2 products checked, no problems\n"
    bad = pz("--repo", str(root), "validate", "bad-ucd")
    assert bad.exit_code == 1
    assert bad.stderr.splitlines()[-1] == "1 error in 1 product (1 checked)"


def test_build_error_that_names_its_place_is_printed_once(tmp_path):
    from .test_site import add_product, make_catalogue

    root = make_catalogue(tmp_path, with_samples=False)
    add_product(root, "broken", "id: broken\ntitle: [unclosed\n")
    result = pz("--repo", str(root), "build", "--out", str(tmp_path / "site"))
    assert result.exit_code != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith("products/broken/product.yaml:3: error: malformed YAML")
    assert result.stderr.count("error:") == 1 and "pz validate" in result.stderr


def test_unknown_product_is_a_usage_error(make_catalog):
    root = make_catalog()
    result = pz("--repo", str(root), "validate", "minimal-spec")
    assert result.exit_code == 2
    assert result.stderr == "pz: error: no product 'minimal-spec' in products/; did you mean 'minimal-spec-z'?\n"


def test_outside_a_catalogue_is_a_usage_error(tmp_path):
    result = pz("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert "no catalog.yaml found" in result.stderr and "--repo" in result.stderr
    assert "Traceback" not in result.stderr
    bad_repo = pz("--repo", str(tmp_path), "validate")
    assert bad_repo.exit_code == 2
    assert "holds no catalog.yaml" in bad_repo.stderr


def test_bad_option_is_a_usage_error():
    assert pz("--repo", str(REPO), "validate", "--format", "xml").exit_code == 2


def test_found_from_a_subfolder(make_catalog):
    root = make_catalog()
    result = pz("validate", "--no-data", cwd=root / "products" / "minimal-spec-z")
    assert result.returncode == 0, result.stderr


def test_warnings_fail_only_under_strict(make_catalog, tmp_path):
    root = make_catalog()
    yaml_path = root / "products/minimal-spec-z/product.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("license: CC-BY-4.0", "license: CC-BY-4.5"))
    loose = pz("--repo", str(root), "validate")
    assert loose.exit_code == 0
    assert loose.stderr.splitlines() == [
        "products/minimal-spec-z/product.yaml:9: warning: field 'license': 'CC-BY-4.5' is not a known SPDX licence identifier",
        "  hint: did you mean 'CC-BY-4.0'?",
        "1 warning in 1 product (8 checked)",
    ]
    strict = pz("--repo", str(root), "validate", "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1] == "1 warning (errors under --strict) in 1 product (8 checked)"


def test_catalog_settings_are_checked(make_catalog):
    root = make_catalog()
    settings = root / "catalog.yaml"
    settings.write_text(settings.read_text().replace("admins: [pz-admin]", "admins: []\nadmin: [x]"))
    result = pz("--repo", str(root), "validate", "--no-data")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:4] == [
        "catalog.yaml:7: error: field 'admins': needs at least 1 item",
        "catalog.yaml:8: error: field 'admin': unknown key 'admin'",
        "  hint: did you mean 'admins'?",
        "2 errors in catalog.yaml (8 checked)",
    ]


def test_product_referring_to_a_release_removed_from_settings(make_catalog):
    root = make_catalog()
    settings = root / "catalog.yaml"
    settings.write_text(settings.read_text().replace("  - {name: dp0.2, display_name: LSST DP0.2}\n", ""))
    result = pz("--repo", str(root), "validate", "--no-data")
    assert result.exit_code == 1
    assert "field 'release': unknown release 'dp0.2'" in result.stderr
    assert "hint: did you mean 'dp1'?" not in result.stderr  # not close enough to suggest


def test_missing_product_yaml(make_catalog):
    root = make_catalog()
    (root / "products" / "empty-folder").mkdir()
    result = pz("--repo", str(root), "validate", "--no-data")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "products/empty-folder/product.yaml: error: missing product.yaml in product folder"


def test_duplicate_id_across_folders(make_catalog):
    root = make_catalog()
    copy = root / "products/minimal-copy"
    shutil.copytree(root / "products/minimal-spec-z", copy)
    result = pz("--repo", str(root), "validate", "--no-data")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert "products/minimal-copy/product.yaml:1: error: field 'id': id 'minimal-spec-z' differs from the folder name 'minimal-copy'" in lines
    assert "products/minimal-copy/product.yaml:1: error: field 'id': id 'minimal-spec-z' is already used by products/minimal-spec-z/" in lines


def test_provenance_loop(make_catalog):
    root = make_catalog()
    for a, b in (("minimal-spec-z", "tiny-training-set"), ("tiny-training-set", "minimal-spec-z")):
        path = root / "products" / a / "product.yaml"
        path.write_text(path.read_text() + f"provenance:\n  derived_from: [{b}]\n")
    result = pz("--repo", str(root), "validate", "--no-data")
    assert result.exit_code == 1
    assert "error: field 'provenance.derived_from[0]': provenance loop: minimal-spec-z -> tiny-training-set -> minimal-spec-z" in result.stderr


def test_parallel_and_serial_runs_agree(make_catalog):
    from site_builder.validation.validate import PARALLEL_THRESHOLD, validate_catalog

    root = make_catalog(*(CORPUS / "invalid").iterdir())
    products = root / "products"
    template = (products / "minimal-spec-z" / "product.yaml").read_text()
    for n in range(PARALLEL_THRESHOLD):
        folder = products / f"generated-{n:04d}"
        folder.mkdir()
        (folder / "product.yaml").write_text(template.replace("id: minimal-spec-z", f"id: generated-{n:04d}"))
    serial = validate_catalog(root, data=False, jobs=1)
    parallel = validate_catalog(root, data=False, jobs=2)
    assert serial.checked == parallel.checked > PARALLEL_THRESHOLD
    assert sorted(serial.issues, key=repr) == sorted(parallel.issues, key=repr)
    assert len(serial.issues) > 25


def test_json_output_shape(make_catalog):
    root = make_catalog(CORPUS / "invalid" / "bad-ucd")
    report = json.loads(pz("--repo", str(root), "validate", "--format", "json").stdout)
    assert report == {
        "ok": False,
        "checked": 9,
        "issues": [{
            "path": "products/bad-ucd/product.yaml", "line": 19, "severity": "error",
            "message": "'pos.ra' is not a word of the IVOA UCD vocabulary", "field": "columns[1].ucd",
            "hint": "did you mean 'pos.eq.ra'?", "product": "bad-ucd", "rule": "columns.ucd",
        }],
    }


def test_github_annotation_escapes_newlines_and_commas(make_catalog):
    root = make_catalog(CORPUS / "invalid" / "malformed-yaml")
    out = pz("--repo", str(root), "validate", "--format", "github").stdout.splitlines()
    assert out == [
        "::error file=products/malformed-yaml/product.yaml,line=3,title=pz validate%3A yaml::"
        "malformed YAML: mapping values are not allowed in this context"
        "%0Ahint: fix the YAML syntax near this line (indentation, quotes, a missing ':')"
    ]


def test_list_and_show():
    listed = pz("--repo", str(REPO), "list", "--json")
    assert listed.exit_code == 0
    ids = [row["id"] for row in json.loads(listed.stdout)]
    assert ids == sorted(p.name for p in (REPO / "products").iterdir())
    shown = pz("--repo", str(REPO), "show", "dc2-training-9816", "--json")
    assert json.loads(shown.stdout)["product_type"] == "training_set"
    missing = pz("--repo", str(REPO), "show", "dc2-training")
    assert missing.exit_code == 2 and "did you mean 'dc2-training-9816'?" in missing.stderr


def _commands(group, prefix=()):
    import click

    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=lambda p: " ".join(p))
def test_every_command_has_help_and_is_documented(path):
    result = pz(*path, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    command = dict(_commands(cli))[path]
    assert command.help and len(command.help) > 20
    readme = (REPO / "README.md").read_text()
    assert f"pz {' '.join(path)}" in readme


def test_build_writes_the_site_and_the_json_api(tmp_path):
    out = tmp_path / "site"
    result = pz("--repo", str(REPO), "build", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "and the JSON API" in result.stderr
    index = json.loads((out / "api/v1/index.json").read_text())
    listed = json.loads((out / "api/v1/products.json").read_text())
    ids = sorted(p["id"] for p in listed["products"])
    assert ids == sorted(p.name for p in (REPO / "products").iterdir())
    assert index["api_version"] == "v1"
    for pid in ids:
        assert (out / "products" / pid / "index.html").is_file()
        assert json.loads((out / "api/v1/products" / f"{pid}.json").read_text())["id"] == pid
