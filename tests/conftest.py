"""Shared fixtures: tiny catalogues built in tmp_path from the test corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
CORPUS = DATA / "products"


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
