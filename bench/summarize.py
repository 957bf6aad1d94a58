"""Benchmark: `summarize_file` against a bare pyarrow read, and its peak memory on large CSV files.

Generates (once, cached in --workdir) a 10-million-row table like a large
object catalogue — id (int64 above 2**53), ra, dec (uniform on the sphere), z
(1% -99), z_err (2% 99), mag_u ... mag_y (5% 99) — as Parquet and as CSV
(~1 GB), then measures side by side:

(a) baseline: ``pyarrow.parquet.read_table`` + ``pyarrow.compute.min_max`` of
    every column;
(b) ``summarize_file`` on the Parquet file (roles and sentinels declared);
    goal: b / a <= 2;
(c) peak RSS (VmHWM) of ``summarize_file`` in a fresh subprocess, on the
    Parquet file and the CSV file (and, with --big, a ~5 GB CSV made by
    repeating rows); goal: < 1.5 GB.

    .venv/bin/python bench/summarize.py [--workdir /tmp/pz-bench] [--runs 3] [--big] [--rows N]

Adding a measurement: write a function ``measure_<name>(data, args) -> list[Row]``
and append it to :data:`MEASUREMENTS`.
"""

from __future__ import annotations

import argparse
import contextlib
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

from benchenv import print_environment  # noqa: E402

from site_builder.tables.summary import summarize_file  # noqa: E402

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
    seconds: float | None = None  # wall time
    cpu: float | None = None  # CPU time of every thread of the process
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


def _median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` calls (CPU: all threads; the machine may be shared)."""
    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def _baseline(path: Path) -> None:
    table = pq.read_table(path)
    for column in table.columns:
        pc.min_max(column)


def measure_parquet_speed(data: BenchData, args: argparse.Namespace) -> list[Row]:
    a, a_cpu = _median_seconds(lambda: _baseline(data.parquet), args.runs)
    b, b_cpu = _median_seconds(lambda: summarize_file(data.parquet, columns=COLUMNS), args.runs)
    return [
        Row("(a) pyarrow read_table + min_max, Parquet", a, a_cpu),
        Row("(b) summarize_file, Parquet", b, b_cpu),
        Row("    ratio b / a (goal <= 2)", note=f"wall {b / a:.2f}, CPU {b_cpu / a_cpu:.2f}"),
    ]


def _child_peak(path: Path) -> Row:
    """Run summarize_file in a fresh interpreter; its own ru_maxrss is the peak."""
    out = subprocess.run([sys.executable, __file__, "--child", str(path)],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    size_gb = path.stat().st_size / 1e9
    peak = result["peak_mb"]
    verdict = "ok" if peak < MEMORY_GOAL_MB else "OVER GOAL"
    return Row(f"(c) summarize_file peak RSS, {path.suffix[1:]} {size_gb:.1f} GB", seconds=result["seconds"],
               peak_mb=peak, note=f"{result['rows']:,} rows; {verdict} (< {MEMORY_GOAL_MB} MB)")


def measure_memory(data: BenchData, args: argparse.Namespace) -> list[Row]:
    paths = [data.parquet] + ([] if args.no_csv else [data.csv]) + ([data.big_csv] if data.big_csv else [])
    return [_child_peak(p) for p in paths]


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True)


def measure_add(data: BenchData, args: argparse.Namespace) -> list[Row]:
    """(d) `pz add` of the Parquet file against `dvc add` of the same file alone, in a fresh
    git + DVC repository on the same filesystem. `dvc add` gets the file already in the
    workspace (a new copy each run, so DVC's md5 state cache cannot help); `pz add` starts
    from the file outside the repository and does everything: copy, inspect, propose
    columns, summarise, validate, DVC pointer and cache."""
    import shutil
    import tempfile

    bindir = Path(sys.executable).parent
    dvc, pz = str(bindir / "dvc"), str(bindir / "pz")
    repo_root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(dir=data.parquet.parent) as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        _run("git", "init", "-q", cwd=repo)
        _run(dvc, "init", "-q", cwd=repo)
        shutil.copy(repo_root / "catalog.yaml", repo / "catalog.yaml")
        dvc_times, pz_times = [], []
        for _ in range(args.runs):
            placed = repo / "placed.parquet"
            shutil.copyfile(data.parquet, placed)
            t = time.perf_counter()
            _run(dvc, "add", "-q", "placed.parquet", cwd=repo)
            dvc_times.append(time.perf_counter() - t)
            for leftover in (placed, repo / "placed.parquet.dvc", repo / ".gitignore"):
                leftover.unlink(missing_ok=True)
            shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
            t = time.perf_counter()
            _run(pz, "add", str(data.parquet), "--type", "training_set", "--title", "Bench", "--owner", "bench",
                 "--yes", cwd=repo)
            pz_times.append(time.perf_counter() - t)
            shutil.rmtree(repo / "products", ignore_errors=True)
            shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    d, p = statistics.median(dvc_times), statistics.median(pz_times)
    return [
        Row("(d) dvc add, Parquet already in the workspace", d),
        Row("(e) pz add, Parquet (copy+inspect+summary+validate)", p),
        Row("    ratio e / d (goal <= 2)", note=f"wall {p / d:.2f}"),
    ]


MEASUREMENTS: list[Callable[[BenchData, argparse.Namespace], list[Row]]] = [
    measure_parquet_speed,
    measure_memory,
    measure_add,
]


def _peak_rss_mb() -> float:
    """Peak RSS of this process since it started.

    On Linux ``ru_maxrss`` survives fork and exec, so a child started by a big
    parent reports the parent's peak; ``VmHWM`` belongs to the new program.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def _child(path: Path) -> None:
    t = time.perf_counter()
    summary = summarize_file(path, columns=COLUMNS)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_rss_mb(), "rows": summary["num_rows"]}))


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
    print_environment()
    data = make_data(args.workdir, args.rows, args.big)
    rows: list[Row] = []
    for measure in MEASUREMENTS:
        rows.extend(measure(data, args))
    print(f"\n{data.rows:,} rows; median of {args.runs} runs for (a) and (b); (c) one run in a fresh process\n")
    print(f"{'measurement':<52} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}  note")
    for r in rows:
        cells = [f"{v:8.{d}f}" if v is not None else " " * 8
                 for v, d in ((r.seconds, 2), (r.cpu, 2), (r.peak_mb, 0))]
        print(f"{r.label:<52} {' '.join(cells)}  {r.note}")


if __name__ == "__main__":
    main()
