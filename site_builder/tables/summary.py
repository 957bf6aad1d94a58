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
from site_builder.tables.stats import (
    CELL_AREA_DEG2,
    MAX_SKY_CELLS,
    RESERVOIR,
    Chunk,
    Histogram,
    Sampler,
    Sky,
    round_float,
    written,
)
from site_builder.tables.text import MISSING

__all__ = ["CELL_AREA_DEG2", "MAX_SKY_CELLS", "RESERVOIR", "SCHEMA_VERSION", "SUMMARY_FILE", "read_summary",
           "summarize_file", "write_summary"]

SUMMARY_FILE = "summary.json"
SCHEMA_VERSION = 1

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DISTINCT_CAP = 1000  #: distinct values of a string column are counted up to this many
PREVIEW_ROWS = 10
CHUNK_ROWS = 65_536
Z_GRID, Z_MAX_BINS = (-0.05, 7.0, 0.01), 100
MAG_GRID = (10.0, 40.0, 0.1)

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
        self.z_hist = Histogram(*Z_GRID)
        self.mags = [(n, Histogram(*MAG_GRID)) for n, c in self.numbers.items() if c.role == "mag"]
        self.hists = [*([(self.z, self.z_hist)] if self.z else []), *self.mags]
        self.sky = Sky(roles["ra"], roles["dec"]) if "ra" in roles and "dec" in roles else None
        self.sampler = Sampler(RESERVOIR)

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

    def add_chunk(self, data: np.ndarray, mask: np.ndarray | None, rows: np.ndarray) -> Chunk:
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
        self.sample = written(self.sample, slots, values[picked], length)
        self.sample_ok = written(self.sample_ok, slots, ok[picked], length)

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


def _preview(path: Path, fmt: str | None, table: str | None) -> dict[str, Any]:
    """The first rows, JSON-safe, from the first batch (numpy only: no pandas to import)."""

    def cell(v: Any, masked: bool) -> Any:
        if masked or v is None:
            return None
        if isinstance(v, np.ndarray):
            return f"array({'x'.join(map(str, v.shape))})"
        v = v.item() if isinstance(v, np.generic) else v
        if isinstance(v, float):
            return round_float(v) if math.isfinite(v) else None
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


def _number(v: Any) -> int | float | None:
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float):
        return round_float(v) if math.isfinite(v) else None  # a sum beyond 1.8e308, say
    return v


def _scalar(v: Any) -> str:
    v = v.item() if isinstance(v, np.generic) else v
    if v is None or isinstance(v, bool | int | str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and math.isfinite(v):
        return repr(round_float(v))
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
