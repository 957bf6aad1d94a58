"""The fast path of :mod:`site_builder.tables.text`: pyarrow's C++ CSV reader under its rules.

:mod:`~site_builder.tables.text` defines what a text table means (comment lines,
``skipinitialspace``, the missing-value tokens, one dtype per column decided
over the whole file, ids above 2**53 exact) and stays the reference. This module
gets the same row count, dtypes and arrays several times faster, in bounded
memory, and raises :class:`Unsupported` wherever pyarrow could read the file
differently; the caller then runs the reference, which also words every error
with its physical line number. It gives up on:

- any pyarrow parse error (wrong number of fields, invalid UTF-8, ...);
- a comment line below the header (those above it are skipped), NUL bytes;
- a non-numeric value that starts with a space: the reference's
  ``skipinitialspace`` drops the space, but only if the value was not quoted,
  which pyarrow does not tell;
- a quoted value holding a blank line (the reference drops blank lines first);
- in a one-column file, a blank value (a blank line to the reference);
- a whitespace table (``text``) with a double quote anywhere;
- a line or value as long as ``csv.field_size_limit()`` (an error to the reference);
- numbers that only Python reads (``1_000``, Arabic-Indic digits), when converting.

What is exact by construction:

- pyarrow starts reading after the header, found by the reference;
- whitespace tables are split by pyarrow's ``utf8_split_whitespace``, whose
  whitespace is Python's ``str.split()`` whitespace;
- dtypes are decided from the text of every value. A pyarrow cast proves "all
  integers" or "all numbers" only where its grammar is a subset of Python's
  (hexadecimal integers are excluded); a value that cannot match a superset of
  Python's grammar proves the contrary; what neither settles is parsed by the
  reference's own code. Columns that are floats in the first block are then
  parsed as float64 by pyarrow's reader (on every core): a value it reads is a
  number to Python too, and one it refuses sends the pass back to text.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections import deque
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from site_builder.tables.textgrammar import BOOLEAN_SET as _BOOLEAN
from site_builder.tables.textgrammar import MISSING_SET as _MISSING
from site_builder.tables.textgrammar import TRUE_SET as _TRUE
from site_builder.tables.textgrammar import TextDialect
from site_builder.tables.textgrammar import iter_lines as _iter_lines
from site_builder.tables.textgrammar import iter_records as _iter_records
from site_builder.tables.textgrammar import parse_numbers as _parse

#: Bytes that pyarrow parses at a time. Its readahead keeps a few dozen blocks,
#: so this and ``batch_rows`` bound the memory of a pass; a record must fit in one.
BLOCK_SIZE = 1 << 20

_CHECK_SIZE = 8 << 20
_SAMPLE = 64  # values tried in Python first: a failed pyarrow cast costs ~1 µs per bad value
_EOL = re.compile(rb"\r\n?|\n")
_TEXT_EOL = re.compile(r"\r\n?|\n")
# Supersets (RE2 syntax) of what Python's int() and float() accept, whitespace included.
_WS = r"[\s\x0b\x1c-\x1f\x{85}\p{Z}]"
_DIGIT = r"[\p{Nd}_]"
_MAY_BE_INT = rf"^{_WS}*[+-]?{_DIGIT}+{_WS}*$"
_MAY_BE_FLOAT = rf"(?i)^{_WS}*[+-]?(?:{_DIGIT}*\.?{_DIGIT}*(?:e[+-]?{_DIGIT}+)?|inf|infinity|nan){_WS}*$"
_MISSING_SET = pa.array(sorted(_MISSING))
_BOOLEAN_SET = pa.array(sorted(_BOOLEAN))
_TRUE_SET = pa.array(sorted(_TRUE))


class Unsupported(Exception):
    """pyarrow could read this file differently from the reference: run the reference."""


# --- bytes in ------------------------------------------------------------------


def _check_bytes(path: Path, start: int, max_line: int | None) -> None:
    """Refuse data bytes that pyarrow would read differently from the reference.

    That is NUL bytes, comment lines (the reference skips them, pyarrow has no
    such option; those above the header are skipped by starting after them) and
    lines of ``max_line`` bytes or more. A pass of its own, in Python, so that
    pyarrow reads the file natively: a Python file object would be read from
    pyarrow's threads, which crash the interpreter if it exits meanwhile.
    """
    with path.open("rb") as f:
        f.seek(start)
        carry = b""  # the unfinished last line of the previous read
        while raw := f.read(_CHECK_SIZE):
            first = _EOL.search(raw)
            if first is None:  # still the same line
                carry += raw
                _check_lines(carry, 0, len(carry), max_line)
                continue
            straddling = carry + raw[: first.end()]
            _check_lines(straddling, 0, len(straddling), max_line)
            last = max(raw.rfind(b"\n"), raw.rfind(b"\r")) + 1
            _check_lines(raw, first.end(), last, max_line)  # no copy: ~0.3 s per GB
            carry = raw[last:]
        _check_lines(carry, 0, len(carry), max_line)


def _check_lines(data: bytes, lo: int, hi: int, max_line: int | None) -> None:
    """Check the lines that start at ``lo`` and end by ``hi`` (see :func:`_check_bytes`)."""
    if data.find(b"\x00", lo, hi) >= 0:
        raise Unsupported("NUL bytes")
    if max_line is not None:
        # A line of max_line bytes holds a whole window of max_line // 2 bytes without line end.
        step = max(max_line // 2, 1)
        for at in range(lo, hi - step + 1, step):
            if data.find(b"\n", at, at + step) < 0 and data.find(b"\r", at, at + step) < 0:
                raise Unsupported("a line longer than the csv module's field limit")
    # A comment line by the rule of textreader._iter_lines: '#' after blank space only.
    hash_at = data.find(b"#", lo, hi)
    while hash_at >= 0:
        line = max(lo, data.rfind(b"\n", lo, hash_at) + 1, data.rfind(b"\r", lo, hash_at) + 1)
        if _is_blank(data[line:hash_at]):
            raise Unsupported("a comment line below the header")
        eol = _EOL.search(data, hash_at, hi)
        hash_at = data.find(b"#", eol.end(), hi) if eol else -1


def _refuse_long_values(a: pa.Array) -> None:
    """Refuse a string value longer than the csv module's limit (it may span lines)."""
    limit = csv.field_size_limit()
    data = a.buffers()[2] if pa.types.is_string(a.type) else None
    if data is not None and data.size >= limit and pc.max(pc.utf8_length(a)).as_py() >= limit:
        raise Unsupported("a value longer than the csv module's field limit")


def _is_blank(prefix: bytes) -> bool:
    try:
        return not prefix or prefix.decode("utf-8").isspace()
    except UnicodeDecodeError:
        return False


def _data_offset(path: Path, dialect: TextDialect) -> int:
    """Byte offset where the first data record starts (after comments and header)."""
    if dialect.has_header:
        with contextlib.closing(_iter_records(path, dialect.delimiter)) as records:
            skip = next(records)[0]  # the header's last physical line
    else:
        with contextlib.closing(_iter_lines(path, dialect.delimiter)) as lines:
            skip = next(lines)[0] - 1
    with path.open("rb") as f:
        if skip == 0:
            return 3 if f.read(3) == b"\xef\xbb\xbf" else 0
        base, carry, seen = 0, b"", 0
        while True:
            raw = f.read(1 << 20)
            data = carry + raw
            if not raw:
                return base + len(data)
            cut = len(data) - 1 if data.endswith(b"\r") else len(data)
            for eol in _EOL.finditer(data, 0, cut):
                seen += 1
                if seen == skip:
                    return base + eol.end()
            base, carry = base + cut, data[cut:]


def _iter_blocks(
    path: Path, dialect: TextDialect, names: Sequence[str], floats: Sequence[str] = ()
) -> Iterator[tuple[int, list[pa.Array]]]:
    """Row count and raw text of the ``names`` columns, block by block.

    Columns in ``floats`` (CSV and TSV only) come as float64, parsed by pyarrow
    with the reference's missing values; the others as strings.
    """
    text = dialect.delimiter is None
    start = _data_offset(path, dialect)
    if start >= path.stat().st_size:
        return  # no data rows (pyarrow calls that an error)
    _check_bytes(path, start, None if text else csv.field_size_limit())
    if text:  # one column of whole lines, split below
        read = pacsv.ReadOptions(column_names=["line"], block_size=BLOCK_SIZE)
        parse = pacsv.ParseOptions(delimiter="\x1f", quote_char=False, ignore_empty_lines=True)
        include = ["line"]
    else:
        read = pacsv.ReadOptions(column_names=list(dialect.names), block_size=BLOCK_SIZE)
        parse = pacsv.ParseOptions(
            delimiter=dialect.delimiter, quote_char='"', double_quote=True,
            newlines_in_values=True, ignore_empty_lines=True,
        )
        include = list(dict.fromkeys(names)) or [dialect.names[0]]
    convert = pacsv.ConvertOptions(
        column_types={n: pa.float64() if n in floats else pa.string() for n in include},
        include_columns=include, null_values=sorted(_MISSING), strings_can_be_null=False,
    )
    # Not closed here: pyarrow's readahead may still be reading it, and closes it when done.
    source = pa.OSFile(str(path))
    source.seek(start)
    try:
        reader = pacsv.open_csv(source, read, parse, convert)
    except pa.ArrowInvalid as err:  # also "Empty CSV file": no data rows
        raise Unsupported(str(err)) from None
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowException as err:
                raise Unsupported(str(err)) from None
            if not batch.num_rows:
                continue
            if text:
                rows, arrays = _split_lines(batch.column(0), dialect, names)
                if rows:
                    yield rows, arrays
                continue
            arrays = [batch.column(n) for n in names]
            for a in arrays:
                _refuse_long_values(a)  # the reference's csv module refuses them
            yield batch.num_rows, arrays


def _split_lines(
    lines: pa.Array, dialect: TextDialect, names: Sequence[str]
) -> tuple[int, list[pa.Array]]:
    """Row count and fields of whitespace-separated lines, as ``str.split()`` finds them."""
    if b'"' in _data(lines):
        raise Unsupported("a double quote in a whitespace table")
    lines = pc.utf8_trim_whitespace(lines)  # the whitespace of str.split()
    lines = pc.filter(lines, pc.not_equal(lines, ""))  # blank lines, skipped by the reference
    if not len(lines):
        return 0, []
    fields = pc.utf8_split_whitespace(lines)
    if not pc.all(pc.equal(pc.list_value_length(fields), len(dialect.names))).as_py():
        raise Unsupported("a line with the wrong number of fields")
    index = {name: i for i, name in enumerate(dialect.names)}
    return len(lines), [pc.list_element(fields, index[n]) for n in names]


def _data(a: pa.Array) -> bytes:
    """The value bytes of a string array (all of its buffer: a superset when sliced)."""
    buf = a.buffers()[2]
    return buf.to_pybytes() if buf is not None else b""


def _refuse_respelled(a: pa.Array) -> None:
    """Refuse text values that the reference may have split or trimmed differently."""
    if pc.any(pc.starts_with(a, " ")).as_py():
        raise Unsupported("a value starts with a space")
    data = _data(a)
    if b"\n" in data or b"\r" in data:
        multiline = pc.or_(pc.match_substring(a, "\n"), pc.match_substring(a, "\r"))
        for value in pc.filter(a, multiline).to_pylist():
            if any(not line.strip() for line in _TEXT_EOL.split(value)[1:-1]):
                raise Unsupported("a quoted value holds a blank line")


def _refuse_blank(a: pa.Array, width: int) -> None:
    """In a one-column table a blank value may be a blank line, which the reference skips."""
    if width == 1 and pc.any(pc.equal(pc.utf8_trim_whitespace(a), "")).as_py():
        raise Unsupported("a blank value in a one-column table")


# --- dtypes ------------------------------------------------------------------


def _casts(a: pa.Array, to: pa.DataType) -> pa.Array | None:
    try:
        pc.cast(a.slice(0, _SAMPLE), to)  # fail fast when most values are bad
        return pc.cast(a, to)
    except pa.ArrowInvalid:
        return None


def _plain_ints(a: pa.Array) -> bool:
    """Whether pyarrow reads every value as a decimal int64 (so does the reference)."""
    return _casts(a, pa.int64()) is not None and not (b"x" in (d := _data(a)) or b"X" in d)


def _int_text(a: pa.Array) -> pa.Array:
    """Values without what Python's int() ignores and pyarrow refuses: whitespace, a plus sign."""
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(a), r"^\+([0-9])", r"\1")


def _all_ints(a: pa.Array) -> bool:
    """Whether the reference parses every value as int64."""
    if _parse(a.slice(0, _SAMPLE).to_pylist(), np.int64) is None:
        return False
    if _plain_ints(_int_text(a)):
        return True
    if not pc.all(pc.match_substring_regex(a, _MAY_BE_INT)).as_py():
        return False
    return _parse(a.to_pylist(), np.int64) is not None


def _all_present_floats(a: pa.Array) -> bool:
    """Whether the reference parses every non-missing value as float64."""
    head = [v for v in a.slice(0, _SAMPLE).to_pylist() if v.strip() not in _MISSING]
    if _parse(head, np.float64) is None:
        return False
    a = pc.utf8_trim_whitespace(a)  # the whitespace of str.strip(), so exact
    present = pc.filter(a, pc.invert(pc.is_in(a, value_set=_MISSING_SET)))
    if _casts(present, pa.float64()) is not None:
        return True
    if not pc.all(pc.match_substring_regex(present, _MAY_BE_FLOAT)).as_py():
        return False
    return _parse(present.to_pylist(), np.float64) is not None


class _Column:
    """What one column can still be after the values seen so far.

    The reference's dtype depends on the whole column only (not on how it is
    chunked): ``int64`` if every value is an integer; else ``float64`` if every
    non-missing value is a number (or none is left); else ``bool`` if every
    value is a boolean token; else ``str``; ``str`` too for no rows.
    """

    def __init__(self) -> None:
        self.ints = self.floats = self.booleans = True

    def observe(self, a: pa.Array, width: int) -> None:
        if self.ints and _plain_ints(a):
            self.booleans = False
            return
        if not self.ints and self.floats and _casts(a, pa.float64()) is not None:
            self.booleans = False
            return
        _refuse_blank(a, width)
        # Numbers do not care how values were trimmed: check them before the spelling.
        self.ints = self.ints and _all_ints(a)  # all ints: all numbers too
        self.floats = self.floats and (self.ints or _all_present_floats(a))
        if self.floats:
            self.booleans = False
            return
        _refuse_respelled(a)
        if self.booleans:
            self.booleans = bool(pc.all(pc.is_in(a, value_set=_BOOLEAN_SET)).as_py())

    def dtype(self, num_rows: int) -> str:
        if not num_rows:
            return "str"
        if self.ints:
            return "int64"
        if self.floats:
            return "float64"
        return "bool" if self.booleans else "str"


def scan(path: Path, dialect: TextDialect) -> tuple[int, tuple[str, ...]]:
    """Like :func:`textreader.scan`, or raise :class:`Unsupported`."""
    columns = [_Column() for _ in dialect.names]
    floats: list[str] = []
    if dialect.delimiter is not None:  # the columns that are numbers, not ints, in the first block
        with contextlib.closing(_iter_blocks(path, dialect, dialect.names)) as blocks:
            for _, block in islice(blocks, 1):
                _observe(columns, block, len(dialect.names))
        floats = [n for n, c in zip(dialect.names, columns, strict=True) if c.floats and not c.ints]
    try:
        # pyarrow's reader parses these on every core; values it reads prove them numbers.
        num_rows = _observe_file(path, dialect, columns, floats)
    except Unsupported:
        if not floats:
            raise
        num_rows = _observe_file(path, dialect, columns, ())  # what the casts may read yet
    return num_rows, tuple(c.dtype(num_rows) for c in columns)


def _observe_file(
    path: Path, dialect: TextDialect, columns: list[_Column], floats: Sequence[str]
) -> int:
    num_rows = 0
    for rows, block in _iter_blocks(path, dialect, dialect.names, floats):
        num_rows += rows
        _observe(columns, block, len(dialect.names))
    return num_rows


def _observe(columns: list[_Column], block: list[pa.Array], width: int) -> None:
    for column, values in zip(columns, block, strict=True):
        if not pa.types.is_floating(values.type):  # float64: all numbers or missing, as known
            column.observe(values, width)


# --- batches -----------------------------------------------------------------


def _convert(a: pa.Array, dtype: str, width: int) -> pa.Array:
    """One block of one column in its dtype, as the reference converts it."""
    if pa.types.is_floating(a.type):
        return a  # parsed by pyarrow's reader: a subset of float() and the same missing values
    if dtype in ("str", "bool"):
        _refuse_blank(a, width)
        _refuse_respelled(a)
        return a if dtype == "str" else pc.is_in(a, value_set=_TRUE_SET)
    to = pa.int64() if dtype == "int64" else pa.float64()
    out = _casts(a, to)
    if out is None:
        _refuse_blank(a, width)
        if dtype == "int64":
            a = _int_text(a)
        else:
            a = pc.utf8_trim_whitespace(a)
            a = pc.if_else(pc.is_in(a, value_set=_MISSING_SET), pa.scalar(None, pa.string()), a)
        out = _casts(a, to)
        if out is None:
            raise Unsupported(f"a value pyarrow does not read as {dtype}")
    if dtype == "int64" and (b"x" in (d := _data(a)) or b"X" in d):
        raise Unsupported("a hexadecimal-looking integer")
    return out


def _to_numpy(parts: list[pa.Array]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0].to_numpy(zero_copy_only=False, writable=True)  # the caller's to keep
    return np.concatenate([p.to_numpy(zero_copy_only=False) for p in parts])


def iter_batches(
    path: Path,
    dialect: TextDialect,
    dtypes: Sequence[str],
    columns: Sequence[str],
    batch_rows: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Like :func:`textreader.iter_text_batches`, or raise :class:`Unsupported`.

    Every batch but the last has exactly ``batch_rows`` rows, and the last is
    yielded only once the whole file has been read, so after :class:`Unsupported`
    the reference can resume at row ``batch_rows * batches_yielded``.
    """
    names = list(dict.fromkeys(columns))
    floats = [n for n in names if dtypes[dialect.names.index(n)] == "float64"]
    if dialect.delimiter is None or not floats:
        yield from _iter_batches(path, dialect, dtypes, names, columns, batch_rows, 0, ())
        return
    done = 0
    try:  # float columns parsed by pyarrow's reader: faster, as it runs on every core
        for batch in _iter_batches(path, dialect, dtypes, names, columns, batch_rows, 0, floats):
            yield batch
            done += batch_rows
        return
    except Unsupported:
        pass  # perhaps a value such as ' NA ' or '\xa05', which the casts below read
    yield from _iter_batches(path, dialect, dtypes, names, columns, batch_rows, done, ())


def _iter_batches(
    path: Path,
    dialect: TextDialect,
    dtypes: Sequence[str],
    names: list[str],
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    floats: Sequence[str],
) -> Iterator[dict[str, np.ndarray]]:
    width = len(dialect.names)
    index = {name: i for i, name in enumerate(dialect.names)}
    pending: deque[tuple[int, list[pa.Array]]] = deque()
    have = 0
    for rows, block in _iter_blocks(path, dialect, names, floats):
        if skip >= rows:
            skip -= rows
            continue
        if skip:
            rows, block, skip = rows - skip, [a.slice(skip) for a in block], 0
        arrays = [_convert(a, dtypes[index[n]], width) for n, a in zip(names, block, strict=True)]
        pending.append((rows, arrays))
        have += rows
        while have >= batch_rows:
            yield _take(pending, batch_rows, names, columns)
            have -= batch_rows
    if have:
        yield _take(pending, have, names, columns)


def _take(
    pending: deque[tuple[int, list[pa.Array]]], n: int, names: list[str], columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """The first ``n`` pending rows as numpy arrays, removed from ``pending``."""
    parts: list[list[pa.Array]] = [[] for _ in names]
    while n:
        rows, arrays = pending[0]
        if rows <= n:
            pending.popleft()
        else:
            pending[0] = (rows - n, [a.slice(n) for a in arrays])
            arrays = [a.slice(0, n) for a in arrays]
        for part, a in zip(parts, arrays, strict=True):
            part.append(a)
        n -= min(rows, n)
    out = {name: _to_numpy(part) for name, part in zip(names, parts, strict=True)}
    return {name: out[name] for name in columns}
