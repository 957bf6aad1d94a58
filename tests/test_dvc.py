"""Data checks against real git and DVC: tracked files, pointers, pull, tampering."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from site_builder.cli.main import cli

from .conftest import CORPUS, DVC, empty_catalog_repo, sh


def validate(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--repo", str(root), "validate", *args], catch_exceptions=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git + DVC catalogue with one product whose CSV is tracked by DVC and pushed to a local remote."""
    root = empty_catalog_repo(tmp_path / "catalog", tmp_path / "remote")
    shutil.copytree(CORPUS / "valid" / "minimal-spec-z", root / "products" / "minimal-spec-z")
    sh(DVC, "add", "-q", "products/minimal-spec-z/data.csv", cwd=root)
    sh(DVC, "push", "-q", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-q", "-m", "add product", cwd=root)
    return root


def test_dvc_tracked_product_validates(repo):
    tracked = sh("git", "ls-files", cwd=repo).stdout.split()
    assert "products/minimal-spec-z/data.csv.dvc" in tracked
    assert "products/minimal-spec-z/data.csv" not in tracked  # the data is in DVC, not git
    result = validate(repo, "--strict")
    assert result.exit_code == 0, result.stderr


def test_data_not_pulled_is_a_warning_then_pull_fixes_it(repo):
    (repo / "products/minimal-spec-z/data.csv").unlink()
    loose = validate(repo)
    assert loose.exit_code == 0
    assert loose.stderr.splitlines()[:2] == [
        "products/minimal-spec-z/product.yaml:16: warning: field 'files[0].path': data of "
        "'products/minimal-spec-z/data.csv' is not in the workspace, so it was not checked",
        "  hint: run `dvc pull products/minimal-spec-z/data.csv.dvc`, or use --no-data",
    ]
    assert validate(repo, "--strict").exit_code == 1
    assert validate(repo, "--no-data", "--strict").exit_code == 0
    shutil.rmtree(repo / ".dvc" / "cache")
    sh(DVC, "pull", "-q", cwd=repo)
    assert validate(repo, "--strict").exit_code == 0


def test_edited_data_without_dvc_add_is_an_md5_error(repo):
    data = repo / "products/minimal-spec-z/data.csv"
    data.write_text(data.read_text().replace("0.1,0.01", "0.2,0.01"))
    result = validate(repo)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("products/minimal-spec-z/product.yaml:16: error: field 'files[0].path': md5 of "
                               "'products/minimal-spec-z/data.csv' is ")
    assert "but its DVC pointer says" in lines[0]
    assert "run `dvc add products/minimal-spec-z/data.csv`" in lines[1]
    # following the hint fixes it
    sh(DVC, "add", "-q", "products/minimal-spec-z/data.csv", cwd=repo)
    assert validate(repo).exit_code == 0


def test_pointer_for_another_file_is_reported(repo):
    pointer = repo / "products/minimal-spec-z/data.csv.dvc"
    pointer.write_text(pointer.read_text().replace("path: data.csv", "path: other.csv"))
    result = validate(repo)
    assert result.exit_code == 1
    assert "DVC pointer products/minimal-spec-z/data.csv.dvc tracks 'other.csv', not 'data.csv'" in result.stderr


def test_sample_remote_holds_every_committed_pointer():
    """The shipped sample remote (plus the fetched GPL file) can satisfy `dvc pull` offline."""
    from site_builder.dvc.pointer import read_pointer

    from .conftest import REPO

    pointers = sorted((REPO / "products").glob("*/*.dvc"))
    assert len(pointers) >= 6
    for pointer in pointers:
        md5 = read_pointer(pointer).md5
        obj = REPO / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
        assert obj.is_file(), f"{pointer.relative_to(REPO)}: object missing from dvc-remote/ (run `make data`)"


def test_pull_works_beside_a_built_site_with_the_repository_pipeline(repo):
    """dvc.yaml and .dvcignore of this repository: a built site/ must not break `dvc pull`."""
    REPO = Path(__file__).resolve().parents[1]
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, repo / name)
    (repo / "site").mkdir()
    (repo / "site" / "index.html").write_text("<p>built</p>")
    (repo / "products/minimal-spec-z/data.csv").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    sh(DVC, "pull", "-q", cwd=repo)
    assert (repo / "products/minimal-spec-z/data.csv").is_file()
