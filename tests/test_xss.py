"""Hostile metadata in every rendered field, checked in a real browser (headless Chromium).

Each field of a product (and of its summary, and of catalog.yaml) holds a payload that would
open a dialog numbered after the field, or add an element of class ``pz-injected``, if any
page rendered it as markup: script tags, event handlers, ``javascript:`` links, SVG, mutation
XSS, Markdown links and attribute lists. Every page of the site that can show the product is
then loaded in Chromium; no dialog may fire, no injected element or handler may exist, no
console error may appear, and the page must still show its content.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from site_builder.site.build import build_site
from site_builder.site.linkcheck import check_links
from tests.conftest import needs_browser
from tests.test_catalog_page import page, serve  # noqa: F401 (fixture)
from tests.test_productpage import copy_data_descriptions
from tests.test_site import REPO, make_catalogue

pytestmark = needs_browser

FIELDS: list[str] = []


def payload(field: str) -> str:
    """A string that misbehaves in every known way if rendered as HTML or Markdown; n = the field."""
    FIELDS.append(field)
    n = len(FIELDS)
    return (f'<script>alert({n})</script><img src=x onerror=alert({n}) class=pz-injected>'
            f'<svg onload=alert({n}) class=pz-injected></svg>"><b class=pz-injected onmouseover=alert({n})>b</b>'
            f"'><a href=\"javascript:alert({n})\" class=pz-injected>a</a> [md](javascript:alert({n})) "
            f'![i](x" onerror="alert({n})) {{: onclick=alert({n}) .pz-injected}} <details open ontoggle=alert({n})>'
            f"<math><mtext><table><mglyph><style><img src=x onerror=alert({n})></style></mglyph></table></mtext></math>"
            f'<iframe srcdoc="<script>alert({n})</script>"></iframe> javascript&#58;alert({n}) `{n}` | cell |')


def hostile_product() -> dict:
    return {
        "id": "hostile", "title": payload("title"), "summary": payload("summary"),
        "description": payload("description") + "\n\n" + payload("description (second paragraph)"),
        "product_type": "redshift_catalog", "official": False, "status": "deprecated",
        "status_reason": payload("status_reason"), "superseded_by": "dc2-training-9816",
        "release": payload("release"),
        "owner": {"github": payload("owner.github"), "name": payload("owner.name"), "email": payload("owner.email")},
        "created": payload("created"), "updated": payload("updated"), "license": payload("license"),
        "citation": payload("citation"), "doi": payload("doi"),
        "references": [{"title": payload("references.title"), "url": "javascript:alert(0)"}],
        "tags": [payload("tags")], "survey": [payload("survey")], "pz_code": payload("pz_code"),
        "files": [{"path": "data.csv", "role": "main", "format": payload("files.format"),
                   "description": payload("files.description")},
                  {"path": payload("files.path"), "role": "auxiliary", "format": "csv"}],
        "columns": [{"name": "id", "role": "id", "ucd": payload("columns.ucd"), "unit": payload("columns.unit"),
                     "dtype": payload("columns.dtype"), "description": payload("columns.description")},
                    {"name": payload("columns.name"), "role": "z"}],
        "provenance": {"derived_from": [payload("derived_from"), "dc2-training-9816"],
                       "source": payload("provenance.source"), "notes": payload("provenance.notes"),
                       "code": {"repository": payload("code.repository"), "version": payload("code.version"),
                                "path": payload("code.path")}},
    }


def hostile_summary() -> dict:
    summary = json.loads((REPO / "products" / "dc2-training-9816" / "summary.json").read_text("utf-8"))
    stats = next(iter(summary["files"].values()))
    stats["preview"]["columns"][0] = payload("summary preview column")
    stats["preview"]["rows"][0][0] = payload("summary preview value")
    stats["columns"][0]["name"] = "id"
    stats["columns"][0]["dtype"] = payload("summary dtype")
    stats["columns"][0]["min"] = payload("summary min")
    stats["magnitudes"][0]["column"] = payload("summary magnitude column")
    stats["z_histogram"]["column"] = payload("summary z column")
    return {"schema_version": summary["schema_version"], "files": {"data.csv": stats}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    FIELDS.clear()
    root = make_catalogue(tmp_path_factory.mktemp("xss"))
    copy_data_descriptions(root)
    folder = root / "products" / "hostile"
    folder.mkdir()
    # JSON is YAML: the payloads reach the YAML parser exactly as written.
    (folder / "product.yaml").write_text(json.dumps(hostile_product(), indent=1), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(hostile_summary()), encoding="utf-8")
    catalog = (root / "catalog.yaml").read_text("utf-8")
    (root / "catalog.yaml").write_text(catalog.replace(
        "description:", f"description: {json.dumps(payload('catalog description'))}\nold_description:", 1),
        encoding="utf-8")
    shutil.rmtree(root / "docs")
    shutil.copytree(REPO / "docs", root / "docs")
    return build_site(root, root.parent / "site").out


@pytest.fixture(scope="module")
def url(site: Path):
    """The site over HTTP for the whole module (outliving each page, so no request is cut)."""
    with serve(site) as base:
        yield base


INSPECT = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    if (el.classList.contains('pz-injected')) bad.push('injected ' + el.tagName);
    if (['IFRAME', 'MGLYPH', 'MATH'].includes(el.tagName)) bad.push('element ' + el.tagName);
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) bad.push(el.tagName + ' ' + a.name + '=' + a.value);
      if (/^\\s*javascript:/i.test(a.value)) bad.push(el.tagName + ' ' + a.name + '=' + a.value);
    }
  }
  for (const s of document.querySelectorAll('script')) if (s.textContent.includes('alert(')) bad.push('script');
  return bad;
}"""


def pages_showing_the_product(site: Path) -> list[str]:
    owners = [p.parent.relative_to(site).as_posix() + "/" for p in (site / "owners").glob("*/index.html")]
    # ?query= is the catalogue's own search parameter (assets/catalog.js); ?q= is mkdocs-material's.
    return ["", "catalog/", "catalog/?query=script", "official/", "products/hostile/", "types/redshift_catalog/",
            "releases/", "owners/", "about/", *owners]


def test_the_payloads_reach_every_field(site: Path) -> None:
    assert len(FIELDS) >= 35
    source = (site / "products" / "hostile" / "index.html").read_text("utf-8")
    # Shown as text on the product page: every payload but the e-mail (not shown), the
    # catalogue's description (landing page) and the description, which is Markdown rendered
    # and sanitised: its script tags are dropped with their content; the measured dtype of a
    # column yields to the declared one.
    hidden = {"owner.email", "catalog description", "description", "description (second paragraph)",
              "summary dtype"}
    for n, field in enumerate(FIELDS, 1):
        assert f"<script>alert({n})</script>" not in source, field
        if field not in hidden:
            assert f"&lt;script&gt;alert({n})&lt;/script&gt;" in source, field


def test_no_script_runs_and_nothing_is_injected(page, site: Path, url: str) -> None:  # noqa: F811
    for path in pages_showing_the_product(site):
        response = page.goto(url + path)
        assert response is not None and response.ok, path
        page.wait_for_load_state("networkidle")
        if path.startswith("catalog/"):
            page.wait_for_function("document.querySelector('.pz-catalog__status')?.textContent.includes(' of ')")
        assert page.evaluate(INSPECT) == [], path
        assert page.locator("h1").count() >= 1, path  # not a broken page


def test_product_page_shows_the_payloads_as_text(page, url: str) -> None:  # noqa: F811
    page.goto(url + "products/hostile/")
    heading = page.locator("article h1").inner_text()
    assert heading.startswith("<script>alert(1)</script><img src=x onerror=alert(1)")
    body = page.locator("article").inner_text()
    for field in ("summary", "status_reason", "owner.name", "citation", "provenance.source", "columns.name"):
        n = FIELDS.index(field) + 1
        assert f"<script>alert({n})</script>" in body, field
    assert page.title().startswith("<script>alert(1)</script>")


def test_catalogue_shows_the_hostile_product_as_text(page, site: Path, url: str) -> None:  # noqa: F811
    total = json.loads((site / "api/v1/products.json").read_text("utf-8"))["count"]
    page.goto(url + "catalog/?query=hostile")
    page.wait_for_function("document.querySelector('.pz-catalog tbody tr')")
    # The filtered view: the search box holds the query and only the hostile product is listed.
    status = page.locator(".pz-catalog__main .pz-catalog__status").inner_text()
    assert status == f"1 of 1 products ({total} in total)"
    assert page.locator(".pz-catalog__search").input_value() == "hostile"
    assert page.locator(".pz-catalog tbody tr td:first-child").all_text_contents() == ["hostile"]
    row = page.locator(".pz-catalog tbody tr").first.inner_text()
    assert "<script>alert(1)</script>" in row


def test_the_filtered_view_of_the_no_script_check_holds_the_hostile_product(page, url: str) -> None:  # noqa: F811
    page.goto(url + "catalog/?query=script")
    page.wait_for_function("document.querySelector('.pz-catalog__status')?.textContent.includes(' in total')")
    assert "hostile" in page.locator(".pz-catalog tbody tr td:first-child").all_text_contents()


def test_no_javascript_link_anywhere_in_the_built_site(site: Path) -> None:
    assert [b for b in check_links(site) if b.reason == "javascript: link"] == []
