"""Value records and column conversions shared by every table reader.

:mod:`site_builder.tables.reader` is the public interface and dispatches to one
module per format (:mod:`~site_builder.tables.text`,
:mod:`~site_builder.tables.fits`, :mod:`~site_builder.hdf5reader`; Parquet and
VOTable are short enough to stay in the façade). The records the readers
return and the helpers that bring their arrays to the conventions described in
:mod:`site_builder.tables.reader` live here, below all of them, so that the format
modules can use them without importing the façade that imports them (the
dependencies go one way: reader → format modules → tableinfo).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ColumnInfo:
    """One column: its name, numpy dtype name (or 'str'/'bytes') and per-row shape."""

    name: str
    dtype: str
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class TableInfo:
    """Schema and size of one table.

    ``table`` is the FITS HDU name (or index), HDF5 path or VOTable TABLE
    actually read; ``delimiter`` (as pandas ``sep``) and ``has_header`` are
    set for text tables only.
    """

    format: str
    columns: tuple[ColumnInfo, ...]
    num_rows: int
    table: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in file order."""
        return tuple(c.name for c in self.columns)


def finish(arr: Any) -> np.ndarray:
    """Bring one column of a batch to the shared conventions (see :mod:`site_builder.tables.reader`)."""
    if isinstance(arr, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(arr)
        data = np.asarray(arr.data)
        if not mask.any():
            arr = data
        elif data.dtype.kind in "fc":
            return np.where(mask, np.nan, _native(data))
        elif data.dtype.kind in "iub":
            return np.ma.MaskedArray(_native(data), mask=mask)
        else:
            out = data.astype(object)
            out[mask] = None
            return out
    arr = np.asarray(arr)
    if arr.dtype.kind in "US":
        return arr.astype(object)
    return _native(arr)


def _native(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def column_info(name: str, arr: np.ndarray) -> ColumnInfo:
    """Describe a column from a (possibly zero-row) sample of its converted values."""
    kind = arr.dtype.kind
    if kind == "O":
        first = next((v for v in arr.flat if v is not None), None)
        if isinstance(first, np.ndarray):
            return ColumnInfo(name, _dtype_name(first.dtype), (*arr.shape[1:], -1))
        return ColumnInfo(name, "bytes" if isinstance(first, bytes) else "str", arr.shape[1:])
    return ColumnInfo(name, _dtype_name(arr.dtype), arr.shape[1:])


def _dtype_name(dtype: np.dtype) -> str:
    return {"U": "str", "S": "bytes", "O": "str"}.get(dtype.kind, dtype.name)


def label_list(labels: Sequence[str]) -> str:
    """Table names for an error message that asks the user to pick one."""
    return ", ".join(labels) if labels else "none"
