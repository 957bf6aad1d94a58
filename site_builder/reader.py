"""Read tables of every supported format behind one small interface.

Four functions cover what the catalogue needs from a data file:
:func:`detect_format` (by content, never by extension), :func:`get_table_info`
(schema and row count without loading the data), :func:`read_head` (a preview
as a DataFrame) and :func:`iter_batches` (the whole table in bounded memory).

Conventions shared by every format, so that callers need not care which one
they got:

- 64-bit integers stay ``int64`` end to end (ids above 2**53 are exact).
- String columns are object arrays of ``str`` (dtype name ``'str'``); raw
  byte strings (HDF5 fixed-length, Parquet binary) are object arrays of
  ``bytes`` (``'bytes'``).
- Array columns (a PDF per row) have shape ``(rows, *shape)``; a variable
  length is ``-1`` in :attr:`ColumnInfo.shape` and an object array of arrays.
- Integer or boolean columns that declare nulls (Parquet, VOTable) come as
  ``numpy.ma.MaskedArray`` so that the dtype stays the same in every batch
  (use ``np.ma.getmaskarray``; ``np.asarray`` drops the mask). Text has no
  typed nulls: an integer column with an empty value is float64.
- Batches are writable arrays that belong to the caller, in native byte order.
- FITS binary tables are memory-mapped and decoded slice by slice (astropy's
  ``FITS_rec`` converts whole columns); ASCII FITS tables are refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from site_builder import textreader
from site_builder.errors import DataFileError

if TYPE_CHECKING:
    import h5py
    import pandas as pd
    import pyarrow as pa

FORMATS = ("csv", "tsv", "text", "parquet", "fits", "hdf5", "votable")
TEXT_FORMATS = ("csv", "tsv", "text")
_NAMES = {"parquet": "Parquet", "fits": "FITS", "hdf5": "HDF5", "votable": "VOTable"}
_MISSING_MAGIC = {
    "parquet": "no PAR1 magic",
    "fits": "no 'SIMPLE  =' card",
    "hdf5": "no HDF5 signature",
    "votable": "no VOTABLE root element",
}
_HEAD_BYTES = 65_536
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_XML_PROLOGUE = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)
_XML_ROOT = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)")


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


def detect_format(path: Path | str) -> str | None:
    """Name the format of a file from its content (magic bytes), not its extension.

    Parameters
    ----------
    path
        The data file.

    Returns
    -------
    str or None
        One of :data:`FORMATS`, or None for an empty file or content that is
        neither a known binary format nor a UTF-8 text table.

    Raises
    ------
    DataFileError
        If the file does not exist or is not a regular file.
    """
    path = _existing(Path(path))
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        at_eof = not f.read(1)
    found = _binary_format(head)
    if found is not None:
        return found
    try:
        return textreader.sniff_text(head, at_eof)
    except DataFileError:
        return None


def _binary_format(head: bytes) -> str | None:
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    # An HDF5 file may start with a user block of 512, 1024, 2048 ... bytes.
    if any(head.startswith(_HDF5_MAGIC, at) for at in (0, *(512 << k for k in range(7)))):
        return "hdf5"
    if _xml_root(head) == "VOTABLE":
        return "votable"
    return None


def _xml_root(head: bytes) -> str | None:
    """Local name of the first element of an XML document, or None."""
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while match := _XML_PROLOGUE.match(head, pos):
        pos = match.end()
    root = _XML_ROOT.match(head, pos)
    return root.group(1).decode("ascii", "replace").rpartition(":")[2] if root else None


def get_table_info(
    path: Path | str, format: str | None = None, table: str | None = None
) -> TableInfo:
    """Schema and row count of a table, without loading a large file into memory.

    Parameters
    ----------
    path
        The data file.
    format
        One of :data:`FORMATS`; None detects it from the content.
    table
        FITS HDU name or index (``'ANCIL'``, ``'2'``), HDF5 group or dataset
        path (``'photometry'``), VOTable TABLE ID, name or index. None picks
        the first table (FITS, VOTable) or the only one (HDF5).

    Returns
    -------
    TableInfo
        Parquet from its metadata, FITS from headers, HDF5 from dataset
        shapes, text from one chunked pass over the file.

    Raises
    ------
    DataFileError
        If the file cannot be read as that format; the message says how to fix it.
    """
    path, fmt = _prepare(path, format, table)
    if fmt in TEXT_FORMATS:
        dialect = textreader.load_dialect(path, fmt)
        num_rows, dtypes = textreader.scan(path, dialect)
        columns = tuple(ColumnInfo(n, d) for n, d in zip(dialect.names, dtypes, strict=True))
        return TableInfo(fmt, columns, num_rows, None, dialect.delimiter_label, dialect.has_header)
    return _BACKENDS[fmt][0](path, table)


def read_head(
    path: Path | str, n: int = 10, format: str | None = None, table: str | None = None
) -> pd.DataFrame:
    """The first ``n`` rows of a table as a pandas DataFrame.

    Array columns become object columns holding one numpy array per cell;
    masked integers become pandas nullable ``Int64`` (likewise booleans).
    For text tables the dtypes are inferred from these rows only, so they can
    differ from :func:`get_table_info` (say, int64 here and float64 there when
    a later row is empty).

    Parameters
    ----------
    path, format, table
        As in :func:`get_table_info`.
    n
        How many rows (fewer if the table is shorter).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    path, fmt = _prepare(path, format, table)
    if fmt in TEXT_FORMATS:
        dialect = textreader.load_dialect(path, fmt)
        return _to_frame(textreader.read_text_head(path, dialect, n))
    info = _BACKENDS[fmt][0](path, table)
    batches = _BACKENDS[fmt][1](path, info, list(info.names), max(n, 1))
    batch = next(batches, None)
    batches.close()
    if batch is None:
        return pd.DataFrame({c.name: [] for c in info.columns})
    return _to_frame({name: arr[:n] for name, arr in batch.items()})


def iter_batches(
    path: Path | str,
    columns: list[str] | None = None,
    format: str | None = None,
    table: str | None = None,
    batch_rows: int = 1_000_000,
) -> Iterator[dict[str, np.ndarray]]:
    """Stream a table in bounded memory.

    Parameters
    ----------
    path, format, table
        As in :func:`get_table_info`.
    columns
        Names to read, in the order wanted; None reads all.
    batch_rows
        Upper bound on the rows of one batch (Parquet batches also end at row
        group boundaries).

    Yields
    ------
    dict of str to numpy.ndarray
        Column name to an array of at most ``batch_rows`` rows, in file order;
        array columns have shape ``(rows, *shape)``. A table without rows
        yields nothing.

    Raises
    ------
    DataFileError
        If the file cannot be read or a requested column does not exist. Text
        tables are read twice (first to fix the dtypes), so a bad row raises
        before any batch is yielded.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
    path, fmt = _prepare(path, format, table)
    if fmt in TEXT_FORMATS:
        dialect = textreader.load_dialect(path, fmt)
        names = _check_columns(columns, dialect.names)
        _, dtypes = textreader.scan(path, dialect)
        yield from textreader.iter_text_batches(path, dialect, dtypes, names, batch_rows)
        return
    info = _BACKENDS[fmt][0](path, table)
    yield from _BACKENDS[fmt][1](path, info, _check_columns(columns, info.names), batch_rows)


# --- shared helpers ----------------------------------------------------------


def _existing(path: Path) -> Path:
    if not path.exists():
        raise DataFileError(f"no such file: '{path}'; fetch the data (dvc pull) or fix the path")
    if not path.is_file():
        raise DataFileError(f"'{path}' is not a regular file")
    return path


def _prepare(path: Path | str, format: str | None, table: str | None) -> tuple[Path, str]:
    """Check the file against ``format`` (or detect it); return the path and format."""
    path = _existing(Path(path))
    if os.path.getsize(path) == 0:
        raise DataFileError("file is empty")
    if format is not None and format not in FORMATS:
        raise DataFileError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
        at_eof = not f.read(1)
    binary = _binary_format(head)
    if binary is not None and format in (None, binary):
        fmt = binary
    elif binary is not None:
        raise DataFileError(
            f"not {_a(_kind(format))} file: the content is {_NAMES[binary]}; "
            f"set the 'format' field to {binary!r}"
        )
    elif format not in (None, *TEXT_FORMATS):
        raise DataFileError(
            f"not {_a(_NAMES[format])} file ({_MISSING_MAGIC[format]}); "
            f"{_describe_text(head, at_eof)}; is the 'format' field right?"
        )
    else:
        try:
            sniffed = textreader.sniff_text(head, at_eof)
        except DataFileError as err:
            if format is not None:
                raise
            raise DataFileError(
                f"unknown format: not Parquet, FITS, HDF5 or VOTable, and not a text table: {err}"
            ) from None
        fmt = format or sniffed
    if table is not None and fmt not in ("fits", "hdf5", "votable"):
        raise DataFileError(
            f"'table' is {table!r}, but {_kind(fmt)} files hold a single table; remove 'table'"
        )
    return path, fmt


def _a(name: str) -> str:
    return f"an {name}" if name.startswith("HDF") else f"a {name}"


def _kind(fmt: str | None) -> str:
    return _NAMES.get(fmt or "", fmt.upper() if fmt else "table")


def _describe_text(head: bytes, at_eof: bool) -> str:
    try:
        return f"the content looks like a {textreader.sniff_text(head, at_eof)} table"
    except DataFileError as err:
        return f"the content is {err}"


def _check_columns(wanted: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    if wanted is None:
        return list(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise DataFileError(
            f"no column {unknown[0]!r} in the table; its columns are {', '.join(map(repr, available))}"
        )
    return list(wanted)


def _finish(arr: Any) -> np.ndarray:
    """Bring one column of a batch to the shared conventions (see module docs)."""
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


def _column_info(name: str, arr: np.ndarray) -> ColumnInfo:
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


def _to_frame(batch: dict[str, np.ndarray]) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {}
    for name, arr in batch.items():
        if arr.ndim > 1:
            data[name] = pd.Series(list(arr), dtype=object)
        elif isinstance(arr, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(arr)
            cls = pd.arrays.BooleanArray if arr.dtype.kind == "b" else pd.arrays.IntegerArray
            data[name] = cls(np.asarray(arr.data), mask)
        else:
            data[name] = arr
    return pd.DataFrame(data)


def _label_list(labels: Sequence[str]) -> str:
    return ", ".join(labels) if labels else "none"


# --- Parquet -----------------------------------------------------------------


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataFileError(
            f"cannot read the Parquet metadata ({err}); the file may be truncated: download it again"
        ) from None


def _parquet_info(path: Path, table: str | None) -> TableInfo:
    with _parquet_file(path) as pf:
        schema, num_rows = pf.schema_arrow, pf.metadata.num_rows
    return TableInfo("parquet", tuple(_arrow_column(f) for f in schema), num_rows)


def _arrow_column(field: pa.Field) -> ColumnInfo:
    import pyarrow as pa

    t, shape = field.type, ()
    while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        shape += (t.list_size if pa.types.is_fixed_size_list(t) else -1,)
        t = t.value_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return ColumnInfo(field.name, "str", shape)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return ColumnInfo(field.name, "bytes", shape)
    try:
        return ColumnInfo(field.name, np.dtype(t.to_pandas_dtype()).name, shape)
    except (NotImplementedError, TypeError):
        return ColumnInfo(field.name, str(t), shape)  # nested structs etc.: described, not typed


def _parquet_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    with _parquet_file(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            yield {name: _arrow_to_numpy(batch.column(name)) for name in columns}


def _arrow_to_numpy(array: pa.Array) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    t = array.type
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        flat = array.values.slice(array.offset * size, len(array) * size)
        inner = _arrow_to_numpy(flat)
        out = inner.reshape(len(array), size, *inner.shape[1:])
        if not array.null_count:
            return out
        rows = array.is_null().to_numpy(zero_copy_only=False)
        if out.dtype.kind in "fc":
            out[rows] = np.nan
            return out
        mask = np.zeros(out.shape, dtype=bool)
        mask[rows] = True
        return np.ma.MaskedArray(out, mask=mask)
    if (pa.types.is_integer(t) or pa.types.is_boolean(t)) and array.null_count:
        data = pc.fill_null(array, False if pa.types.is_boolean(t) else 0)
        mask = array.is_null().to_numpy(zero_copy_only=False)
        return np.ma.MaskedArray(data.to_numpy(zero_copy_only=False, writable=True), mask=mask)
    return _finish(array.to_numpy(zero_copy_only=False, writable=True))  # callers may write


# --- FITS --------------------------------------------------------------------


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


def _fits_info(path: Path, table: str | None) -> TableInfo:
    t = _fits_table(path, table)
    columns = tuple(_column_info(n, _fits_column(t, n, 0, 1)) for n in t.columns)
    return TableInfo("fits", columns, len(t.rows), t.label)


def _fits_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    t = _fits_table(path, info.table)
    for start in range(0, len(t.rows), batch_rows):
        yield {name: _fits_column(t, name, start, start + batch_rows) for name in columns}


# --- HDF5 --------------------------------------------------------------------


@dataclass(frozen=True)
class _H5Table:
    """Where each column lives: (column name, dataset path, compound field or None)."""

    label: str
    columns: tuple[tuple[str, str, str | None], ...]
    num_rows: int


def _h5_open(path: Path) -> h5py.File:
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataFileError(f"cannot open the HDF5 file ({err})") from None


def _h5_members(group: h5py.Group) -> tuple[list[Any], list[Any], list[Any]]:
    """Compound datasets, other datasets with rows, and subgroups of a group."""
    import h5py

    compound, plain, groups = [], [], []
    for obj in group.values():
        if isinstance(obj, h5py.Group):
            groups.append(obj)
        elif isinstance(obj, h5py.Dataset) and obj.ndim >= 1:
            (compound if obj.dtype.names else plain).append(obj)
    return compound, plain, groups


def _h5_label(obj: Any) -> str:
    return obj.name.strip("/") or "/"


def _h5_table(f: h5py.File, table: str | None) -> _H5Table:
    import h5py

    node = f
    if table is not None:
        key = table.strip("/") or "/"
        if key != "/" and key not in f:
            raise DataFileError(
                f"no group or dataset {table!r} in the HDF5 file; set 'table' to one of: "
                f"{_label_list(_h5_candidates(f))}"
            )
        node = f[key]
        if isinstance(node, h5py.Dataset):
            return _h5_from_dataset(node)
    while True:
        compound, plain, groups = _h5_members(node)
        if len(compound) == 1 and not plain:
            return _h5_from_dataset(compound[0])
        if plain and not compound:
            return _h5_from_group(node, plain)
        if compound or plain or len(groups) != 1:
            break
        node = groups[0]
    found = _h5_candidates(node)
    if not found:
        raise DataFileError(f"no datasets in HDF5 group {_h5_label(node)!r}; there is no table to read")
    raise DataFileError(
        f"the HDF5 file holds several tables: {_label_list(found)}; set 'table' to the one to read"
    )


def _h5_from_dataset(ds: h5py.Dataset) -> _H5Table:
    if ds.ndim == 0:
        raise DataFileError(f"HDF5 dataset {_h5_label(ds)!r} is a scalar, not a table")
    if ds.dtype.names:
        columns = tuple((field, ds.name, field) for field in ds.dtype.names)
    else:
        columns = ((ds.name.rpartition("/")[2], ds.name, None),)
    return _H5Table(_h5_label(ds), columns, ds.shape[0])


def _h5_from_group(group: h5py.Group, datasets: list[h5py.Dataset]) -> _H5Table:
    lengths = {ds.shape[0] for ds in datasets}
    if len(lengths) > 1:
        sizes = ", ".join(f"{ds.name.rpartition('/')[2]!r}: {ds.shape[0]}" for ds in datasets)
        raise DataFileError(
            f"the datasets of HDF5 group {_h5_label(group)!r} have different lengths ({sizes}); "
            "set 'table' to a group whose datasets share one length, or to one dataset"
        )
    columns = tuple((ds.name.rpartition("/")[2], ds.name, None) for ds in datasets)
    return _H5Table(_h5_label(group), columns, lengths.pop())


def _h5_candidates(node: h5py.Group) -> list[str]:
    """Groups of datasets and compound datasets under ``node``, with their lengths."""
    import h5py

    found: list[str] = []

    def add(obj: Any, rows: int) -> None:
        found.append(f"{_h5_label(obj)!r} ({rows} row{'s' * (rows != 1)})")

    def visit(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group):
            plain = _h5_members(obj)[1]
            if plain:
                add(obj, plain[0].shape[0])
        elif obj.dtype.names and obj.ndim >= 1:
            add(obj, obj.shape[0])

    visit("", node)
    node.visititems(visit)
    return found


def _h5_column(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    import h5py

    info = h5py.check_string_dtype(dtype)
    if info is not None and info.length is None:  # variable-length text comes as bytes
        flat = [v.decode(info.encoding, "replace") if isinstance(v, bytes) else v for v in arr.flat]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(arr.shape)
    return arr


def _h5_read(f: h5py.File, t: _H5Table, names: list[str], start: int, stop: int) -> dict[str, np.ndarray]:
    where = {name: (path, field) for name, path, field in t.columns}
    cache: dict[str, np.ndarray] = {}
    out = {}
    for name in names:
        path, field = where[name]
        if path not in cache:
            cache[path] = f[path][start:stop]
        arr, dtype = cache[path], f[path].dtype
        if field is not None:
            arr, dtype = arr[field], dtype.fields[field][0].base
        out[name] = _h5_column(arr, dtype)
    return out


def _h5_info(path: Path, table: str | None) -> TableInfo:
    with _h5_open(path) as f:
        t = _h5_table(f, table)
        sample = _h5_read(f, t, [c[0] for c in t.columns], 0, 1)
    columns = tuple(_column_info(name, arr) for name, arr in sample.items())
    return TableInfo("hdf5", columns, t.num_rows, t.label)


def _h5_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    with _h5_open(path) as f:
        t = _h5_table(f, info.table)
        for start in range(0, t.num_rows, batch_rows):
            batch = _h5_read(f, t, columns, start, start + batch_rows)
            yield {name: _finish(arr) for name, arr in batch.items()}


# --- VOTable -----------------------------------------------------------------


def _votable_load(path: Path, table: str | None) -> tuple[str, Any]:
    import warnings

    from astropy.io.votable import parse

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tables = list(parse(str(path), verify="ignore").iter_tables())
    except Exception as err:  # expat and astropy raise many kinds for bad XML
        raise DataFileError(f"cannot parse the VOTable ({err})") from None
    labels = [t.ID or t.name or str(i) for i, t in enumerate(tables)]
    if not tables:
        raise DataFileError("the VOTable holds no TABLE")
    if table is None:
        index = 0
    elif table.isdigit():
        index = int(table)
    else:
        index = next((i for i, t in enumerate(tables) if table in (t.ID, t.name)), -1)
    if not 0 <= index < len(tables):
        raise DataFileError(
            f"no TABLE {table!r} in the VOTable; set 'table' to one of: {_label_list(labels)}"
        )
    return labels[index], tables[index].to_table(use_names_over_ids=True)


def _votable_info(path: Path, table: str | None) -> TableInfo:
    label, tab = _votable_load(path, table)
    columns = tuple(_column_info(n, _finish(tab[n].data)) for n in tab.colnames)
    return TableInfo("votable", columns, len(tab), label)


def _votable_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    _, tab = _votable_load(path, info.table)  # parsed whole: VOTables are small in practice
    arrays = {name: _finish(tab[name].data) for name in columns}
    for start in range(0, len(tab), batch_rows):
        yield {name: arr[start : start + batch_rows] for name, arr in arrays.items()}


_BACKENDS = {
    "parquet": (_parquet_info, _parquet_batches),
    "fits": (_fits_info, _fits_batches),
    "hdf5": (_h5_info, _h5_batches),
    "votable": (_votable_info, _votable_batches),
}
