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
- Batches are arrays the caller may keep, in native byte order. Parquet
  columns without nulls are read-only views of Arrow's buffers (no copy:
  summaries of 10-million-row files spend a third less time); copy one
  before writing into it. Other formats give writable arrays.
- FITS binary tables are memory-mapped and decoded slice by slice (astropy's
  ``FITS_rec`` converts whole columns); ASCII FITS tables are refused.

This module is the façade: it detects and checks the format, then dispatches
to one module per format that needs more than a page of code
(:mod:`~site_builder.tables.text`, :mod:`~site_builder.tables.fits`,
:mod:`~site_builder.hdf5reader`); Parquet (pyarrow does the work) and VOTable
(parsed whole by astropy) are short and stay here. :class:`ColumnInfo`,
:class:`TableInfo` and the conversions shared with the FITS and HDF5
readers live in :mod:`~site_builder.tables.info`, below every format module,
so that dependencies go one way and no format module imports this one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from site_builder.catalog.model import TABLE_FORMATS, TEXT_FORMATS
from site_builder.errors import DataFileError
from site_builder.tables import fits as fitsreader
from site_builder.tables import hdf5 as hdf5reader
from site_builder.tables import text as textreader
from site_builder.tables.info import ColumnInfo, TableInfo, column_info, finish, label_list

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "FORMATS",
    "TEXT_FORMATS",
    "ColumnInfo",
    "TableInfo",
    "detect_format",
    "get_table_info",
    "iter_batches",
    "read_head",
]

FORMATS = TABLE_FORMATS
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
    return finish(array.to_numpy(zero_copy_only=False))  # read-only view when Arrow allows it


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
            f"no TABLE {table!r} in the VOTable; set 'table' to one of: {label_list(labels)}"
        )
    return labels[index], tables[index].to_table(use_names_over_ids=True)


def _votable_info(path: Path, table: str | None) -> TableInfo:
    label, tab = _votable_load(path, table)
    columns = tuple(column_info(n, finish(tab[n].data)) for n in tab.colnames)
    return TableInfo("votable", columns, len(tab), label)


def _votable_batches(
    path: Path, info: TableInfo, columns: list[str], batch_rows: int
) -> Iterator[dict[str, np.ndarray]]:
    _, tab = _votable_load(path, info.table)  # parsed whole: VOTables are small in practice
    arrays = {name: finish(tab[name].data) for name in columns}
    for start in range(0, len(tab), batch_rows):
        yield {name: arr[start : start + batch_rows] for name, arr in arrays.items()}


_BACKENDS = {
    "parquet": (_parquet_info, _parquet_batches),
    "fits": (fitsreader.get_fits_info, fitsreader.iter_fits_batches),
    "hdf5": (hdf5reader.get_hdf5_info, hdf5reader.iter_hdf5_batches),
    "votable": (_votable_info, _votable_batches),
}
