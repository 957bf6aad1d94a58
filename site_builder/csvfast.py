"""The fast path of :mod:`site_builder.textreader`: pyarrow's C++ CSV reader under its rules.

:mod:`~site_builder.textreader` defines what a text table means (comment lines,
``skipinitialspace``, the missing-value tokens, one dtype per column decided
over the whole file, ids above 2**53 exact) and stays the reference. This module
gets the same row count, dtypes and arrays some ten times faster, in bounded
memory, and raises :class:`Unsupported` wherever pyarrow could read the file
differently; the caller then runs the reference, which also words every error
with its physical line number. It gives up on:

- any pyarrow parse error (wrong number of fields, invalid UTF-8, ...);
- NUL bytes;
- a non-numeric value that starts with a space: the reference's
  ``skipinitialspace`` drops it, but only if the value was not quoted, which
  pyarrow does not tell;
- a quoted value holding a blank line (the reference drops blank lines first);
- in a one-column file, a blank value (a blank line to the reference);
- a whitespace table (``text``) with a double quote anywhere.

What is exact by construction:

- comment lines are cut from the bytes before pyarrow sees them, by the
  reference's line rule, so also inside quoted values;
- whitespace tables are split by pyarrow's ``utf8_split_whitespace``, whose
  whitespace is Python's ``str.split()`` whitespace;
- dtypes are decided from the text of every value. A pyarrow cast proves "all
  integers" or "all numbers" only where its grammar is a subset of Python's
  (hexadecimal integers are excluded); a value that cannot match a superset of
  Python's grammar proves the contrary; what neither settles is parsed by the
  reference's own code.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from site_builder.textreader import (
    _BOOLEAN,
    _MISSING,
    _TRUE,
    TextDialect,
    _iter_lines,
    _iter_records,
    _parse,
)

#: Bytes that pyarrow parses at a time (one block per thread); with ``batch_rows``
#: this bounds the memory of a pass.
BLOCK_SIZE = 4 << 20

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


class _Source:
    """A file from ``start`` on, without its comment lines, as a stream for ``pa.PythonFile``."""

    closed = False

    def __init__(self, path: Path, start: int) -> None:
        self._file = path.open("rb")
        self._file.seek(start)
        self._carry = b""  # an incomplete last line, completed by the next read
        self._buf = b""
        self._pos = 0
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buf) - self._pos < size):
            self._fill()
        end = len(self._buf) if size < 0 else min(len(self._buf), self._pos + size)
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def _fill(self) -> None:
        raw = self._file.read(BLOCK_SIZE)
        data = self._carry + raw
        if raw:
            # Cut after the last line end; a final \r may be the first half of \r\n.
            cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
        else:
            cut, self._eof = len(data), True
        self._carry = data[cut:]
        self._buf = self._buf[self._pos :] + _drop_comment_lines(data[:cut])
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._file.close()
        self.closed = True


def _drop_comment_lines(data: bytes) -> bytes:
    """Whole lines without those the reference skips as comments; refuse NUL bytes.

    The rule is the one of :func:`textreader._iter_lines`: a line whose first
    non-whitespace character is ``#``, with ``\\n``, ``\\r`` or ``\\r\\n`` ending lines.
    """
    if b"\x00" in data:
        raise Unsupported("NUL bytes")
    if b"#" not in data:
        return data
    kept, done, hash_at = [], 0, data.find(b"#")
    while hash_at >= 0:
        start = max(data.rfind(b"\n", 0, hash_at), data.rfind(b"\r", 0, hash_at)) + 1
        eol = _EOL.search(data, hash_at)
        end = eol.end() if eol else len(data)
        if _is_blank(data[start:hash_at]):
            try:
                data[start:end].decode("utf-8")  # the reference decodes comments too
            except UnicodeDecodeError:
                raise Unsupported("invalid UTF-8 in a comment line") from None
            kept.append(data[done:start])
            done = end
        hash_at = data.find(b"#", end)
    kept.append(data[done:])
    return b"".join(kept)


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
    path: Path, dialect: TextDialect, names: Sequence[str]
) -> Iterator[tuple[int, list[pa.Array]]]:
    """Row count and raw text of the ``names`` columns (string arrays), block by block."""
    text = dialect.delimiter is None
    source = _Source(path, _data_offset(path, dialect))
    try:
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
            column_types={n: pa.string() for n in include}, include_columns=include,
            strings_can_be_null=False,
        )
        try:
            reader = pacsv.open_csv(pa.PythonFile(source, mode="r"), read, parse, convert)
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
                    yield batch.num_rows, _split_lines(batch.column(0), dialect, names)
                else:
                    yield batch.num_rows, [batch.column(n) for n in names]
    finally:
        source.close()


def _split_lines(lines: pa.Array, dialect: TextDialect, names: Sequence[str]) -> list[pa.Array]:
    """Fields of whitespace-separated lines, as the reference's ``str.split()`` finds them."""
    if b'"' in _data(lines):
        raise Unsupported("a double quote in a whitespace table")
    lines = pc.utf8_trim_whitespace(lines)
    if pc.any(pc.equal(lines, "")).as_py():
        raise Unsupported("a blank line")
    fields = pc.utf8_split_whitespace(lines)
    width = len(dialect.names)
    if not pc.all(pc.equal(pc.list_value_length(fields), width)).as_py():
        raise Unsupported("a line with the wrong number of fields")
    index = {name: i for i, name in enumerate(dialect.names)}
    return [pc.list_element(fields, index[n]) for n in names]


def _data(a: pa.Array) -> bytes:
    """The value bytes of a string array (all of its buffer: a superset when sliced)."""
    buf = a.buffers()[2]
    return buf.to_pybytes() if buf is not None else b""


def _check_tokens(a: pa.Array, width: int) -> None:
    """Refuse values that the reference may have split or trimmed differently."""
    if pc.any(pc.starts_with(a, " ")).as_py():
        raise Unsupported("a value starts with a space")
    data = _data(a)
    if b"\n" in data or b"\r" in data:
        multiline = pc.or_(pc.match_substring(a, "\n"), pc.match_substring(a, "\r"))
        for value in pc.filter(a, multiline).to_pylist():
            if any(not line.strip() for line in _TEXT_EOL.split(value)[1:-1]):
                raise Unsupported("a quoted value holds a blank line")
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


def _all_ints(a: pa.Array) -> bool:
    """Whether the reference parses every value as int64."""
    if _parse(a.slice(0, _SAMPLE).to_pylist(), np.int64) is None:
        return False
    if _plain_ints(pc.utf8_trim_whitespace(a)):  # Python's int() ignores the same whitespace
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
        _check_tokens(a, width)
        if self.booleans:
            self.booleans = bool(pc.all(pc.is_in(a, value_set=_BOOLEAN_SET)).as_py())
        if self.ints:
            self.ints = _all_ints(a)  # all ints: all numbers too
        if self.floats and not self.ints:
            self.floats = _all_present_floats(a)

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
    width = len(dialect.names)
    columns = [_Column() for _ in dialect.names]
    num_rows = 0
    for rows, block in _iter_blocks(path, dialect, dialect.names):
        num_rows += rows
        for column, values in zip(columns, block, strict=True):
            column.observe(values, width)
    return num_rows, tuple(c.dtype(num_rows) for c in columns)


# --- batches -----------------------------------------------------------------


def _convert(a: pa.Array, dtype: str, width: int) -> pa.Array:
    """One block of one column in its dtype, as the reference converts it."""
    if dtype in ("str", "bool"):
        _check_tokens(a, width)
        return a if dtype == "str" else pc.is_in(a, value_set=_TRUE_SET)
    to = pa.int64() if dtype == "int64" else pa.float64()
    out = _casts(a, to)
    if out is None:
        a = pc.utf8_trim_whitespace(a)
        if dtype == "float64":
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
    width = len(dialect.names)
    names = list(dict.fromkeys(columns))
    index = {name: i for i, name in enumerate(dialect.names)}
    pending: deque[tuple[int, list[pa.Array]]] = deque()
    have = 0
    for rows, block in _iter_blocks(path, dialect, names):
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
