"""Generated site pages: the schema reference and the release, product type and owner pages."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from site_builder.catalog.model import PRODUCT_TYPES, ROLE_UCDS
from site_builder.catalog.schema import load_schema
from site_builder.catalog.source import read_product
from site_builder.site.build import build_site
from tests.test_site import REPO, SAMPLE_IDS, add_product, make_catalogue, nav_html, text_of

SAMPLES = [read_product(REPO, pid).data for pid in SAMPLE_IDS]
RELEASES = ("dp0.2", "dp1", "dr1")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_catalogue(tmp_path_factory.mktemp("sitepages"))
    # strict: a broken link on any generated page fails the build
    return build_site(root, root.parent / "site", strict=True).out


def schema_paths(obj: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Every property of the schema as the page names it: ``id``, ``owner.github``, ``files[].path``."""
    paths = []
    for name, prop in obj.get("properties", {}).items():
        paths.append(prefix + name)
        sub, path = prop, prefix + name
        if "items" in sub:
            sub, path = sub["items"], path + "[]"
        if "$ref" in sub:
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]
        paths += schema_paths(sub, schema, path + ".")
    return paths


def content(page: Path) -> str:
    """The page's content (no nav), entities decoded but tags kept."""
    return html.unescape(page.read_text("utf-8").split('<div class="md-content"')[1])


def preset(page: Path) -> str:
    found = re.findall(r'<div class="pz-catalog"[^>]*data-preset="([^"]*)"', page.read_text("utf-8"))
    assert len(found) == 1
    return html.unescape(found[0])


def test_schema_page_documents_every_field_type_and_role(site: Path) -> None:
    schema = load_schema("product")
    page = content(site / "schema" / "index.html")
    paths = schema_paths(schema, schema)
    assert {"id", "owner.github", "files[].path", "columns[].sentinels", "provenance.code.repository"} <= set(paths)
    missing = [p for p in paths if f"<code>{p}</code>" not in page]
    assert missing == []
    for name, ptype in PRODUCT_TYPES.items():
        assert f"<code>{name}</code>" in page and ptype.display_name in page
    for role, ucd in ROLE_UCDS.items():
        assert f"<code>{role}</code>" in page
        assert ucd is None or f"<code>{ucd}</code>" in page
    text = re.sub(r" ([.,;])", r"\1", text_of(site / "schema" / "index.html"))  # "<code>z</code>." -> " z ."
    assert "A redshift_catalog needs columns with roles ra, dec, z." in text
    assert "release is forbidden for redshift_catalog." in text
    assert "pz_code is only allowed for validation_results, photoz_estimates." in text
    assert "A deprecated or retracted product needs a status_reason." in text
    assert "Exactly one file of files has role main." in text
    assert "pattern ^10\\.\\d{4,9}/\\S+$" in text  # the doi pattern, undamaged by escaping


def test_index_pages_are_in_the_nav_and_item_pages_are_not(site: Path) -> None:
    for page in (site / "index.html", site / "releases" / "dp1" / "index.html",
                 site / "owners" / "pz-coordination" / "index.html"):
        nav = nav_html(page)
        for title in ("Product schema", "Releases", "Product types", "Owners"):
            assert f"{title}\n" in nav or f"{title}<" in nav or f"{title} " in nav, title
        assert "dp1/" not in nav and "training_set/" not in nav and "pz-coordination/" not in nav


def test_release_pages_count_and_preset(site: Path) -> None:
    counts = Counter(d.get("release") for d in SAMPLES)
    index = text_of(site / "releases" / "index.html")
    for name in RELEASES:
        page = site / "releases" / name / "index.html"
        assert preset(page) == f"release={name}"
        assert f"{counts[name]} product{'' if counts[name] == 1 else 's'} in this release" in text_of(page)
        assert name in index
    assert "LSST DP0.2" in text_of(site / "releases" / "dp0.2" / "index.html")
    assert counts["dp0.2"] >= 1


def test_type_pages_count_rules_and_preset(site: Path) -> None:
    counts = Counter(d["product_type"] for d in SAMPLES)
    assert sorted(p.name for p in (site / "types").iterdir() if p.is_dir()) == sorted(PRODUCT_TYPES)
    for name, ptype in PRODUCT_TYPES.items():
        page = site / "types" / name / "index.html"
        text = text_of(page)
        assert preset(page) == f"type={name}"
        assert ptype.display_name in text and ptype.description in text
        assert f"{counts[name]} product{'' if counts[name] == 1 else 's'} of this type" in text
    assert "release allowed: no" in text_of(site / "types" / "redshift_catalog" / "index.html")


def test_owner_pages_count_link_and_preset(site: Path) -> None:
    counts = Counter(d["owner"]["github"] for d in SAMPLES)
    index = site / "owners" / "index.html"
    for login, n in counts.items():
        page = site / "owners" / login / "index.html"
        assert preset(page) == f"owner={login}"
        assert f"{n} product{'' if n == 1 else 's'} owned" in text_of(page)
        assert f'href="https://github.com/{login}"' in page.read_text("utf-8")
        assert f'href="{login}/"' in index.read_text("utf-8")


def test_product_page_links_its_release_type_and_owner(site: Path) -> None:
    data = next(d for d in SAMPLES if d.get("release"))
    source = (site / "products" / data["id"] / "index.html").read_text("utf-8")
    assert f'href="../../releases/{data["release"]}/"' in source
    assert f'href="../../types/{data["product_type"]}/"' in source
    assert f'href="../../owners/{data["owner"]["github"]}/"' in source


HOSTILE = """\
id: {id}
title: "<script>alert(1)</script>"
summary: x
product_type: other
official: false
status: active
owner: {{github: {login}, name: "</title><script>alert(2)</script> [x](javascript:alert(3)) | y"}}
created: 2026-01-01
license: MIT
files:
  - {{path: data.csv, role: main, format: csv}}
"""


def test_hostile_owner_names_are_escaped(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    add_product(root, "hostile", HOSTILE.format(id="hostile", login="mallory"))
    # A login that breaks the pattern gets no page (and no folder) at all.
    add_product(root, "sneaky", HOSTILE.format(id="sneaky", login='"../../x"'))
    out = build_site(root, tmp_path / "site", strict=True).out
    assert not (out / "x").exists() and not (out / "owners" / ".." / "x").exists()
    for page in (out / "owners" / "mallory" / "index.html", out / "owners" / "index.html",
                 out / "products" / "hostile" / "index.html"):
        source = page.read_text("utf-8")
        assert re.search(r"<script>\s*alert", source) is None
        assert re.search(r"""=\s*["']?\s*javascript:""", source, re.IGNORECASE) is None
        assert "</title><script>" not in source
        assert "</title><script>alert(2)</script> [x](javascript:alert(3)) | y" in text_of(page)
    assert sorted(p.name for p in (out / "owners").iterdir()) == ["index.html", "mallory"]
