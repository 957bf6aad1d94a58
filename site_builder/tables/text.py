"""Delimited text tables (CSV, TSV, whitespace) read in bounded memory.

The public interface is :mod:`site_builder.tables.reader`; this module holds the text
half. Parsing is our own (the ``csv`` module plus numpy conversion) rather than
pandas, because we need what pandas does not give: the physical line number of
a row with too few fields (pandas pads it silently) or too many, ``#`` comment
lines in every dialect, and dtypes decided over the whole file so that every
batch of one file has the same dtype. Integers are parsed from their digits,
never through float64, so ids above 2**53 stay exact.

This parser is the reference. :func:`scan` and :func:`iter_text_batches` first
try :mod:`~site_builder.tables.csvfast` (pyarrow's C++ reader, several times faster),
which gives the same results or gives up; then this parser runs (batches resume
where the fast path stopped). Errors are always this parser's, with their
physical line numbers.

Limitation: a quoted field that spans lines must not contain a line that is
blank or starts with ``#`` (such lines are dropped before the csv parser).
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import numpy as np

from site_builder.errors import DataFileError
from site_builder.tables.textgrammar import (
    BOOLEAN_SET,
    CHUNK_ROWS,
    DELIMITERS,
    MISSING,
    MISSING_SET,
    TRUE_SET,
    TextDialect,
    iter_lines,
    iter_records,
    parse_numbers,
    split_fields,
)

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.I)

# The reference's own short names for the shared grammar.
_MISSING, _TRUE, _BOOLEAN = MISSING_SET, TRUE_SET, BOOLEAN_SET
_split, _iter_lines, _iter_records, _parse = split_fields, iter_lines, iter_records, parse_numbers

def sniff_text(head: bytes, at_eof: bool) -> str:
    """Guess csv, tsv or text from the first bytes of a file.

    Parameters
    ----------
    head
        The first bytes of the file (a few tens of KiB).
    at_eof
        True when ``head`` is the whole file (its last line is complete).

    Returns
    -------
    str
        ``'csv'``, ``'tsv'`` or ``'text'``.

    Raises
    ------
    DataFileError
        If the bytes are not a UTF-8 text table; the message says why.
    """
    if not head.strip():
        raise DataFileError("file is empty" if not head else "file holds only blank space")
    if b"\x00" in head:
        raise DataFileError("binary data, not a text table (it contains NUL bytes)")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if at_eof or err.start < len(head) - 3:
            raise DataFileError(
                f"not UTF-8 text (byte 0x{head[err.start]:02x} at offset {err.start}); "
                "if this is a text table, save it as UTF-8"
            ) from None
        text = head[: err.start].decode("utf-8")  # a character cut at the end of the sample
    lines = text.removeprefix("\ufeff").splitlines()
    if not at_eof and len(lines) > 1:
        lines = lines[:-1]
    control = sum(1 for c in text if c < " " and c not in "\t\n\r\f")
    if control > len(text) / 100:
        raise DataFileError("binary data, not a text table (it contains control characters)")
    content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")][:50]
    if content and content[0].lstrip().startswith("<"):
        raise DataFileError(
            "an HTML or XML document, not a table; if it was downloaded, the server may "
            "have sent a login or error page: check the URL and your token"
        )
    return _pick_format(content)


def _pick_format(lines: Sequence[str]) -> str:
    """The separator that splits most lines into the same number (> 1) of fields."""
    best, best_share = "text", 0.0
    for fmt in ("tsv", "csv", "text"):  # a tab in every line is rarer by chance than a comma
        delimiter = DELIMITERS[fmt]
        try:
            if delimiter is None:
                counts = [len(_split(line, None)) for line in lines]
            else:
                reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
                counts = [len(record) for record in reader]
        except csv.Error:
            continue
        mode = max(set(counts), key=counts.count, default=0)
        share = counts.count(mode) / len(counts) if mode > 1 else 0.0
        if share > best_share:
            best, best_share = fmt, share
    return best


def load_dialect(path: Path, format: str) -> TextDialect:
    """Read the first records of a text table: separator, header and column names.

    Raises
    ------
    DataFileError
        If the file has no header or data, or the header repeats a name.
    """
    delimiter = DELIMITERS[format]
    with contextlib.closing(_iter_records(path, delimiter)) as records:
        first = next(records, None)
        second = next(records, None)
    if first is None:
        raise DataFileError("no header and no data: the file holds only comments and blank lines")
    lineno, fields = first
    if not _looks_like_header(fields, second[1] if second else None):
        names = tuple(f"col{i}" for i in range(1, len(fields) + 1))
        return TextDialect(format, delimiter, False, names)
    names = tuple(name.strip() or f"col{i}" for i, name in enumerate(fields, 1))
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataFileError(
                f"line {lineno}: column name {name!r} appears twice in the header; rename one"
            )
        seen.add(name)
    return TextDialect(format, delimiter, True, names)


def _is_number(value: str) -> bool:
    return _NUMBER.fullmatch(value.strip()) is not None


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    numeric = [_is_number(v) for v in first]
    if all(n or v.strip() in MISSING for n, v in zip(numeric, first, strict=True)):
        return False
    if not any(numeric) or second is None:
        return True
    # Mixed line: a header if some column is a name here and a number below.
    return any(not n and _is_number(v) for n, v in zip(numeric, second, strict=False))


def iter_rows(path: Path, dialect: TextDialect) -> Iterator[tuple[int, list[str]]]:
    """Data records with their line numbers, each checked to have one field per column."""
    width = len(dialect.names)
    records = _iter_records(path, dialect.delimiter)
    if dialect.has_header:
        next(records, None)
    for lineno, fields in records:
        if len(fields) != width:
            where = "the header" if dialect.has_header else "the first row"
            sep = {",": "','", "\t": "a tab"}.get(dialect.delimiter or "", "spaces")
            raise DataFileError(
                f"line {lineno}: expected {width} fields (as in {where}), found {len(fields)}; "
                f"fix the row, or quote values that contain {sep}"
            )
        yield lineno, fields


def _classify(values: Sequence[str]) -> tuple[str, bool]:
    """Kind of one column chunk ('none', 'bool', 'int', 'float' or 'str') and whether values are missing."""
    for kind, dtype in (("int", np.int64), ("float", np.float64)):
        if _parse(values, dtype) is not None:
            return kind, False
    present = [v for v in values if v.strip() not in _MISSING]
    has_missing = len(present) < len(values)
    if not present:
        return "none", has_missing
    if has_missing:
        for kind, dtype in (("int", np.int64), ("float", np.float64)):
            if _parse(present, dtype) is not None:
                return kind, has_missing
    if all(v in _BOOLEAN for v in present):
        return "bool", has_missing
    return "str", has_missing


def _merge(a: str, b: str) -> str:
    if a == b or b == "none":
        return a
    if a == "none":
        return b
    return "float" if {a, b} == {"int", "float"} else "str"


def _final_dtype(kind: str, missing: bool, num_rows: int) -> str:
    if kind == "none":
        return "float64" if num_rows else "str"
    if kind == "int":
        return "float64" if missing else "int64"  # no integer NaN; see reader docs
    if kind == "bool":
        return "str" if missing else "bool"
    return {"float": "float64", "str": "str"}[kind]


def _infer(rows: Sequence[list[str]], width: int) -> tuple[list[str], list[bool]]:
    kinds, missing = ["none"] * width, [False] * width
    for i, values in enumerate(zip(*rows, strict=True)):
        kinds[i], missing[i] = _classify(values)
    return kinds, missing


def scan(path: Path, dialect: TextDialect) -> tuple[int, tuple[str, ...]]:
    """Count the data rows and decide every column's dtype in one chunked pass.

    Returns
    -------
    tuple
        ``(num_rows, dtypes)`` with one numpy dtype name (or ``'str'``) per column.
    """
    from site_builder.tables import csvfast  # imports pyarrow, and this module

    try:
        return csvfast.scan(path, dialect)
    except csvfast.Unsupported:
        return _scan_python(path, dialect)


def _scan_python(path: Path, dialect: TextDialect) -> tuple[int, tuple[str, ...]]:
    width = len(dialect.names)
    kinds, missing = ["none"] * width, [False] * width
    num_rows = 0
    with contextlib.closing(iter_rows(path, dialect)) as rows:
        while chunk := [fields for _, fields in islice(rows, CHUNK_ROWS)]:
            num_rows += len(chunk)
            chunk_kinds, chunk_missing = _infer(chunk, width)
            kinds = [_merge(a, b) for a, b in zip(kinds, chunk_kinds, strict=True)]
            missing = [a or b for a, b in zip(missing, chunk_missing, strict=True)]
    return num_rows, tuple(_final_dtype(k, m, num_rows) for k, m in zip(kinds, missing, strict=True))


def _convert(values: Sequence[str], dtype: str) -> np.ndarray:
    if dtype == "str":
        return np.array(values, dtype=object)
    if dtype == "bool":
        return np.fromiter((v in _TRUE for v in values), bool, len(values))
    arr = _parse(values, np.int64 if dtype == "int64" else np.float64)
    if arr is not None:
        return arr
    nan = float("nan")
    return np.fromiter((nan if v.strip() in _MISSING else float(v) for v in values), np.float64, len(values))


def _convert_rows(
    rows: Sequence[list[str]], dialect: TextDialect, dtypes: Sequence[str], columns: Sequence[str]
) -> dict[str, np.ndarray]:
    index = {name: i for i, name in enumerate(dialect.names)}
    by_column = list(zip(*rows, strict=True)) if rows else [()] * len(dialect.names)
    return {name: _convert(by_column[index[name]], dtypes[index[name]]) for name in columns}


def iter_text_batches(
    path: Path,
    dialect: TextDialect,
    dtypes: Sequence[str],
    columns: Sequence[str],
    batch_rows: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield dicts of column arrays of at most ``batch_rows`` rows, in file order."""
    from site_builder.tables import csvfast

    done = 0
    try:
        for batch in csvfast.iter_batches(path, dialect, dtypes, columns, batch_rows):
            yield batch
            done += batch_rows  # only the last batch is shorter, and nothing follows it
        return
    except csvfast.Unsupported:
        pass
    yield from _iter_python_batches(path, dialect, dtypes, columns, batch_rows, done)


def _iter_python_batches(
    path: Path,
    dialect: TextDialect,
    dtypes: Sequence[str],
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
) -> Iterator[dict[str, np.ndarray]]:
    """The reference batches, from data row ``skip`` on."""
    with contextlib.closing(iter_rows(path, dialect)) as rows:
        for _ in islice(rows, skip):
            pass
        while True:
            pieces: list[dict[str, np.ndarray]] = []
            taken = 0
            while taken < batch_rows:
                chunk = [f for _, f in islice(rows, min(CHUNK_ROWS, batch_rows - taken))]
                if not chunk:
                    break
                pieces.append(_convert_rows(chunk, dialect, dtypes, columns))
                taken += len(chunk)
            if not pieces:
                return
            if len(pieces) == 1:
                yield pieces[0]
            else:
                yield {name: np.concatenate([p[name] for p in pieces]) for name in columns}
            if taken < batch_rows:
                return


def read_text_head(path: Path, dialect: TextDialect, n: int) -> dict[str, np.ndarray]:
    """The first ``n`` rows, with dtypes decided from these rows alone (no full pass)."""
    with contextlib.closing(iter_rows(path, dialect)) as rows:
        chunk = [fields for _, fields in islice(rows, n)]
    kinds, missing = _infer(chunk, len(dialect.names))
    dtypes = [_final_dtype(k, m, len(chunk)) for k, m in zip(kinds, missing, strict=True)]
    return _convert_rows(chunk, dialect, dtypes, dialect.names)
