"""The domain module is the one home of product types, column roles, formats and the id rule.

The main test adds a product type and a column role to site_builder/catalog/model.py in a
temporary copy of the package, and shows that the validator, `pz add --type`, the site and
the JSON API accept them with no other change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from site_builder.catalog.model import (
    CLIENT_TYPES_FILE,
    COLUMN_ROLES,
    FILE_FORMATS,
    ID_PATTERN,
    PRODUCT_TYPES,
    render_client_types,
)
from site_builder.catalog.schema import load_schema

from .conftest import REPO, empty_catalog_repo

NEW_TYPE = '''
PRODUCT_TYPES["sed_templates"] = ProductType(
    "sed_templates", "SED Templates", tabular=True, required_roles=("sfr",),
    description="Spectral energy distribution templates with their star formation rates.",
)
'''
NEW_ROLE = '''
COLUMN_ROLES["sfr"] = ColumnRole(
    "sfr", "phys.SFR", ("phys.SFR",), numeric=True, value_range=(0.0, None), unit="solMass/yr",
    name_pattern=r"^(sfr|star_?formation_?rate)$", pattern_order=50, description="Star formation rate.",
)
'''


def test_schema_enums_come_from_the_domain_module():
    schema = load_schema("product")
    assert schema["properties"]["product_type"]["enum"] == list(PRODUCT_TYPES)
    assert schema["$defs"]["column"]["properties"]["role"]["enum"] == list(COLUMN_ROLES)
    assert schema["$defs"]["file"]["properties"]["format"]["enum"] == list(FILE_FORMATS)
    assert schema["properties"]["id"]["pattern"] == ID_PATTERN
    committed = (REPO / "schemas" / "product.schema.json").read_text(encoding="utf-8")
    assert '"enum": ["redshift_catalog"' not in committed and '"enum": ["id"' not in committed, \
        "the committed schema must not repeat the domain module's enums"


def test_client_types_file_is_in_step():
    assert CLIENT_TYPES_FILE.read_text(encoding="utf-8") == render_client_types(), \
        "pzclient/product_types.json is stale: run `python -m site_builder.catalog.model`"


@pytest.fixture
def patched_package(tmp_path: Path) -> Path:
    """A copy of the package whose domain module has one more product type and column role."""
    pkg = tmp_path / "pkg"
    for name in ("site_builder", "schemas", "pzclient"):
        shutil.copytree(REPO / name, pkg / name, ignore=shutil.ignore_patterns("__pycache__"))
    model = pkg / "site_builder" / "catalog" / "model.py"
    text = model.read_text(encoding="utf-8")
    anchor = "@dataclass(frozen=True)\nclass FileFormat:"
    assert anchor in text
    model.write_text(text.replace(anchor, NEW_TYPE + NEW_ROLE + "\n\n" + anchor), encoding="utf-8")
    return pkg


def _pz(pkg: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pkg), "PZ_REPO": str(root)}
    return subprocess.run([sys.executable, "-c", "from site_builder.cli.main import main; main()", *args],
                          cwd=root, env=env, capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_a_new_type_and_role_need_only_the_domain_module(tmp_path, patched_package):
    root = empty_catalog_repo(tmp_path / "catalog", tmp_path / "remote")
    for name in ("mkdocs.yml",):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "docs", root / "docs")
    data = tmp_path / "templates.csv"
    data.write_text("id,SFR,z\n1,0.5,0.1\n2,3.25,0.4\n3,12.0,0.9\n")

    added = _pz(patched_package, root, "add", str(data), "--type", "sed_templates", "--title", "SED templates",
                "--owner", "jdoe", "--yes")
    assert added.returncode == 0, added.stderr
    product = (root / "products" / "sed-templates" / "product.yaml").read_text(encoding="utf-8")
    assert "product_type: sed_templates" in product
    assert "role: sfr" in product and "ucd: phys.SFR" in product and "unit: solMass/yr" in product

    validated = _pz(patched_package, root, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "1 products checked, no problems" in validated.stderr or "no problems" in validated.stderr

    built = _pz(patched_package, root, "build", "--out", str(tmp_path / "site"))
    assert built.returncode == 0, built.stderr
    site = tmp_path / "site"
    types = json.loads((site / "api" / "v1" / "product-types.json").read_text())
    new = next(t for t in types["product_types"] if t["name"] == "sed_templates")
    assert new["display_name"] == "SED Templates" and new["required_roles"] == ["sfr"] and new["products"] == 1
    doc = json.loads((site / "api" / "v1" / "products" / "sed-templates.json").read_text())
    assert {c["name"]: c["role"] for c in doc["metadata"]["columns"]}["SFR"] == "sfr"
    assert "SED Templates" in (site / "types" / "sed_templates" / "index.html").read_text(encoding="utf-8")
    page = (site / "products" / "sed-templates" / "index.html").read_text(encoding="utf-8")
    assert "SED Templates" in page
    assert "phys.SFR" in (site / "schema" / "index.html").read_text(encoding="utf-8")

    # The unpatched package refuses the same product: the test depends on the domain module alone.
    stock = _pz(REPO, root, "validate", "--no-data")
    assert stock.returncode == 1 and "sed_templates" in stock.stderr


def test_add_type_choices_are_the_domain_types():
    from click.testing import CliRunner

    from site_builder.cli.main import cli

    result = CliRunner().invoke(cli, ["add", "--help"])
    assert result.exit_code == 0
    for name in PRODUCT_TYPES:
        assert name in result.output

