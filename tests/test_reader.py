"""Table readers: real sample products and generated edge cases of every format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table

from site_builder.errors import DataFileError
from site_builder.tables import text as textreader
from site_builder.tables.reader import (
    FORMATS,
    ColumnInfo,
    detect_format,
    get_table_info,
    iter_batches,
    read_head,
)

REPO = Path(__file__).resolve().parents[1]
BIG_IDS = [2**53 + 1, 9007199254740993, 1650753981384753153, 2**53 + 3, 2**63 - 1]


# --- real sample products ----------------------------------------------------


@dataclass(frozen=True)
class Sample:
    file: str
    format: str
    num_rows: int
    names: tuple[str, ...]
    dtypes: dict[str, str]
    first: dict[str, object]
    table: str | None = None
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


DC2 = (
    "id",
    *(f"mag_err_{b}_lsst" for b in "giruyz"),
    *(f"mag_{b}_lsst" for b in "giruyz"),
    "redshift",
)
DC2_TYPES = {"id": "int64", "mag_g_lsst": "float32", "redshift": "float64"}
BPZ = "bpz-lite-dc2-pdfs/output_BPZ_lite"

SAMPLES = [
    Sample("dc2-training-9816/test_dc2_training_9816.hdf5", "hdf5", 10_225, DC2, DC2_TYPES,
           {"id": 8062500000}, table="photometry"),
    Sample("dc2-training-9816/test_dc2_training_9816.pq", "parquet", 10_225, DC2, DC2_TYPES,
           {"id": 8062500000}),
    Sample("dc2-validation-9816/test_dc2_validation_9816.hdf5", "hdf5", 20_449, DC2, DC2_TYPES,
           {}, table="photometry"),
    Sample("pzserver-upload-example/upload_example.csv", "csv", 10,
           ("ID", "RA", "DEC", "Z", "ERR_Z", "FLAG_DES"),
           {"ID": "int64", "RA": "float64", "ERR_Z": "float64", "FLAG_DES": "int64"},
           {"ID": 1037374, "RA": 30.63617, "DEC": -9.95081, "Z": 0.161715, "ERR_Z": 99.0}),
    Sample("2dflens-kids-south/2dflens_kidss_data.pqt", "parquet", 21_875,
           ("RA", "Dec", "redshift", "wei", "patch"),
           {"RA": "float64", "redshift": "float64", "patch": "int32"},
           {"RA": 339.008911, "Dec": -35.747116, "redshift": 0.18767, "patch": 1}),
    Sample("rubin-dm-dc2-example/rubin_dm_dc2_example.pq", "parquet", 100,
           ("objectId", "ra", "decl", *(f"{b}_gaap1p0Flux{e}" for b in "ugrizy" for e in ("", "Err"))),
           {"objectId": "int64", "ra": "float64"}, {"objectId": 1650753981384753153}),
    Sample(f"{BPZ}.hdf5", "hdf5", 10, ("yvals",), {"yvals": "float64"}, {}, table="data",
           shapes={"yvals": (301,)}),
    Sample(f"{BPZ}.hdf5", "hdf5", 10, ("zmode",), {"zmode": "float64"}, {"zmode": 0.18},
           table="ancil"),
    Sample(f"{BPZ}.hdf5", "hdf5", 1, ("pdf_name", "pdf_version", "xvals"),
           {"pdf_name": "bytes", "pdf_version": "int64", "xvals": "float64"},
           {"pdf_name": b"interp", "pdf_version": 0}, table="meta", shapes={"xvals": (301,)}),
    Sample(f"{BPZ}.fits", "fits", 1, ("pdf_name", "pdf_version", "xvals"),
           {"pdf_name": "str", "pdf_version": "int64", "xvals": "float64"},
           {"pdf_name": "interp", "pdf_version": 0}, table="META", shapes={"xvals": (301,)}),
    Sample(f"{BPZ}.fits", "fits", 10, ("yvals",), {"yvals": "float64"}, {}, table="DATA",
           shapes={"yvals": (301,)}),
    Sample(f"{BPZ}.fits", "fits", 10, ("zmode",), {"zmode": "float64"}, {"zmode": 0.18},
           table="ANCIL"),
]


def _sample_id(s: Sample) -> str:
    return f"{Path(s.file).name}[{s.table}]" if s.table else Path(s.file).name


def sample_path(rel: str) -> Path:
    path = REPO / "products" / rel
    if not path.exists():
        pytest.skip(f"sample file products/{rel} is missing; run `make data` first")
    return path


@pytest.mark.parametrize("s", SAMPLES, ids=_sample_id)
def test_sample_format_is_detected_from_content(s: Sample) -> None:
    assert detect_format(sample_path(s.file)) == s.format


@pytest.mark.parametrize("s", SAMPLES, ids=_sample_id)
def test_sample_schema(s: Sample) -> None:
    # The DC2 HDF5 files hold one group, found without 'table'; the BPZ files need it.
    table = s.table if s.file.startswith("bpz") else None
    info = get_table_info(sample_path(s.file), table=table)
    assert info.format == s.format
    assert info.num_rows == s.num_rows
    assert info.table == s.table
    assert info.names == s.names  # file order (HDF5 lists a group's datasets by name)
    types = {c.name: c.dtype for c in info.columns}
    assert {k: types[k] for k in s.dtypes} == s.dtypes
    shapes = {c.name: c.shape for c in info.columns}
    assert shapes == {n: s.shapes.get(n, ()) for n in s.names}


@pytest.mark.parametrize("s", SAMPLES, ids=_sample_id)
def test_sample_batches_match_schema_and_cover_every_row(s: Sample) -> None:
    path = sample_path(s.file)
    info = get_table_info(path, table=s.table)
    total = 0
    for batch in iter_batches(path, table=s.table, batch_rows=4096):
        assert list(batch) == list(info.names)
        for col in info.columns:
            arr = batch[col.name]
            assert reported_dtype(arr) == col.dtype, col.name
            assert arr.shape[1:] == col.shape
            assert len(arr) == len(batch[info.names[0]]) <= 4096
        total += len(batch[info.names[0]])
    assert total == info.num_rows


def reported_dtype(arr: np.ndarray) -> str:
    """The dtype name a reader should report for an array it yielded."""
    if arr.dtype == object:
        return "bytes" if isinstance(arr.flat[0], bytes) else "str"
    return arr.dtype.name


@pytest.mark.parametrize("s", SAMPLES, ids=_sample_id)
def test_sample_first_row_values(s: Sample) -> None:
    head = read_head(sample_path(s.file), n=3, table=s.table)
    assert len(head) == min(3, s.num_rows)
    assert tuple(head.columns) == s.names
    for name, expected in s.first.items():
        got = head[name].iloc[0]
        if isinstance(expected, float):
            assert got == pytest.approx(expected)
        else:
            assert got == expected
            assert type(got) is not float  # ints never went through float64
    for name, shape in s.shapes.items():
        cell = head[name].iloc[0]
        assert isinstance(cell, np.ndarray) and cell.shape == shape


def test_rubin_object_ids_above_2_53_are_exact() -> None:
    path = sample_path("rubin-dm-dc2-example/rubin_dm_dc2_example.pq")
    ids = np.concatenate([b["objectId"] for b in iter_batches(path, columns=["objectId"])])
    assert ids.dtype == np.int64
    assert int(ids[0]) == 1650753981384753153
    assert int(ids.min()) > 2**53
    assert len(np.unique(ids)) == 100


def test_dc2_hdf5_and_parquet_copies_agree() -> None:
    h5 = next(iter_batches(sample_path("dc2-training-9816/test_dc2_training_9816.hdf5")))
    pqt = next(iter_batches(sample_path("dc2-training-9816/test_dc2_training_9816.pq")))
    for name in DC2:
        np.testing.assert_array_equal(h5[name], pqt[name])


def test_bpz_pdfs_hdf5_and_fits_agree() -> None:
    h5 = next(iter_batches(sample_path(f"{BPZ}.hdf5"), table="data"))["yvals"]
    fi = next(iter_batches(sample_path(f"{BPZ}.fits"), table="2"))["yvals"]
    assert h5.shape == fi.shape == (10, 301)
    np.testing.assert_allclose(h5, fi, rtol=1e-12)  # written separately: last-bit differences


def test_bpz_hdf5_without_table_names_the_candidates() -> None:
    with pytest.raises(DataFileError) as err:
        get_table_info(sample_path(f"{BPZ}.hdf5"))
    msg = str(err.value)
    assert "'ancil' (10 rows)" in msg and "'data' (10 rows)" in msg and "'meta' (1 row)" in msg
    assert "set 'table'" in msg


def test_bpz_fits_defaults_to_first_table_hdu() -> None:
    info = get_table_info(sample_path(f"{BPZ}.fits"))
    assert (info.table, info.num_rows, info.names) == ("META", 1, ("pdf_name", "pdf_version", "xvals"))


# --- writers of tiny generated tables -----------------------------------------


def write_text(path: Path, data: dict[str, np.ndarray], sep: str) -> None:
    lines = [sep.join(data)]
    for row in zip(*data.values(), strict=True):
        lines.append(sep.join(str(v) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_parquet(path: Path, data: dict[str, np.ndarray]) -> None:
    pq.write_table(pa.table(data), path)


def write_fits(path: Path, data: dict[str, np.ndarray]) -> None:
    Table(data).write(path, format="fits")


def h5_able(arr: np.ndarray) -> np.ndarray:
    """h5py stores text as variable-length strings, not numpy '<U'."""
    return arr.astype(h5py.string_dtype()) if arr.dtype.kind == "U" else arr


def write_hdf5_group(path: Path, data: dict[str, np.ndarray]) -> None:
    with h5py.File(path, "w") as f:
        for name, arr in data.items():
            f.create_dataset(f"catalog/{name}", data=h5_able(arr))


def write_hdf5_compound(path: Path, data: dict[str, np.ndarray]) -> None:
    data = {k: h5_able(v) for k, v in data.items()}
    rec = np.empty(len(next(iter(data.values()))), dtype=[(k, v.dtype) for k, v in data.items()])
    for name, arr in data.items():
        rec[name] = arr
    with h5py.File(path, "w") as f:
        f.create_dataset("objects", data=rec)


def write_votable(path: Path, data: dict[str, np.ndarray]) -> None:
    Table(data).write(path, format="votable")


WRITERS: dict[str, tuple[str, Callable[[Path, dict[str, np.ndarray]], None]]] = {
    "csv": ("csv", lambda p, d: write_text(p, d, ",")),
    "tsv": ("tsv", lambda p, d: write_text(p, d, "\t")),
    "text": ("text", lambda p, d: write_text(p, d, "  ")),
    "parquet": ("parquet", write_parquet),
    "fits": ("fits", write_fits),
    "hdf5-group": ("hdf5", write_hdf5_group),
    "hdf5-compound": ("hdf5", write_hdf5_compound),
    "votable": ("votable", write_votable),
}


def make(tmp_path: Path, kind: str, data: dict[str, np.ndarray]) -> tuple[Path, str]:
    fmt, writer = WRITERS[kind]
    path = tmp_path / f"table.{kind}"  # the extension never decides the format
    writer(path, data)
    return path, fmt


def test_every_format_has_a_writer() -> None:
    assert {fmt for fmt, _ in WRITERS.values()} == set(FORMATS)


# --- behaviour shared by every format ----------------------------------------


@pytest.mark.parametrize("kind", WRITERS)
def test_batches_of_three_cover_ten_rows_in_order(tmp_path: Path, kind: str) -> None:
    ids = np.arange(10, dtype=np.int64) + 2**53
    z = np.linspace(0.1, 1.0, 10)
    path, fmt = make(tmp_path, kind, {"id": ids, "z": z})
    assert detect_format(path) == fmt
    batches = list(iter_batches(path, batch_rows=3))
    assert [len(b["id"]) for b in batches] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([b["id"] for b in batches]), ids)
    np.testing.assert_allclose(np.concatenate([b["z"] for b in batches]), z)
    assert all(b["id"].dtype == np.int64 for b in batches)


@pytest.mark.parametrize("kind", WRITERS)
def test_ids_above_2_53_stay_exact(tmp_path: Path, kind: str) -> None:
    ids = np.array(BIG_IDS, dtype=np.int64)
    path, fmt = make(tmp_path, kind, {"id": ids, "mag": np.full(len(ids), 99.0)})
    info = get_table_info(path)
    assert info.format == fmt and info.num_rows == len(ids)
    assert info.columns[0] == ColumnInfo("id", "int64")
    got = np.concatenate([b["id"] for b in iter_batches(path, columns=["id"], batch_rows=2)])
    assert got.dtype == np.int64
    assert [int(v) for v in got] == BIG_IDS
    head = read_head(path, n=3)
    assert head["id"].dtype == np.int64
    assert [int(v) for v in head["id"]] == BIG_IDS[:3]


@pytest.mark.parametrize("kind", WRITERS)
def test_strings_are_str_columns(tmp_path: Path, kind: str) -> None:
    path, _ = make(tmp_path, kind, {"survey": np.array(["DES", "VVDS", "2dFLenS"]), "n": np.arange(3)})
    info = get_table_info(path)
    assert ColumnInfo("survey", "str") in info.columns
    (batch,) = iter_batches(path)
    assert batch["survey"].dtype == object
    assert list(batch["survey"]) == ["DES", "VVDS", "2dFLenS"]


@pytest.mark.parametrize("kind", WRITERS)
def test_selected_columns_come_in_the_order_asked(tmp_path: Path, kind: str) -> None:
    path, _ = make(tmp_path, kind, {"a": np.arange(4), "b": np.arange(4) * 2, "c": np.arange(4) * 3})
    (batch,) = iter_batches(path, columns=["c", "a"])
    assert list(batch) == ["c", "a"]
    assert list(batch["c"]) == [0, 3, 6, 9]
    with pytest.raises(DataFileError, match=r"no column 'd'.*'a', 'b', 'c'"):
        next(iter_batches(path, columns=["d"]))


@pytest.mark.parametrize("kind", ["csv", "tsv", "text", "parquet", "hdf5-group", "hdf5-compound"])
def test_unicode_column_names(tmp_path: Path, kind: str) -> None:
    path, _ = make(tmp_path, kind, {"réd_z": np.array([0.5, 0.7]), "Δz": np.array([0.01, 0.02])})
    assert get_table_info(path).names == ("réd_z", "Δz")
    assert list(read_head(path)["Δz"]) == [0.01, 0.02]


# --- text tables ---------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "")
    assert detect_format(path) is None
    for call in (get_table_info, read_head, lambda p: next(iter_batches(p))):
        with pytest.raises(DataFileError, match=r"^file is empty$"):
            call(path)


def test_header_only_has_zero_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "header.csv", "id,ra,dec\n")
    info = get_table_info(path)
    assert (info.format, info.num_rows, info.names, info.has_header) == ("csv", 0, ("id", "ra", "dec"), True)
    assert list(iter_batches(path)) == []
    head = read_head(path)
    assert list(head.columns) == ["id", "ra", "dec"] and len(head) == 0


def test_comments_only_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "c.txt", "# nothing here\n\n# yet\n")
    with pytest.raises(DataFileError, match=r"only comments and blank lines"):
        get_table_info(path)


def test_headerless_whitespace_text(tmp_path: Path) -> None:
    path = write(tmp_path, "nz.dat", " 0.15  0.20  1.2071623\n 0.20  0.25  2.0529337\n 0.25 0.30 -99\n")
    info = get_table_info(path)
    assert (info.format, info.has_header, info.delimiter) == ("text", False, r"\s+")
    assert info.names == ("col1", "col2", "col3")
    assert info.num_rows == 3
    (batch,) = iter_batches(path)
    assert list(batch["col3"]) == [1.2071623, 2.0529337, -99.0]


def test_headerless_with_a_text_column(tmp_path: Path) -> None:
    path = write(tmp_path, "g.txt", "gal1 0.5 12\ngal2 0.6 13\n")
    info = get_table_info(path)
    assert info.has_header is False
    assert [c.dtype for c in info.columns] == ["str", "float64", "int64"]


def test_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", "\ufeffid,z\n1,0.5\n2,0.6\n".encode())
    assert detect_format(path) == "csv"
    info = get_table_info(path)
    assert info.names == ("id", "z")
    assert list(read_head(path)["id"]) == [1, 2]


def test_tsv_with_spaces_and_commas_inside_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "t.tsv", "name\tz\tnote\nNGC 1234\t0.01\ta, b\nM 31\t-0.001\tc, d\n")
    info = get_table_info(path)
    assert (info.format, info.delimiter, info.num_rows) == ("tsv", "\t", 2)
    (batch,) = iter_batches(path)
    assert list(batch["name"]) == ["NGC 1234", "M 31"]
    assert list(batch["note"]) == ["a, b", "c, d"]


def test_whitespace_text_with_comments_everywhere(tmp_path: Path) -> None:
    text = "# n(z) estimate\n#   z nz\n\nz nz err\n0.1 1.0 0.1\n# a comment between rows\n0.2 2.0 0.2\n   # indented\n0.3 3.0 0.3\n"
    path = write(tmp_path, "est.txt", text)
    info = get_table_info(path)
    assert (info.format, info.names, info.num_rows) == ("text", ("z", "nz", "err"), 3)
    assert list(read_head(path)["nz"]) == [1.0, 2.0, 3.0]


def test_quoted_delimiters(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "q.csv", 'id,ref,z\n1,"Smith, J. and Doe, A.",0.5\n2,"said ""hi""",0.6\n')
    (batch,) = iter_batches(csv_path)
    assert list(batch["ref"]) == ["Smith, J. and Doe, A.", 'said "hi"']
    assert list(batch["z"]) == [0.5, 0.6]
    txt_path = write(tmp_path, "q.txt", 'name z\n"NGC 1234" 0.01\nM31 0.02\n')
    (batch,) = iter_batches(txt_path)
    assert list(batch["name"]) == ["NGC 1234", "M31"]


def test_quoted_field_spanning_lines_keeps_physical_line_numbers(tmp_path: Path) -> None:
    good = write(tmp_path, "m.csv", 'id,note\n1,"two\nlines"\n2,ok\n')
    (batch,) = iter_batches(good)
    assert list(batch["note"]) == ["two\nlines", "ok"]
    bad = write(tmp_path, "bad.csv", 'id,note\n1,"two\nlines"\n2,ok\n3,bad,extra\n')
    with pytest.raises(DataFileError, match=r"^line 5: expected 2 fields"):
        get_table_info(bad, format="csv")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("1,2,3\n4,5,6\n", ("col1", "col2", "col3")),
        ("1,,3\n4,5,6\n", ("col1", "col2", "col3")),  # a missing value is still data
        ("z,1,2\n0.5,0.1,0.2\n", ("z", "1", "2")),  # numeric names over numeric data
        (",a,b\n0,1,2\n", ("col1", "a", "b")),  # pandas' unnamed index column
    ],
)
def test_header_detection(tmp_path: Path, text: str, names: tuple[str, ...]) -> None:
    assert get_table_info(write(tmp_path, "h.csv", text)).names == names


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_windows_and_old_mac_line_endings(tmp_path: Path, newline: bytes) -> None:
    path = write(tmp_path, "nl.csv", newline.join([b"id, ra", b"1, 2.5", b"2, -3", b""]))
    info = get_table_info(path)
    assert (info.names, info.num_rows) == (("id", "ra"), 2)
    (batch,) = iter_batches(path)
    assert batch["ra"].tolist() == [2.5, -3.0]


def test_nan_empty_and_sentinel_values(tmp_path: Path) -> None:
    text = "id,z,z_err,mag,flag\n1,0.5,99,24.1,0\n2,nan,-99,99,\n3,,0.1,NA,1\n4,0.7,-1,-99,2\n"
    path = write(tmp_path, "s.csv", text)
    types = {c.name: c.dtype for c in get_table_info(path).columns}
    assert types == {"id": "int64", "z": "float64", "z_err": "float64", "mag": "float64", "flag": "float64"}
    (batch,) = iter_batches(path)
    np.testing.assert_array_equal(batch["z"], [0.5, np.nan, np.nan, 0.7])
    assert list(batch["z_err"]) == [99.0, -99.0, 0.1, -1.0]  # sentinels are data, not NaN
    np.testing.assert_array_equal(batch["mag"], [24.1, 99.0, np.nan, -99.0])
    np.testing.assert_array_equal(batch["flag"], [0.0, np.nan, 1.0, 2.0])


def test_dtypes_are_decided_over_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textreader, "CHUNK_ROWS", 4)
    rows = [f"{i},{i}" for i in range(1, 10)] + ["10,10.5"]
    path = write(tmp_path, "late.csv", "id,x\n" + "\n".join(rows) + "\n")
    info = get_table_info(path)
    assert [c.dtype for c in info.columns] == ["int64", "float64"]
    batches = list(iter_batches(path, batch_rows=3))
    assert [b["x"].dtype for b in batches] == [np.float64] * 4
    assert float(batches[-1]["x"][0]) == 10.5
    # read_head looks at its own rows only: cheap, and says so in its docs.
    assert read_head(path, n=3)["x"].dtype == np.int64


def test_booleans_and_text_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "ok,name\nTrue,a\nfalse,b\n")
    assert [c.dtype for c in get_table_info(path).columns] == ["bool", "str"]
    (batch,) = iter_batches(path)
    assert batch["ok"].tolist() == [True, False]


def test_wrong_number_of_fields_names_line_4(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "id,z\n1,0.5\n2,0.6\n3,0.7,extra\n4,0.8\n")
    with pytest.raises(DataFileError, match=r"^line 4: expected 2 fields \(as in the header\), found 3"):
        get_table_info(path)
    with pytest.raises(DataFileError, match=r"^line 4:"):
        list(iter_batches(path))


def test_too_few_fields_counts_comment_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "few.txt", "# survey: test\nid z err\n1 0.5 0.1\n\n# note\n2 0.6\n")
    with pytest.raises(DataFileError, match=r"^line 6: expected 3 fields .* found 2"):
        get_table_info(path)


def test_duplicate_header_name(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", "id,z,z\n1,2,3\n")
    with pytest.raises(DataFileError, match=r"^line 1: column name 'z' appears twice"):
        get_table_info(path)


def test_binary_junk_named_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "junk.csv", bytes(range(256)) * 20)
    assert detect_format(path) is None
    with pytest.raises(DataFileError, match=r"not a text table"):
        get_table_info(path)
    with pytest.raises(DataFileError, match=r"NUL bytes"):
        get_table_info(path, format="csv")


def test_nul_bytes_after_the_sniffed_head(tmp_path: Path) -> None:
    body = "".join(f"{i},{i}\n" for i in range(20_000)).encode()
    path = write(tmp_path, "late.csv", b"a,b\n" + body + b"1,\x00\x00\n")
    with pytest.raises(DataFileError, match=r"^line 20002: contains NUL bytes"):
        get_table_info(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.csv", "name,z\nM\xe9nard,0.1\n".encode("latin-1"))
    assert detect_format(path) is None
    with pytest.raises(DataFileError, match=r"save it as UTF-8"):
        get_table_info(path, format="csv")


def test_bad_utf8_far_into_the_file_names_its_line(tmp_path: Path) -> None:
    body = "".join(f"{i},x\n" for i in range(30_000)).encode()
    path = write(tmp_path, "late.csv", b"a,b\n" + body + b"1,M\xe9nard\n")
    assert detect_format(path) == "csv"  # the sniffed head is clean
    with pytest.raises(DataFileError, match=r"^line 30002: not valid UTF-8"):
        get_table_info(path)


def test_html_page_instead_of_data(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "<!DOCTYPE html>\n<html><body>Please log in</body></html>\n")
    assert detect_format(path) is None
    with pytest.raises(DataFileError, match=r"HTML or XML document.*token"):
        get_table_info(path, format="csv")


def test_table_argument_is_refused_for_single_table_formats(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a\n1\n")
    with pytest.raises(DataFileError, match=r"remove 'table'"):
        get_table_info(path, table="x")


# --- format mix-ups ----------------------------------------------------------


def test_extension_does_not_decide_the_format(tmp_path: Path) -> None:
    path = tmp_path / "really_parquet.csv"
    write_parquet(path, {"a": np.arange(3)})
    assert detect_format(path) == "parquet"
    assert get_table_info(path).num_rows == 3
    with pytest.raises(DataFileError, match=r"^not a CSV file: the content is Parquet; set the 'format' field to 'parquet'"):
        get_table_info(path, format="csv")


def test_text_declared_as_parquet(tmp_path: Path) -> None:
    path = write(tmp_path, "a.pq", "a,b\n1,2\n")
    with pytest.raises(DataFileError, match=r"^not a Parquet file \(no PAR1 magic\); the content looks like a csv table; is the 'format' field right\?"):
        get_table_info(path, format="parquet")


def test_unknown_format_name(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a\n1\n")
    with pytest.raises(DataFileError, match=r"unknown format 'xls'; use one of csv, tsv"):
        get_table_info(path, format="xls")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"no such file.*dvc pull"):
        get_table_info(tmp_path / "nope.pq")


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.pq"
    write_parquet(good, {"a": np.arange(1000)})
    bad = write(tmp_path, "bad.pq", good.read_bytes()[:200])
    with pytest.raises(DataFileError, match=r"truncated"):
        get_table_info(bad)


# --- Parquet -------------------------------------------------------------------


def test_parquet_nullable_ints_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "n.pq"
    pq.write_table(pa.table({"id": pa.array([2**53 + 1, None, 2**62], pa.int64())}), path)
    assert get_table_info(path).columns == (ColumnInfo("id", "int64"),)
    (batch,) = iter_batches(path)
    assert isinstance(batch["id"], np.ma.MaskedArray) and batch["id"].dtype == np.int64
    assert batch["id"].mask.tolist() == [False, True, False]
    assert int(batch["id"][0]) == 2**53 + 1 and int(batch["id"][2]) == 2**62
    head = read_head(path)
    assert str(head["id"].dtype) == "Int64"
    assert head["id"].iloc[0] == 2**53 + 1 and head["id"].isna().tolist() == [False, True, False]


def test_parquet_array_columns(tmp_path: Path) -> None:
    path = tmp_path / "pdf.pq"
    pdf = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12, dtype=np.float32)), 4)
    ragged = pa.array([[1, 2], [3], []], pa.list_(pa.int64()))
    pq.write_table(pa.table({"pdf": pdf, "ragged": ragged}), path)
    info = get_table_info(path)
    assert info.columns == (ColumnInfo("pdf", "float32", (4,)), ColumnInfo("ragged", "int64", (-1,)))
    (batch,) = iter_batches(path)
    assert batch["pdf"].shape == (3, 4) and batch["pdf"][2, 3] == 11
    assert [list(v) for v in batch["ragged"]] == [[1, 2], [3], []]


def test_parquet_batches_stop_at_row_groups_but_cover_all_rows(tmp_path: Path) -> None:
    path = tmp_path / "groups.pq"
    pq.write_table(pa.table({"id": np.arange(10)}), path, row_group_size=4)
    sizes = [len(b["id"]) for b in iter_batches(path, batch_rows=3)]
    assert max(sizes) <= 3 and sum(sizes) == 10
    assert np.concatenate([b["id"] for b in iter_batches(path, batch_rows=3)]).tolist() == list(range(10))


@pytest.mark.parametrize("kind", WRITERS)
def test_batches_cannot_corrupt_the_source(tmp_path: Path, kind: str) -> None:
    """Batches are writable copies, or (Parquet) read-only views that refuse writes."""
    path, _ = make(tmp_path, kind, {"z": np.linspace(0, 1, 4)})
    (batch,) = iter_batches(path)
    if batch["z"].flags.writeable:
        batch["z"][0] = -1.0
    else:
        assert kind == "parquet"
        with pytest.raises(ValueError, match="read-only"):
            batch["z"][0] = -1.0
    assert next(iter_batches(path))["z"][0] == 0.0


# --- FITS ----------------------------------------------------------------------


def test_fits_pdf_column(tmp_path: Path) -> None:
    path = tmp_path / "pdf.fits"
    pdf = np.random.default_rng(1).random((7, 50))
    write_fits(path, {"id": np.arange(7), "pdf": pdf})
    info = get_table_info(path)
    assert info.columns == (ColumnInfo("id", "int64"), ColumnInfo("pdf", "float64", (50,)))
    batches = list(iter_batches(path, batch_rows=3))
    assert [b["pdf"].shape for b in batches] == [(3, 50), (3, 50), (1, 50)]
    np.testing.assert_array_equal(np.concatenate([b["pdf"] for b in batches]), pdf)
    assert all(b["pdf"].dtype.isnative for b in batches)  # FITS is big-endian on disk
    cell = read_head(path, 2)["pdf"].iloc[1]
    np.testing.assert_array_equal(cell, pdf[1])


def test_fits_table_by_name_or_index(tmp_path: Path) -> None:
    path = tmp_path / "multi.fits"
    hdus = fits.HDUList([
        fits.PrimaryHDU(),
        fits.BinTableHDU(Table({"a": [1, 2]}), name="FIRST"),
        fits.BinTableHDU(Table({"b": [1.5, 2.5, 3.5]}), name="ANCIL"),
    ])
    hdus.writeto(path)
    assert get_table_info(path).table == "FIRST"
    assert get_table_info(path, table="ancil").names == ("b",)
    assert get_table_info(path, table="2").num_rows == 3
    with pytest.raises(DataFileError, match=r"no HDU 'NOPE'.*1 'FIRST' \(table, 2 rows\)"):
        get_table_info(path, table="NOPE")
    with pytest.raises(DataFileError, match=r"HDU 0 'PRIMARY' \(image, empty\) is not a binary table"):
        get_table_info(path, table="0")


def test_fits_unsigned_and_logical_columns(tmp_path: Path) -> None:
    path = tmp_path / "u.fits"
    write_fits(path, {"u": np.array([2**63 + 5, 1], dtype=np.uint64), "ok": np.array([True, False])})
    info = get_table_info(path)
    assert info.columns == (ColumnInfo("u", "uint64"), ColumnInfo("ok", "bool"))
    (batch,) = iter_batches(path)
    assert int(batch["u"][0]) == 2**63 + 5 and batch["ok"].tolist() == [True, False]


def test_fits_column_formats_match_astropy(tmp_path: Path) -> None:
    """Our own memory-mapped decoding against astropy's, format by format."""
    path = tmp_path / "odd.fits"
    bits = np.zeros((3, 12), dtype=bool)
    bits[0, [0, 5, 11]] = bits[2, 7] = True
    columns = [
        fits.Column(name="bits", format="12X", array=bits),
        fits.Column(name="cube", format="6E", dim="(3,2)", array=np.arange(18, dtype=np.float32).reshape(3, 2, 3)),
        fits.Column(name="s", format="8A", array=np.array(["ab", "cd  e", ""])),
        fits.Column(name="i8", format="B", bzero=-128, array=np.array([-128, 0, 127], dtype=np.int8)),
        fits.Column(name="u16", format="I", bzero=32768, array=np.array([0, 40000, 65535], dtype=np.uint16)),
        fits.Column(name="scaled", format="I", array=np.array([1, 2, 4], dtype=np.int16)),
        fits.Column(name="ok", format="L", array=np.array([True, False, True])),
        fits.Column(name="ragged", format="PE()", array=[np.array([1.0, 2.0]), np.array([3.0]), np.array([])]),
        fits.Column(name="c", format="C", array=np.array([1 + 2j, 0, -1j], dtype=np.complex64)),
    ]
    fits.BinTableHDU.from_columns(columns).writeto(path)
    with fits.open(path, mode="update") as hdul:  # physical = 0.5 * stored + 10
        hdul[1].header["TSCAL6"], hdul[1].header["TZERO6"] = 0.5, 10.0
    info = get_table_info(path)
    assert {c.name: (c.dtype, c.shape) for c in info.columns} == {
        "bits": ("bool", (12,)), "cube": ("float32", (2, 3)), "s": ("str", ()), "i8": ("int8", ()),
        "u16": ("uint16", ()), "scaled": ("float64", ()), "ok": ("bool", ()),
        "ragged": ("float32", (-1,)), "c": ("complex64", ()),
    }
    batches = list(iter_batches(path, batch_rows=2))
    got = {name: [v for b in batches for v in b[name]] for name in info.names}
    with fits.open(path) as hdul:
        data = hdul[1].data
        for name in info.names:
            expected = list(data.field(name))
            if name == "ragged":
                assert [list(v) for v in got[name]] == [list(v) for v in expected]
            else:
                np.testing.assert_array_equal(np.array(got[name]), np.array(expected), err_msg=name)
    assert got["s"] == ["ab", "cd  e", ""]
    assert got["i8"] == [-128, 0, 127] and got["u16"] == [0, 40000, 65535]


def test_fits_ascii_table_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "ascii.fits"
    ascii_hdu = fits.TableHDU.from_columns([fits.Column(name="a", format="I5", array=np.arange(3))])
    fits.HDUList([fits.PrimaryHDU(), ascii_hdu]).writeto(path)
    with pytest.raises(DataFileError, match=r"1 '' \(ASCII table, not supported, 3 rows\)"):
        get_table_info(path)


def test_fits_batches_do_not_convert_whole_columns(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.fits"
    n = 1_000_000
    write_fits(path, {"id": np.arange(n, dtype=np.int64) + 2**60, "ok": np.ones(n, dtype=bool)})
    tracemalloc.start()
    try:
        batches = iter_batches(path, batch_rows=1000)
        for _ in range(3):
            batch = next(batches)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert int(batch["id"][-1]) == 2**60 + 2999 and batch["ok"].all()
    assert peak < 1_000_000  # a whole column would be 8 MB (id) and 1 MB (ok)


def test_fits_image_only_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((20, 30), dtype=np.float32)).writeto(path)
    assert detect_format(path) == "fits"
    with pytest.raises(DataFileError, match=r"holds an image \(0 'PRIMARY' \(image, shape \(20, 30\)\)\) but has no binary table HDU"):
        get_table_info(path)


def test_fits_without_any_data(tmp_path: Path) -> None:
    path = tmp_path / "nothing.fits"
    fits.PrimaryHDU().writeto(path)
    with pytest.raises(DataFileError, match=r"^the FITS file has no binary table HDU"):
        read_head(path)


def test_fits_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "e.fits"
    write_fits(path, {"id": np.zeros(0, dtype=np.int64), "pdf": np.zeros((0, 5))})
    info = get_table_info(path)
    assert info.num_rows == 0 and info.columns[1] == ColumnInfo("pdf", "float64", (5,))
    assert list(iter_batches(path)) == []
    assert list(read_head(path).columns) == ["id", "pdf"]


# --- HDF5 ----------------------------------------------------------------------


def test_hdf5_group_of_datasets(tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f["photometry/id"] = np.array(BIG_IDS, dtype=np.int64)
        f["photometry/pdf"] = np.ones((5, 20), dtype=np.float32)
        f["photometry/name"] = np.array(["a", "bb", "c", "d", "é"], dtype=h5py.string_dtype())
        f["photometry/flag"] = np.array([b"x"] * 5)
    info = get_table_info(path)
    assert info.table == "photometry" and info.num_rows == 5
    assert {c.name: (c.dtype, c.shape) for c in info.columns} == {
        "id": ("int64", ()), "pdf": ("float32", (20,)), "name": ("str", ()), "flag": ("bytes", ()),
    }
    (batch,) = iter_batches(path)
    assert [int(v) for v in batch["id"]] == BIG_IDS
    assert list(batch["name"]) == ["a", "bb", "c", "d", "é"]
    assert batch["pdf"].shape == (5, 20)


def test_hdf5_compound_dataset(tmp_path: Path) -> None:
    path = tmp_path / "c.h5"
    rec = np.zeros(4, dtype=[("id", "<i8"), ("z", "<f4"), ("pdf", "<f8", (3,))])
    rec["id"] = BIG_IDS[:4]
    rec["pdf"] = np.arange(12).reshape(4, 3)
    with h5py.File(path, "w") as f:
        f["table"] = rec
    info = get_table_info(path)
    assert info.table == "table"
    assert info.columns == (ColumnInfo("id", "int64"), ColumnInfo("z", "float32"), ColumnInfo("pdf", "float64", (3,)))
    batches = list(iter_batches(path, batch_rows=3))
    assert [int(v) for v in np.concatenate([b["id"] for b in batches])] == BIG_IDS[:4]
    assert batches[1]["pdf"].tolist() == [[9.0, 10.0, 11.0]]


def test_hdf5_descends_into_a_lone_group(tmp_path: Path) -> None:
    path = tmp_path / "nested.h5"
    with h5py.File(path, "w") as f:
        f["outer/inner/a"] = np.arange(3)
        f["outer/inner/b"] = np.arange(3.0)
    assert get_table_info(path).table == "outer/inner"


def test_hdf5_ambiguous_and_explicit_tables(tmp_path: Path) -> None:
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["train/z"] = np.arange(4.0)
        f["test/z"] = np.arange(6.0)
        f["test/pdf"] = np.zeros((6, 8))
    with pytest.raises(DataFileError, match=r"several tables: 'test' \(6 rows\), 'train' \(4 rows\); set 'table'"):
        get_table_info(path)
    assert get_table_info(path, table="/test/").num_rows == 6
    assert get_table_info(path, table="test/pdf").columns == (ColumnInfo("pdf", "float64", (8,)),)
    with pytest.raises(DataFileError, match=r"no group or dataset 'valid'.*'train'"):
        get_table_info(path, table="valid")


def test_hdf5_group_with_mismatched_lengths(tmp_path: Path) -> None:
    path = tmp_path / "mix.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.arange(3)
        f["b"] = np.arange(5)
    with pytest.raises(DataFileError, match=r"different lengths \('a': 3, 'b': 5\)"):
        get_table_info(path)


def test_hdf5_without_datasets(tmp_path: Path) -> None:
    path = tmp_path / "void.h5"
    with h5py.File(path, "w") as f:
        f.create_group("a")
        f.create_group("b")
    with pytest.raises(DataFileError, match=r"no datasets"):
        get_table_info(path)


# --- VOTable -------------------------------------------------------------------


def test_votable(tmp_path: Path) -> None:
    path = tmp_path / "t.xml"
    t = Table({"id": np.array(BIG_IDS, dtype=np.int64), "z": np.linspace(0, 1, 5), "name": list("abcde")})
    t.write(path, format="votable")
    assert detect_format(path) == "votable"
    info = get_table_info(path)
    assert info.num_rows == 5
    assert [(c.name, c.dtype) for c in info.columns] == [("id", "int64"), ("z", "float64"), ("name", "str")]
    head = read_head(path, 2)
    assert [int(v) for v in head["id"]] == BIG_IDS[:2] and list(head["name"]) == ["a", "b"]
    with pytest.raises(DataFileError, match=r"no TABLE 'x'"):
        get_table_info(path, table="x")


def test_plain_xml_is_not_a_votable(tmp_path: Path) -> None:
    path = write(tmp_path, "t.xml", '<?xml version="1.0"?>\n<!-- c -->\n<catalog><row/></catalog>\n')
    assert detect_format(path) is None
    with pytest.raises(DataFileError, match=r"^not a VOTable file \(no VOTABLE root element\)"):
        get_table_info(path, format="votable")
