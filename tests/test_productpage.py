"""Product pages: plots, columns with their statistics, preview, files, commands, history, links."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from site_builder.catalog.settings import CatalogSettings
from site_builder.dvc.pointer import read_pointer
from site_builder.site.api import ProductRecord
from site_builder.site.build import build_site
from site_builder.site.productpage import render_product_page
from tests.test_site import (
    HOSTILE_YAML,
    REPO,
    SAMPLE_IDS,
    TagCollector,
    add_product,
    make_catalogue,
    text_of,
)

DC2 = "dc2-training-9816"
MAIN = "test_dc2_training_9816.hdf5"
REPOSITORY = "https://github.com/lsst-pz/pz-server"


def copy_data_descriptions(root: Path) -> None:
    """Add each sample's summary.json and .dvc pointers (the data itself stays out)."""
    for folder in SAMPLE_IDS:
        for path in (REPO / "products" / folder).iterdir():
            if path.name == "summary.json" or path.suffix == ".dvc":
                shutil.copy(path, root / "products" / folder / path.name)


def commit_all(root: Path) -> None:
    """Make the copy a git repository of one commit, so that pages have a version history."""
    env = {"GIT_AUTHOR_NAME": "Ann Author", "GIT_AUTHOR_EMAIL": "ann@example.org",
           "GIT_COMMITTER_NAME": "Ann Author", "GIT_COMMITTER_EMAIL": "ann@example.org",
           "GIT_AUTHOR_DATE": "2026-11-20T10:00:00+00:00", "GIT_COMMITTER_DATE": "2026-11-20T10:00:00+00:00",
           "PATH": "/usr/bin:/bin", "HOME": str(root)}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "Add the sample products"]):
        subprocess.run(["git", *command], cwd=root, env=env, check=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_catalogue(tmp_path_factory.mktemp("pages"))
    copy_data_descriptions(root)
    add_product(root, "no-summary", (REPO / "products" / DC2 / "product.yaml").read_text("utf-8")
                .replace(f"id: {DC2}", "id: no-summary").replace("derived_from: []", f"derived_from: [{DC2}]"))
    commit_all(root)
    start = time.perf_counter()
    out = build_site(root, root.parent / "site", strict=True).out
    seconds = time.perf_counter() - start
    sizes = {p.parent.name: p.stat().st_size for p in (out / "products").glob("*/index.html")}
    print(f"\nsite built in {seconds:.2f} s; product pages (bytes): {sizes}")
    return out


def page_source(site: Path, product_id: str) -> str:
    return (site / "products" / product_id / "index.html").read_text("utf-8")


def section(source: str, heading_id: str) -> str:
    """The HTML from one ``<h2 id=...>`` to the next heading of that level."""
    start = source.index(f'<h2 id="{heading_id}"')
    end = source.find("<h2 ", start + 1)
    return source[start:end if end > 0 else len(source)]


def table_rows(source: str) -> list[list[str]]:
    """The cells of every row of the tables in ``source``, as text."""
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", source, re.DOTALL)]


def code_blocks(source: str) -> list[str]:
    """The text of each highlighted code block (fenced blocks get the theme's copy button)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", code)).strip()
            for code in re.findall(r'<div class="highlight"><pre>.*?<code>(.*?)</code></pre></div>',
                                   source, re.DOTALL)]


def plots(source: str) -> dict[str, str]:
    """The inline SVG plots by the start of their accessible label."""
    return {re.search(r'aria-label="([A-Za-z ]+)', svg).group(1).strip(): svg
            for svg in re.findall(r'<div class="pz-plot">(<svg\b.*?</svg>)</div>', source, re.DOTALL)}


def test_pages_have_the_plots_their_summary_allows_with_titles(site: Path) -> None:
    dc2 = plots(page_source(site, DC2))
    # DC2 has redshifts and magnitudes but no coordinates: no sky map there.
    assert set(dc2) == {"Histogram of redshift", "Histograms of"}
    assert "Data at a glance" in text_of(site / "products" / DC2 / "index.html")
    sky = plots(page_source(site, "2dflens-kids-south"))
    assert set(sky) == {"Histogram of redshift", "Sky map"}
    for svg in [*dc2.values(), *sky.values()]:
        assert re.search(r"<title>[^<]+</title>", svg)


def test_training_page_shows_columns_with_summary_statistics_and_preview(site: Path) -> None:
    source = page_source(site, DC2)
    header, *rows = table_rows(section(source, "columns"))
    assert header == ["Name", "Role", "UCD", "Unit", "Type", "Description", "Min", "Max", "Nulls"]
    columns = {row[0]: row for row in rows}
    assert columns["id"][6] == "8062500000"  # min of the id column, from summary.json
    assert columns["mag_u_lsst"][2] == "phot.mag;em.opt.U"
    measured = {c["name"]: c for c in json.loads((REPO / "products" / DC2 / "summary.json")
                                                 .read_text("utf-8"))["files"][MAIN]["columns"]}
    assert columns["mag_u_lsst"][7] == f"{measured['mag_u_lsst']['max']:.6g}"
    assert columns["mag_u_lsst"][8] == str(measured["mag_u_lsst"]["nulls"])
    header, *preview = table_rows(section(source, "preview"))
    assert header[0] == "id" and len(preview) == 10
    assert preview[0][0] == "8062500000"


def test_training_page_has_files_commands_history_and_json_link(site: Path) -> None:
    source = page_source(site, DC2)
    md5 = read_pointer(REPO / "products" / DC2 / f"{MAIN}.dvc").md5
    files = {row[0]: row for row in table_rows(section(source, "files"))}
    assert files[MAIN][1:3] == ["main", "hdf5"] and files[MAIN][4] == md5
    assert re.fullmatch(r"\d+\.\d (KiB|MiB)", files[MAIN][3])
    get = f"dvc get {REPOSITORY} products/{DC2}/{MAIN}"
    assert code_blocks(section(source, "get-the-data")) == [
        get,
        f'{get} --remote-config auth=custom custom_auth_header=Authorization password="Bearer $ACCESS_TOKEN"',
        f"dvc pull products/{DC2}/{MAIN}.dvc",
        f'from pzclient import open_catalog\n\ncatalog = open_catalog()\ntable = catalog.load("{DC2}")',
    ]
    _, *history = table_rows(section(source, "version-history"))
    assert len(history) == 1
    date, author, message, version_md5, command = history[0]
    assert (date, author, message, version_md5) == ("2026-11-20", "Ann Author", "Add the sample products", md5)
    assert re.fullmatch(rf"{re.escape(get)} --rev [0-9a-f]{{40}}", command)
    assert f'href="../../api/v1/products/{DC2}.json"' in source
    assert 'href="https://doi.org/10.3847/1538-4365/ab510c"' in source


def test_lineage_graph_links_inputs_and_outputs(site: Path) -> None:
    graph = re.search(r'<div class="pz-plot pz-lineage">(<svg\b.*?</svg>)</div>', page_source(site, "no-summary"),
                      re.DOTALL).group(1)
    assert f'aria-label="Lineage of no-summary: derived from {DC2}; used by no product of the catalogue"' in graph
    assert f"<title>{DC2}</title>" in graph
    assert graph.count("marker-end=") == 1  # one arrow: from its input to it
    assert "pz-lineage" not in page_source(site, "2dflens-kids-south")  # no lineage, no graph


def test_lineage_links_are_relative(site: Path) -> None:
    assert '<a href="../no-summary/">no-summary</a>' in section(page_source(site, DC2), "provenance")
    assert f'<a href="../{DC2}/">{DC2}</a>' in section(page_source(site, "no-summary"), "provenance")


def test_product_without_summary_has_no_plots(site: Path) -> None:
    source = page_source(site, "no-summary")
    assert plots(source) == {} and 'id="data-at-a-glance"' not in source
    assert 'id="preview"' not in source
    assert f"dvc get {REPOSITORY} products/no-summary/{MAIN}" in text_of(
        site / "products" / "no-summary" / "index.html")


def test_history_offers_each_version() -> None:
    record = ProductRecord(
        "p", {"title": "P", "files": [{"path": "a.csv", "role": "main"}]}, None,
        [{"path": "a.csv", "role": "main", "format": "csv", "size": 2048, "md5": "0" * 32}], [],
        [{"commit": "c0ffee" * 6 + "c0ff", "date": "2026-11-20T10:00:00+00:00", "author": "Ann <b>",
          "message": "Fix `x` | <script>alert(1)</script>", "md5s": {"a.csv": "1" * 32}}])
    page = render_product_page(record, CatalogSettings(repository_url=REPOSITORY)).body
    history = page[page.index('id="version-history"'):]
    assert "2026-11-20" in history and "1" * 32 in history
    assert "--rev " + "c0ffee" * 6 + "c0ff" in history
    assert "<script>" not in history and "<b>" not in history
    assert "2.0 KiB" in page


def test_hostile_metadata_and_summary_are_inert(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    add_product(root, "hostile", HOSTILE_YAML + 'provenance: {derived_from: ["<script>alert(10)</script>"], '
        'code: {repository: "javascript:alert(11)", version: "<img src=x onerror=alert(12)>"}}\n'
        'doi: "\\"><script>alert(13)</script>"\ncitation: "[c](javascript:alert(14))"\n')
    summary = (REPO / "products" / DC2 / "summary.json").read_text("utf-8")
    (root / "products" / "hostile" / "summary.json").write_text(
        summary.replace(MAIN, "data.csv</code><script>alert(8)</script>")
        .replace('"mag_u_lsst"', '"<img src=x onerror=alert(15)>"'), encoding="utf-8")
    out = build_site(root, tmp_path / "site", strict=True).out
    source = (out / "products" / "hostile" / "index.html").read_text("utf-8")
    article = source[source.index("<article"):source.index("</article>")]
    tags = TagCollector()
    tags.feed(article)
    assert not {"script", "img", "iframe", "object", "embed", "b", "i"} & {tag for tag, _ in tags.found}
    for tag, attributes in tags.found:
        for name, value in attributes:
            assert not name.startswith("on"), (tag, name, value)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    assert re.search(r"<script>\s*alert", source) is None
    shown = text_of(out / "products" / "hostile" / "index.html")
    assert "<img src=x onerror=alert(15)>" in shown  # a column of the summary, as text
    assert "javascript:alert(11)" in shown
