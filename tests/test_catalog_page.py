"""The catalogue pages (assets/catalog.js) in a real headless Chromium: search, facets, URL state,
the official preset, inert hostile metadata, and the keystroke latency at 10,000 products."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from site_builder.catalog.source import read_product
from site_builder.site.build import build_site

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from sitegen import synthetic_products

from tests.conftest import needs_browser
from tests.test_productpage import copy_data_descriptions
from tests.test_site import REPO, SAMPLE_IDS, add_product, make_catalogue

HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE = f"""\
id: xss-title
title: "{HOSTILE_TITLE}"
summary: a product whose title is markup
product_type: other
official: false
status: active
owner: {{github: mallory}}
created: 2026-01-01
license: MIT
tags: [hostile]
"""
ROWS = ".pz-catalog tbody tr"
STATUS = ".pz-catalog__main .pz-catalog__status"
SEARCH = ".pz-catalog__search"

pytestmark = needs_browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_catalogue(tmp_path_factory.mktemp("catalog"))
    copy_data_descriptions(root)
    add_product(root, "xss-title", HOSTILE)
    return build_site(root, root.parent / "site", strict=True).out


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` with ``python -m http.server`` on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    with serve(site) as url:
        yield url


@pytest.fixture
def page(browser_context):
    """A fresh page that fails the test on any dialog, console error, uncaught exception or
    request to a host that is not loopback (conftest's ``browser_context``)."""
    context = browser_context
    page = context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("console", lambda m: problems.append(f"console: {m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    yield page
    context.close()
    assert problems == []


def ids(page) -> list[str]:
    return page.locator(f"{ROWS} td:first-child").all_text_contents()


def wait_rows(page, count: int) -> None:
    page.wait_for_function(f"n => document.querySelectorAll('{ROWS}').length === n && "
                           f"document.querySelector('{STATUS}')?.textContent.startsWith(n + ' of')", arg=count)


def test_assets_are_copied_and_linked(site: Path) -> None:
    assert (site / "assets" / "catalog.js").is_file() and (site / "assets" / "catalog.css").is_file()
    page = (site / "catalog" / "index.html").read_text("utf-8")
    assert "assets/catalog.js" in page and "assets/catalog.css" in page
    assert 'href="../api/v1/products.json"' in page  # the <noscript> fallback
    assert 'href="catalog/"' in (site / "index.html").read_text("utf-8")  # linked from the landing page


def test_catalogue_lists_every_product(page, base_url: str) -> None:
    page.goto(base_url + "catalog/")
    wait_rows(page, len(SAMPLE_IDS) + 1)
    assert sorted(ids(page)) == sorted([*SAMPLE_IDS, "xss-title"])
    link = page.locator(f"{ROWS} a", has_text="dc2-training-9816")
    assert link.get_attribute("href") == "../products/dc2-training-9816/"
    assert "All products" in page.locator(".md-nav--primary").inner_text()


def test_search_then_type_facet_and_the_url_restores_it(page, base_url: str) -> None:
    page.goto(base_url + "catalog/")
    wait_rows(page, len(SAMPLE_IDS) + 1)
    page.fill(SEARCH, "DC2")
    page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 4")
    assert sorted(ids(page)) == ["bpz-lite-dc2-pdfs", "dc2-training-9816", "dc2-validation-9816",
                                 "rubin-dm-dc2-example"]
    training = page.locator(".pz-catalog__facet[data-facet=type] label", has_text="Training Set")
    assert training.locator(".pz-catalog__count").text_content() == "2"
    training.click()
    wait_rows(page, 2)
    assert sorted(ids(page)) == ["dc2-training-9816", "dc2-validation-9816"]
    assert page.url.endswith("/catalog/?query=DC2&type=training_set")

    page.reload()
    wait_rows(page, 2)
    assert sorted(ids(page)) == ["dc2-training-9816", "dc2-validation-9816"]
    assert page.input_value(SEARCH) == "DC2"
    assert page.locator(".pz-catalog__facet[data-facet=type] input[value=training_set]").is_checked()


def test_sorting_by_a_header_is_kept_in_the_url(page, base_url: str) -> None:
    page.goto(base_url + "catalog/?sort=-title")
    wait_rows(page, len(SAMPLE_IDS) + 1)
    descending = page.locator(f"{ROWS} td:nth-child(2)").all_text_contents()
    assert descending[0] == "PZ Server upload example (spec-z sample)"
    page.click(".pz-catalog__sort[data-sort=title]")
    page.wait_for_url("**/catalog/")
    assert page.locator(f"{ROWS} td:nth-child(2)").all_text_contents() == descending[::-1]


def test_official_page_shows_only_official_products(page, base_url: str) -> None:
    page.goto(base_url + "official/")
    wait_rows(page, 2)
    assert sorted(ids(page)) == ["dc2-training-9816", "dc2-validation-9816"]
    assert page.locator(f"{ROWS} .pz-catalog__badge").count() == 2


def test_hostile_title_is_shown_as_text(page, base_url: str) -> None:
    page.goto(base_url + "catalog/?query=hostile")
    wait_rows(page, 1)
    assert page.locator(f"{ROWS} td:nth-child(2)").text_content() == HOSTILE_TITLE
    assert page.locator(".pz-catalog img").count() == 0
    page.goto(base_url)  # the landing page too, for dialogs and console errors
    page.wait_for_load_state("load")


def test_filters_10000_products_on_each_keystroke(page, site: Path, tmp_path: Path) -> None:
    """The page copes with 10,000 products (bench/site.py times it: under 100 ms a keystroke)."""
    big = shutil.copytree(site, tmp_path / "site")
    catalogue = synthetic_products(10_000)
    (big / "api" / "v1" / "products.json").write_text(json.dumps(catalogue), encoding="utf-8")
    with serve(big) as url:
        page.goto(url + "catalog/")
        page.wait_for_function(f"document.querySelector('{STATUS}')?.textContent === '100 of 10,000 products'",
                               timeout=20_000)
        page.focus(SEARCH)
        page.keyboard.type("forest")
        expected = sum("forest" in " ".join([p["id"], p["title"], p["summary"], *p["columns"], *p["tags"], *p["survey"]]).lower()
                   for p in catalogue["products"])
        page.wait_for_function(f"document.querySelector('{STATUS}')?.textContent === "
                               f"'{min(expected, 100)} of {expected:,} products (10,000 in total)'")
        matching = {p["id"] for p in catalogue["products"]
                    if "forest" in " ".join([p["id"], p["title"], p["summary"], *p["columns"], *p["tags"]]).lower()}
        assert set(ids(page)) <= matching and len(ids(page)) == min(expected, 100)


def test_landing_page_cards_lead_to_their_pages(page, base_url: str) -> None:
    page.goto(base_url)
    cards = page.locator(".grid.cards li")
    assert cards.count() == 5
    assert "not scientifically validated" in page.locator("article").inner_text()
    page.locator(".grid.cards a", has_text="Official products").click()
    page.wait_for_url("**/official/")
    wait_rows(page, sum(read_product(REPO, i).data.get("official") is True for i in SAMPLE_IDS))
    page.go_back()
    page.locator(".grid.cards a", has_text="User-generated products").click()
    page.wait_for_url("**/catalog/?official=false")
    page.wait_for_function(f"document.querySelector('{STATUS}')?.textContent.includes(' of ')")
    assert "dc2-training-9816" not in ids(page) and "xss-title" in ids(page)


def test_product_page_has_plots_copy_buttons_toc_and_json(page, base_url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(base_url + "products/dc2-training-9816/")
    plots = page.locator(".pz-plot svg")
    assert plots.count() == 2  # z histogram and magnitudes (a simulation: no sky footprint here)
    for i in range(plots.count()):
        box = plots.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert plots.nth(i).get_attribute("role") == "img" and plots.nth(i).get_attribute("aria-label")
    # The theme adds a copy button to every command block; it copies the command.
    blocks = page.locator("#get-the-data ~ .highlight")
    assert blocks.count() >= 4
    first = blocks.first
    first.hover()
    first.locator('button[data-md-type="copy"]').click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == first.locator("code").inner_text().strip()
    assert copied.startswith("dvc get ")
    # The table of contents lists exactly the sections of this page.
    toc = page.locator("nav.md-nav--secondary a.md-nav__link").evaluate_all("a => a.map(x => x.hash)")
    headings = page.locator("article h2").evaluate_all("h => h.map(x => '#' + x.id)")
    assert toc == headings and "#preview" in toc
    with page.expect_response("**/api/v1/products/dc2-training-9816.json") as response:
        page.locator("a", has_text="This product as JSON").click()
    assert response.value.json()["id"] == "dc2-training-9816"


def test_product_without_data_summary_has_no_empty_sections(page, base_url: str) -> None:
    page.goto(base_url + "products/xss-title/")
    toc = page.locator("nav.md-nav--secondary a.md-nav__link").evaluate_all("a => a.map(x => x.hash)")
    assert "#data-at-a-glance" not in toc and "#preview" not in toc and "#key-facts" in toc
    assert page.locator("article h1").inner_text().startswith(HOSTILE_TITLE)
