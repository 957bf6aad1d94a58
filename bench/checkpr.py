"""Benchmark: `pz check-pr` for a pull request touching one product of a 1,000-product catalogue.

A git repository is generated with the synthetic products of bench/validate.py
(realistic ~60-line product.yaml files) plus one real product whose CSV is
tracked by DVC and pushed to a local remote. On branch `pr` that product gets
a new version of its data (`dvc add`, `dvc push`) and a metadata change. The
commands are then run as a user runs them (subprocesses), several times each,
and the medians are printed side by side:

* `pz check-pr --base main --author jdoe` with the data in the workspace
  (a contributor's clone);
* the same when the changed data must first be fetched (`dvc pull` of that one
  product, from the local cache, as in CI with a warm cache);
* `pz check-pr --no-data`;
* `pz validate --no-data` of the whole catalogue, for comparison.

    .venv/bin/python bench/checkpr.py [--products 1000] [--runs 5]

Goal (issue "Pull requests as the way in"): under 2 s for 1,000 products.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchenv import print_environment

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PZ, DVC = str(BIN / "pz"), str(BIN / "dvc")
GOAL_S = 2.0


def _synthetic():
    spec = importlib.util.spec_from_file_location("bench_validate", REPO / "bench" / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str, cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")


def make_repo(top: Path, size: int) -> Path:
    root = top / "catalog"
    root.mkdir()
    _synthetic().make_catalog(root, size - 1)
    shutil.copy(REPO / "tests" / "data" / "catalog.yaml", root / "catalog.yaml")  # admins: [pz-admin]
    shutil.copytree(REPO / "tests" / "data" / "products" / "valid" / "minimal-spec-z",
                    root / "products" / "minimal-spec-z")
    run("git", "init", "-q", "-b", "main", cwd=root)
    run("git", "config", "user.email", "bench@example.org", cwd=root)
    run("git", "config", "user.name", "Bench", cwd=root)
    run(DVC, "init", "-q", cwd=root)
    run(DVC, "remote", "add", "-d", "local", str(top / "remote"), cwd=root)
    run(DVC, "add", "-q", "products/minimal-spec-z/data.csv", cwd=root)
    run(DVC, "push", "-q", cwd=root)
    run("git", "add", "-A", cwd=root)
    run("git", "commit", "-q", "-m", f"{size} products", cwd=root)
    # the pull request: a new version of one product's data and a metadata change
    run("git", "checkout", "-q", "-b", "pr", cwd=root)
    data = root / "products" / "minimal-spec-z" / "data.csv"
    data.write_text(data.read_text().replace("0.1,0.01", "0.11,0.01"))
    meta = root / "products" / "minimal-spec-z" / "product.yaml"
    meta.write_text(meta.read_text().replace("in preparation", "submitted"))
    run(DVC, "add", "-q", "products/minimal-spec-z/data.csv", cwd=root)
    run(DVC, "push", "-q", cwd=root)
    run("git", "add", "-A", cwd=root)
    run("git", "commit", "-q", "-m", "New version of minimal-spec-z", cwd=root)
    return root


def time_command(root: Path, args: list[str], runs: int, before=None) -> list[float]:
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        done = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print_environment()
    with tempfile.TemporaryDirectory() as tmp:
        setup = time.perf_counter()
        root = make_repo(Path(tmp), args.products)
        print(f"catalogue of {args.products:,} products in git, one changed on branch pr "
              f"(set-up {time.perf_counter() - setup:.1f} s); {args.runs} runs each, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.2f}")
        data = root / "products" / "minimal-spec-z" / "data.csv"

        def drop_data() -> None:
            data.unlink(missing_ok=True)

        cases = [
            ("pz check-pr (data in workspace)", [PZ, "check-pr", "--base", "main", "--author", "jdoe"], None),
            ("pz check-pr (dvc pull of the changed data)", [PZ, "check-pr", "--base", "main", "--author", "jdoe"],
             drop_data),
            ("pz check-pr --no-data", [PZ, "check-pr", "--base", "main", "--author", "jdoe", "--no-data"], None),
            ("pz validate --no-data (whole catalogue)", [PZ, "validate", "--no-data"], None),
        ]
        results = [(label, time_command(root, command, args.runs, before)) for label, command, before in cases]
    reference = statistics.median(results[-1][1])
    print(f"{'command':<46} {'median s':>9} {'min s':>7} {'max s':>7} {'vs validate':>12}")
    for label, times in results:
        median = statistics.median(times)
        print(f"{label:<46} {median:>9.2f} {min(times):>7.2f} {max(times):>7.2f} {median / reference:>11.2f}x")
    best = statistics.median(results[0][1])
    print(f"goal: pz check-pr under {GOAL_S:.0f} s -> {'met' if best < GOAL_S else 'NOT met'} ({best:.2f} s)")


if __name__ == "__main__":
    main()
