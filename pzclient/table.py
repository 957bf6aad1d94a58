"""Read one product file as a table: Parquet, CSV/TSV/whitespace text, FITS, HDF5, VOTable.

Integers stay integers (64-bit ids above 2**53 are exact), byte order is made native,
and a column with one value per row that is itself an array (a PDF on a grid) is kept as a
multi-dimensional column in astropy and as a column of arrays in pandas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FormatError

__all__ = ["TABULAR_FORMATS", "guess_format", "read_table"]

TABULAR_FORMATS = ("parquet", "csv", "tsv", "text", "fits", "hdf5", "votable")
_SEPARATORS = {"csv": ",", "tsv": "\t", "text": r"\s+"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)$",
                     re.IGNORECASE)


def read_table(path: Path, fmt: str | None, *, table: str | None = None,
               columns: Sequence[str] | None = None, kind: str = "pandas",
               names: Sequence[str] = (), label: str | None = None) -> Any:
    """Read ``path`` as a ``pandas.DataFrame`` (``kind="pandas"``) or ``astropy.table.Table``.

    Parameters
    ----------
    fmt
        Declared format (``files[].format`` of product.yaml); None guesses from the suffix.
    table
        FITS HDU or HDF5 group/dataset holding the table, when it is not the first one.
    columns
        Only these columns, in this order.
    names
        Column names from the metadata, used for a text file without a header line.
    label
        How to name the file in error messages (its path in the product).
    """
    label = label or path.name
    fmt = (fmt or guess_format(path)).lower()
    if kind not in ("pandas", "astropy"):
        raise ValueError(f"format={kind!r}: use 'pandas' or 'astropy'")
    readers = {"parquet": _parquet, "csv": _text, "tsv": _text, "text": _text, "fits": _fits,
               "hdf5": _hdf5, "votable": _votable}
    if fmt not in readers:
        raise FormatError(f"{label}: format {fmt!r} is not a table (readable: "
                          f"{', '.join(TABULAR_FORMATS)}); use download() and open it yourself")
    wanted = list(columns) if columns is not None else None
    try:
        return readers[fmt](path, fmt=fmt, table=table, columns=wanted, kind=kind, names=names)
    except FormatError as err:
        raise FormatError(f"{label}: {err}") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FormatError(f"{label}: cannot read it as {fmt}: {err}") from None


def guess_format(path: Path) -> str:
    """The format a file name suggests (``.pq`` is parquet, ``.h5`` hdf5, ...)."""
    suffix = path.suffix.lower().lstrip(".")
    return {"pq": "parquet", "pqt": "parquet", "parq": "parquet", "fit": "fits", "fz": "fits",
            "h5": "hdf5", "hdf": "hdf5", "vot": "votable", "xml": "votable", "txt": "text",
            "dat": "text"}.get(suffix, suffix)


def _select(available: Sequence[str], wanted: list[str] | None) -> list[str]:
    if wanted is None:
        return list(available)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise FormatError(f"no column {', '.join(map(repr, missing))}; the columns are "
                          f"{', '.join(map(repr, available))}")
    return wanted


def _parquet(path: Path, *, columns: list[str] | None, kind: str, **_: Any) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Through a memory map, Arrow decodes straight from the page cache: no copy of the file
    # into its own buffers first (about a fifth of the read's CPU, see bench/client.py). The
    # decoded columns are new buffers, so the frame does not depend on the file afterwards.
    with pa.memory_map(str(path)) as source:
        if columns is not None:
            _select(pq.read_schema(source).names, columns)
        arrow = pq.read_table(source, columns=columns)
    frame = arrow.to_pandas()
    return frame if kind == "pandas" else _to_astropy(frame)


def _text(path: Path, *, fmt: str, columns: list[str] | None, kind: str,
          names: Sequence[str], **_: Any) -> Any:
    first = _first_record(path, fmt)
    if first is None:
        raise FormatError("the file holds no data (only comments and blank lines)")
    header = not all(_NUMBER.match(v.strip().strip('"')) for v in first)
    if not header and len(names) != len(first):
        raise FormatError(f"no header line, and the metadata lists {len(names)} columns for "
                          f"{len(first)} fields; list every column in product.yaml")
    frame = pd.read_csv(path, sep=_SEPARATORS[fmt], comment="#", header=0 if header else None,
                        names=None if header else list(names), skip_blank_lines=True)
    frame = frame[_select(list(frame.columns), columns)]
    return frame if kind == "pandas" else _to_astropy(frame)


def _first_record(path: Path, fmt: str) -> list[str] | None:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            text = line.strip()
            if text and not text.startswith("#"):
                return text.split() if fmt == "text" else text.split(_SEPARATORS[fmt])
    return None


def _fits(path: Path, *, table: str | None, columns: list[str] | None, kind: str, **_: Any) -> Any:
    from astropy.io import fits
    from astropy.table import Table

    with fits.open(path, memmap=False) as hdul:
        tables = [i for i, h in enumerate(hdul) if isinstance(h, fits.BinTableHDU | fits.TableHDU)]
        if not tables:
            raise FormatError("no table HDU in this FITS file")
        if table is None:
            hdu = tables[0]
        elif str(table).isdigit():
            hdu = int(table)
        else:
            names = [h.name for h in hdul]
            if str(table).upper() not in names:
                raise FormatError(f"no HDU {table!r}; the HDUs are {', '.join(map(repr, names))}")
            hdu = names.index(str(table).upper())
        result = Table.read(hdul, hdu=hdu)
    result = result[_select(result.colnames, columns)] if columns is not None else result
    for name in result.colnames:
        if result[name].dtype.byteorder == ">":
            result[name] = result[name].astype(result[name].dtype.newbyteorder("="))
    return result if kind == "astropy" else _to_pandas(result)


def _hdf5(path: Path, *, table: str | None, columns: list[str] | None, kind: str, **_: Any) -> Any:
    try:
        import h5py
    except ImportError:
        raise FormatError("reading HDF5 needs h5py: pip install h5py") from None
    with h5py.File(path, "r") as f:
        if table is not None and table not in f:
            raise FormatError(f"no group or dataset {table!r}; the file has "
                              f"{', '.join(map(repr, f.keys()))}")
        node = f[table] if table is not None else _hdf5_find(f)
        if isinstance(node, h5py.Dataset):
            if node.dtype.names is None:
                raise FormatError(f"dataset {node.name!r} is not a table (no named fields)")
            data = node[()]
            values = {n: _native(data[n]) for n in _select(list(node.dtype.names), columns)}
        else:
            members = {k: v for k, v in node.items() if isinstance(v, h5py.Dataset) and v.ndim >= 1}
            rows = {v.shape[0] for v in members.values() if v.ndim == 1} or {
                v.shape[0] for v in members.values()}
            if len(rows) != 1:
                raise FormatError(f"group {node.name!r} holds datasets of different lengths "
                                  f"({sorted(rows)}); name the group of the table in files[].table")
            (n,) = rows
            names = [k for k, v in members.items() if v.shape[0] == n]
            values = {k: _native(members[k][()]) for k in _select(names, columns)}
    from astropy.table import Table

    result = Table(values)
    return result if kind == "astropy" else _to_pandas(result)


def _hdf5_find(f: Any) -> Any:
    """The first group (breadth first) of 1-D datasets of one length, or compound dataset."""
    import h5py

    todo = [f]
    while todo:
        node = todo.pop(0)
        datasets = [v for v in node.values() if isinstance(v, h5py.Dataset)]
        if any(d.dtype.names for d in datasets):
            return next(d for d in datasets if d.dtype.names)
        one_d = [d for d in datasets if d.ndim == 1]
        if one_d and len({d.shape[0] for d in one_d}) == 1:
            return node
        todo.extend(v for v in node.values() if isinstance(v, h5py.Group))
    raise FormatError("no table in this HDF5 file (a group of 1-D datasets or a compound "
                      "dataset); name it in files[].table")


def _votable(path: Path, *, columns: list[str] | None, kind: str, **_: Any) -> Any:
    from astropy.io.votable import parse_single_table

    result = parse_single_table(str(path)).to_table(use_names_over_ids=True)
    result = result[_select(result.colnames, columns)] if columns is not None else result
    return result if kind == "astropy" else _to_pandas(result)


def _native(array: np.ndarray) -> np.ndarray:
    if array.dtype.byteorder == ">":
        return array.astype(array.dtype.newbyteorder("="))
    return array


def _to_pandas(result: Any) -> pd.DataFrame:
    """An astropy Table as a DataFrame; multi-dimensional columns become columns of arrays."""
    data: dict[str, Any] = {}
    for name in result.colnames:
        column = result[name]
        values = np.asarray(column)
        if values.dtype.byteorder == ">":
            values = values.astype(values.dtype.newbyteorder("="))
        if values.ndim > 1:
            data[name] = pd.Series(list(values), dtype=object)
        elif getattr(column, "mask", None) is not None and np.any(column.mask):
            data[name] = pd.Series(column.filled(np.nan) if values.dtype.kind == "f" else
                                   np.ma.asarray(column).astype(object).filled(None))
        else:
            data[name] = values
    return pd.DataFrame(data)


def _to_astropy(frame: pd.DataFrame) -> Any:
    from astropy.table import Table

    return Table.from_pandas(frame)
