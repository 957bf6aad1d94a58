"""Facts about a data file, computed in one streaming pass, so that the site never needs the data.

:func:`summarize_file` reads a table once with :func:`site_builder.tables.reader.iter_batches`, in
memory bounded by the batch size, and returns column statistics, a redshift histogram, a sky
footprint, magnitude histograms and a preview; :func:`write_summary` stores it.

- ``std`` is the population standard deviation, merged with Chan's formula (stable for ids, RA).
- Quantiles are exact up to :data:`RESERVOIR` rows; beyond, they come from a uniform sample of
  that many rows (those with the smallest keys from a seeded generator), as the JSON says in
  ``quantiles_method``. Integer columns report the nearest data value, exact beyond 2**53.
- Sentinels are compared in the column's dtype (float32 ``-99.9`` matches) and, like nulls, NaN
  and infinities, left out of every statistic and histogram.
- Histograms use :func:`numpy.bincount` on fixed fine grids; values off the grid are counted in
  ``below`` and ``above``.
- Batches are cut into slices of :data:`CHUNK_ROWS` rows so that temporaries stay in the CPU
  cache, and the next batch is read in a thread meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from site_builder.errors import DataFileError
from site_builder.tables.info import column_info
from site_builder.tables.reader import (
    TEXT_FORMATS,
    ColumnInfo,
    detect_format,
    get_table_info,
    iter_batches,
)
from site_builder.tables.text import MISSING

__all__ = ["SCHEMA_VERSION", "SUMMARY_FILE", "read_summary", "summarize_file", "write_summary"]

SUMMARY_FILE = "summary.json"
SCHEMA_VERSION = 1

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
RESERVOIR = 200_000  #: rows sampled for quantiles; smaller tables get exact quantiles
DISTINCT_CAP = 1000  #: distinct values of a string column are counted up to this many
PREVIEW_ROWS = 10
CHUNK_ROWS = 65_536
Z_GRID, Z_MAX_BINS = (-0.05, 7.0, 0.01), 100
MAG_GRID = (10.0, 40.0, 0.1)
RA_BINS, SINDEC_BINS = 360, 180
CELL_AREA_DEG2 = 4 * math.pi * (180 / math.pi) ** 2 / (RA_BINS * SINDEC_BINS)
MAX_SKY_CELLS = 3000  #: cells stored in summary.json at most; wider footprints are stored coarser
SKY_FACTORS = (1, 2, 3, 4, 5, 6, 9, 10, 12, 15, 18)  #: coarsening steps (divide both 360 and 180)
_SEED = 20_261_125
_MERGE_FACTORS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

Batch = dict[str, np.ndarray]


def summarize_file(
    path: Path,
    *,
    format: str | None = None,
    table: str | None = None,
    columns: list[dict] | None = None,
    md5: str | None = None,
    progress: Callable[[int], None] | None = None,
    batch_rows: int = 1_000_000,
    on_batch: Callable[[Batch], None] | None = None,
) -> dict:
    """Summarise a table in one streaming pass, plus a read of its first rows.

    Parameters
    ----------
    path, format, table
        As in :func:`site_builder.tables.reader.get_table_info`.
    columns
        product.yaml ``columns`` entries (``name``, ``role``, ``sentinels``). Without them
        numeric columns are still summarised, but there is no histogram or footprint.
    md5
        Stored as given.
    progress
        Called with the number of rows of each batch once it is done.
    batch_rows
        Rows read at a time: memory grows with this, not with the file.
    on_batch
        Also called with every batch before it is summarised, so that another
        computation (`pz add`'s column proposals) shares this one pass over the file.

    Returns
    -------
    dict
        JSON-ready, floats rounded to 7 significant digits. Raises DataFileError if the file
        cannot be read as a table.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    text = fmt in TEXT_FORMATS
    info = None if text else get_table_info(path, fmt, table)  # text: the batches tell (one scan fewer)
    entries = [c for c in columns or () if isinstance(c, dict) and isinstance(c.get("name"), str)]
    acc: _Accumulator | None = None
    num_rows = 0
    batches = iter_batches(path, format=fmt, table=table, batch_rows=batch_rows)
    with contextlib.closing(_prefetched(batches)) as prefetched:  # an error here stops the reading thread
        for batch in prefetched:
            if on_batch is not None:
                on_batch(batch)
            if acc is None:
                infos = info.columns if info else [column_info(n, a) for n, a in batch.items()]
                acc = _Accumulator(infos, entries, text)
            num_rows += (n := acc.add(batch))
            if progress is not None:
                progress(n)
    if acc is None:  # no rows: the schema alone
        info = info or get_table_info(path, fmt, table)
        acc = _Accumulator(info.columns, entries, text)
    return {
        "md5": md5,
        "format": info.format if info else fmt,
        "table": info.table if info else None,
        "num_rows": num_rows,
        "quantiles_method": "exact" if num_rows <= RESERVOIR else f"reservoir-{RESERVOIR}",
        **acc.result(),
        "preview": _preview(path, fmt, table),
    }


def read_summary(product_dir: Path) -> dict | None:
    """The stored summary of a product; None if absent, DataFileError if not a JSON object."""
    path = Path(product_dir) / SUMMARY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFileError(f"'{path}' is not valid JSON ({err}); regenerate it with `pz summarize`") from None
    if not isinstance(data, dict):
        raise DataFileError(f"'{path}' holds a JSON {type(data).__name__}, not an object; "
                            "regenerate it with `pz summarize`")
    return data


def write_summary(product_dir: Path, summary: dict) -> Path:
    """Write ``summary.json`` atomically (temporary file, fsync, rename) and return its path.

    The text is deterministic (see :func:`_dumps`) and made before the disk is touched, so an
    error leaves the old file as it was.
    """
    product_dir = Path(product_dir)
    text = _dumps(summary, 0) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{SUMMARY_FILE}.", suffix=".tmp", dir=product_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a summary is as public as the metadata
        os.replace(tmp, product_dir / SUMMARY_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return product_dir / SUMMARY_FILE


def _prefetched(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The same batches, the next one read in a thread while the caller works (both release
    the GIL). At most three batches are alive: the caller's, a queued one, one being read."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                slot.put(item, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer((batch, None)):
                    return
            offer((None, None))
        except BaseException as err:
            offer((None, err))
        finally:
            getattr(batches, "close", lambda: None)()  # a generator: let the reader close its file

    thread = threading.Thread(target=produce, name="pz-summary-reader", daemon=True)
    thread.start()
    try:
        while (item := slot.get())[0] is not None:
            yield item[0]
        if item[1] is not None:
            raise item[1]
    finally:
        stop.set()
        thread.join()


# --- accumulation ------------------------------------------------------------


class _Accumulator:
    """Every running statistic of one table."""

    def __init__(self, infos: Sequence[ColumnInfo], entries: list[dict], text: bool) -> None:
        meta = {e["name"]: e for e in entries}
        self.columns = [_make_column(c, meta.get(c.name, {}), text) for c in infos]
        self.numbers = {c.info.name: c for c in self.columns if isinstance(c, _Numbers)}
        roles: dict[Any, str] = {}  # the first numeric column of each role, in product.yaml order
        for e in entries:
            if e["name"] in self.numbers:
                roles.setdefault(e.get("role"), e["name"])
        self.z = roles.get("z")
        self.z_hist = _Histogram(*Z_GRID)
        self.mags = [(n, _Histogram(*MAG_GRID)) for n, c in self.numbers.items() if c.role == "mag"]
        self.hists = [*([(self.z, self.z_hist)] if self.z else []), *self.mags]
        self.sky = _Sky(roles["ra"], roles["dec"]) if "ra" in roles and "dec" in roles else None
        self.sampler = _Sampler(RESERVOIR)

    def add(self, batch: Batch) -> int:
        n = len(next(iter(batch.values()))) if batch else 0
        parts = {}
        for col in self.columns:
            arr = batch[col.info.name]
            if not isinstance(col, _Numbers):
                col.add(arr)
            elif isinstance(arr, np.ma.MaskedArray):
                parts[col.info.name] = (np.asarray(arr.data), np.ma.getmaskarray(arr))
            else:
                parts[col.info.name] = (arr, None)
        for start in range(0, n, CHUNK_ROWS):
            rows = self.sampler.select(min(CHUNK_ROWS, n - start))
            cut = slice(start, start + CHUNK_ROWS)
            seen = {name: self.numbers[name].add_chunk(data[cut], None if mask is None else mask[cut], rows)
                    for name, (data, mask) in parts.items()}
            for name, hist in self.hists:
                hist.add(seen[name][2], self.numbers[name].last)
            if self.sky is not None:
                self.sky.add(seen[self.sky.ra], seen[self.sky.dec])
            if self.sampler.due():
                self._merge_samples()
        return n

    def _merge_samples(self) -> None:
        merged = self.sampler.merge()
        for col in self.numbers.values():
            col.merge_sample(*merged)

    def result(self) -> dict[str, Any]:
        self._merge_samples()
        return {
            "columns": [c.result() for c in self.columns],
            "z_histogram": {"column": self.z, **self.z_hist.result(Z_MAX_BINS)} if self.z else None,
            "sky": self.sky.result() if self.sky else None,
            "magnitudes": [{"column": name, **hist.result(None)} for name, hist in self.mags],
        }


def _make_column(info: ColumnInfo, entry: dict, text: bool) -> _Column:
    role, sentinels = entry.get("role"), entry.get("sentinels")
    if info.dtype in ("str", "bytes") and not info.shape:
        return _Strings(info, role, text)
    with contextlib.suppress(TypeError):
        if not info.shape and np.dtype(info.dtype).kind in "iuf":
            return _Numbers(info, role, sentinels if isinstance(sentinels, list) else [])
    return _Column(info, role)


class _Column:
    """Any column: count and nulls; array columns (a PDF per row) only nulls, rows with no value."""

    def __init__(self, info: ColumnInfo, role: Any) -> None:
        self.info, self.role = info, role if isinstance(role, str) else None
        self.rows = self.nulls = 0

    def head(self) -> dict[str, Any]:
        return {"name": self.info.name, "dtype": self.info.dtype, "shape": list(self.info.shape), "role": self.role}

    def add(self, arr: np.ndarray) -> None:
        self.rows += len(arr)
        flat = arr.reshape(len(arr), -1)
        if arr.dtype.kind == "O":
            self.nulls += int(np.count_nonzero(np.equal(flat[:, 0], None)))
        elif isinstance(arr, np.ma.MaskedArray):
            self.nulls += int(np.count_nonzero(np.ma.getmaskarray(flat).all(axis=1)))
        elif arr.dtype.kind in "fc":
            self.nulls += int(np.count_nonzero(np.isnan(flat).all(axis=1)))

    def result(self) -> dict[str, Any]:
        count = {} if self.info.shape else {"count": self.rows - self.nulls}
        return {**self.head(), **count, "nulls": self.nulls}


class _Strings(_Column):
    """Count, nulls and the number of distinct values, up to :data:`DISTINCT_CAP`."""

    def __init__(self, info: ColumnInfo, role: Any, text: bool) -> None:
        super().__init__(info, role)
        self.missing = list(MISSING) if text else []  # text has no typed null: "" or "NA" is one
        self.distinct: set | None = set()

    def add(self, arr: np.ndarray) -> None:
        import pandas as pd  # hashing in C: no Python loop per row

        values = pd.Series(arr, dtype=object, copy=False)
        absent = values.isna() | values.isin(self.missing) if self.missing else values.isna()
        present = values[~absent]
        self.rows += len(arr)
        self.nulls += len(arr) - len(present)
        if self.distinct is not None:
            self.distinct.update(present.unique().tolist())
            if len(self.distinct) > DISTINCT_CAP:
                self.distinct = None

    def result(self) -> dict[str, Any]:
        distinct = {"distinct_over": DISTINCT_CAP} if self.distinct is None else {"distinct": len(self.distinct)}
        return {**super().result(), **distinct}


_Chunk = tuple[np.ndarray, "np.ndarray | None", np.ndarray]  # as float64, valid mask (None: all), valid values


class _Numbers(_Column):
    """Count, nulls, sentinels, min, max, mean, std and a quantile sample of one numeric column."""

    def __init__(self, info: ColumnInfo, role: Any, sentinels: list) -> None:
        super().__init__(info, role)
        self.dtype = np.dtype(info.dtype)
        self.is_int = self.dtype.kind in "iu"
        self.sentinels = [(sentinel_key(s), _in_dtype(s, self.dtype)) for s in sentinels
                          if isinstance(s, int | float) and not isinstance(s, bool)]
        self.hits = [0] * len(self.sentinels)
        self.infinite, self.n, self.mean, self.m2 = 0, 0, 0.0, 0.0
        self.min: Any = None
        self.max: Any = None
        self.last = (0.0, 0.0)  # min and max of the valid values of the last chunk
        self.sample = np.empty(0, self.dtype if self.is_int else np.float64)
        self.sample_ok = np.empty(0, bool)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add_chunk(self, data: np.ndarray, mask: np.ndarray | None, rows: np.ndarray) -> _Chunk:
        x = data if data.dtype == np.float64 else data.astype(np.float64)
        valid = None if mask is None else ~mask
        if mask is not None:
            self.nulls += int(np.count_nonzero(mask))
        for k, (_, value) in enumerate(self.sentinels):
            if value is not None:
                other = data != value
                if mask is not None:
                    other |= mask  # a null is not a sentinel
                if hits := len(x) - int(np.count_nonzero(other)):
                    self.hits[k] += hits
                    valid = other if valid is None else valid & other
        values = x if valid is None else x[valid]
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: a sign, not an error
            total = float(values.sum())
        if not math.isfinite(total) and not self.is_int:  # NaN or infinities: looked for only then
            finite = np.isfinite(x)
            nan = int(np.count_nonzero(np.isnan(x)))
            self.nulls += nan
            self.infinite += len(x) - int(np.count_nonzero(finite)) - nan
            valid = finite if valid is None else valid & finite
            values = x[valid]
            total = float(values.sum())
        if len(values):
            self._update(values, data if valid is None else data[valid], total)
        if len(rows):
            self.pending.append(((data if self.is_int else x)[rows],
                                 np.ones(len(rows), bool) if valid is None else valid[rows]))
        return x, valid, values

    def _update(self, values: np.ndarray, native: np.ndarray, total: float) -> None:
        lo, hi = (native.min(), native.max()) if self.is_int else (values.min(), values.max())
        self.last = (float(lo), float(hi))
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        n = len(values)
        mean = total / n
        dev = values - mean
        m2 = float(np.einsum("i,i->", dev, dev))  # not np.dot: BLAS threads cost more than they save here
        merged = self.n + n  # Chan et al.: merge (n, mean, M2) of two parts without cancellation
        delta = mean - self.mean
        self.mean += delta * n / merged
        self.m2 += m2 + delta * delta * self.n * n / merged
        self.n = merged

    def merge_sample(self, slots: np.ndarray, picked: np.ndarray, length: int) -> None:
        values = np.concatenate([self.sample[:0], *(v for v, _ in self.pending)])
        ok = np.concatenate([self.sample_ok[:0], *(ok for _, ok in self.pending)])
        self.pending = []
        self.sample = _written(self.sample, slots, values[picked], length)
        self.sample_ok = _written(self.sample_ok, slots, ok[picked], length)

    def result(self) -> dict[str, Any]:
        out = {**self.head(), "count": self.n, "nulls": self.nulls}
        if self.infinite:
            out["infinite"] = self.infinite
        out["sentinels"] = {key: hits for (key, _), hits in zip(self.sentinels, self.hits, strict=True)}
        if not self.n:
            return {**out, "min": None, "max": None, "mean": None, "std": None, "quantiles": None}
        sample = self.sample[self.sample_ok]  # empty if the sampled rows missed a very sparse column
        quantiles = None
        if len(sample):
            qs = np.quantile(sample, QUANTILES, method="nearest" if self.is_int else "linear")
            quantiles = {f"{q:g}": _number(v) for q, v in zip(QUANTILES, qs, strict=True)}
        std = math.sqrt(self.m2 / self.n) if math.isfinite(self.m2) else math.nan
        return {**out, "min": _number(self.min), "max": _number(self.max), "mean": _number(self.mean),
                "std": _number(std), "quantiles": quantiles}


def sentinel_key(value: float) -> str:
    """``99.0`` -> ``'99'``, ``-1.5`` -> ``'-1.5'``: as people write them in product.yaml."""
    f = float(value)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def _in_dtype(value: float, dtype: np.dtype) -> Any:
    """The sentinel as the column stores it, or None if the column cannot hold it."""
    if dtype.kind not in "iu":
        return dtype.type(value)
    if not float(value).is_integer() or not np.iinfo(dtype).min <= int(value) <= np.iinfo(dtype).max:
        return None
    return dtype.type(int(value))


class _Sampler:
    """A uniform sample of rows in one pass: the rows with the smallest random keys (one per row,
    in file order: batch sizes do not matter). Candidates, keys below the largest kept, wait until
    they number half the sample; a merge then writes the newly kept rows over the evicted ones,
    so a column's cost is proportional to the candidates, not to the sample."""

    def __init__(self, size: int) -> None:
        self.size, self.rng = size, np.random.default_rng(_SEED)
        self.keys = np.empty(0)
        self.pending: list[np.ndarray] = []
        self.waiting, self.limit = 0, 1.0

    def select(self, n: int) -> np.ndarray:
        keys = self.rng.random(n)
        rows = np.flatnonzero(keys < self.limit)
        self.pending.append(keys[rows])
        self.waiting += len(rows)
        return rows

    def due(self) -> bool:
        return len(self.keys) + self.waiting > self.size * 3 // 2

    def merge(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Fold the candidates in: (slots of the sample to write, candidates written there, sample size)."""
        new, old = np.concatenate([self.keys[:0], *self.pending]), len(self.keys)
        self.pending, self.waiting = [], 0
        both = np.concatenate([self.keys, new])
        length = min(self.size, len(both))
        if len(both) <= self.size:
            slots, picked = np.arange(old, length), np.arange(len(new))
        else:
            kept = np.zeros(len(both), bool)
            kept[np.argpartition(both, self.size - 1)[: self.size]] = True
            slots = np.concatenate([np.flatnonzero(~kept[:old]), np.arange(old, length)])  # evicted, then free
            picked = np.flatnonzero(kept[old:])
        self.keys = _written(self.keys, slots, new[picked], length)
        if length == self.size:
            self.limit = float(self.keys.max())
        return slots, picked, length


def _written(arr: np.ndarray, slots: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """``arr`` grown to ``length`` with ``values`` written at ``slots``."""
    if len(arr) < length:
        arr = np.concatenate([arr, np.empty(length - len(arr), arr.dtype)])
    arr[slots] = values
    return arr


class _Histogram:
    """Counts on a fixed grid ``lo + k * step``, plus the counts below and above it."""

    def __init__(self, lo: float, hi: float, step: float) -> None:
        self.lo, self.hi, self.step, self.bins = lo, hi, step, round((hi - lo) / step)
        self.counts = np.zeros(self.bins + 2, np.int64)  # [below, bins..., above]
        # index = floor((x - lo) / step) + 1; the tiny shift puts a value on an edge in the bin above it
        self.scale, self.shift = 1 / step, 1 - lo / step + 1e-6

    def add(self, values: np.ndarray, bounds: tuple[float, float]) -> None:
        """Count ``values``, whose min and max are ``bounds``."""
        if len(values):
            t = values * self.scale
            t += self.shift
            if not self.lo <= bounds[0] <= bounds[1] < self.hi:
                np.clip(t, 0, self.bins + 1, out=t)
            self.counts += np.bincount(t.astype(np.intp), minlength=self.bins + 2)

    def result(self, max_bins: int | None) -> dict[str, Any]:
        """Edges and counts without the empty bins at both ends, merged to at most ``max_bins``."""
        fine = self.counts[1:-1]
        filled = np.flatnonzero(fine)
        edges: list[float] = []
        counts: list[int] = []
        if len(filled):
            first, last = int(filled[0]), int(filled[-1])
            factor = next(f for f in _MERGE_FACTORS if max_bins is None or (last - first + 1) / f + 1 <= max_bins)
            zero = round(-self.lo / self.step)  # merged edges fall on multiples of factor * step
            start = (first - zero) // factor * factor + zero
            stop = (last - zero) // factor * factor + zero + factor
            padded = np.zeros(stop - start, np.int64)
            padded[first - start : last + 1 - start] = fine[first : last + 1]
            counts = padded.reshape(-1, factor).sum(axis=1).tolist()
            edges = [_round(self.lo + k * self.step) for k in range(start, stop + 1, factor)]
        return {"edges": edges, "counts": counts, "below": int(self.counts[0]), "above": int(self.counts[-1])}


class _Sky:
    """Occupied cells of an equal-area grid (1° in RA, uniform in sin Dec) and the exact extent."""

    def __init__(self, ra: str, dec: str) -> None:
        self.ra, self.dec = ra, dec
        self.cells = np.zeros(RA_BINS * SINDEC_BINS, np.int64)
        self.ra_lo, self.ra_hi = np.full(RA_BINS, np.inf), np.full(RA_BINS, -np.inf)  # per 1° bin
        self.dec_lo, self.dec_hi = np.inf, -np.inf

    def add(self, ra: _Chunk, dec: _Chunk) -> None:
        (ra_x, ra_ok, ra_v), (dec_x, dec_ok, dec_v) = ra, dec
        if not (ra_ok is None and dec_ok is None and len(ra_v) and len(dec_v) and ra_v.min() >= 0
                and ra_v.max() <= 360 and dec_v.min() >= -90 and dec_v.max() <= 90):
            with np.errstate(invalid="ignore"):
                ok = (ra_x >= 0) & (ra_x <= 360) & (dec_x >= -90) & (dec_x <= 90)
            for part in (ra_ok, dec_ok):
                if part is not None:
                    ok &= part
            ra_x, dec_x = ra_x[ok], dec_x[ok]
        if not len(ra_x):
            return
        i = ra_x.astype(np.intp)
        np.minimum(i, RA_BINS - 1, out=i)
        np.minimum.at(self.ra_lo, i, ra_x)
        np.maximum.at(self.ra_hi, i, ra_x)
        # float32 sine is several times faster; it moves only points within 1e-7 of a cell edge
        s = np.sin(np.deg2rad(dec_x.astype(np.float32)))
        s += 1
        s *= SINDEC_BINS / 2
        j = s.astype(np.intp)
        np.minimum(j, SINDEC_BINS - 1, out=j)
        i *= SINDEC_BINS
        i += j
        self.cells += np.bincount(i, minlength=RA_BINS * SINDEC_BINS)
        self.dec_lo, self.dec_hi = min(self.dec_lo, float(dec_x.min())), max(self.dec_hi, float(dec_x.max()))

    def result(self) -> dict[str, Any] | None:
        filled = np.flatnonzero(self.cells)
        if not len(filled):
            return None
        ra_min, ra_max, wraps = self._ra_extent(np.isfinite(self.ra_lo))
        # The footprint area comes from the fine grid; the stored map is coarsened for wide
        # surveys so that summary.json stays small (an all-sky table fills all 64,800 cells).
        grid = self.cells.reshape(RA_BINS, SINDEC_BINS)
        factor = next(f for f in SKY_FACTORS if f == SKY_FACTORS[-1] or np.count_nonzero(
            grid.reshape(RA_BINS // f, f, SINDEC_BINS // f, f).sum(axis=(1, 3))) <= MAX_SKY_CELLS)
        coarse = grid.reshape(RA_BINS // factor, factor, SINDEC_BINS // factor, factor).sum(axis=(1, 3))
        i, j = np.nonzero(coarse)
        cells = np.stack([i, j, coarse[i, j]], axis=1)
        return {
            "ra_column": self.ra, "dec_column": self.dec,
            "grid": f"equal-area: {RA_BINS // factor} RA bins x {SINDEC_BINS // factor} sin(Dec) bins",
            "ra_bins": RA_BINS // factor, "sindec_bins": SINDEC_BINS // factor, "count": int(self.cells.sum()),
            "cells": cells.tolist(), "cell_area_deg2": _round(CELL_AREA_DEG2 * factor * factor),
            "area_deg2": _round(len(filled) * CELL_AREA_DEG2), "ra_min": _round(ra_min),
            "ra_max": _round(ra_max), "dec_min": _round(self.dec_lo), "dec_max": _round(self.dec_hi),
            "ra_wraps": wraps,
        }

    def _ra_extent(self, occupied: np.ndarray) -> tuple[float, float, bool]:
        """Smallest RA arc holding every position: the complement of the largest empty gap."""
        if occupied.all():
            return 0.0, 360.0, False
        first = int(np.argmax(occupied))  # rotate so that the circle starts with an occupied bin
        change = np.flatnonzero(np.diff(np.concatenate([[1], np.roll(occupied, -first).astype(np.int8), [1]])))
        gap = int(np.argmax(change[1::2] - change[0::2]))  # runs of empty bins: [change[0::2], change[1::2])
        start = (first + int(change[1::2][gap])) % RA_BINS  # first occupied bin after the largest gap
        end = (first + int(change[0::2][gap]) - 1) % RA_BINS  # last occupied bin before it
        return float(self.ra_lo[start]), float(self.ra_hi[end]), bool(start > end)


# --- preview and JSON --------------------------------------------------------


def _preview(path: Path, fmt: str | None, table: str | None) -> dict[str, Any]:
    """The first rows, JSON-safe, from the first batch (numpy only: no pandas to import)."""

    def cell(v: Any, masked: bool) -> Any:
        if masked or v is None:
            return None
        if isinstance(v, np.ndarray):
            return f"array({'x'.join(map(str, v.shape))})"
        v = v.item() if isinstance(v, np.generic) else v
        if isinstance(v, float):
            return _round(v) if math.isfinite(v) else None
        if isinstance(v, bytes):
            return v.decode("latin-1")
        return v if isinstance(v, bool | int | str) else str(v)

    batch = next(iter_batches(path, format=fmt, table=table, batch_rows=PREVIEW_ROWS), None)
    if batch is None:
        info = get_table_info(path, fmt, table)
        return {"columns": [c.name for c in info.columns], "rows": []}
    columns = []
    for arr in batch.values():
        arr = arr[:PREVIEW_ROWS]
        mask = np.ma.getmaskarray(arr) if isinstance(arr, np.ma.MaskedArray) else None
        data = np.asarray(arr.data) if mask is not None else arr
        if data.ndim > 1:  # an array per row (a PDF): describe it
            columns.append([cell(row, False) for row in data])
            continue
        columns.append([cell(v, bool(mask[i]) if mask is not None else False) for i, v in enumerate(data)])
    return {"columns": list(batch), "rows": [list(r) for r in zip(*columns, strict=True)]}


def _round(x: float) -> float:
    return float(f"{x:.7g}")


def _number(v: Any) -> int | float | None:
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float):
        return _round(v) if math.isfinite(v) else None  # a sum beyond 1.8e308, say
    return v


def _scalar(v: Any) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    if v is None or isinstance(v, bool | int | str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and math.isfinite(v):
        return repr(_round(v))
    raise (ValueError if isinstance(v, float) else TypeError)(f"cannot store {v!r} in JSON")


def _dumps(obj: Any, level: int) -> str:
    """JSON, one key per line; lists of scalars and dicts of up to 8 scalars on one line."""
    pad, inner = " " * level, " " * (level + 1)
    if isinstance(obj, dict):
        if len(obj) <= 8 and not any(isinstance(v, dict | list | tuple) for v in obj.values()):
            return "{" + ", ".join(f"{_scalar(str(k))}: {_scalar(v)}" for k, v in obj.items()) + "}"
        items = [f"{inner}{_scalar(str(k))}: {_dumps(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list | tuple):
        if not any(isinstance(v, dict | list | tuple) for v in obj):
            return "[" + ", ".join(_scalar(v) for v in obj) + "]"
        return "[\n" + ",\n".join(inner + _dumps(v, level + 1) for v in obj) + "\n" + pad + "]"
    return _scalar(obj)
