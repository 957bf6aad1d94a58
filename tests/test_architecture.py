"""The package's imports run one way, and docs/architecture.md draws them as they are."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from .conftest import REPO

_spec = importlib.util.spec_from_file_location("import_layers", REPO / "scripts" / "import_layers.py")
import_layers = importlib.util.module_from_spec(_spec)
sys.modules["import_layers"] = import_layers
_spec.loader.exec_module(import_layers)


def test_no_circles_no_arrows_up_no_long_functions():
    assert import_layers.check(REPO) == []


def test_the_check_catches_an_arrow_up_and_a_circle(tmp_path: Path):
    for name in ("site_builder", "pzclient"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    model = tmp_path / "site_builder" / "catalog" / "model.py"
    model.write_text(model.read_text() + "\n\ndef _late():\n    from site_builder.site.build import build_site\n")
    errors = tmp_path / "site_builder" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom site_builder.system import pid_alive\n")
    client = tmp_path / "pzclient" / "html.py"
    client.write_text(client.read_text() + "\nimport site_builder\n")
    problems = import_layers.check(tmp_path)
    assert any("site_builder.catalog.model imports site_builder.site.build: an arrow up" in p for p in problems)
    assert "circle: site_builder.errors <-> site_builder.system" in problems
    assert any("pzclient imports site_builder" in p for p in problems)


def test_the_check_catches_a_long_function_without_a_reason(tmp_path: Path):
    shutil.copytree(REPO / "site_builder", tmp_path / "site_builder", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pzclient").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(85))
    (tmp_path / "site_builder" / "catalog" / "long.py").write_text(f"def long():\n{body}")
    problems = import_layers.check(tmp_path)
    assert problems == ["site_builder/catalog/long.py:1: long() has 86 lines; split it, or say why in a "
                        "'# Long on purpose' comment"]


def test_architecture_page_shows_the_current_layers():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = import_layers.render_diagram(import_layers.read_imports(REPO, "site_builder"))
    assert diagram in page, "docs/architecture.md is stale: paste `python scripts/import_layers.py` into it"
    for _, units, _ in import_layers.LAYERS:
        for unit in units:
            if unit != "__init__":
                assert f"`{unit}" in page, f"docs/architecture.md does not describe {unit}"
