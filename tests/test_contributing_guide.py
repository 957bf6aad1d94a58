"""docs/contributing.md works as written: its commands are run literally in a fork of a test catalogue.

The blocks marked ``<!-- guide: run -->`` run in order, with bash, in a fresh
clone of a "fork" (a bare git repository cloned from a small catalogue whose
DVC remote is a local folder), with the tools of this checkout on PATH. The
other shell blocks cannot run here (GitHub, tokens), but the `pz`, `make` and
`dvc` commands in them must exist with the options they use. Also here:
CODEOWNERS covers the official products and catalog.yaml, and the
pre-commit hook manifest is valid.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from site_builder.cli.main import cli

from .conftest import CORPUS, DVC, REPO, empty_catalog_repo, sh
from .test_workflows import _check_dvc, _check_pz, _commands, _make_targets

GUIDE = REPO / "docs" / "contributing.md"
RUN_BLOCK = re.compile(r"<!-- guide: run -->\s*\n```bash\n(.*?)```", re.DOTALL)
SHELL_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
BIN = Path(sys.executable).parent
SAMPLE = REPO / "products" / "pzserver-upload-example" / "upload_example.csv"


def test_guide_has_the_runnable_steps_in_order():
    blocks = RUN_BLOCK.findall(GUIDE.read_text())
    text = "\n".join(blocks)
    steps = ["git checkout -b", "pz add", "pz validate", "dvc push", "git commit", "pz check-pr", "git push"]
    positions = [text.find(step) for step in steps]
    assert all(p >= 0 for p in positions), dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions)


def test_other_shell_blocks_use_commands_that_exist():
    targets = _make_targets()
    seen = 0
    for block in SHELL_BLOCK.findall(GUIDE.read_text()):
        for words in _commands(block):
            if words[0] == "pz":
                _check_pz(words)
                seen += 1
            elif words[0] == "make":
                assert all(t in targets for t in words[1:]), words
                seen += 1
            elif words[0] == "dvc":
                _check_dvc(words)
                seen += 1
    assert seen >= 8


@pytest.fixture
def fork(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(upstream, the contributor's fork as a bare repository, the contributor's clone of it)."""
    if not SAMPLE.is_file():
        pytest.fail("sample data missing: run `make data` (make test does it)")
    upstream = empty_catalog_repo(tmp_path / "upstream", tmp_path / "remote")
    shutil.copytree(CORPUS / "valid" / "minimal-spec-z", upstream / "products" / "minimal-spec-z")
    sh(DVC, "add", "-q", "products/minimal-spec-z/data.csv", cwd=upstream)
    sh(DVC, "push", "-q", cwd=upstream)
    sh("git", "add", "-A", cwd=upstream)
    sh("git", "commit", "-q", "-m", "a product", cwd=upstream)
    bare = tmp_path / "fork.git"
    sh("git", "clone", "-q", "--bare", str(upstream), str(bare), cwd=tmp_path)
    clone = tmp_path / "pz-server"
    sh("git", "clone", "-q", str(bare), str(clone), cwd=tmp_path)
    return upstream, bare, clone


def _guide_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PZ_", "GIT_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HOME=str(home), USER="jdoe",
               GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Jane Doe", GIT_AUTHOR_EMAIL="jdoe@example.org",
               GIT_COMMITTER_NAME="Jane Doe", GIT_COMMITTER_EMAIL="jdoe@example.org")
    return env


@pytest.mark.slow
def test_following_the_guide_gives_a_pull_request_that_ci_accepts(fork, tmp_path):
    upstream, bare, clone = fork
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(SAMPLE, home / "specz.csv")  # the upstream PZ Server's own upload example
    env = _guide_env(home)
    for n, block in enumerate(RUN_BLOCK.findall(GUIDE.read_text()), 1):
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=clone, env=env,
                              capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"guide block {n} failed ({done.returncode}):\n{block}\n{done.stdout}\n{done.stderr}"

    # the fork has the branch with the metadata, the remote has the data, git does not
    branch = "add-my-spec-z-sample"
    files = sh("git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", branch, cwd=tmp_path).stdout.split()
    product = [f for f in files if f.startswith("products/my-spec-z-sample/")]
    assert sorted(PurePosixPath(f).name for f in product) == [".gitignore", "product.yaml", "specz.csv.dvc",
                                                             "summary.json"]
    pointer = sh("git", "--git-dir", str(bare), "show", f"{branch}:products/my-spec-z-sample/specz.csv.dvc",
                 cwd=tmp_path).stdout
    md5 = re.search(r"md5: ([0-9a-f]{32})", pointer).group(1)
    obj = tmp_path / "remote" / "files" / "md5" / md5[:2] / md5[2:]
    assert obj.read_bytes() == SAMPLE.read_bytes()
    metadata = sh("git", "--git-dir", str(bare), "show", f"{branch}:products/my-spec-z-sample/product.yaml",
                  cwd=tmp_path).stdout
    assert "github: jdoe" in metadata

    # what CI does on the pull request: a fresh checkout of the branch, compared with upstream's main
    ci = tmp_path / "ci"
    sh("git", "clone", "-q", "--branch", branch, str(bare), str(ci), cwd=tmp_path)
    sh("git", "fetch", "-q", str(upstream), "main:refs/remotes/upstream/main", cwd=ci)
    result = CliRunner().invoke(cli, ["--repo", str(ci), "check-pr", "--base", "upstream/main", "--author", "jdoe",
                                      "--format", "github", "--strict"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no annotation
    assert "new product  my-spec-z-sample: 'My spec-z sample' (redshift_catalog, user product)" in result.stderr


# ------------------------------------------------------------------ CODEOWNERS and pre-commit


def _codeowners() -> list[tuple[str, list[str]]]:
    rules = []
    for line in (REPO / ".github" / "CODEOWNERS").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def _owners(path: str, rules: list[tuple[str, list[str]]]) -> list[str]:
    """GitHub's rule for the anchored patterns this file uses: the last match wins."""
    owners: list[str] = []
    for pattern, who in rules:
        assert pattern.startswith("/"), f"CODEOWNERS pattern {pattern!r}: anchor it with a leading '/'"
        assert "*" not in pattern, f"CODEOWNERS pattern {pattern!r}: this test does not handle globs"
        rel = pattern[1:]
        if path == rel or (rel.endswith("/") and path.startswith(rel)):
            owners = who
    return owners


def test_codeowners_covers_catalog_settings_and_every_official_product():
    from site_builder.catalog.source import iter_product_folders, read_product

    rules = _codeowners()
    team = "@lsst-pz/pz-coordination"
    assert _owners("catalog.yaml", rules) == [team]
    official = [p for p in iter_product_folders(REPO) if read_product(REPO, p).data.get("official") is True]
    assert official, "the sample catalogue has official products"
    for pid in official:
        for name in ("product.yaml", "summary.json", "data.csv.dvc"):
            assert _owners(f"products/{pid}/{name}", rules) == [team], f"products/{pid}/ is official: add it to CODEOWNERS"
    # no stale lines: every product listed exists and is official
    listed = {pattern.split("/")[2] for pattern, _ in rules if pattern.startswith("/products/")}
    assert listed == set(official)
    assert _owners("products/pzserver-upload-example/product.yaml", rules) == []  # user products: no owner


def test_pre_commit_hook_manifest_is_valid_and_its_entry_exists():
    from pre_commit.clientlib import load_manifest

    [hook] = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "pz-validate" and hook["language"] == "python"
    _check_pz(shlex.split(hook["entry"]))
    files = re.compile(hook["files"])
    for path in ("catalog.yaml", "products/x/product.yaml", "products/x/data.csv.dvc"):
        assert files.search(path), path
    assert not files.search("README.md")
