"""Benchmark: `summarize_file` against a bare pyarrow read, and its peak memory on large CSV files.

Generates (once, cached in --workdir) a 10-million-row table like a large
object catalogue — id (int64 above 2**53), ra, dec (uniform on the sphere), z
(1% -99), z_err (2% 99), mag_u ... mag_y (5% 99) — as Parquet and as CSV
(~1 GB), then measures side by side:

(a) baseline: ``pyarrow.parquet.read_table`` + ``pyarrow.compute.min_max`` of
    every column;
(b) ``summarize_file`` on the Parquet file (roles and sentinels declared);
    goal: b / a <= 2;
(c) peak RSS of ``summarize_file`` in a fresh subprocess, on the Parquet file
    and the CSV file (and, with --big, a ~5 GB CSV made by repeating rows);
    goal: < 1.5 GB.

    .venv/bin/python bench/summarize.py [--workdir /tmp/pz-bench] [--runs 3] [--big] [--rows N]

Adding a measurement: write a function ``measure_<name>(data, args) -> list[Row]``
and append it to :data:`MEASUREMENTS`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from site_builder.summary import summarize_file  # noqa: E402

ROWS = 10_000_000
CHUNK = 1_000_000
BANDS = "ugrizy"
MEMORY_GOAL_MB = 1536
COLUMNS = [
    {"name": "id", "role": "id"},
    {"name": "ra", "role": "ra"},
    {"name": "dec", "role": "dec"},
    {"name": "z", "role": "z", "sentinels": [-99.0]},
    {"name": "z_err", "role": "z_err", "sentinels": [99.0]},
    *({"name": f"mag_{b}", "role": "mag", "sentinels": [99.0]} for b in BANDS),
]


@dataclass(frozen=True)
class BenchData:
    parquet: Path
    csv: Path
    big_csv: Path | None
    rows: int


@dataclass(frozen=True)
class Row:
    label: str
    seconds: float | None = None
    peak_mb: float | None = None
    note: str = ""


# --- data --------------------------------------------------------------------


def _chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    def sentinel(values: np.ndarray, fraction: float, value: float) -> np.ndarray:
        values[rng.random(n) < fraction] = value
        return values

    cols = {
        "id": np.arange(start, start + n, dtype=np.int64) + 1_650_753_981_384_753_153,
        "ra": np.round(rng.uniform(0, 360, n), 6),
        "dec": np.round(np.degrees(np.arcsin(rng.uniform(-1, 1, n))), 6),
        "z": sentinel(np.round(rng.uniform(0, 3, n), 4), 0.01, -99.0),
        "z_err": sentinel(np.round(rng.uniform(0.001, 0.2, n), 4), 0.02, 99.0),
    }
    for b in BANDS:
        cols[f"mag_{b}"] = sentinel(np.round(rng.normal(24, 1.5, n), 3), 0.05, 99.0)
    return pa.table(cols)


def make_data(workdir: Path, rows: int, big: bool) -> BenchData:
    workdir.mkdir(parents=True, exist_ok=True)
    parquet, csv = workdir / f"catalog-{rows}.parquet", workdir / f"catalog-{rows}.csv"
    if not parquet.exists() or not csv.exists():
        print(f"generating {rows:,} rows in {workdir} ...", flush=True)
        rng = np.random.default_rng(42)
        tmp_pq, tmp_csv = parquet.with_suffix(".tmp.parquet"), csv.with_suffix(".tmp.csv")
        with pq.ParquetWriter(tmp_pq, _chunk(rng, 0, 1).schema) as pw, \
                pacsv.CSVWriter(tmp_csv, _chunk(rng, 0, 1).schema,
                                  write_options=pacsv.WriteOptions(quoting_style="none")) as cw:
            for start in range(0, rows, CHUNK):
                table = _chunk(rng, start, min(CHUNK, rows - start))
                pw.write_table(table)
                cw.write_table(table)
        tmp_pq.replace(parquet)
        tmp_csv.replace(csv)
    big_csv = None
    if big:
        big_csv = workdir / f"catalog-{rows}-x5.csv"
        if not big_csv.exists():
            print("generating the 5x CSV by repeating rows ...", flush=True)
            tmp = big_csv.with_suffix(".tmp.csv")
            with csv.open("rb") as src, tmp.open("wb") as out:
                header = src.readline()
                out.write(header)
                for _ in range(5):
                    src.seek(len(header))
                    while block := src.read(64 << 20):
                        out.write(block)
            tmp.replace(big_csv)
    return BenchData(parquet, csv, big_csv, rows)


# --- measurements ------------------------------------------------------------


def _median_seconds(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _baseline(path: Path) -> None:
    table = pq.read_table(path)
    for column in table.columns:
        pc.min_max(column)


def measure_parquet_speed(data: BenchData, args: argparse.Namespace) -> list[Row]:
    a = _median_seconds(lambda: _baseline(data.parquet), args.runs)
    b = _median_seconds(lambda: summarize_file(data.parquet, columns=COLUMNS), args.runs)
    return [
        Row("(a) pyarrow read_table + min_max, Parquet", a),
        Row("(b) summarize_file, Parquet", b),
        Row("    ratio b / a (goal <= 2)", note=f"{b / a:.2f}"),
    ]


def _child_peak(path: Path) -> Row:
    """Run summarize_file in a fresh interpreter; its own ru_maxrss is the peak."""
    out = subprocess.run([sys.executable, __file__, "--child", str(path)],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    size_gb = path.stat().st_size / 1e9
    peak = result["peak_mb"]
    verdict = "ok" if peak < MEMORY_GOAL_MB else "OVER GOAL"
    return Row(f"(c) summarize_file peak RSS, {path.suffix[1:]} {size_gb:.1f} GB",
               result["seconds"], peak, f"{result['rows']:,} rows; {verdict} (< {MEMORY_GOAL_MB} MB)")


def measure_memory(data: BenchData, args: argparse.Namespace) -> list[Row]:
    paths = [data.parquet] + ([] if args.no_csv else [data.csv]) + ([data.big_csv] if data.big_csv else [])
    return [_child_peak(p) for p in paths]


MEASUREMENTS: list[Callable[[BenchData, argparse.Namespace], list[Row]]] = [
    measure_parquet_speed,
    measure_memory,
]


def _child(path: Path) -> None:
    t = time.perf_counter()
    summary = summarize_file(path, columns=COLUMNS)
    seconds = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "rows": summary["num_rows"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pz-bench"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--big", action="store_true", help="also the ~5 GB CSV (slow)")
    parser.add_argument("--no-csv", action="store_true", help="skip the CSV memory run")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    data = make_data(args.workdir, args.rows, args.big)
    rows: list[Row] = []
    for measure in MEASUREMENTS:
        rows.extend(measure(data, args))
    print(f"\n{data.rows:,} rows; median of {args.runs} runs for times; peak RSS from a fresh process\n")
    print(f"{'measurement':<52} {'seconds':>9} {'peak MB':>9}  note")
    for r in rows:
        sec = f"{r.seconds:9.2f}" if r.seconds is not None else " " * 9
        mb = f"{r.peak_mb:9.0f}" if r.peak_mb is not None else " " * 9
        print(f"{r.label:<52} {sec} {mb}  {r.note}")


if __name__ == "__main__":
    main()
