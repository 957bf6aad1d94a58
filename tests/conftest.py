"""Shared fixtures: tiny catalogues built in tmp_path from the test corpus."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
CORPUS = DATA / "products"
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")

# The `stack` fixture (nginx + dev auth + DVC remote on free ports) for any test.
pytest_plugins = ("tests.stack",)


def sh(*args: str, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a real command (git, dvc, pz); with ``check`` a failure fails the test with its output."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False,
                            env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def empty_catalog_repo(root: Path, remote: Path) -> Path:
    """An empty catalogue at ``root``: git + DVC with a local remote, catalog.yaml committed."""
    root.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh("git", "config", "user.email", "test@example.org", cwd=root)
    sh("git", "config", "user.name", "Test", cwd=root)
    sh(DVC, "init", "-q", cwd=root)
    sh(DVC, "remote", "add", "-d", "local", str(remote), cwd=root)
    shutil.copy(DATA / "catalog.yaml", root / "catalog.yaml")
    (root / ".gitignore").write_text("/.pz/\n")
    (root / ".dvcignore").write_text("/.pz/\n")
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-q", "-m", "empty catalogue", cwd=root)
    return root


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true",
                     help="rewrite expected outputs (tests/data/**/expected.txt) from the current code")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def copy_product(src: Path, products: Path) -> Path:
    """Copy one corpus product (keeping symlinks as symlinks, leaving out expected.txt)."""
    dest = products / src.name
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("expected.txt"))
    return dest


@pytest.fixture
def make_catalog(tmp_path: Path):
    """Build a catalogue in tmp_path with the valid corpus plus the given product folders."""

    def build(*extra: Path, valid: bool = True) -> Path:
        root = tmp_path / "catalog"
        products = root / "products"
        products.mkdir(parents=True)
        shutil.copy(DATA / "catalog.yaml", root / "catalog.yaml")
        if valid:
            for case in sorted((CORPUS / "valid").iterdir()):
                copy_product(case, products)
        for src in extra:
            copy_product(src, products)
        return root

    return build


#: Debian's Chromium (PZ_CHROMIUM points elsewhere, e.g. to test what happens without one).
CHROMIUM = Path(os.environ.get("PZ_CHROMIUM") or "/usr/bin/chromium")
#: `make test` (and so CI) sets PZ_REQUIRE_BROWSER=1: there a missing Chromium fails the browser
#: tests instead of skipping them, so a green run cannot hide that they never ran.
REQUIRE_BROWSER = os.environ.get("PZ_REQUIRE_BROWSER") == "1" or \
    os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: The mark of every browser test module: skipped without Chromium, unless it is required.
needs_browser = pytest.mark.skipif(
    not CHROMIUM.is_file() and not REQUIRE_BROWSER,
    reason=f"browser tests need Debian's Chromium at {CHROMIUM} (apt install chromium; "
           "make test requires it)")


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (its own browser cannot be downloaded here)."""
    if not CHROMIUM.is_file():  # only reached when REQUIRE_BROWSER (else the tests were skipped)
        pytest.fail(f"Chromium is missing at {CHROMIUM}, and PZ_REQUIRE_BROWSER=1 (make test, CI) makes "
                    "the browser tests required: run `make system-deps` (apt-get install chromium)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        yield browser
        browser.close()


def is_loopback(url: str) -> bool:
    """Whether a request to ``url`` stays on this machine (data:, blob: and about: always do)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_offsite(context) -> list[str]:
    """Abort every request of a browser context to a host that is not loopback; return their URLs.

    The request never leaves the browser (Playwright intercepts it before any lookup).
    """
    offsite: list[str] = []

    def refuse(route) -> None:
        offsite.append(route.request.url)
        route.abort("blockedbyclient")

    context.route(lambda url: not is_loopback(url), refuse)
    return offsite


@pytest.fixture
def browser_context(browser):
    """A fresh browser profile that refuses every request to a host that is not loopback.

    The site must work offline (no web fonts, no CDN): such a request is aborted and fails the
    test, naming its URL, rather than being answered with an empty page that hides it.
    """
    context = browser.new_context()
    offsite = refuse_offsite(context)
    yield context
    context.close()
    assert offsite == [], ("the pages asked for hosts that are not loopback (the site must work offline): "
                           + ", ".join(offsite))
