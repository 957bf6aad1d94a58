"""`pz add`, `pz update`, `pz deprecate`, `pz retract` with real git and DVC in temporary repositories."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DVC, REPO, empty_catalog_repo, sh

PZ = str(Path(sys.executable).parent / "pz")
SAMPLES = REPO / "products"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sample(rel: str) -> Path:
    path = SAMPLES / rel
    if not path.is_file():
        pytest.fail(f"sample data missing: {rel}; run `make data` (make test does it)")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return empty_catalog_repo(tmp_path / "catalog", tmp_path / "remote")


def state(root: Path) -> tuple[str, list[str]]:
    """What must not change when an add fails: git's view and the product folders."""
    status = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=root).stdout
    products = sorted(p.name for p in (root / "products").iterdir()) if (root / "products").is_dir() else []
    return status, products


def pz(root: Path, *args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    return sh(PZ, *args, cwd=root, env=env, check=check)


def add_spec_z(repo: Path, tmp_path: Path, csv_text: str) -> Path:
    """Add a small redshift catalogue 'spec-z' from ``csv_text``; the source file it came from."""
    source = tmp_path / "specz.csv"
    source.write_text(csv_text)
    pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Spec z", "--owner", "jdoe", "--yes",
       check=True)
    return source


# (sample file, product type, extra arguments, expected roles {column: role}, expected sentinels {column: [..]})
CASES = [
    ("pzserver-upload-example/upload_example.csv", "redshift_catalog", [],
     {"ID": "id", "RA": "ra", "DEC": "dec", "Z": "z", "ERR_Z": "z_err", "FLAG_DES": "z_flag"}, {"ERR_Z": [99.0]}),
    ("2dflens-kids-south/2dflens_kidss_data.pqt", "redshift_catalog", [],
     {"RA": "ra", "Dec": "dec", "redshift": "z", "wei": "weight", "patch": "other"}, {}),
    ("dc2-training-9816/test_dc2_training_9816.hdf5", "training_set", ["--release", "dp0.2"],
     {"id": "id", "redshift": "z", "mag_u_lsst": "mag", "mag_err_u_lsst": "mag_err"}, {"mag_u_lsst": [99.0]}),
    ("dc2-validation-9816/test_dc2_validation_9816.hdf5", "training_set", [],
     {"id": "id", "redshift": "z", "mag_y_lsst": "mag"}, {"mag_u_lsst": [99.0]}),
    ("dc2-training-9816/test_dc2_training_9816.pq", "training_set", [],
     {"id": "id", "redshift": "z", "mag_g_lsst": "mag"}, {"mag_g_lsst": [99.0]}),
    ("bpz-lite-dc2-pdfs/output_BPZ_lite.hdf5", "photoz_estimates", ["--table", "ancil"], {"zmode": "z"}, {}),
    ("bpz-lite-dc2-pdfs/output_BPZ_lite.fits", "photoz_estimates", [], {"xvals": "pdf"}, {}),
    ("rubin-dm-dc2-example/rubin_dm_dc2_example.pq", "object_catalog", [],
     {"objectId": "id", "ra": "ra", "decl": "dec", "u_gaap1p0Flux": "flux", "u_gaap1p0FluxErr": "flux_err"}, {}),
]


@pytest.mark.parametrize("rel,ptype,extra,roles,sentinels", CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_add_sample_file_gives_a_valid_product(repo, rel, ptype, extra, roles, sentinels):
    from site_builder.catalog.yamlio import read_yaml

    source = sample(rel)
    before = md5(source)
    result = pz(repo, "add", str(source), "--type", ptype, "--title", f"Sample {source.name}", "--id", "sample",
                "--owner", "jdoe", "--yes", *extra)
    assert result.returncode == 0, result.stderr
    assert "next steps:" in result.stderr and "dvc push" in result.stderr
    folder = repo / "products" / "sample"
    meta = read_yaml(folder / "product.yaml").data
    got = {c["name"]: c.get("role") for c in meta.get("columns", [])}
    for column, role in roles.items():
        assert got[column] == role, (column, got)
    for column, values in sentinels.items():
        assert next(c for c in meta["columns"] if c["name"] == column)["sentinels"] == values
    # validates with no edits, strictly
    check = pz(repo, "validate", "--strict", "sample")
    assert check.returncode == 0, check.stderr
    # tracked by DVC exactly as `dvc add` would: status clean, push works, data in git only as a pointer
    assert md5(folder / source.name) == before == md5(source)
    assert "up to date" in sh(DVC, "status", cwd=repo).stdout
    sh(DVC, "push", "-q", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    tracked = sh("git", "ls-files", "products/sample", cwd=repo).stdout.split()
    assert f"products/sample/{source.name}.dvc" in tracked and f"products/sample/{source.name}" not in tracked
    assert "products/sample/summary.json" in tracked


def test_added_product_round_trips_through_the_remote(repo, tmp_path):
    source = sample("pzserver-upload-example/upload_example.csv")
    pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Upload example", "--owner", "jdoe",
       "--yes", check=True)
    sh(DVC, "push", "-q", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "add", cwd=repo)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path)
    sh(DVC, "pull", "-q", cwd=clone)
    assert md5(clone / "products/upload-example/upload_example.csv") == md5(source)
    assert pz(clone, "validate", "--strict").returncode == 0


def test_dry_run_changes_nothing(repo):
    before = state(repo)
    result = pz(repo, "add", str(sample("pzserver-upload-example/upload_example.csv")), "--type",
                "redshift_catalog", "--title", "Dry run", "--owner", "jdoe", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Metadata of one PZ Server product")
    assert "id: dry-run" in result.stdout and "- {name: ERR_Z, role: z_err" in result.stdout
    assert state(repo) == before


def test_column_override(repo):
    source = repo.parent / "specz.csv"
    source.write_text("objid,alpha,delta,zz\n1,10.0,-5.0,0.3\n2,11.0,-5.5,0.4\n")
    missing = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Odd names", "--yes")
    assert missing.returncode == 1
    assert "needs columns with roles z" in missing.stderr and "--column z=" in missing.stderr
    ok = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Odd names", "--owner", "jdoe",
            "--yes", "--column", "z=zz")
    assert ok.returncode == 0, ok.stderr
    assert "- {name: zz, role: z, ucd: src.redshift" in (repo / "products/odd-names/product.yaml").read_text()
    bad = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Other", "--yes",
             "--column", "z=nope")
    assert bad.returncode == 2 and "no column 'nope' in the file" in bad.stderr


def _bad_inputs(tmp: Path, repo: Path) -> list[tuple[str, list[str], int, str]]:
    binary = tmp / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    ragged = tmp / "ragged.csv"
    ragged.write_text("ra,dec,z\n1,2,0.1\n3,4\n5,6,0.3\n")
    empty = tmp / "empty.csv"
    empty.write_text("")
    notes = tmp / "notes.txt"
    notes.write_text("Some notes about the data.\nNot a table at all: really.\n")
    image = tmp / "image.fits"
    from astropy.io import fits

    fits.PrimaryHDU(data=[[1.0, 2.0], [3.0, 4.0]]).writeto(image)
    good = tmp / "good.csv"
    good.write_text("ra,dec,z\n1,2,0.1\n")
    link = tmp / "link.csv"
    link.symlink_to(good)
    (repo / "products" / "existing").mkdir(parents=True)
    (repo / "products" / "existing" / "inside.csv").write_text("ra,dec,z\n1,2,0.1\n")
    spec = ["--type", "redshift_catalog", "--owner", "jdoe", "--yes"]
    return [
        ("binary named .csv", [str(binary), *spec, "--title", "Binary"], 1, "is not a table (binary content)"),
        ("ragged rows", [str(ragged), *spec, "--title", "Ragged"], 1, "line 3: expected 3 fields"),
        ("empty file", [str(empty), *spec, "--title", "Empty"], 1, "is empty"),
        ("no table", [str(notes), *spec, "--title", "Notes"], 1, "cannot read 'notes.txt' as text: line 2"),
        ("fits image", [str(image), *spec, "--title", "Image"], 1, "cannot read 'image.fits' as fits"),
        ("inside a product", [str(repo / "products/existing/inside.csv"), *spec, "--title", "Inside"], 1,
         "is already inside product 'existing'"),
        ("existing id", [str(good), *spec, "--title", "Existing"], 1, "a product with id 'existing' already exists"),
        ("bad id", [str(good), *spec, "--title", "Fine", "--id", "Not A Slug"], 2, "is not a valid id"),
        ("title without id", [str(good), *spec, "--title", "!!! ???"], 2, "gives no usable id; pass one with --id"),
        ("symlink", [str(link), *spec, "--title", "Link"], 1, "is a symlink"),
        ("missing file", [str(tmp / "nope.csv"), *spec, "--title", "Nope"], 1, "does not exist"),
        ("release on redshift catalogue", [str(good), *spec, "--title", "Rel", "--release", "dp0.2"], 2,
         "has no release"),
        ("unknown release", [str(good), "--type", "training_set", "--owner", "jdoe", "--yes", "--title", "Rel",
                             "--release", "dp02"], 2, "did you mean 'dp0.2'?"),
    ]


def test_bad_input_gets_a_clear_error_and_leaves_nothing(repo, tmp_path):
    cases = _bad_inputs(tmp_path, repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "existing product folder", cwd=repo)
    before = state(repo)
    for label, args, code, words in cases:
        result = pz(repo, "add", *args)
        assert result.returncode == code, (label, result.stderr)
        assert words in result.stderr, (label, result.stderr)
        assert "Traceback" not in result.stderr, label
        assert state(repo) == before, label
        assert not any((repo / ".pz" / "staging").glob("*")) if (repo / ".pz/staging").is_dir() else True


def test_file_name_with_spaces_and_unicode_is_stored_under_a_safe_name(repo, tmp_path):
    source = tmp_path / "mon catalogue é.csv"
    source.write_text("ra,dec,z\n1,2,0.1\n")
    result = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Unicode", "--owner", "jdoe",
                "--yes")
    assert result.returncode == 0, result.stderr
    assert "note: the file is stored as 'mon_catalogue_e.csv'" in result.stderr
    assert (repo / "products/unicode/mon_catalogue_e.csv.dvc").is_file()
    assert source.is_file()


def test_not_enough_disk_space_fails_before_writing(repo, tmp_path):
    """A 2 MB file does not fit on a 1 MB filesystem: refused before anything is written."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): disk-space check not exercised")
    try:
        small_repo = mount / "catalog"
        shutil.copytree(repo, small_repo, symlinks=True)
        big = tmp_path / "big.csv"
        with big.open("w") as out:
            out.write("ra,dec,z\n")
            out.writelines(f"{i % 360}.5,-{i % 90}.25,0.{i % 1000:03d}\n" for i in range(120_000))
        before = state(small_repo)
        result = pz(small_repo, "add", str(big), "--type", "redshift_catalog", "--title", "Big", "--owner", "jdoe",
                    "--yes")
        assert result.returncode == 1
        assert "not enough free disk space" in result.stderr
        assert state(small_repo) == before
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _pointers(root: Path) -> list[Path]:
    """DVC pointers of the catalogue (the staging area .pz/ is ignored by git and DVC)."""
    return sorted(p for p in root.rglob("*.dvc") if ".pz" not in p.relative_to(root).parts)


@pytest.mark.parametrize("point", ["copied", "written", "summarized", "validated", "cached"])
@pytest.mark.parametrize("how", ["kill", "int"])
def test_interrupted_add_leaves_everything_as_before(repo, point, how):
    source = sample("pzserver-upload-example/upload_example.csv")
    copy = repo.parent / "upload_example.csv"
    shutil.copy(source, copy)
    original = (md5(copy), copy.stat().st_mtime_ns)
    before = state(repo)
    pointers = _pointers(repo)
    dvc_before = sh(DVC, "status", cwd=repo).stdout
    fault = point if how == "kill" else f"{point}:int"
    result = pz(repo, "add", str(copy), "--type", "redshift_catalog", "--title", "Killed", "--owner", "jdoe",
                "--yes", env={"PZ_FAULT": fault})
    if how == "kill":
        assert result.returncode == -9
    else:
        assert result.returncode == 1 and "Aborted" in result.stderr
    assert state(repo) == before
    assert _pointers(repo) == pointers
    assert sh(DVC, "status", cwd=repo).stdout == dvc_before  # a leftover in .pz/staging is invisible to DVC
    assert (md5(copy), copy.stat().st_mtime_ns) == original
    # the next run cleans up whatever the killed one left in .pz/staging and succeeds
    again = pz(repo, "add", str(copy), "--type", "redshift_catalog", "--title", "Killed", "--owner", "jdoe", "--yes")
    assert again.returncode == 0, again.stderr
    assert [p.name for p in (repo / ".pz/staging").iterdir()] == []


def test_killed_after_the_commit_point_leaves_a_complete_product(repo):
    source = sample("pzserver-upload-example/upload_example.csv")
    result = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Committed", "--owner", "jdoe",
                "--yes", env={"PZ_FAULT": "committed"})
    assert result.returncode == -9
    assert pz(repo, "validate", "--strict").returncode == 0


def test_update_replaces_the_data_and_keeps_history(repo, tmp_path):
    source = add_spec_z(repo, tmp_path, "ID,RA,DEC,Z\n1,10.0,-5.0,0.3\n2,11.0,-5.5,0.4\n")
    folder = repo / "products/spec-z"
    yaml_before = (folder / "product.yaml").read_text()
    sh(DVC, "push", "-q", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "v1", cwd=repo)
    v2 = tmp_path / "specz_v2.csv"
    v2.write_text("ID,RA,DEC,Z,NEW\n1,10.0,-5.0,0.31,a\n2,11.0,-5.5,0.41,b\n3,12.0,-6.0,0.5,c\n")
    result = pz(repo, "update", "spec-z", str(v2))
    assert result.returncode == 0, result.stderr
    assert f"md5 {md5(source)} -> {md5(v2)}" in result.stderr
    assert md5(folder / "specz.csv") == md5(v2)
    text = (folder / "product.yaml").read_text()
    assert "updated: '" in text or "updated: 20" in text
    assert text.replace(text[text.index("updated:"):].split("\n", 1)[0] + "\n", "") == yaml_before
    assert '"num_rows": 3' in (folder / "summary.json").read_text()
    assert pz(repo, "validate", "--strict").returncode == 0
    assert "up to date" in sh(DVC, "status", cwd=repo).stdout
    sh(DVC, "push", "-q", cwd=repo)
    sh("git", "commit", "-q", "-am", "v2", cwd=repo)
    # the first version is still reachable: git history has its pointer, DVC its object
    old = tmp_path / "old.csv"
    sh(DVC, "get", ".", "products/spec-z/specz.csv", "--rev", "HEAD~1", "-o", str(old), cwd=repo)
    assert md5(old) == md5(source)


def test_update_refuses_a_file_without_a_declared_column(repo, tmp_path):
    source = add_spec_z(repo, tmp_path, "ID,RA,DEC,Z\n1,10.0,-5.0,0.3\n")
    before = state(repo)
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,RA,DEC,ZSPEC\n1,10.0,-5.0,0.3\n")
    result = pz(repo, "update", "spec-z", str(bad))
    assert result.returncode == 1
    assert "the new file lacks declared column(s) 'Z'; its columns are: ID, RA, DEC, ZSPEC" in result.stderr
    assert state(repo) == before
    assert md5(repo / "products/spec-z/specz.csv") == md5(source)


@pytest.mark.parametrize("command,status", [("deprecate", "deprecated"), ("retract", "retracted")])
def test_deprecate_and_retract_keep_everything(repo, tmp_path, command, status):
    add_spec_z(repo, tmp_path, "ID,RA,DEC,Z\n1,10.0,-5.0,0.3\n")
    path = repo / "products/spec-z/product.yaml"
    path.write_text(path.read_text().replace("# Optional fields", "# my own comment\n# Optional fields"))
    files_before = sorted(p.name for p in path.parent.iterdir())
    result = pz(repo, command, "spec-z", "--reason", "superseded by spec-z-v2")
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert re.search(rf"^status: {status}\b.*\nstatus_reason: superseded by spec-z-v2\n", text, re.M), text
    assert "# my own comment" in text
    assert sorted(p.name for p in path.parent.iterdir()) == files_before
    assert pz(repo, "validate", "--strict").returncode == 0
    missing = pz(repo, command, "spec", "--reason", "x")
    assert missing.returncode == 2 and "did you mean 'spec-z'?" in missing.stderr


def test_summaries_are_recomputed_only_when_data_or_columns_change(repo, tmp_path):
    add_spec_z(repo, tmp_path, "ID,RA,DEC,Z,ERR_Z\n1,10.0,-5.0,0.3,0.01\n2,11.0,-5.5,0.4,99\n")
    folder = repo / "products/spec-z"
    assert pz(repo, "summarize").stderr.splitlines()[-1] == "0 summaries updated"
    # new data tracked with plain `dvc add`, summary not refreshed: validate says so without the data
    (folder / "specz.csv").write_text("ID,RA,DEC,Z,ERR_Z\n1,10.0,-5.0,0.3,0.01\n")
    sh(DVC, "add", "-q", "products/spec-z/specz.csv", cwd=repo)
    stale = pz(repo, "validate", "--no-data")
    assert stale.returncode == 1
    assert stale.stderr.splitlines()[0].startswith(
        "products/spec-z/summary.json: error: the summary of 'specz.csv' was computed from md5 ")
    assert stale.stderr.splitlines()[1] == "  hint: run `pz summarize spec-z`"
    assert pz(repo, "summarize", "--check").returncode == 1
    refreshed = pz(repo, "summarize")
    assert refreshed.stderr.splitlines() == ["products/spec-z/summary.json: updated", "1 summary updated"]
    assert '"num_rows": 1' in (folder / "summary.json").read_text()
    assert pz(repo, "validate", "--strict").returncode == 0
    # a change of sentinels changes the statistics: the summary is stale again
    yaml_path = folder / "product.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("sentinels: [99.0]", "sentinels: [99.0, -1.0]"))
    assert "predates a change of its columns" in pz(repo, "validate", "--no-data").stderr
    assert pz(repo, "summarize", "spec-z").returncode == 0
    assert pz(repo, "validate", "--strict").returncode == 0


def _run_in_terminal(args: list[str], cwd: Path, answer: str, timeout: float = 60) -> tuple[int, str]:
    """Run a command with a real pseudo-terminal as stdin/stdout/stderr and answer its prompt."""
    import pty
    import select
    import time

    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    output, answered, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[Y/n]" in output:
                os.write(leader, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    return proc.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("answer,added", [("n", False), ("y", True)])
def test_terminal_user_sees_the_proposal_and_confirms(repo, answer, added):
    source = sample("pzserver-upload-example/upload_example.csv")
    before = state(repo)
    code, screen = _run_in_terminal([PZ, "add", str(source), "--type", "redshift_catalog", "--title", "Asked",
                                     "--owner", "jdoe"], repo, answer)
    assert "ERR_Z" in screen and "z_err" in screen and "99 taken as 'no value'" in screen
    assert "add product 'asked' with these columns?" in screen
    if added:
        assert code == 0, screen
        assert (repo / "products/asked/product.yaml").is_file()
    else:
        assert code == 1 and "nothing added" in screen
        assert state(repo) == before


def test_move_removes_the_original_only_after_success(repo, tmp_path):
    source = tmp_path / "moved.csv"
    source.write_text("ra,dec,z\n1,2,0.1\n")
    killed = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Moved", "--owner", "jdoe",
                "--yes", "--move", env={"PZ_FAULT": "cached"})
    assert killed.returncode == -9 and source.is_file()
    ok = pz(repo, "add", str(source), "--type", "redshift_catalog", "--title", "Moved", "--owner", "jdoe", "--yes",
            "--move")
    assert ok.returncode == 0, ok.stderr
    assert not source.exists()
    assert (repo / "products/moved/moved.csv").read_text() == "ra,dec,z\n1,2,0.1\n"


def test_update_with_implausible_values_is_refused(repo, tmp_path):
    add_spec_z(repo, tmp_path, "ID,RA,DEC,Z\n1,10.0,-5.0,0.3\n")
    before = state(repo)
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,RA,DEC,Z\n1,410.0,-5.0,0.3\n2,11.0,-5.0,0.4\n")
    result = pz(repo, "update", "spec-z", str(bad))
    assert result.returncode == 1
    assert "1 of 2 values of 'RA' (role ra) are outside [0, 360], e.g. 410" in result.stderr
    assert "the updated product does not validate; nothing was changed" in result.stderr
    assert state(repo) == before
