"""Benchmark: `pz validate --no-data` on synthetic catalogues of 1,000 and 10,000 products.

Each synthetic product is a realistic product.yaml (a training set with 14
columns, two files and a description, ~60 lines). The catalogue is generated
once per size in a temporary folder; the command is then run several times as
a subprocess (as a user would run it) and the median wall time is reported.

    .venv/bin/python bench/validate.py [--sizes 1000 10000] [--runs 5]

Goal (issue "Catalogue foundation"): 10,000 products in under 5 s on a
2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchenv import print_environment

REPO = Path(__file__).resolve().parent.parent
PZ = Path(sys.executable).parent / "pz"

BANDS = "ugrizy"
PRODUCT = """# Synthetic product for the validation benchmark.
id: {id}
title: Synthetic training set {n}
summary: A generated training set with LSST magnitudes and true redshifts, number {n}.
product_type: training_set
official: {official}
release: dp0.2
status: active
owner: {{github: user{owner}, name: User {owner}, email: user{owner}@example.org}}
created: 2026-11-23
license: CC-BY-4.0
citation: "Doe et al. 2026"
tags: [synthetic, benchmark, t{tag}]
survey: [cosmoDC2]
pz_code: null
validation_set: null
description: |
  A generated product used to time `pz validate` on large catalogues.
  It has the shape of a real training set.
files:
  - {{path: data.parquet, role: main, format: parquet}}
  - {{path: notes.md, role: auxiliary, format: markdown}}
columns:
  - {{name: id, role: id, ucd: meta.id;meta.main, dtype: int64}}
{mags}
  - {{name: redshift, role: z, ucd: src.redshift, unit: ''}}
provenance:
  derived_from: [{parent}]
  code: {{repository: "https://github.com/LSSTDESC/rail", version: v1.0}}
"""
MAGS = "\n".join(
    f"  - {{name: mag_{b}_lsst, role: mag, ucd: phot.mag, unit: mag, sentinels: [99.0]}}\n"
    f"  - {{name: mag_err_{b}_lsst, role: mag_err, ucd: stat.error;phot.mag, unit: mag}}"
    for b in BANDS
)


def make_catalog(root: Path, size: int) -> None:
    shutil.copy(REPO / "catalog.yaml", root / "catalog.yaml")
    products = root / "products"
    products.mkdir()
    for n in range(size):
        pid = f"synthetic-{n:05d}"
        folder = products / pid
        folder.mkdir()
        parent = f"synthetic-{n - 1:05d}" if n else ""
        (folder / "product.yaml").write_text(
            PRODUCT.format(id=pid, n=n, official=str(n % 10 == 0).lower(), owner=n % 97, tag=n % 13,
                           mags=MAGS, parent=parent),
            encoding="utf-8",
        )


def time_validate(root: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([str(PZ), "--repo", str(root), "validate", "--no-data"],
                                capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"pz validate failed:\n{result.stderr[-2000:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print_environment()
    print(f"{'products':>9}  {'median s':>9}  {'min s':>7}  {'max s':>7}  {'ms/product':>10}  runs")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_catalog(root, size)
            times = time_validate(root, args.runs)
        med = statistics.median(times)
        print(f"{size:>9,}  {med:>9.2f}  {min(times):>7.2f}  {max(times):>7.2f}  {1000 * med / size:>10.3f}  {args.runs}")


if __name__ == "__main__":
    main()
