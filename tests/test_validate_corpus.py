"""The validator against the example corpus in tests/data/products/.

Each invalid case is one product folder with one problem; ``expected.txt``
beside it holds the exact lines `pz validate` must print for it (regenerate
with ``pytest --update-goldens`` and review the diff). The valid corpus is
included in every catalogue, so it must stay free of problems too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from site_builder.cli.main import cli

from .conftest import CORPUS

INVALID = sorted(p for p in (CORPUS / "invalid").iterdir() if p.is_dir())


def run(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--repo", str(root), "validate", *args], catch_exceptions=False)


def test_corpus_is_large_enough():
    assert len(INVALID) >= 25
    assert len(list((CORPUS / "valid").iterdir())) >= 5


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_valid_corpus_has_no_problems(make_catalog, strict):
    root = make_catalog()
    result = run(root, *(["--strict"] if strict else []))
    assert result.stderr.splitlines() == [f"ok: {len(list((CORPUS / 'valid').iterdir()))} products checked, no problems"]
    assert result.exit_code == 0


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case_reports_exactly_its_problem(make_catalog, case, update_goldens):
    root = make_catalog(case)
    result = run(root)
    lines = result.stderr.splitlines()
    assert result.exit_code == 1, result.stderr
    assert lines[-1].endswith("(9 checked)") and "error" in lines[-1]
    body = "\n".join(lines[:-1]) + "\n"
    expected_file = case / "expected.txt"
    if update_goldens:
        expected_file.write_text(body, encoding="utf-8")
    assert body == expected_file.read_text(encoding="utf-8")
    # every problem points into this product, never at the valid ones
    for line in lines[:-1]:
        if not line.startswith("  hint:"):
            assert line.startswith(f"products/{case.name}/"), line


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_json_and_github_formats_agree_with_text(make_catalog, case):
    root = make_catalog(case)
    report = json.loads(run(root, "--format", "json").stdout)
    assert report["ok"] is False
    assert report["checked"] == 9
    text = run(root).stderr
    for issue in report["issues"]:
        assert f"{issue['severity']}: " in text and issue["message"] in text
    github = run(root, "--format", "github").stdout.splitlines()
    assert len(github) == len(report["issues"])
    for line, issue in zip(github, report["issues"], strict=True):
        assert line.startswith(f"::{issue['severity']} file={issue['path']}")
        if issue["line"]:
            assert f",line={issue['line']}," in line
