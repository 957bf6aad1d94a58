"""FITS binary tables, memory-mapped and decoded by hand one slice at a time.

The public interface is :mod:`site_builder.tables.reader`; this module holds the FITS
part. astropy opens the file (``lazy_load_hdus``) and parses the headers: the
HDU list, the column definitions (``TFORMn``, ``TSCALn``, ``TZEROn``) and
where each HDU's data starts come from it. The rows do not, because astropy's
``FITS_rec`` converts and caches whole columns the first time any slice of
them is asked for, so a large table would be pulled into memory at once.
Instead the raw rows (big-endian, unconverted) and the heap are memory-mapped
with numpy, and each batch decodes only its own slice: logical ``L`` to bool,
bit arrays ``X`` to bool arrays, ``A`` strings to ``str``, integers with the
standard ``TZEROn`` offset to exact unsigned (or signed-byte) integers rather
than float, other scaled columns to floating point, and variable-length
arrays (``P``/``Q``) from the heap to one array per row. Every batch is a
native-order copy, never a view of the map.

Only binary tables (``BINTABLE``) are read: ASCII tables (``TABLE``) and
images, compressed ones included, are refused with a list of the HDUs so that
the 'table' field can be set to one that is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from site_builder.errors import DataFileError
from site_builder.tables.info import TableInfo, column_info


def get_fits_info(path: Path, table: str | None) -> TableInfo:
    """Schema and row count of a FITS binary table, from its header and first row.

    ``table`` is an HDU name or index; None picks the first binary table.
    Raises :class:`DataFileError` if there is no such table.
    """
    t = _fits_table(path, table)
    columns = tuple(column_info(n, _fits_column(t, n, 0, 1)) for n in t.columns)
    return TableInfo("fits", columns, len(t.rows), t.label)


def iter_fits_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    """Yield ``columns`` of the table ``info`` describes, ``batch_rows`` rows at a time."""
    t = _fits_table(path, info.table)
    for start in range(0, len(t.rows), batch_rows):
        yield {name: _fits_column(t, name, start, start + batch_rows) for name in columns}


def _fits_open(path: Path) -> Any:
    from astropy.io import fits

    try:
        return fits.open(path, memmap=True, lazy_load_hdus=True)
    except (OSError, ValueError) as err:
        raise DataFileError(f"cannot open the FITS file ({err})") from None


def _fits_select(hdul: Any, table: str | None) -> tuple[str, int]:
    """The label and index of the binary table HDU to read."""
    from astropy.io import fits

    hdus = list(hdul)

    def is_table(hdu: Any) -> bool:  # compressed images are BINTABLEs on disk
        return isinstance(hdu, fits.BinTableHDU) and not isinstance(hdu, fits.CompImageHDU)

    def describe(i: int) -> str:
        hdu, rows = hdus[i], hdus[i].header.get("NAXIS2", 0)
        if is_table(hdu) or isinstance(hdu, fits.TableHDU):
            kind = "table" if is_table(hdu) else "ASCII table, not supported"
            return f"{i} {hdu.name!r} ({kind}, {rows} row{'s' * (rows != 1)})"
        shape = f"shape {hdu.shape}" if hdu.header.get("NAXIS", 0) else "empty"
        return f"{i} {hdu.name!r} (image, {shape})"

    listing = "; ".join(describe(i) for i in range(len(hdus)))
    if table is None:
        index = next((i for i, hdu in enumerate(hdus) if is_table(hdu)), -1)
        if index < 0:
            images = [i for i, h in enumerate(hdus) if h.header.get("NAXIS", 0)]
            what = f"holds an image ({describe(images[0])}) but " if images else ""
            raise DataFileError(
                f"the FITS file {what}has no binary table HDU (BINTABLE); only FITS tables "
                f"can be read; HDUs: {listing}"
            )
    elif table.isdigit():
        index = int(table)
    else:
        index = next((i for i, h in enumerate(hdus) if h.name.upper() == table.upper()), -1)
    if not 0 <= index < len(hdus):
        raise DataFileError(
            f"no HDU {table!r} in the FITS file; set 'table' to one of its tables (HDUs: {listing})"
        )
    if not is_table(hdus[index]):
        raise DataFileError(
            f"HDU {describe(index)} is not a binary table; set 'table' to a table HDU "
            f"(HDUs: {listing})"
        )
    name = hdus[index].name  # the label is the name, unless another HDU shares it
    unique = name and sum(h.name == name for h in hdus) == 1
    return (name if unique else str(index)), index


@dataclass(frozen=True)
class _FitsTable:
    """A binary table's raw rows and heap, memory-mapped (big-endian, unconverted)."""

    label: str
    rows: np.ndarray
    heap: np.ndarray | None
    columns: dict[str, tuple[str, Any]]  # name -> (raw field, astropy Column)


def _fits_table(path: Path, table: str | None) -> _FitsTable:
    # We map the rows ourselves: astropy's FITS_rec converts and caches whole
    # columns even when only a slice is asked for, so it cannot stream.
    with _fits_open(path) as hdul:
        label, index = _fits_select(hdul, table)
        header, coldefs = hdul[index].header, hdul[index].columns
        start = hdul.fileinfo(index)["datLoc"]
    dtype = coldefs.dtype.newbyteorder(">")
    width, n = header["NAXIS1"], header["NAXIS2"]
    if dtype.itemsize != width:
        raise DataFileError(f"FITS HDU {label!r}: NAXIS1 = {width} does not match its TFORMn columns")
    rows = np.memmap(path, dtype, "r", start, (n,)) if n else np.zeros(0, dtype)
    heap_start = header.get("THEAP", width * n)
    heap_size = width * n + header.get("PCOUNT", 0) - heap_start
    heap = np.memmap(path, np.uint8, "r", start + heap_start, (heap_size,)) if heap_size > 0 else None
    columns = {col.name: (field, col) for field, col in zip(dtype.names, coldefs, strict=True)}
    return _FitsTable(label, rows, heap, columns)


_FITS_OFFSET_INTS = {("B", -128): "i1", ("I", 2**15): "u2", ("J", 2**31): "u4", ("K", 2**63): "u8"}


def _fits_values(raw: np.ndarray, letter: str, col: Any) -> np.ndarray:
    """Convert raw FITS values of one column (TFORM letter) to what a reader yields."""
    if letter == "L":
        return raw == ord("T")
    if letter == "X":
        bits = np.unpackbits(raw.reshape(len(raw), -1), axis=1)
        return bits[:, : col.format.repeat].astype(bool)
    if letter == "A":
        return np.char.rstrip(np.char.decode(raw, "ascii", "replace"), " \x00").astype(object)
    native = np.array(raw, dtype=raw.dtype.newbyteorder("="))  # a copy, never a view of the map
    scale, zero = col.bscale, col.bzero
    if scale in (None, 1) and (letter, zero) in _FITS_OFFSET_INTS:  # unsigned ints, and int8
        unsigned = native.view(f"u{native.itemsize}")
        top = unsigned.dtype.type(1 << (8 * native.itemsize - 1))
        return (unsigned ^ top).view(_FITS_OFFSET_INTS[letter, zero])
    if scale not in (None, 1) or zero not in (None, 0):
        return native * float(scale or 1) + float(zero or 0)
    return native


def _fits_column(t: _FitsTable, name: str, start: int, stop: int) -> np.ndarray:
    field, col = t.columns[name]
    raw = t.rows[field][start:stop]
    if col.format.format not in "PQ":
        return _fits_values(raw, col.format.format, col)
    inner = col.format.recformat  # variable-length arrays: (count, offset) into the heap
    dtype = np.dtype(">" + inner.dtype)
    out = np.empty(len(raw), dtype=object)
    for i, (count, offset) in enumerate(raw):
        values = t.heap[offset : offset + count * dtype.itemsize].view(dtype)
        out[i] = _fits_values(values, inner.format, col)
    return out
