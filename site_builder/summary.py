"""Facts about a data file, computed in one streaming pass, so that the site never needs the data.

:func:`summarize_file` reads a table once with :func:`site_builder.reader.iter_batches`
(memory bounded by the batch size, not the file) and returns a JSON-ready
dict: per-column counts, nulls, declared sentinels seen, min, max, mean, std
and quantiles; a redshift histogram; a sky footprint on an equal-area grid;
magnitude histograms; and a preview of the first rows. :func:`write_summary`
stores it as ``products/<id>/summary.json``; :func:`read_summary` reads it.

Choices worth knowing:

- ``std`` is the population standard deviation (``ddof=0``), merged chunk by
  chunk with Chan's formula (stable for large offsets such as ids or RA).
- Quantiles come from a uniform sample of rows: each row gets a key from a
  seeded generator and the :data:`RESERVOIR` rows with the smallest keys are
  kept (bottom-k sampling, a reservoir sample in effect). Smaller tables are
  kept whole, so their quantiles are exact (``"quantiles_method": "exact"``);
  larger ones are approximate (``"reservoir-200000"``), computed from the valid
  values of the sampled rows. Integer columns report the nearest data value
  (exact for ids above 2**53); float columns interpolate.
- Sentinels are compared in the column's own dtype (a float32 column matches
  ``-99.9`` as float32) and left out of every statistic and histogram, like
  NaN, nulls and infinities (counted as ``"infinite"`` when there are any).
- Histograms count on fixed fine grids with :func:`numpy.bincount`; values
  off the grid are counted in ``below`` / ``above``.
- Batches are processed in slices of :data:`CHUNK_ROWS` rows so that the
  temporaries stay in the CPU cache and are not re-allocated from the kernel.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from site_builder.errors import DataFileError
from site_builder.reader import (
    TEXT_FORMATS,
    ColumnInfo,
    detect_format,
    get_table_info,
    iter_batches,
    read_head,
)
from site_builder.tableinfo import column_info
from site_builder.textreader import MISSING

__all__ = ["SCHEMA_VERSION", "SUMMARY_FILE", "read_summary", "summarize_file", "write_summary"]

SUMMARY_FILE = "summary.json"
SCHEMA_VERSION = 1

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
RESERVOIR = 200_000  #: rows sampled for quantiles; smaller tables get exact quantiles
DISTINCT_CAP = 1000  #: distinct values of a string column counted up to this many
PREVIEW_ROWS = 10
CHUNK_ROWS = 65_536
Z_GRID, Z_MAX_BINS = (-0.05, 7.0, 0.01), 100
MAG_GRID = (10.0, 40.0, 0.1)
RA_BINS, SINDEC_BINS = 360, 180
SKY_GRID = f"equal-area: {RA_BINS} RA bins x {SINDEC_BINS} sin(Dec) bins"
CELL_AREA_DEG2 = 4 * math.pi * (180 / math.pi) ** 2 / (RA_BINS * SINDEC_BINS)
_SEED = 20_261_125
_MERGE_FACTORS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def summarize_file(
    path: Path,
    *,
    format: str | None = None,
    table: str | None = None,
    columns: list[dict] | None = None,
    md5: str | None = None,
    progress: Callable[[int], None] | None = None,
    batch_rows: int = 1_000_000,
) -> dict:
    """Summarise a table in one streaming pass (plus a read of its first rows).

    Parameters
    ----------
    path
        The data file.
    format, table
        As in :func:`site_builder.reader.get_table_info`.
    columns
        The ``columns`` entries of product.yaml (``name``, ``role``,
        ``sentinels``); None or empty: every numeric column is still
        summarised, but there is no redshift histogram, footprint or
        magnitude histogram.
    md5
        Stored as given.
    progress
        Called with the number of rows of each batch once it is done.
    batch_rows
        Rows read at a time; memory grows with this, not with the file.

    Returns
    -------
    dict
        JSON-ready, floats rounded to 7 significant digits.

    Raises
    ------
    DataFileError
        If the file cannot be read as a table.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    text = fmt in TEXT_FORMATS
    info = None if text else get_table_info(path, fmt, table)  # text: the batches tell, one scan fewer
    entries = [c for c in columns or () if isinstance(c, dict) and isinstance(c.get("name"), str)]
    acc: _Accumulator | None = None
    num_rows = 0
    for batch in _prefetched(iter_batches(path, format=fmt, table=table, batch_rows=batch_rows)):
        if acc is None:
            acc = _Accumulator(info.columns if info else [column_info(n, a) for n, a in batch.items()],
                               entries, text)
        n = acc.add(batch)
        num_rows += n
        if progress is not None:
            progress(n)
    if acc is None:  # no rows: the schema alone
        info = info or get_table_info(path, fmt, table)
        acc = _Accumulator(info.columns, entries, text)
    return {
        "schema_version": SCHEMA_VERSION,
        "md5": md5,
        "format": info.format if info else fmt,
        "table": info.table if info else None,
        "num_rows": num_rows,
        "quantiles_method": "exact" if num_rows <= RESERVOIR else f"reservoir-{RESERVOIR}",
        **acc.result(),
        "preview": _preview(path, fmt, table),
    }


def _prefetched(batches: Iterator[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """The same batches, the next one read in a thread while the caller works on this one.

    Reading (pyarrow, h5py, astropy) and numpy both release the GIL, so on two
    cores this hides most of the reading time. At most three batches are alive
    at once: the caller's, the queued one and the one being read.
    """
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
        except BaseException as err:  # raised again in the caller's thread
            offer((None, err))
        finally:
            batches.close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=produce, name="pz-summary-reader", daemon=True)
    thread.start()
    try:
        while True:
            batch, err = slot.get()
            if err is not None:
                raise err
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        thread.join()


def read_summary(product_dir: Path) -> dict | None:
    """The stored summary of a product, or None if there is none.

    Raises
    ------
    DataFileError
        If ``summary.json`` exists but is not a JSON object.
    """
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
    """Write ``summary.json`` atomically (temporary file, fsync, rename); return its path.

    The text is deterministic: keys in the dict's order, floats rounded to 7
    significant digits, one key per line, but lists of scalars (and small
    dicts of scalars) on one line, so that a footprint of thousands of cells
    stays small and diffs stay readable; a newline at the end. The text is
    made before the disk is touched: an error leaves the old file as it was.
    """
    product_dir = Path(product_dir)
    text = _dumps(summary, 0) + "\n"
    target = product_dir / SUMMARY_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{SUMMARY_FILE}.", suffix=".tmp", dir=product_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a summary is as public as the metadata
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where directories can be synced
        dir_fd = os.open(product_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target


# --- accumulation ------------------------------------------------------------


class _Accumulator:
    """Every running statistic of one table."""

    def __init__(self, infos: list[ColumnInfo] | tuple[ColumnInfo, ...], entries: list[dict], text: bool) -> None:
        meta = {e["name"]: e for e in entries}
        self.columns = [_make_column(c, meta.get(c.name, {}), text) for c in infos]
        self.numbers = [c for c in self.columns if isinstance(c, _Numbers)]
        self.by_name = {c.info.name: c for c in self.numbers}
        roles: dict[Any, str] = {}  # the first numeric column of each role, in product.yaml order
        for e in entries:
            if e["name"] in self.by_name:
                roles.setdefault(e.get("role"), e["name"])
        self.z = roles.get("z")
        self.z_hist = _Histogram(*Z_GRID)
        self.mags = [(c.info.name, _Histogram(*MAG_GRID)) for c in self.numbers if c.role == "mag"]
        self.hists = [*([(self.z, self.z_hist)] if self.z else []), *self.mags]
        self.sky = _Sky(roles["ra"], roles["dec"]) if "ra" in roles and "dec" in roles else None
        self.sampler = _Sampler(RESERVOIR)

    def add(self, batch: dict[str, np.ndarray]) -> int:
        n = len(next(iter(batch.values()))) if batch else 0
        for col in self.columns:
            if not isinstance(col, _Numbers):
                col.add(batch[col.info.name])
        parts = []
        for col in self.numbers:
            arr = batch[col.info.name]
            masked = isinstance(arr, np.ma.MaskedArray)
            parts.append((np.asarray(arr.data if masked else arr), np.ma.getmaskarray(arr) if masked else None))
        for start in range(0, n, CHUNK_ROWS):
            rows = self.sampler.select(min(CHUNK_ROWS, n - start))
            cut = slice(start, start + CHUNK_ROWS)
            seen = {col.info.name: col.add_chunk(data[cut], None if mask is None else mask[cut], rows)
                    for col, (data, mask) in zip(self.numbers, parts, strict=True)}
            for name, hist in self.hists:
                hist.add(seen[name][2], self.by_name[name].last)
            if self.sky is not None:
                self.sky.add(seen[self.sky.ra], seen[self.sky.dec])
            if self.sampler.due():
                self._merge_samples()
        return n

    def _merge_samples(self) -> None:
        keep = self.sampler.merge()
        for col in self.numbers:
            col.merge_sample(keep)

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
    if info.shape:
        return _Column(info, role)
    if info.dtype in ("str", "bytes"):
        return _Strings(info, role, text)
    try:
        kind = np.dtype(info.dtype).kind
    except TypeError:
        return _Column(info, role)
    if kind in "iuf":
        return _Numbers(info, role, sentinels if isinstance(sentinels, list) else [])
    return _Booleans(info, role) if kind == "b" else _Column(info, role)


class _Column:
    """Any column: its nulls (for array columns, rows whose every element is missing)."""

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
        return {**self.head(), "nulls": self.nulls}


class _Strings(_Column):
    """Count, nulls and number of distinct values (up to :data:`DISTINCT_CAP`)."""

    def __init__(self, info: ColumnInfo, role: Any, text: bool) -> None:
        super().__init__(info, role)
        self.missing = list(MISSING) if text else []  # text has no typed null: "" or "NA" is one
        self.distinct: set | None = set()

    def add(self, arr: np.ndarray) -> None:
        import pandas as pd

        values = pd.Series(arr, dtype=object, copy=False)
        absent = values.isna()
        if self.missing:
            absent |= values.isin(self.missing)
        present = values[~absent]
        self.rows += len(arr)
        self.nulls += len(arr) - len(present)
        if self.distinct is not None:
            self.distinct.update(present.unique().tolist())
            if len(self.distinct) > DISTINCT_CAP:
                self.distinct = None

    def result(self) -> dict[str, Any]:
        out = {**self.head(), "count": self.rows - self.nulls, "nulls": self.nulls}
        if self.distinct is None:
            out["distinct_over"] = DISTINCT_CAP
        else:
            out["distinct"] = len(self.distinct)
        return out


class _Booleans(_Column):
    def __init__(self, info: ColumnInfo, role: Any) -> None:
        super().__init__(info, role)
        self.true = 0

    def add(self, arr: np.ndarray) -> None:
        data = np.asarray(arr.data if isinstance(arr, np.ma.MaskedArray) else arr)
        if isinstance(arr, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(arr)
            self.nulls += int(np.count_nonzero(mask))
            data = data[~mask]
        self.rows += len(arr)
        self.true += int(np.count_nonzero(data))

    def result(self) -> dict[str, Any]:
        return {**self.head(), "count": self.rows - self.nulls, "nulls": self.nulls, "true": self.true}


_Chunk = tuple[np.ndarray, "np.ndarray | None", np.ndarray]  # float64 values, valid mask (None: all), valid values


class _Numbers(_Column):
    """Count, nulls, sentinels, min, max, mean, std and a quantile sample of one numeric column."""

    def __init__(self, info: ColumnInfo, role: Any, sentinels: list) -> None:
        super().__init__(info, role)
        self.dtype = np.dtype(info.dtype)
        self.is_int = self.dtype.kind in "iu"
        self.sentinels = [(_sentinel_key(s), _in_dtype(s, self.dtype)) for s in sentinels
                          if isinstance(s, int | float) and not isinstance(s, bool)]
        self.hits = [0] * len(self.sentinels)
        self.infinite = self.n = 0
        self.mean = self.m2 = 0.0
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
            self.nulls += len(x) - int(np.count_nonzero(valid))
        if not self.is_int:
            finite = np.isfinite(x)
            if (n_finite := int(np.count_nonzero(finite))) < len(x):
                nan = int(np.count_nonzero(np.isnan(x)))
                self.nulls += nan
                self.infinite += len(x) - n_finite - nan
                valid = finite if valid is None else valid & finite
        for k, (_, value) in enumerate(self.sentinels):
            if value is not None:
                other = data != value
                if mask is not None:
                    other |= mask  # a null is not a sentinel
                if hits := len(x) - int(np.count_nonzero(other)):
                    self.hits[k] += hits
                    valid = other if valid is None else valid & other
        values = x if valid is None else x[valid]
        if len(values):
            self._update(values, data if valid is None else data[valid])
        if len(rows):
            self.pending.append(((data if self.is_int else x)[rows],
                                 np.ones(len(rows), bool) if valid is None else valid[rows]))
        return x, valid, values

    def _update(self, values: np.ndarray, native: np.ndarray) -> None:
        lo, hi = (native.min(), native.max()) if self.is_int else (values.min(), values.max())
        self.last = (float(lo), float(hi))
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        n = len(values)
        mean = float(values.sum()) / n
        dev = values - mean
        m2 = float(np.einsum("i,i->", dev, dev))  # not np.dot: BLAS threads cost more than they save here
        total = self.n + n  # Chan et al.: merge (n, mean, M2) of two parts without cancellation
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    def merge_sample(self, keep: np.ndarray | None) -> None:
        self.sample = np.concatenate([self.sample, *(v for v, _ in self.pending)])
        self.sample_ok = np.concatenate([self.sample_ok, *(ok for _, ok in self.pending)])
        self.pending = []
        if keep is not None:
            self.sample, self.sample_ok = self.sample[keep], self.sample_ok[keep]

    def result(self) -> dict[str, Any]:
        out = {**self.head(), "count": self.n, "nulls": self.nulls}
        if self.infinite:
            out["infinite"] = self.infinite
        out["sentinels"] = {key: hits for (key, _), hits in zip(self.sentinels, self.hits, strict=True)}
        if not self.n:
            return {**out, "min": None, "max": None, "mean": None, "std": None, "quantiles": None}
        qs = np.quantile(self.sample[self.sample_ok], QUANTILES, method="nearest" if self.is_int else "linear")
        return {**out, "min": _json_number(self.min), "max": _json_number(self.max), "mean": _round(self.mean),
                "std": _round(math.sqrt(self.m2 / self.n)),
                "quantiles": {f"{q:g}": _json_number(v) for q, v in zip(QUANTILES, qs, strict=True)}}


def _sentinel_key(value: float) -> str:
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
    """A uniform sample of rows in one pass: the rows with the smallest random keys.

    Candidates (keys below the largest kept key) wait in a buffer that is
    merged when it grows to half the sample, so that the per-chunk cost is a
    comparison, not a re-sort. One key per row, drawn in order: the sample does
    not depend on how the file is cut into batches.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(_SEED)
        self.keys = np.empty(0)
        self.pending: list[np.ndarray] = []
        self.waiting = 0
        self.limit = 1.0

    def select(self, n: int) -> np.ndarray:
        keys = self.rng.random(n)
        rows = np.flatnonzero(keys < self.limit)
        self.pending.append(keys[rows])
        self.waiting += len(rows)
        return rows

    def due(self) -> bool:
        return len(self.keys) + self.waiting > self.size * 3 // 2

    def merge(self) -> np.ndarray | None:
        """Fold the waiting candidates in; return which entries to keep (None: all)."""
        merged = np.concatenate([self.keys, *self.pending])
        self.pending, self.waiting = [], 0
        keep = None
        if len(merged) > self.size:
            keep = np.sort(np.argpartition(merged, self.size - 1)[: self.size])
            merged = merged[keep]
            self.limit = float(merged.max())
        self.keys = merged
        return keep


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
        """Edges and counts without the empty bins at both ends; merged to at most ``max_bins`` bins."""
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
        self.ra_lo = np.full(RA_BINS, np.inf)  # smallest and largest RA in each 1° bin
        self.ra_hi = np.full(RA_BINS, -np.inf)
        self.dec_lo, self.dec_hi = np.inf, -np.inf

    def add(self, ra: _Chunk, dec: _Chunk) -> None:
        (ra_x, ra_ok, ra_v), (dec_x, dec_ok, dec_v) = ra, dec
        if ra_ok is None and dec_ok is None and len(ra_v) and len(dec_v) and _inside(ra_v, dec_v):
            ok = None  # the usual case: nothing to leave out, no copies
        else:
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
        # float32 sine is several times faster; it can move a point only 1e-7 from a cell edge
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
        cells = np.stack([filled // SINDEC_BINS, filled % SINDEC_BINS, self.cells[filled]], axis=1)
        return {
            "ra_column": self.ra, "dec_column": self.dec, "grid": SKY_GRID, "count": int(self.cells.sum()),
            "cells": cells.tolist(), "cell_area_deg2": _round(CELL_AREA_DEG2),
            "area_deg2": _round(len(filled) * CELL_AREA_DEG2),
            "ra_min": _round(ra_min), "ra_max": _round(ra_max),
            "dec_min": _round(self.dec_lo), "dec_max": _round(self.dec_hi), "ra_wraps": wraps,
        }

    def _ra_extent(self, occupied: np.ndarray) -> tuple[float, float, bool]:
        """Smallest RA arc holding every position: the complement of the largest empty gap."""
        if occupied.all():
            return 0.0, 360.0, False
        first = int(np.argmax(occupied))  # rotate so that the circle starts with an occupied bin
        change = np.flatnonzero(np.diff(np.concatenate([[1], np.roll(occupied, -first).astype(np.int8), [1]])))
        gaps_start, gaps_end = change[0::2], change[1::2]  # runs of empty bins [start, end)
        k = int(np.argmax(gaps_end - gaps_start))
        start = (first + int(gaps_end[k])) % RA_BINS  # first occupied bin after the largest gap
        end = (first + int(gaps_start[k]) - 1) % RA_BINS  # last occupied bin before it
        return float(self.ra_lo[start]), float(self.ra_hi[end]), bool(start > end)


def _inside(ra: np.ndarray, dec: np.ndarray) -> bool:
    return bool(ra.min() >= 0 and ra.max() <= 360 and dec.min() >= -90 and dec.max() <= 90)


# --- preview and JSON --------------------------------------------------------


def _preview(path: Path, fmt: str | None, table: str | None) -> dict[str, Any]:
    import pandas as pd

    frame = read_head(path, PREVIEW_ROWS, format=fmt, table=table)

    def cell(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return f"array({'x'.join(map(str, v.shape))})"
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, float):
            return _round(v) if math.isfinite(v) else None
        if isinstance(v, bytes):
            return v.decode("latin-1")
        return v if isinstance(v, bool | int | str) else str(v)

    values = [[cell(v) for v in frame.iloc[:, k].tolist()] for k in range(frame.shape[1])]
    return {"columns": [str(c) for c in frame.columns], "rows": [list(r) for r in zip(*values, strict=True)]}


def _round(x: float) -> float:
    return float(f"{x:.7g}")


def _json_number(v: Any) -> int | float:
    v = v.item() if isinstance(v, np.generic) else v
    return _round(v) if isinstance(v, float) else v


def _scalar(v: Any) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, bool | int | str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot store {v!r} in JSON")
        return repr(_round(v))
    raise TypeError(f"cannot store a {type(v).__name__} in JSON: {v!r}")


def _dumps(obj: Any, level: int) -> str:
    """JSON with one key per line; lists of scalars and small dicts of scalars on one line."""
    pad, inner = " " * level, " " * (level + 1)
    nested = isinstance(obj, dict | list | tuple) and any(
        isinstance(v, dict | list | tuple) for v in (obj.values() if isinstance(obj, dict) else obj))
    if isinstance(obj, dict):
        if not nested and len(obj) <= 8:
            return "{" + ", ".join(f"{_scalar(str(k))}: {_scalar(v)}" for k, v in obj.items()) + "}"
        items = [f"{inner}{_scalar(str(k))}: {_dumps(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list | tuple):
        if not nested:
            return "[" + ", ".join(_scalar(v) for v in obj) + "]"
        return "[\n" + ",\n".join(inner + _dumps(v, level + 1) for v in obj) + "\n" + pad + "]"
    return _scalar(obj)
