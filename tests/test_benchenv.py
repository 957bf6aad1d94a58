"""bench/benchenv.py: every benchmark says whether it runs from a fresh `make install`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import benchenv  # noqa: E402

#: Helpers of the benchmarks, not benchmarks.
HELPERS = {"benchenv.py", "sitegen.py"}


def test_the_closure_follows_extras_and_transitive_requirements() -> None:
    wanted, missing = benchenv.requirement_closure()
    assert missing == []
    # runtime, the [site] extra named by [dev], [dev] itself, and a requirement of a requirement
    assert {"jsonschema-rs", "mkdocs-material", "pytest", "jinja2"} <= set(wanted)
    assert "pz-server-catalog" in wanted  # [dev] names the project itself with [dvc,site]


def test_a_package_installed_by_hand_is_named_loudly(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    real = benchenv.installed()
    monkeypatch.setattr(benchenv, "installed", lambda: {**real, "py-spy": "0.4.0"})
    assert benchenv.print_environment() is False
    out = capsys.readouterr().out
    assert "env: WARNING: installed by hand (not declared by pz-server-catalog[dev]" in out
    assert "py-spy 0.4.0" in out
    assert "NOT a fresh install" in out.splitlines()[-1]


def test_a_version_outside_the_declared_range_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = benchenv.installed()
    monkeypatch.setattr(benchenv, "installed", lambda: {**real, "jsonschema-rs": "0.1.0"})
    _, warnings = benchenv.environment_report()
    assert any("jsonschema-rs 0.1.0" in w for w in warnings)


def test_the_report_names_the_venv_and_the_commit(capsys) -> None:
    benchenv.print_environment()
    out = capsys.readouterr().out
    assert f"venv {sys.prefix}" in out
    assert f"checkout {benchenv.REPO} at commit " in out
    # the checkout on sys.path holds the project's *.egg-info: the venv's install is the one named
    assert "is installed from" not in out


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py") if p.name not in HELPERS))
def test_every_benchmark_prints_its_environment(script: str) -> None:
    tree = ast.parse((BENCH / script).read_text(encoding="utf-8"))
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = {n.func.id for n in ast.walk(main) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "print_environment" in calls, f"bench/{script}: main() does not call print_environment()"
