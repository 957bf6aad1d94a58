"""The pyarrow fast path for text tables gives what the Python reference gives.

:mod:`site_builder.tables.csvfast` must reproduce :mod:`site_builder.tables.text`
exactly (row count, dtypes, batches) or give up with ``Unsupported`` so that the
reference runs; errors are the reference's, with their physical line numbers.
Files are read with a tiny pyarrow block size so that every table spans many
blocks and a late value must change the dtype of every batch.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from site_builder.errors import DataFileError
from site_builder.tables import csvfast
from site_builder.tables import text as textreader
from site_builder.tables.reader import detect_format, get_table_info, iter_batches

BIG_IDS = [2**53 + 1, 9007199254740993, 1650753981384753153, 2**53 + 3, 2**63 - 1, -(2**63)]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvfast, "BLOCK_SIZE", 256)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def reference(path: Path, batch_rows: int) -> tuple[int, tuple[str, ...], list[dict[str, np.ndarray]]]:
    dialect = textreader.load_dialect(path, detect_format(path) or "csv")
    num_rows, dtypes = textreader._scan_python(path, dialect)
    batches = textreader._iter_python_batches(path, dialect, dtypes, dialect.names, batch_rows, 0)
    return num_rows, dtypes, list(batches)


def fast(path: Path, batch_rows: int) -> tuple[int, tuple[str, ...], list[dict[str, np.ndarray]]]:
    dialect = textreader.load_dialect(path, detect_format(path) or "csv")
    num_rows, dtypes = csvfast.scan(path, dialect)  # raises Unsupported if it gave up
    return num_rows, dtypes, list(csvfast.iter_batches(path, dialect, dtypes, dialect.names, batch_rows))


def assert_same_batches(got: list[dict[str, np.ndarray]], expected: list[dict[str, np.ndarray]]) -> None:
    assert [list(b) for b in got] == [list(b) for b in expected]
    for g, e in zip(got, expected, strict=True):
        for name in e:
            assert g[name].dtype == e[name].dtype, name
            assert g[name].flags.writeable, name
            np.testing.assert_array_equal(g[name], e[name], err_msg=name)
            if e[name].dtype == object:
                assert [type(v) for v in g[name]] == [type(v) for v in e[name]], name


def rows(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


CASES = {
    "big_ids": rows("id,z", *(f"{v},{i / 7}" for i, v in enumerate(BIG_IDS * 20))),
    "empty_value_late": rows("id,mag,flag", *(f"{i},{20 + i % 5},{i % 3}" for i in range(300)), "300,,1"),
    "nan_token_late": rows("id,mag", *(f"{i},{i}" for i in range(200)), "200,nan", "201,NA", "202,None"),
    "string_late_in_numbers": rows("id,x", *(f"{i},{i}.5" for i in range(200)), "200,oops"),
    "quoted_commas": rows(
        "id,ref,z",
        *(f'{i},"Smith, J. and Doe, A. ({i})",0.{i}' for i in range(60)),
        '60,"said ""hi""",0.6',
        '61,"two\nlines",0.7',
        '62,"",0.8',
    ),
    "bom": "\ufeff" + rows("id,name", *(f"{i},gal{i}" for i in range(50))),
    "bom_headerless": "\ufeff" + rows(*(f"{i},{i * 2}" for i in range(50))),
    "tsv": rows("name\tz\tnote", *(f"NGC {i}\t0.{i}\ta, b" for i in range(80)), "M 31\t\tc, d"),
    "comments_at_top": rows("# survey: test", "  # indented", "", "id,z", *(f"{i},{i / 3}" for i in range(80))),
    "hashes_in_values": rows("# head", "id,name,z", *(f"{i},n#{i},{i}" for i in range(40)), '40,"# quoted",1'),
    "headerless_after_comments": rows("# made by hand", "", *(f"{i},{i / 4}" for i in range(70))),
    "headerless": rows(*(f"{i},{i / 4},{'abc'[i % 3]}" for i in range(70))),
    "whitespace_text": rows("# n(z)", "z  nz   err", *(f" {i / 10:.1f}\t{i}  {i % 3}.5 " for i in range(90))),
    "whitespace_blank_lines": rows("name", *(f"g{i}" for i in range(60)), "   ", "\t\f", "g60", "", *["  \t"] * 200, "g61"),
    "whitespace_headerless": rows(*(f"gal{i} {i / 2} {i}" for i in range(90))),
    "booleans": rows("ok,maybe,text", *(f"{b},{b if i < 90 else ''},{b}" for i, b in enumerate(["True", "false"] * 50))),
    "missing_tokens_in_strings": rows("name,v", *(f"{t},{i}" for i, t in enumerate(["a", "NA", "", "None", "--", "null"] * 20))),
    "all_missing": rows("a,b", *(f"{i},{t}" for i, t in enumerate(["", "NA", "nan"] * 40))),
    "crlf": rows(*(line + "\r" for line in ["id,ra", *(f"{i},{i}.25" for i in range(60))])),
    "old_mac": "\r".join(["id,ra", *(f"{i},{i}.25" for i in range(60))]) + "\r",
    "hex_and_signed_ints": rows("a,b,c", *(f"{i},0x{i},{'+' if i % 2 else ''}{i}" for i in range(60))),
    "spaces_around_numbers": rows("id, ra, dec", *(f"{i}, {i}.5 , -{i}" for i in range(70))),
    "unicode": rows("réd_z,Δz,name", *(f"0.{i},0.0{i},Gal·{i}é" for i in range(70))),
    "single_column": rows("z", *(f"{i / 9}" for i in range(100))),
    "padded_missing_late": rows("id,x", *(f"{i},{i}.5" for i in range(100)), "100, NA ", "101,\tnan", "102,7 "),
    "numbers_then_booleans": rows("a,b,c", *(f"{i},{i}.5,{i}" for i in range(100)), *(f"{i},True,False" for i in range(100, 200))),
    "missing_then_booleans": rows("a,b", *(f"{i}," for i in range(100)), *(f"{i},true" for i in range(100, 200))),
    "sign_typo_late": rows("id,v", *(f"{i},+{i}" for i in range(100)), "100,+-5"),
    "header_only": rows("id,ra,dec"),
    "unterminated_quote": rows("a,b", *(f"{i},{i}" for i in range(60)), '60,"open', "61,1"),
    "infinities": rows("a,b", *(f"{v},{i}" for i, v in enumerate(["inf", "-Infinity", "1e400", "1e-400", ".5", "5."] * 20))),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("batch_rows", [3, 64, 1_000_000])
@pytest.mark.parametrize("block_size", [256, 1 << 20])  # many blocks; one (past the samples)
def test_fast_path_matches_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, batch_rows: int, block_size: int
) -> None:
    monkeypatch.setattr(csvfast, "BLOCK_SIZE", block_size)
    path = write(tmp_path, f"{case}.dat", CASES[case])
    expected = reference(path, batch_rows)
    num_rows, dtypes, batches = fast(path, batch_rows)
    assert (num_rows, dtypes) == expected[:2]
    assert_same_batches(batches, expected[2])
    if batch_rows == 3 and num_rows:
        assert [len(next(iter(b.values()))) for b in batches] == [3] * (num_rows // 3) + (
            [num_rows % 3] if num_rows % 3 else []
        )


@pytest.mark.parametrize("case", CASES)
def test_table_info_is_the_reference(tmp_path: Path, case: str) -> None:
    path = write(tmp_path, f"{case}.dat", CASES[case])
    info = get_table_info(path)
    num_rows, dtypes, _ = reference(path, 10)
    assert (info.num_rows, tuple(c.dtype for c in info.columns)) == (num_rows, dtypes)


def test_late_empty_value_makes_every_batch_float(tmp_path: Path) -> None:
    path = write(tmp_path, "late.csv", CASES["empty_value_late"])
    assert [c.dtype for c in get_table_info(path).columns] == ["int64", "float64", "int64"]
    batches = list(iter_batches(path, batch_rows=50))
    assert {b["mag"].dtype for b in batches} == {np.dtype(np.float64)}
    assert np.isnan(batches[-1]["mag"][-1]) and batches[0]["id"].dtype == np.int64


def test_a_block_of_numbers_then_a_block_of_booleans_is_str(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows of 13 bytes: pyarrow's first block holds only numbers, the second only booleans.
    monkeypatch.setattr(csvfast, "BLOCK_SIZE", 13 * 16)
    lines = [f"{i:02d},1000,10.5" for i in range(16)] + [f"{i:02d},True,True" for i in range(16, 40)]
    path = write(tmp_path, "b.csv", rows("id,b,c", *lines))
    dialect = textreader.load_dialect(path, "csv")
    assert [n for n, _ in csvfast._iter_blocks(path, dialect, dialect.names)][:2] == [16, 16]
    assert csvfast.scan(path, dialect) == textreader._scan_python(path, dialect) == (40, ("int64", "str", "str"))


def test_big_ids_are_exact_through_the_fast_path(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.csv", CASES["big_ids"])
    _, dtypes, batches = fast(path, 7)
    assert dtypes == ("int64", "float64")
    assert [int(v) for b in batches for v in b["id"]] == BIG_IDS * 20


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("comments_everywhere", rows(
            "# head", "id,name,z", *(f"{i},n#{i},{i}" for i in range(40)), "# a, b, c", "\t# tab-indented",
            *(f"{i},x,{i}" for i in range(40, 80)), '80,"quoted\n# dropped by the reference\nvalue",1', "#",
        )),
        ("header_then_comments", rows("id,ra", "# nothing yet", "")),
        ("comment_with_the_right_fields", rows("name,band", *(f"g{i},r" for i in range(60)), "#x,y", "g60,i")),
        ("indented_comment", rows("name,band", *(f"g{i},r" for i in range(60)), "\t#z,w", "g60,i")),
        ("leading_space_in_strings", rows("id,name", *(f"{i}, gal{i}" for i in range(60)))),
        ("quoted_after_space", rows("id,name", *(f'{i}, "gal {i}"' for i in range(60)))),
        ("blank_line_in_quotes", rows("id,note", *(f"{i},x" for i in range(60)), '60,"a\n\nb"', '61,"c\n   \nd"')),
        ("quotes_in_whitespace_text", rows("name z", *(f'"NGC {i}" {i}' for i in range(60)))),
        ("quoted_words_in_whitespace_text", rows("name z", *(f'"g{i}" {i}' for i in range(60)))),
        ("whitespace_only_line", rows("a,b", *(f"{i},{i}" for i in range(60)), "  ", "60,60")),
        ("underscored_ints", rows("a,b", *(f"{i},1_{i}" for i in range(60)))),
        ("unicode_digits", rows("a,b", *(f"{i},{'١٢' if i == 50 else i}" for i in range(60)))),
    ],
)
def test_unsupported_files_fall_back_to_the_reference(tmp_path: Path, case: str, text: str) -> None:
    path = write(tmp_path, f"{case}.dat", text)
    dialect = textreader.load_dialect(path, detect_format(path) or "csv")
    with pytest.raises(csvfast.Unsupported):  # in the scan, or in the batches
        _, dtypes = csvfast.scan(path, dialect)
        list(csvfast.iter_batches(path, dialect, dtypes, dialect.names, 25))
    num_rows, dtypes, expected = reference(path, 25)
    info = get_table_info(path)
    assert (info.num_rows, tuple(c.dtype for c in info.columns)) == (num_rows, dtypes)
    assert_same_batches(list(iter_batches(path, batch_rows=25)), expected)


def test_one_column_csv_skips_blank_lines_like_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "one.csv", rows("z", *(f"{i / 9}" for i in range(60)), "   ", "\t", "0.5"))
    info = get_table_info(path, format="csv")
    assert (info.format, info.num_rows, info.columns[0].dtype) == ("csv", 61, "float64")
    dialect = textreader.load_dialect(path, "csv")
    with pytest.raises(csvfast.Unsupported):
        csvfast.scan(path, dialect)


def test_space_then_quote_hiding_a_delimiter_is_the_reference_error(tmp_path: Path) -> None:
    # pyarrow reads three fields from the last line; the reference reads 'a,b' as one.
    path = write(tmp_path, "q.csv", rows("id,name,z", *(f"{i},g{i},{i}" for i in range(60)), '60, "a,b"'))
    with pytest.raises(DataFileError, match=r"^line 62: expected 3 fields \(as in the header\), found 2"):
        get_table_info(path)


def test_field_longer_than_the_csv_limit_is_the_reference_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvfast, "BLOCK_SIZE", 1 << 20)
    path = write(tmp_path, "long.csv", rows("id,note", *(f"{i},x" for i in range(50)), "50," + "y" * 200_000))
    with pytest.raises(DataFileError, match=r"^line 52: cannot parse: field larger than field limit"):
        get_table_info(path)
    lines = rows("id,note", *(f"{i},x" for i in range(50)), '50,"' + "y\n" * 70_000 + '"')
    path = write(tmp_path, "long_lines.csv", lines)
    with pytest.raises(DataFileError, match=r"^line \d+: cannot parse: field larger than field limit"):
        get_table_info(path)
    # A number that long, past the first block: parsed as float64 by pyarrow's reader.
    number = rows("id,z", *(f"{i},0.5" for i in range(150_000)), "150000,0." + "0" * 200_000 + "1")
    path = write(tmp_path, "long_number.csv", number)
    with pytest.raises(DataFileError, match=r"^line 150002: cannot parse: field larger than field limit"):
        get_table_info(path)


def ragged(tmp_path: Path, bad_line: int, fmt: str = "csv") -> Path:
    sep = {"csv": ",", "tsv": "\t", "text": " "}[fmt]
    lines = ["# a comment", sep.join(["id", "z", "name"])]
    while len(lines) < bad_line - 1:
        n = len(lines)
        lines.append(f"# note {n}" if n % 97 == 0 else sep.join([str(n), f"{n / 3:.4f}", f"g{n}"]))
    lines.append(sep.join(["1", "2"]))
    lines += [sep.join([str(n), "0.5", "x"]) for n in range(50)]
    return write(tmp_path, f"ragged.{fmt}", "\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "text"])
def test_ragged_row_far_into_a_multi_block_file_names_its_line(tmp_path: Path, fmt: str) -> None:
    path = ragged(tmp_path, 4321, fmt)
    assert path.stat().st_size > 200 * csvfast.BLOCK_SIZE
    pattern = r"^line 4321: expected 3 fields \(as in the header\), found 2"
    with pytest.raises(DataFileError, match=pattern):
        get_table_info(path)
    with pytest.raises(DataFileError, match=pattern):
        list(iter_batches(path))


def test_batches_resume_in_the_reference_after_the_fast_path_gives_up(tmp_path: Path) -> None:
    text = rows("id,name", *(f"{i},g{i}" for i in range(500)), "500, spaced", *(f"{i},g{i}" for i in range(501, 600)))
    path = write(tmp_path, "late.csv", text)
    dialect = textreader.load_dialect(path, "csv")
    dtypes = ("int64", "str")
    got = list(textreader.iter_text_batches(path, dialect, dtypes, ["name", "id"], 40))
    expected = list(textreader._iter_python_batches(path, dialect, dtypes, ["name", "id"], 40, 0))
    assert_same_batches(got, expected)
    assert got[12]["name"][20] == "spaced"


def test_ragged_row_after_batches_were_yielded(tmp_path: Path) -> None:
    path = ragged(tmp_path, 3000)
    dialect = textreader.load_dialect(path, "csv")
    batches = textreader.iter_text_batches(path, dialect, ("int64", "float64", "str"), dialect.names, 100)
    with pytest.raises(DataFileError, match=r"^line 3000: expected 3 fields"):
        for batch in batches:
            assert len(batch["id"]) == 100


def test_nul_and_bad_utf8_keep_their_line_numbers(tmp_path: Path) -> None:
    body = "".join(f"{i},x\n" for i in range(20_000)).encode()  # beyond the sniffed head
    nul = write(tmp_path, "nul.csv", b"a,b\n" + body + b"1,\x00\n")
    with pytest.raises(DataFileError, match=r"^line 20002: contains NUL bytes"):
        get_table_info(nul)
    for tail in (b"1,M\xe9nard\n", b"# M\xe9nard\n"):  # in a value, in a comment line
        bad = write(tmp_path, "bad.csv", b"a,b\n" + body + tail)
        with pytest.raises(DataFileError, match=r"^line 20002: not valid UTF-8"):
            get_table_info(bad)


def test_columns_subset_and_order(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", CASES["quoted_commas"])
    dialect = textreader.load_dialect(path, "csv")
    _, dtypes = csvfast.scan(path, dialect)
    got = list(csvfast.iter_batches(path, dialect, dtypes, ["z", "id"], 10))
    expected = list(textreader._iter_python_batches(path, dialect, dtypes, ["z", "id"], 10, 0))
    assert_same_batches(got, expected)
    assert list(got[0]) == ["z", "id"]


COMMON = [
    "5", "-5", "+5", "5 ", "05", "0x10", "5.", ".5", "1e5", "1E+05", "inf", "-inf", "Infinity", "nan",
    "NaN", "-nan", "NA", "", "None", "--", "null", "True", "false", "TRUE", "tRUE", "abc", "\xa05",
    "9223372036854775807", "9223372036854775808", "1e400", "1.5e-10", "0.1", "-0", "+inf",
]
EXOTIC = [" 5", "1_000", "١٢", " NA", "N A"]  # the fast path may give up on these
TOKENS = COMMON + EXOTIC


def random_table(tmp_path: Path, seed: int, tokens: list[str]) -> Path:
    rng = np.random.default_rng(seed)
    columns = []
    for _ in range(6):  # a few kinds per column, so that most columns stay typed
        pool = rng.choice(tokens, size=rng.integers(1, 4))
        columns.append(rng.choice(pool, size=rng.integers(1, 120)).tolist())
    n = max(len(c) for c in columns)
    columns = [(c * n)[:n] for c in columns]
    header = ",".join(f"c{i}" for i in range(len(columns)))
    return write(tmp_path, "r.csv", rows(header, *(",".join(r) for r in zip(*columns, strict=True))))


@pytest.mark.parametrize("seed", range(40))
def test_random_columns_of_common_values_go_fast_and_exact(tmp_path: Path, seed: int) -> None:
    path = random_table(tmp_path, seed, COMMON)
    for batch_rows in (7, 50):
        expected = reference(path, batch_rows)
        got = fast(path, batch_rows)
        assert got[:2] == expected[:2]
        assert_same_batches(got[2], expected[2])


@pytest.mark.parametrize("seed", range(40))
def test_random_columns_of_odd_values_get_the_reference_results(tmp_path: Path, seed: int) -> None:
    path = random_table(tmp_path, seed, TOKENS)
    dialect = textreader.load_dialect(path, "csv")
    num_rows, dtypes, expected = reference(path, 50)
    assert textreader.scan(path, dialect) == (num_rows, dtypes)
    assert_same_batches(list(textreader.iter_text_batches(path, dialect, dtypes, dialect.names, 50)), expected)


def test_reference_dtypes_do_not_depend_on_its_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path decides per pyarrow block; that is sound only because of this."""
    rng = np.random.default_rng(7)
    for _ in range(30):
        columns = [rng.choice(rng.choice(TOKENS, size=3), size=40).tolist() for _ in range(5)]
        path = write(tmp_path, "c.csv", rows("a,b,c,d,e", *(",".join(r) for r in zip(*columns, strict=True))))
        dialect = textreader.load_dialect(path, "csv")
        results = set()
        for chunk in (1, 3, 7, 1000):
            monkeypatch.setattr(textreader, "CHUNK_ROWS", chunk)
            results.add(textreader._scan_python(path, dialect))
        assert len(results) == 1


def test_pyarrow_number_grammar_is_a_subset_of_pythons() -> None:
    """A value pyarrow casts must be one the reference parses, to the same number."""
    tokens = [*TOKENS, "0X1F", "-0x10", "0x1p3", "1d5", "1.5f", "1e", "e5", "+", "-", ".", "1.2.3", "1,5"]
    for dtype, to in ((np.int64, pa.int64()), (np.float64, pa.float64())):
        for token in tokens:
            try:
                got = pc.cast(pa.array([token]), to)[0].as_py()
            except pa.ArrowInvalid:
                continue
            if dtype is np.int64 and ("x" in token or "X" in token):
                continue  # hexadecimal: csvfast refuses it before trusting the cast
            parsed = textreader._parse([token], dtype)
            assert parsed is not None, token
            assert parsed[0] == got or (np.isnan(parsed[0]) and np.isnan(got)), token


def test_pyarrow_csv_float_parsing_is_a_subset_of_pythons() -> None:
    """Float columns are parsed by pyarrow's CSV reader with the reference's missing values."""
    tokens = [*TOKENS, "\t5", "5\t", " NaN", "NA ", "0x1p3", "1d5", "+", "-", ".", "1.2.3", "#N/A"]
    read = pacsv.ReadOptions(column_names=["x"])
    parse = pacsv.ParseOptions(ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(column_types={"x": pa.float64()}, null_values=sorted(textreader._MISSING))
    for token in tokens:
        try:
            got = pacsv.read_csv(io.BytesIO(f"{token}\n".encode()), read, parse, convert)
        except pa.ArrowInvalid:
            continue
        value = got.column(0)[0].as_py() if got.num_rows else None
        if value is None:
            assert token.strip() in textreader._MISSING, token
        else:
            parsed = textreader._parse([token], np.float64)
            assert parsed is not None, token
            assert parsed[0] == value or (np.isnan(parsed[0]) and np.isnan(value)), token


def test_public_functions_take_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object) -> None:
        raise AssertionError("the reference ran")

    monkeypatch.setattr(textreader, "_scan_python", slow)
    monkeypatch.setattr(textreader, "_iter_python_batches", slow)
    for case in ("quoted_commas", "tsv", "comments_at_top", "whitespace_text", "padded_missing_late"):
        path = write(tmp_path, f"{case}.dat", CASES[case])
        info = get_table_info(path)
        assert sum(len(b[info.names[0]]) for b in iter_batches(path, batch_rows=7)) == info.num_rows


def test_pyarrow_whitespace_is_pythons() -> None:
    """Whitespace tables are split by pyarrow, and values trimmed by it."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    words = pa.array([f"a{c}b" for c in chars])
    assert pc.list_value_length(pc.utf8_split_whitespace(words)).to_pylist() == [len(f"a{c}b".split()) for c in chars]
    padded = pa.array([f"{c}a{c}" for c in chars])
    assert pc.utf8_trim_whitespace(padded).to_pylist() == [f"{c}a{c}".strip() for c in chars]
