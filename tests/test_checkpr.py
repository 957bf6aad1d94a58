"""`pz check-pr` on real git repositories with branches, and real DVC with a local (or HTTP) remote."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from site_builder.cli.main import cli

from .conftest import CORPUS, DVC, empty_catalog_repo, sh

PZ = str(Path(sys.executable).parent / "pz")
pytestmark = pytest.mark.slow

SPECZ_CSV = "ID,RA,DEC,Z,ERR_Z\n1,10.5,-30.25,0.31,0.01\n2,11.0,-31.0,0.52,99.0\n3,12.25,-29.5,1.04,0.02\n"


def _product(root: Path, pid: str, *, official: bool, owner: str, z: str) -> None:
    """A copy of the corpus' minimal redshift catalogue under a new id, its CSV tracked by DVC."""
    folder = root / "products" / pid
    shutil.copytree(CORPUS / "valid" / "minimal-spec-z", folder)
    text = (folder / "product.yaml").read_text()
    text = text.replace("id: minimal-spec-z", f"id: {pid}").replace("official: false", f"official: {str(official).lower()}")
    text = text.replace("github: jdoe", f"github: {owner}")
    (folder / "product.yaml").write_text(text)
    data = folder / "data.csv"
    data.write_text(data.read_text().replace("0.1,", f"{z},", 1))
    sh(DVC, "add", "-q", f"products/{pid}/data.csv", cwd=root)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The upstream catalogue on branch main: one official product (admin pz-admin) and one user product,
    data pushed to the local remote ``remote/`` beside it."""
    top = tmp_path_factory.mktemp("origin")
    root = empty_catalog_repo(top / "catalog", top / "remote")
    _product(root, "official-spec-z", official=True, owner="pz-admin", z="0.15")
    _product(root, "user-spec-z", official=False, owner="jdoe", z="0.25")
    sh(DVC, "push", "-q", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-q", "-m", "two products", cwd=root)
    return top


@pytest.fixture
def repo(origin: Path, tmp_path: Path) -> Path:
    """A private copy of the origin (git, DVC cache and remote) on a new branch 'pr'."""
    top = tmp_path / "copy"
    shutil.copytree(origin, top, symlinks=True)
    root = top / "catalog"
    _use_remote(root, top / "remote")
    sh("git", "checkout", "-q", "-b", "pr", cwd=root)
    return root


def _use_remote(root: Path, url: str | Path) -> None:
    """Point the default remote at ``url`` in .dvc/config.local, as a contributor would for a token."""
    (root / ".dvc" / "config.local").write_text(f"['remote \"local\"']\n    url = {url}\n")


def check(root: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["--repo", str(root), "check-pr", "--base", "main", *args], env=env,
                              catch_exceptions=False)


def commit(root: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-q", "-m", message, cwd=root)


def add_specz(root: Path, tmp: Path, *extra: str, title: str = "Spec z sample") -> None:
    source = tmp / "specz.csv"
    source.write_text(SPECZ_CSV)
    sh(PZ, "add", str(source), "--type", "redshift_catalog", "--title", title, "--id", "new-spec-z",
       "--owner", "jdoe", "--yes", *extra, cwd=root)


def test_valid_new_product_passes_and_is_summarised(repo, tmp_path):
    add_specz(repo, tmp_path)
    commit(repo, "Add new-spec-z")
    sh(DVC, "push", "-q", cwd=repo)
    result = check(repo, "--author", "jdoe", "--strict")
    assert result.exit_code == 0, result.stderr
    assert "new product  new-spec-z: 'Spec z sample' (redshift_catalog, user product)" in result.stdout
    assert "data         new-spec-z: specz.csv: md5 " in result.stdout
    assert result.stderr.strip() == "ok: 1 product checked, no problems"


def test_a_clone_like_ci_pulls_only_the_changed_products_data(repo, tmp_path):
    """As in CI: a fresh clone without data; the remote is asked about objects without downloading them,
    then only the touched product's data is pulled and checked."""
    add_specz(repo, tmp_path)
    commit(repo, "Add new-spec-z")
    sh(DVC, "push", "-q", cwd=repo)
    ci = tmp_path / "ci"
    sh("git", "clone", "-q", "--branch", "pr", str(repo), str(ci), cwd=tmp_path)
    _use_remote(ci, repo.parent / "remote")
    cache = ci / ".dvc" / "cache"

    no_data = CliRunner().invoke(cli, ["--repo", str(ci), "check-pr", "--base", "origin/main", "--no-data",
                                       "--author", "jdoe", "--format", "json"], catch_exceptions=False)
    assert no_data.exit_code == 0, no_data.output
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))  # nothing downloaded
    doc = json.loads(no_data.stdout)
    assert doc["ok"] is True
    [change] = doc["summary"]["products"]
    assert change["product"] == "new-spec-z" and change["kind"] == "new"
    assert change["versions"][0]["path"] == "products/new-spec-z/specz.csv"

    full = CliRunner().invoke(cli, ["--repo", str(ci), "check-pr", "--base", "origin/main", "--author", "jdoe",
                                    "--strict"], catch_exceptions=False)
    assert full.exit_code == 0, full.stderr
    assert (ci / "products/new-spec-z/specz.csv").read_text() == SPECZ_CSV
    assert not (ci / "products/user-spec-z/data.csv").exists()  # untouched products' data stays remote


def test_non_admin_changing_an_official_product_fails_naming_rule_and_admins(repo):
    path = repo / "products/official-spec-z/product.yaml"
    path.write_text(path.read_text().replace("in preparation", "submitted"))
    commit(repo, "Fix citation")
    result = check(repo, "--author", "jdoe")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "products/official-spec-z/product.yaml:5: error: field 'official': rule 'official-products': only the "
        "admins listed in catalog.yaml (pz-admin) may change an official product; 'jdoe' is not one of them",
        "  hint: ask one of the admins to review and make this change",
    ]
    assert "metadata     official-spec-z: fields citation" in result.stdout
    # the same change by an admin (logins compare case-insensitively, as on GitHub)
    assert check(repo, "--author", "PZ-Admin").exit_code == 0
    # without --author the rule cannot be decided: a warning that fails only under --strict
    loose = check(repo)
    assert loose.exit_code == 0
    assert "warning: field 'official': rule 'official-products'" in loose.stderr
    assert "run with --author LOGIN" in loose.stderr
    assert check(repo, "--strict").exit_code == 1


def test_making_a_product_official_or_adding_an_official_one_needs_an_admin(repo, tmp_path):
    path = repo / "products/user-spec-z/product.yaml"
    path.write_text(path.read_text().replace("official: false", "official: true"))
    add_specz(repo, tmp_path, "--official")
    commit(repo, "Make official")
    sh(DVC, "push", "-q", cwd=repo)
    result = check(repo, "--author", "jdoe")
    assert result.exit_code == 1
    assert "products/user-spec-z/product.yaml:5: error: field 'official': rule 'official-products': only the " \
           "admins listed in catalog.yaml (pz-admin) may make a product official; 'jdoe' is not one of them" \
           in result.stderr
    assert "products/new-spec-z/product.yaml" in result.stderr
    assert "may add an official product; 'jdoe' is not one of them" in result.stderr
    assert "hint: set 'official: false'" in result.stderr
    assert check(repo, "--author", "pz-admin").exit_code == 0


def test_catalog_settings_are_for_admins_and_a_pr_cannot_make_its_author_admin(repo):
    settings = repo / "catalog.yaml"
    settings.write_text(settings.read_text().replace("admins: [pz-admin]", "admins: [pz-admin, jdoe]"))
    commit(repo, "Make me admin")
    result = check(repo, "--author", "jdoe")
    assert result.exit_code == 1
    assert "catalog.yaml:1: error: rule 'catalog-settings': only the admins listed in catalog.yaml (pz-admin) " \
           "may change catalog.yaml; 'jdoe' is not one of them" in result.stderr
    assert "settings     catalog.yaml changed" in result.stdout
    assert check(repo, "--author", "pz-admin").exit_code == 0


def test_a_pull_request_cannot_point_the_data_check_at_another_remote(repo, tmp_path):
    """The remote comes from the base revision: a PR that moves it (and pushes there) is caught twice."""
    add_specz(repo, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (repo / ".dvc" / "config.local").unlink()  # CI has none: the remote of main's .dvc/config counts
    sh(DVC, "remote", "add", "-f", "-d", "local", str(elsewhere), cwd=repo)  # the PR moves the remote...
    sh(DVC, "push", "-q", cwd=repo)  # ...and pushes the data there
    commit(repo, "Add new-spec-z, data elsewhere")
    assert (elsewhere / "files").is_dir()
    result = check(repo, "--author", "jdoe", "--no-data")
    assert result.exit_code == 1
    assert ".dvc/config:1: error: rule 'catalog-settings': only the admins listed in catalog.yaml (pz-admin) " \
           "may change .dvc/config; 'jdoe' is not one of them" in result.stderr
    assert "is not in the DVC remote 'local'" in result.stderr
    assert str(elsewhere) not in result.stderr


def test_without_an_admin_list_in_the_base_nobody_is_admin(repo):
    """Deny by default: admins never come from the pull request's own catalog.yaml."""
    sh("git", "checkout", "-q", "main", cwd=repo)
    settings = repo / "catalog.yaml"
    settings.write_text(settings.read_text().replace("admins: [pz-admin]\n", ""))
    commit(repo, "Lose the admin list")
    sh("git", "checkout", "-q", "pr", cwd=repo)
    sh("git", "merge", "-q", "main", cwd=repo)
    settings.write_text(settings.read_text() + "admins: [pz-admin]\n")
    path = repo / "products/official-spec-z/product.yaml"
    path.write_text(path.read_text().replace("in preparation", "submitted"))
    commit(repo, "Restore the list and change an official product")
    result = check(repo, "--author", "pz-admin", "--no-data")
    assert result.exit_code == 1
    assert "only the admins listed in catalog.yaml (nobody: catalog.yaml lists no admins) may change an " \
           "official product; 'pz-admin' is not one of them" in result.stderr
    assert "may change catalog.yaml; 'pz-admin' is not one of them" in result.stderr


def test_deleted_product_folder_fails_even_for_admins(repo):
    sh("git", "rm", "-q", "-r", "products/user-spec-z", cwd=repo)
    commit(repo, "Remove user-spec-z")
    for author in ("jdoe", "pz-admin"):
        result = check(repo, "--author", author)
        assert result.exit_code == 1
        lines = result.stderr.splitlines()
        assert lines[0] == ("products/user-spec-z/product.yaml: error: rule 'no-deletion': the product "
                            "'user-spec-z' was deleted; products are never deleted, because other work cites "
                            "them by id")
        assert "`pz deprecate user-spec-z --reason TEXT`" in lines[1]
        assert "deleted      user-spec-z: the product folder was removed" in result.stdout
    # following the hint: restore it and deprecate it instead
    sh("git", "checkout", "-q", "main", "--", "products/user-spec-z", cwd=repo)
    sh(PZ, "deprecate", "user-spec-z", "--reason", "superseded", cwd=repo)
    commit(repo, "Deprecate user-spec-z")
    fixed = check(repo, "--author", "jdoe")
    assert fixed.exit_code == 0, fixed.stderr
    assert "status       user-spec-z: now deprecated" in fixed.stdout


def test_changed_id_fails(repo):
    path = repo / "products/user-spec-z/product.yaml"
    path.write_text(path.read_text().replace("id: user-spec-z", "id: better-spec-z"))
    commit(repo, "Rename")
    result = check(repo, "--author", "jdoe", "--no-data")
    assert result.exit_code == 1
    assert ("products/user-spec-z/product.yaml:1: error: field 'id': rule 'stable-ids': the id changed from "
            "'user-spec-z' to 'better-spec-z'; ids are stable forever") in result.stderr


def test_data_not_pushed_fails_and_names_dvc_push(repo, tmp_path):
    add_specz(repo, tmp_path)
    commit(repo, "Add new-spec-z")
    result = check(repo, "--author", "jdoe")
    assert result.exit_code == 1
    pointer = (repo / "products/new-spec-z/specz.csv.dvc").read_text()
    md5 = re.search(r"md5: ([0-9a-f]{32})", pointer).group(1)
    line = next(n for n, text in enumerate(pointer.splitlines(), 1) if "md5:" in text)
    remote = repo.parent / "remote"
    assert result.stderr.splitlines()[:2] == [
        f"products/new-spec-z/specz.csv.dvc:{line}: error: the data of products/new-spec-z/specz.csv "
        f"(md5 {md5}) is not in the DVC remote 'local' ({remote}/files/md5/{md5[:2]}/{md5[2:]})",
        "  hint: run `dvc push products/new-spec-z/specz.csv.dvc` (or `dvc push`) in your clone; nothing needs "
        "committing, then re-run the checks",
    ]
    # where another run looks the objects up (pull requests from forks, see pushed-data.yml)
    assert check(repo, "--author", "jdoe", "--no-remote", "--no-data").exit_code == 0
    sh(DVC, "push", "-q", cwd=repo)  # what the hint says
    assert check(repo, "--author", "jdoe").exit_code == 0


def test_new_version_of_data_is_checked_and_summarised(repo, tmp_path):
    new = tmp_path / "data.csv"
    new.write_text((repo / "products/user-spec-z/data.csv").read_text().replace("0.25,", "0.26,"))
    sh(PZ, "update", "user-spec-z", str(new), cwd=repo)
    commit(repo, "New version")
    result = check(repo, "--author", "jdoe")
    assert result.exit_code == 1 and "dvc push products/user-spec-z/data.csv.dvc" in result.stderr
    sh(DVC, "push", "-q", cwd=repo)
    result = check(repo, "--author", "jdoe", "--format", "json")
    assert result.exit_code == 0
    [change] = json.loads(result.stdout)["summary"]["products"]
    [version] = change["versions"]
    assert change["kind"] == "changed" and version["path"] == "products/user-spec-z/data.csv"
    assert version["old_md5"] and version["md5"] != version["old_md5"]


def test_broken_yaml_gives_a_github_annotation_on_its_line(repo, tmp_path):
    path = repo / "products/user-spec-z/product.yaml"
    lines = path.read_text().splitlines()
    broken = next(n for n, text in enumerate(lines, 1) if text.startswith("summary:"))
    lines[broken - 1] = "summary: Redshifts: a tiny sample"  # a second ': ' in a plain value
    path.write_text("\n".join(lines) + "\n")
    commit(repo, "Broken")
    summary_file = tmp_path / "summary.md"
    result = check(repo, "--author", "jdoe", "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary_file)})
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert annotations == [
        f"::error file=products/user-spec-z/product.yaml,line={broken},title=pz check-pr%3A yaml::malformed YAML: "
        "mapping values are not allowed in this context%0Ahint: fix the YAML syntax near this line (indentation, quotes, "
        "a missing ':')"
    ]
    markdown = summary_file.read_text()  # --format github appends to the job summary
    assert markdown.startswith("## pz check-pr ❌ failed&#58; 1 error")
    assert f"products/user-spec-z/product.yaml&#58;{broken} **error**: malformed YAML" in markdown


def test_job_summary_escapes_hostile_titles(repo, tmp_path):
    add_specz(repo, tmp_path, title="<script>alert(1)</script> | [x](javascript:alert(2))")
    commit(repo, "Add")
    sh(DVC, "push", "-q", cwd=repo)
    out = tmp_path / "summary.md"
    result = check(repo, "--author", "jdoe", "--summary-file", str(out))
    assert result.exit_code == 0, result.stderr
    markdown = out.read_text()
    assert "<script>" not in markdown and "](javascript:" not in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| new product")]
    assert len(table) == 1 and table[0].count("|") == 4  # the title's '|' cannot add a cell


def test_a_changed_type_breaks_the_references_of_untouched_products(repo):
    # on main: a training set, and results that name it as their validation_set
    sh("git", "checkout", "-q", "main", cwd=repo)
    shutil.copytree(CORPUS / "valid" / "tiny-training-set", repo / "products/tiny-training-set")
    folder = shutil.copytree(CORPUS / "valid" / "results-with-refs", repo / "products/results-with-refs")
    text = (folder / "product.yaml").read_text().replace("minimal-spec-z", "user-spec-z")
    assert "validation_set: tiny-training-set" in text
    (folder / "product.yaml").write_text(text)
    commit(repo, "Results")
    assert check(repo, "--author", "jdoe", "--no-data").exit_code == 0  # main itself is fine
    sh("git", "checkout", "-q", "pr", cwd=repo)
    sh("git", "merge", "-q", "main", cwd=repo)
    # the pull request changes only the training set's type
    path = repo / "products/tiny-training-set/product.yaml"
    path.write_text(path.read_text().replace("product_type: training_set", "product_type: object_catalog"))
    commit(repo, "Change type")
    result = check(repo, "--author", "jdoe", "--no-data")
    assert result.exit_code == 1
    assert ("products/results-with-refs/product.yaml:28: error: field 'validation_set': 'tiny-training-set' is "
            "a object_catalog, not a training_set") in result.stderr


def test_uncommitted_metadata_is_a_warning_because_only_commits_are_checked(repo):
    path = repo / "products/official-spec-z/product.yaml"
    path.write_text(path.read_text().replace("in preparation", "submitted"))  # not committed
    result = check(repo, "--author", "jdoe")
    assert result.exit_code == 0  # nothing committed: nothing to object to...
    assert result.stderr.splitlines()[:2] == [
        "products/official-spec-z/product.yaml: warning: uncommitted changes are not part of this check: "
        "products/official-spec-z/product.yaml",
        "  hint: commit them (git add, git commit) and run the check again",
    ]
    assert check(repo, "--author", "jdoe", "--strict").exit_code == 1  # ...but it says so
    commit(repo, "Citation")
    assert "official-products" in check(repo, "--author", "jdoe").stderr


def test_a_provenance_loop_through_an_untouched_product_is_found(repo):
    sh("git", "checkout", "-q", "main", cwd=repo)
    loop = shutil.copytree(repo / "products/user-spec-z", repo / "products/loop-b")
    text = (loop / "product.yaml").read_text().replace("id: user-spec-z", "id: loop-b")
    (loop / "product.yaml").write_text(text + "provenance:\n  derived_from: [user-spec-z]\n")
    commit(repo, "loop-b derives from user-spec-z")
    sh("git", "checkout", "-q", "pr", cwd=repo)
    sh("git", "merge", "-q", "main", cwd=repo)
    path = repo / "products/user-spec-z/product.yaml"
    path.write_text(path.read_text() + "provenance:\n  derived_from: [loop-b]\n")
    commit(repo, "user-spec-z derives from loop-b")
    result = check(repo, "--author", "jdoe", "--no-data")
    assert result.exit_code == 1
    assert "error: field 'provenance.derived_from[0]': provenance loop: " in result.stderr
    assert "loop-b" in result.stderr and "user-spec-z -> " in result.stderr


def test_unknown_base_is_a_usage_error(repo):
    result = CliRunner().invoke(cli, ["--repo", str(repo), "check-pr", "--base", "origin/nope"])
    assert result.exit_code == 2
    assert "unknown revision 'origin/nope'" in result.stderr and "fetch-depth: 0" in result.stderr


class _Remote(http.server.SimpleHTTPRequestHandler):
    """A DVC HTTP remote that answers 401 without the right bearer token (like the proxy)."""

    token = ""

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="test"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_HEAD(self) -> None:
        if self._authorized():
            super().do_HEAD()

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_remote(repo):
    token = "gt-" + "a" * 22 + "." + "b" * 22
    handler = type("Handler", (_Remote,), {"token": token})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(repo.parent / "remote")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", token
    server.shutdown()
    server.server_close()


def test_http_remote_is_asked_with_the_token_which_is_never_shown(repo, tmp_path, http_remote):
    url, token = http_remote
    add_specz(repo, tmp_path)
    commit(repo, "Add new-spec-z")
    sh(DVC, "push", "-q", cwd=repo)  # to the local folder the HTTP server serves
    (repo / ".dvc" / "config.local").write_text(f"['remote \"local\"']\n    url = {url}\n")
    denied = check(repo, "--author", "jdoe", "--no-data", env={"PZ_DVC_TOKEN": None, "ACCESS_TOKEN": None})
    assert denied.exit_code == 1
    assert "refused to say whether the data of products/new-spec-z/specz.csv is there (HTTP 401): the token " \
           "is missing, invalid, or lacks the scope 'read:image'" in denied.stderr
    # from the environment, then as DVC itself would send it (auth = custom in .dvc/config.local)
    env_ok = check(repo, "--author", "jdoe", "--no-data", "--format", "json", env={"PZ_DVC_TOKEN": token})
    assert env_ok.exit_code == 0, env_ok.output
    (repo / ".dvc" / "config.local").write_text(
        f"['remote \"local\"']\n    url = {url}\n    auth = custom\n    custom_auth_header = Authorization\n"
        f"    password = Bearer {token}\n")
    ok = check(repo, "--author", "jdoe", "--no-data", env={"PZ_DVC_TOKEN": None, "ACCESS_TOKEN": None})
    assert ok.exit_code == 0, ok.output
    # an object that was never pushed: 404 -> `dvc push`
    (repo / "products/new-spec-z/specz.csv").write_text(SPECZ_CSV + "4,1.0,2.0,0.1,0.01\n")
    sh(DVC, "add", "-q", "products/new-spec-z/specz.csv", cwd=repo)
    commit(repo, "More rows")
    missing = check(repo, "--author", "jdoe", "--no-data", "--format", "github")
    assert missing.exit_code == 1
    assert "run `dvc push products/new-spec-z/specz.csv.dvc`" in missing.stdout
    for result in (denied, env_ok, ok, missing):
        assert token not in result.output


def test_ci_token_from_the_environment_also_pulls_the_changed_data(repo, tmp_path, http_remote):
    """In CI the read token is only in $PZ_DVC_TOKEN: the data of the changed product is still pulled
    (through DVC, over HTTP) and checked, and the token appears nowhere."""
    url, token = http_remote
    add_specz(repo, tmp_path)
    commit(repo, "Add new-spec-z")
    sh(DVC, "push", "-q", cwd=repo)
    ci = tmp_path / "ci"
    sh("git", "clone", "-q", "--branch", "pr", str(repo), str(ci), cwd=tmp_path)
    (ci / ".dvc" / "config.local").write_text(f"['remote \"local\"']\n    url = {url}\n")
    args = ["--repo", str(ci), "check-pr", "--base", "origin/main", "--author", "jdoe", "--strict"]
    result = CliRunner().invoke(cli, args, env={"PZ_DVC_TOKEN": token, "ACCESS_TOKEN": None},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (ci / "products/new-spec-z/specz.csv").read_text() == SPECZ_CSV
    assert token not in result.output
    assert token not in (ci / ".dvc" / "config.local").read_text()  # nothing written into the clone
    assert not list(Path(tempfile.gettempdir()).glob("pz-dvc-*"))  # the temporary DVC config is gone
