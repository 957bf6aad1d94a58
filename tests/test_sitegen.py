"""bench/sitegen.py: the site benchmark's catalogue looks like a real one and is valid."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from site_builder.catalog.source import iter_product_folders, read_product
from site_builder.cli.main import cli
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from sitegen import COLUMNS, DESCRIPTION_WORDS, OWNERS, make_site_catalog


def test_the_benchmark_catalogue_is_realistic_and_valid(tmp_path: Path) -> None:
    root = make_site_catalog(tmp_path / "catalog", 300, git=False)
    products = [read_product(root, f).data for f in iter_product_folders(root)]
    assert len(products) == 300
    words = [len(p["description"].split()) for p in products]
    assert DESCRIPTION_WORDS[0] <= min(words) and max(words) <= DESCRIPTION_WORDS[1] + 30  # + list bullets
    counts = [len(p["columns"]) for p in products]
    assert COLUMNS[0] <= min(counts) and max(counts) <= COLUMNS[1]
    derived = [p for p in products if p["provenance"]["derived_from"]]
    assert 0.05 <= len(derived) / len(products) <= 0.15
    ids = {p["id"] for p in products}
    assert all(set(p["provenance"]["derived_from"]) <= ids for p in derived)
    owners = {p["owner"]["github"] for p in products}
    assert len(owners) >= 150 and all(int(o.removeprefix("user")) < OWNERS for o in owners)
    assert len({p["title"] for p in products}) == 300
    result = CliRunner().invoke(cli, ["--repo", str(root), "validate", "--no-data", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
