"""The browser tests' harness (conftest): Chromium is required under `make test`, and a page that
asks for a host other than loopback fails its test."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, is_loopback, needs_browser, refuse_offsite

# A browser test that needs no site: it only asks for the browser.
PROBE = "tests/test_catalog_page.py::test_catalogue_lists_every_product"


def run_probe(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PZ_REQUIRE_BROWSER", "CI")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PROBE],
                          cwd=REPO, capture_output=True, text=True, check=False,
                          env={**clean, "PZ_CHROMIUM": str(tmp_path / "no-chromium"), **env})


def test_a_missing_chromium_fails_under_make_test(tmp_path) -> None:
    required = run_probe(tmp_path, PZ_REQUIRE_BROWSER="1")
    assert required.returncode == 1, required.stdout
    assert "Chromium is missing at" in required.stdout and "1 error" in required.stdout
    assert "skipped" not in required.stdout.splitlines()[-1]
    # outside make test (and CI) the browser tests are skipped, as before
    optional = run_probe(tmp_path)
    assert optional.returncode == 0, optional.stdout
    assert "1 skipped" in optional.stdout.splitlines()[-1]


def test_the_makefile_requires_the_browser() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "PZ_REQUIRE_BROWSER=1 $(BIN)/python -m pytest" in recipe


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:8000/catalog/", True), ("http://localhost/", True), ("http://[::1]:81/x", True),
    ("http://127.8.9.10/", True), ("data:text/css,", True),
    ("https://fonts.googleapis.com/css?family=Roboto", False), ("http://192.168.1.5/", False),
    ("http://10.0.0.1/", False), ("http://localhost.example.org/", False),
])
def test_loopback_hosts(url: str, local: bool) -> None:
    assert is_loopback(url) is local


@needs_browser
def test_a_request_to_another_host_is_refused_and_named(browser) -> None:
    context = browser.new_context()
    offsite = refuse_offsite(context)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.set_content('<link rel="stylesheet" href="https://fonts.example.invalid/css?family=Roboto">')
    page.wait_for_load_state("load")
    context.close()
    assert offsite == ["https://fonts.example.invalid/css?family=Roboto"]
    assert failed == offsite  # aborted, not answered
