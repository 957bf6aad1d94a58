"""The grammar of text tables, shared by the reference parser and its fast path.

:mod:`site_builder.tables.text` (the reference) and :mod:`site_builder.tables.csvfast`
(pyarrow's reader under the same rules) both take from here what a text table
means: the separators, the missing-value and boolean tokens, which lines count
and how a record splits. Neither imports the other's internals.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from site_builder.errors import DataFileError

#: Field separator of each text format; None means runs of whitespace.
DELIMITERS: dict[str, str | None] = {"csv": ",", "tsv": "\t", "text": None}

#: Rows converted at a time; bounds memory to this many rows of Python strings.
CHUNK_ROWS = 65_536

MISSING = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "null", "NULL", "None", "--")
MISSING_SET = frozenset(MISSING)
TRUE_SET = frozenset(("True", "true", "TRUE"))
BOOLEAN_SET = TRUE_SET | {"False", "false", "FALSE"}
_WS_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\S+)')


@dataclass(frozen=True)
class TextDialect:
    """How one text table is laid out, found from its first lines."""

    format: str
    delimiter: str | None
    has_header: bool
    names: tuple[str, ...]

    @property
    def delimiter_label(self) -> str:
        """The separator as pandas ``read_csv(sep=...)`` takes it."""
        return self.delimiter if self.delimiter is not None else r"\s+"


def split_fields(line: str, delimiter: str | None) -> list[str]:
    """The fields of one line (None: runs of whitespace, double quotes group)."""
    if delimiter is not None:
        return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])
    if '"' not in line:
        return line.split()
    return [q.replace('""', '"') if q or not plain else plain for q, plain in _WS_TOKEN.findall(line)]


def iter_lines(path: Path, delimiter: str | None) -> Iterator[tuple[int, str]]:
    """Non-comment, non-blank physical lines with their 1-based numbers."""
    tsv = delimiter == "\t"
    try:
        # newline="" keeps quoted line breaks for csv and splits on \r too.
        with path.open(encoding="utf-8-sig", newline="") as f:
            for lineno, line in enumerate(f, 1):
                stripped = line.strip()
                # A blank TSV line with tabs is a row of empty fields, not a blank line.
                if (stripped and stripped[0] != "#") or (tsv and not stripped and "\t" in line):
                    if "\x00" in line:
                        raise DataFileError(
                            f"line {lineno}: contains NUL bytes: this is binary data, not a text "
                            "table; is the 'format' field right?"
                        )
                    yield lineno, line
    except UnicodeDecodeError:
        raise DataFileError(
            f"line {_first_bad_utf8_line(path)}: not valid UTF-8; save the file as UTF-8"
        ) from None


def _first_bad_utf8_line(path: Path) -> int:
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return 0


def iter_records(path: Path, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """Every non-comment, non-blank record (header included) with its line number."""
    lines = iter_lines(path, delimiter)
    if delimiter is None:
        for lineno, line in lines:
            yield lineno, split_fields(line, None)
        return
    current = [0]

    def feed() -> Iterator[str]:
        for lineno, line in lines:
            current[0] = lineno
            yield line

    # csv.reader pulls exactly the lines of one record, so current[0] is the
    # record's last line (its only line unless a quoted field spans lines).
    reader = csv.reader(feed(), delimiter=delimiter, skipinitialspace=True)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataFileError(f"line {current[0]}: cannot parse: {err}") from None
        yield current[0], fields


def parse_numbers(values: Sequence[str], dtype: type) -> np.ndarray | None:
    """Numbers from text (numpy calls int() or float() on each value), or None."""
    try:
        return np.array(values, dtype=dtype)  # int64 from the digits: exact beyond 2**53
    except (ValueError, OverflowError):
        return None
