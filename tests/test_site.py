"""The static site: landing page, product pages, navigation and escaping of metadata."""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from site_builder.catalog.source import iter_product_folders, read_product
from site_builder.site.build import NOTICE, SiteBuildError, build_site

REPO = Path(__file__).resolve().parents[1]
SAMPLE_IDS = iter_product_folders(REPO)

HOSTILE_YAML = """\
id: hostile
title: <script>alert(1)</script>
summary: "[click](javascript:alert(2)) <b onmouseover=alert(3)>x</b> {: onclick=alert(4)}"
product_type: other
official: false
status: active
owner: {github: mallory, name: "</title><script>alert(5)</script>"}
created: 2026-01-01
license: MIT
tags: ["<img src=x onerror=alert(6)>"]
description: |
  Hello <img src=x onerror=alert(1)> world.

  A [bad link](javascript:alert(1)) and a [good link](https://example.org/).

  <script>alert(1)</script>

  <iframe src="https://evil.example/"></iframe><a href="JaVaScRiPt:alert(7)">y</a>

  | a | b |
  |---|---|
  | `code` | **bold** |
files:
  - {path: "data.csv</code><script>alert(8)</script>", role: main, format: csv}
columns:
  - {name: "<script>alert(9)</script>", role: other, description: "a | b <i>c</i>"}
"""


class TagCollector(HTMLParser):
    """Every start tag of a document, with its attributes (entities decoded, as a browser does)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def make_catalogue(tmp_path: Path, with_samples: bool = True) -> Path:
    """A copy of the repository's metadata and site sources (no data files)."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("catalog.yaml", "mkdocs.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "docs", root / "docs")
    (root / "products").mkdir()
    for folder in SAMPLE_IDS if with_samples else []:
        (root / "products" / folder).mkdir()
        shutil.copy(REPO / "products" / folder / "product.yaml", root / "products" / folder)
    return root


def add_product(root: Path, folder: str, text: str) -> None:
    (root / "products" / folder).mkdir()
    (root / "products" / folder / "product.yaml").write_text(text, encoding="utf-8")


def text_of(path: Path) -> str:
    """The page as a reader sees it: tags removed, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", path.read_text("utf-8"))).split())


def nav_html(page: Path) -> str:
    """The primary (global) navigation of a built page."""
    source = page.read_text("utf-8")
    start = source.index('<nav class="md-nav md-nav--primary"')
    return source[start:source.index('<div class="md-sidebar md-sidebar--secondary"', start)]


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_catalogue(tmp_path_factory.mktemp("demo"))
    result = build_site(root, root.parent / "site", strict=True)
    assert result.products == len(SAMPLE_IDS)
    handwritten = len(list((REPO / "docs").glob("*.md")))
    assert result.pages == len(SAMPLE_IDS) + 1 + handwritten  # landing page and docs/*.md
    return result.out


def test_sample_catalogue_has_products() -> None:
    assert len(SAMPLE_IDS) >= 6


def test_landing_page_has_the_cards_and_the_notice(demo_site: Path) -> None:
    index = (demo_site / "index.html").read_text("utf-8")
    shown = text_of(demo_site / "index.html")
    assert NOTICE in shown
    cards = [(h, html.unescape(t)) for h, t in re.findall(r'<a href="([^"]+)"><strong>([^<]+)</strong></a>', index)]
    assert [title for _, title in cards] == ["Official products", "User-generated products",
                                             "PZ Validation Cooperative", "How to contribute", "Python client & API"]
    assert dict((t, h) for h, t in cards)["Official products"] == "official/"
    official = sum(read_product(REPO, p).data.get("official") is True for p in SAMPLE_IDS)
    assert f"{official} products of the PZ Coordination Group" in shown
    assert f"{len(SAMPLE_IDS) - official} products shared by" in shown
    for href, _ in cards:  # every card leads to a page of the site
        assert (demo_site / href.split("?")[0] / "index.html").is_file(), href


@pytest.mark.parametrize("product_id", SAMPLE_IDS)
def test_product_page_shows_title_columns_and_download(demo_site: Path, product_id: str) -> None:
    data = read_product(REPO, product_id).data
    page = text_of(demo_site / "products" / product_id / "index.html")
    assert data["title"] in page
    for column in data.get("columns", []):
        assert column["name"] in page
    main = next(f["path"] for f in data["files"] if f["role"] == "main")
    assert f"dvc get https://github.com/lsst-pz/pz-server products/{product_id}/{main}" in page
    assert f"dvc pull products/{product_id}/{main}.dvc" in page


def test_products_are_not_in_the_navigation(demo_site: Path) -> None:
    for page in (demo_site / "index.html", demo_site / "about" / "index.html",
                 demo_site / "products" / SAMPLE_IDS[0] / "index.html"):
        nav = nav_html(page)
        assert "products/" not in nav
        assert "About" in nav and "Contributing" in nav


def test_hostile_metadata_is_inert(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    add_product(root, "hostile", HOSTILE_YAML)
    out = build_site(root, tmp_path / "site", strict=True).out

    page = out / "products" / "hostile" / "index.html"
    for built in (page, out / "index.html"):
        source = built.read_text("utf-8")
        # Our metadata is the only source of these words, so any hit is an injection.
        assert re.search(r"<script>\s*alert", source) is None
        assert re.search(r"<(img|iframe|b|i)\b", source.split('<div class="md-content"')[1]) is None
        tags = TagCollector()
        tags.feed(source)
        assert not [(t, a) for t, attrs in tags.found for a, _ in attrs if a.startswith("on")]
        assert re.search(r"""=\s*["']?\s*javascript:""", source, re.IGNORECASE) is None
        assert "</title><script>" not in source
    # The search index is shown with innerHTML by the theme: markup must be escaped there too.
    index_texts = str(json.loads((out / "search" / "search_index.json").read_text("utf-8")))
    assert re.search(r"<(script|img|iframe|b )", index_texts) is None
    # Product pages are searched on the catalogue page, not in the theme's index (26 MB at 5,000).
    assert "alert(1)" not in index_texts and "products/hostile" not in index_texts
    # Shown as text instead, and the harmless parts of the description survive.
    shown = text_of(page)
    assert "<script>alert(1)</script>" in shown
    assert "{: onclick=alert(4)}" in shown
    assert "Hello world." in shown
    source = page.read_text("utf-8")
    assert '<a href="https://example.org/" rel="noopener noreferrer nofollow">good link</a>' in source
    assert "<strong>bold</strong>" in source and "<code>code</code>" in source
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; - PZ Server</title>" in source


def test_broken_product_yaml_is_named(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    add_product(root, "broken", "id: broken\ntitle: [unclosed\n")
    out = tmp_path / "site"
    with pytest.raises(SiteBuildError) as excinfo:
        build_site(root, out)
    message = str(excinfo.value)
    assert message.startswith("products/broken/product.yaml:")
    assert "pz validate" in message
    assert not out.exists()  # nothing written before every file was read


def test_refuses_to_overwrite_a_folder_that_is_not_a_site(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(SiteBuildError, match="not empty"):
        build_site(root, out)
    assert (out / "thesis.tex").read_text() == "precious"


def test_strict_build_fails_on_a_broken_link_and_names_it(tmp_path: Path) -> None:
    root = make_catalogue(tmp_path, with_samples=False)
    with (root / "docs" / "about.md").open("a") as about:
        about.write("\nSee [the missing page](no-such-page.md).\n")
    lenient = build_site(root, tmp_path / "site")
    assert any("no-such-page.md" in w for w in lenient.warnings)
    with pytest.raises(SiteBuildError, match=r"(?s)strict mode.*about\.md.*no-such-page\.md"):
        build_site(root, tmp_path / "site", strict=True)


def test_serve_site_serves_the_built_folder_until_ctrl_c(demo_site: Path) -> None:
    code = "import sys; from pathlib import Path; from site_builder.site.build import serve_site; " \
           "serve_site(Path(sys.argv[1]), port=0)"
    server = subprocess.Popen([sys.executable, "-c", code, str(demo_site)], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"http://\S+/", line).group(0)
        with urllib.request.urlopen(url + "products/dc2-training-9816/", timeout=10) as response:
            assert "DC2 training set" in response.read().decode()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.stdout.close()
