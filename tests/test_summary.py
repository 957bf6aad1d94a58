"""Summaries of data files: statistics against numpy, footprints, histograms, storage, real samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import Table

from site_builder.catalog.yamlio import read_yaml
from site_builder.errors import DataFileError
from site_builder.tables import stats as stats_module
from site_builder.tables import summary as summary_module
from site_builder.tables.summary import (
    CELL_AREA_DEG2,
    RESERVOIR,
    SUMMARY_FILE,
    read_summary,
    summarize_file,
    write_summary,
)

REPO = Path(__file__).resolve().parents[1]
QS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def column(summary: dict, name: str) -> dict:
    return next(c for c in summary["columns"] if c["name"] == name)


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    """Equal to the 7 significant digits that summaries keep."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def write_parquet(path: Path, data: dict, row_group_size: int | None = None) -> Path:
    pq.write_table(pa.table(data), path, row_group_size=row_group_size)
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A 5,000-row Parquet catalogue with NaN, sentinels and a nullable integer column."""
    rng = np.random.default_rng(1)
    n = 5000
    z = rng.uniform(0, 3, n)
    z[:50] = -99.0
    z[50:60] = np.nan
    mag = rng.normal(24, 1.5, n).astype(np.float32)
    mag[::10] = 99.0
    flag = pa.array([None if i % 7 == 0 else i % 5 for i in range(n)], pa.int64())
    data = {
        "id": np.arange(n, dtype=np.int64) + 2**60,
        "ra": rng.uniform(10, 20, n),
        "dec": rng.uniform(-5, 5, n),
        "z": z,
        "mag_r": mag,
        "flag": flag,
        "name": np.array([f"obj{i % 37}" for i in range(n)], dtype=object),
    }
    path = write_parquet(tmp_path / "cat.parquet", data, row_group_size=1500)
    return path, data


COLUMNS = [
    {"name": "id", "role": "id"},
    {"name": "ra", "role": "ra"},
    {"name": "dec", "role": "dec"},
    {"name": "z", "role": "z", "sentinels": [-99.0]},
    {"name": "mag_r", "role": "mag", "sentinels": [99.0]},
    {"name": "flag", "role": "z_flag", "sentinels": [-1]},
]


def test_numeric_statistics_match_numpy_on_the_valid_values(catalog) -> None:
    path, data = catalog
    s = summarize_file(path, columns=COLUMNS, batch_rows=1000)
    assert s["num_rows"] == 5000 and s["format"] == "parquet" and s["table"] is None
    z = column(s, "z")
    valid = data["z"][(data["z"] != -99.0) & ~np.isnan(data["z"])]
    assert (z["count"], z["nulls"], z["sentinels"]) == (len(valid), 10, {"-99": 50})
    assert (z["role"], z["dtype"], z["shape"]) == ("z", "float64", [])
    assert close(z["min"], valid.min()) and close(z["max"], valid.max())
    assert close(z["mean"], valid.mean()) and close(z["std"], valid.std())
    mag = column(s, "mag_r")
    good = data["mag_r"][data["mag_r"] != np.float32(99.0)].astype(np.float64)
    assert mag["sentinels"] == {"99": 500} and mag["count"] == 4500
    assert close(mag["max"], good.max()) and close(mag["mean"], good.mean()) and close(mag["std"], good.std())
    ids = column(s, "id")
    assert ids["min"] == 2**60 and ids["max"] == 2**60 + 4999  # exact, not through float64


def test_masked_integers_are_nulls_and_stay_integers(catalog) -> None:
    path, data = catalog
    flag = column(summarize_file(path, columns=COLUMNS), "flag")
    values = np.array([v for v in data["flag"].to_pylist() if v is not None])
    assert (flag["nulls"], flag["count"], flag["sentinels"]) == (715, 4285, {"-1": 0})
    assert (flag["min"], flag["max"]) == (0, 4) and isinstance(flag["min"], int)
    assert close(flag["mean"], values.mean())
    assert flag["quantiles"] == {f"{q:g}": int(np.quantile(values, q, method="nearest")) for q in QS}


def test_strings_have_counts_and_distinct_values(catalog, tmp_path: Path) -> None:
    path, _ = catalog
    name = column(summarize_file(path), "name")
    assert (name["dtype"], name["count"], name["nulls"], name["distinct"]) == ("str", 5000, 0, 37)
    assert "min" not in name
    csv = tmp_path / "names.csv"
    rows = [f"{i},{'' if i % 4 == 0 else f'n{i}'}" for i in range(1500)]
    csv.write_text("k,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    label = column(summarize_file(csv), "label")
    assert (label["nulls"], label["count"], label["distinct_over"]) == (375, 1125, 1000)


def test_quantiles_are_exact_for_small_tables(catalog) -> None:
    path, data = catalog
    s = summarize_file(path, columns=COLUMNS, batch_rows=700)
    assert s["quantiles_method"] == "exact"
    valid = data["z"][(data["z"] != -99.0) & ~np.isnan(data["z"])]
    for q, got in column(s, "z")["quantiles"].items():
        assert close(got, np.quantile(valid, float(q)))


def test_quantiles_of_a_million_rows_come_from_the_reservoir(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 1_000_000
    x = rng.gamma(2.0, 1.0, n)
    x[rng.random(n) < 0.02] = 99.0
    path = write_parquet(tmp_path / "big.parquet", {"x": x}, row_group_size=300_000)
    ticks: list[int] = []
    s = summarize_file(path, columns=[{"name": "x", "sentinels": [99]}], progress=ticks.append, batch_rows=250_000)
    assert s["num_rows"] == n == sum(ticks) and len(ticks) == 4
    assert s["quantiles_method"] == f"reservoir-{RESERVOIR}"
    valid = x[x != 99.0]
    got = column(s, "x")
    span = valid.max() - valid.min()
    for q, value in got["quantiles"].items():
        assert abs(value - np.quantile(valid, float(q))) < 0.01 * span, q
    assert got["count"] == len(valid) and close(got["min"], valid.min()) and close(got["std"], valid.std())


def test_z_histogram_counts_every_valid_redshift(catalog, tmp_path: Path) -> None:
    path, data = catalog
    h = summarize_file(path, columns=COLUMNS)["z_histogram"]
    valid = data["z"][(data["z"] != -99.0) & ~np.isnan(data["z"])]
    assert h["column"] == "z"
    assert sum(h["counts"]) + h["below"] + h["above"] == len(valid) and h["below"] == h["above"] == 0
    assert len(h["edges"]) == len(h["counts"]) + 1 <= 102
    assert h["edges"][0] <= valid.min() and h["edges"][-1] >= valid.max()
    assert np.all(np.diff(h["edges"]) > 0)
    # a narrow range keeps the 0.01 bins; values off the grid are counted apart
    z = np.array([0.50, 0.505, 0.51, 0.53, 7.5, -0.2])
    narrow = summarize_file(write_parquet(tmp_path / "n.parquet", {"z": z}), columns=[{"name": "z", "role": "z"}])
    h = narrow["z_histogram"]
    assert h["edges"] == [0.5, 0.51, 0.52, 0.53, 0.54] and h["counts"] == [2, 1, 0, 1]
    assert (h["below"], h["above"]) == (1, 1)


def test_magnitude_histograms_leave_out_sentinels(catalog) -> None:
    path, _ = catalog
    (mag,) = summarize_file(path, columns=COLUMNS)["magnitudes"]
    assert mag["column"] == "mag_r" and sum(mag["counts"]) == 4500
    assert mag["edges"][-1] < 40 and mag["above"] == 0
    assert all(close(b - a, 0.1, 1e-5) for a, b in zip(mag["edges"], mag["edges"][1:], strict=False))


def test_sky_footprint_across_ra_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    ra = np.concatenate([rng.uniform(350, 360, n // 2), rng.uniform(0, 10, n // 2)])
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-10)), np.sin(np.radians(10)), n)))
    ra[:5], dec[5:10] = 400.0, -99.0  # out of range, and a declared sentinel: both left out
    path = write_parquet(tmp_path / "sky.parquet", {"ra": ra, "dec": dec})
    sky = summarize_file(path, columns=[{"name": "ra", "role": "ra"},
                                        {"name": "dec", "role": "dec", "sentinels": [-99]}])["sky"]
    assert sky["ra_wraps"] is True and sky["count"] == n - 10
    assert 350 <= sky["ra_min"] < 350.01 and 9.99 < sky["ra_max"] <= 10
    assert sky["dec_min"] > -10.01 and sky["dec_max"] < 10.01
    exact = 20 * 2 * math.sin(math.radians(10)) * 180 / math.pi  # deg², ~397.9
    assert abs(sky["area_deg2"] - exact) <= 2 * 20 * CELL_AREA_DEG2  # one partial cell at each Dec edge
    assert sorted({c[0] for c in sky["cells"]}) == [*range(10), *range(350, 360)]
    assert sum(c[2] for c in sky["cells"]) == sky["count"]


def test_all_sky_map_is_stored_coarser_but_area_stays_fine(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 2_000_000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    path = write_parquet(tmp_path / "allsky.parquet", {"ra": ra, "dec": dec})
    sky = summarize_file(path, columns=[{"name": "ra", "role": "ra"}, {"name": "dec", "role": "dec"}])["sky"]
    assert len(sky["cells"]) <= stats_module.MAX_SKY_CELLS
    assert sky["ra_bins"] < 360 and 360 % sky["ra_bins"] == 0 and 180 % sky["sindec_bins"] == 0
    assert sum(c[2] for c in sky["cells"]) == n
    assert abs(sky["area_deg2"] - 41252.96) < 0.01 * 41252.96  # every fine cell is hit
    assert abs(sky["cell_area_deg2"] * sky["ra_bins"] * sky["sindec_bins"] - 41252.96) < 1


def test_sky_footprint_without_wrap_and_without_roles(catalog) -> None:
    path, data = catalog
    sky = summarize_file(path, columns=COLUMNS)["sky"]
    assert sky["ra_wraps"] is False
    assert close(sky["ra_min"], data["ra"].min()) and close(sky["ra_max"], data["ra"].max())
    bare = summarize_file(path)
    assert bare["sky"] is None and bare["z_histogram"] is None and bare["magnitudes"] == []
    assert column(bare, "z")["count"] == 4990 and column(bare, "z")["role"] is None


def test_preview_keeps_big_integers_exact_and_is_json_safe(tmp_path: Path) -> None:
    ids = [2**53 + 1, 1650753981384753153, 2**63 - 1]
    data = {
        "id": pa.array(ids, pa.int64()),
        "x": pa.array([1.23456789012, float("nan"), None], pa.float64()),
        "raw": pa.array([b"caf\xe9", b"", None], pa.binary()),
        "pdf": pa.array([[0.1, 0.2, 0.7]] * 3, pa.list_(pa.float64(), 3)),
        "n": pa.array([1, None, 3], pa.int64()),
    }
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table(data), path)
    s = summarize_file(path)
    assert s["preview"]["columns"] == ["id", "x", "raw", "pdf", "n"]
    rows = s["preview"]["rows"]
    assert [r[0] for r in rows] == ids
    assert rows[0][1:] == [1.234568, "café", "array(3)", 1]
    assert rows[1][1] is None and rows[1][4] is None
    pdf = column(s, "pdf")
    assert (pdf["shape"], pdf["nulls"]) == ([3], 0) and "min" not in pdf
    write_summary(tmp_path, s)
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["preview"]["rows"][0][0] == 2**53 + 1


def test_fits_hdf5_and_csv_give_the_same_facts_as_parquet(catalog, tmp_path: Path) -> None:
    path, data = catalog
    plain = {k: data[k] for k in ("id", "ra", "dec", "z", "mag_r")}
    fits_path = tmp_path / "cat.fits"
    Table(plain).write(fits_path)
    h5_path = tmp_path / "cat.h5"
    with h5py.File(h5_path, "w") as f:
        for k, v in plain.items():
            f[f"photometry/{k}"] = v
    csv_path = tmp_path / "cat.csv"
    Table(plain).write(csv_path, format="ascii.csv")
    reference = summarize_file(path, columns=COLUMNS)
    for other, fmt in ((fits_path, "fits"), (h5_path, "hdf5"), (csv_path, "csv")):
        got = summarize_file(other, columns=COLUMNS)
        assert got["format"] == fmt and got["num_rows"] == 5000
        for name in ("id", "ra", "z"):
            a, b = column(reference, name), column(got, name)
            assert {k: a[k] for k in ("count", "nulls", "sentinels", "min", "max")} == \
                   {k: b[k] for k in ("count", "nulls", "sentinels", "min", "max")}, (fmt, name)
        assert got["z_histogram"] == reference["z_histogram"] and got["sky"] == reference["sky"]
    assert summarize_file(h5_path)["table"] == "photometry"


def test_infinities_and_float32_sentinels(tmp_path: Path) -> None:
    x = np.array([1.0, np.inf, -np.inf, np.nan, -99.9, 3.0], dtype=np.float32)
    path = write_parquet(tmp_path / "f.parquet", {"x": x})
    got = column(summarize_file(path, columns=[{"name": "x", "sentinels": [-99.9]}]), "x")
    assert (got["count"], got["nulls"], got["infinite"], got["sentinels"]) == (2, 1, 2, {"-99.9": 1})
    assert (got["min"], got["max"], got["mean"]) == (1.0, 3.0, 2.0)


def test_empty_table_and_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"z": pa.array([], pa.float64())}), path)
    s = summarize_file(path, columns=[{"name": "z", "role": "z"}])
    assert s["num_rows"] == 0 and s["preview"] == {"columns": ["z"], "rows": []}
    assert column(s, "z")["count"] == 0 and column(s, "z")["min"] is None
    assert s["z_histogram"] == {"column": "z", "edges": [], "counts": [], "below": 0, "above": 0}
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(DataFileError):
        summarize_file(bad, format="parquet")


# --- storage -----------------------------------------------------------------


def test_write_then_read_gives_the_summary_back(catalog, tmp_path: Path) -> None:
    path, _ = catalog
    s = summarize_file(path, columns=COLUMNS, md5="0123456789abcdef0123456789abcdef")
    assert read_summary(tmp_path) is None
    written = write_summary(tmp_path, s)
    assert written == tmp_path / SUMMARY_FILE
    text = written.read_text(encoding="utf-8")
    assert text.endswith("}\n") and read_summary(tmp_path) == s
    assert '"md5": "0123456789abcdef0123456789abcdef"' in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_is_atomic_and_keeps_the_old_file_on_errors(tmp_path: Path) -> None:
    write_summary(tmp_path, {"num_rows": 1})
    before = (tmp_path / SUMMARY_FILE).read_bytes()
    for broken in ({"num_rows": object()}, {"mean": float("nan")}):
        with pytest.raises((TypeError, ValueError)):
            write_summary(tmp_path, broken)
        assert (tmp_path / SUMMARY_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUMMARY_FILE]


def test_write_failure_after_the_temporary_file_leaves_no_trace(tmp_path: Path, monkeypatch) -> None:
    write_summary(tmp_path, {"num_rows": 1})

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(summary_module.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_summary(tmp_path, {"num_rows": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUMMARY_FILE]
    assert read_summary(tmp_path) == {"num_rows": 1}


def test_read_summary_rejects_broken_json(tmp_path: Path) -> None:
    (tmp_path / SUMMARY_FILE).write_text('{"num_rows": 1', encoding="utf-8")
    with pytest.raises(DataFileError, match="not valid JSON"):
        read_summary(tmp_path)
    (tmp_path / SUMMARY_FILE).write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataFileError, match="not an object"):
        read_summary(tmp_path)


def test_output_is_deterministic_and_compact(catalog, tmp_path: Path) -> None:
    path, _ = catalog
    texts = []
    for k in range(2):
        folder = tmp_path / f"run{k}"
        folder.mkdir()
        texts.append(write_summary(folder, summarize_file(path, columns=COLUMNS)).read_bytes())
    assert texts[0] == texts[1]
    text = texts[0].decode()
    assert '"quantiles": {"0.01": ' in text and '"edges": [' in text  # numbers of a list on one line

    def floats(obj: object) -> list[float]:
        if isinstance(obj, dict):
            return [f for v in obj.values() for f in floats(v)]
        if isinstance(obj, list):
            return [f for v in obj for f in floats(v)]
        return [obj] if isinstance(obj, float) else []

    assert all(float(f"{f:.7g}") == f for f in floats(json.loads(text)))


# --- real sample products ----------------------------------------------------


def summarize_sample(product: str, file: str | None = None) -> dict:
    folder = REPO / "products" / product
    meta = read_yaml(folder / "product.yaml").data
    entry = next(f for f in meta["files"] if (f["path"] == file if file else f["role"] == "main"))
    path = folder / entry["path"]
    if not path.exists():
        pytest.skip(f"sample file {path.relative_to(REPO)} is missing; run `make data` first")
    return summarize_file(path, format=entry.get("format"), table=entry.get("table"), columns=meta["columns"])


def test_dc2_training_set() -> None:
    s = summarize_sample("dc2-training-9816")
    assert (s["format"], s["table"], s["num_rows"]) == ("hdf5", "photometry", 10225)
    z = column(s, "redshift")
    assert abs(z["min"] - 0.0194) < 1e-4 and abs(z["max"] - 2.99) < 0.01
    assert column(s, "mag_u_lsst")["sentinels"] == {"99": 714}
    assert column(s, "mag_u_lsst")["count"] == 10225 - 714 and column(s, "mag_u_lsst")["max"] < 40
    assert sum(s["z_histogram"]["counts"]) == 10225
    assert sorted(m["column"] for m in s["magnitudes"]) == sorted(f"mag_{b}_lsst" for b in "ugrizy")
    for m in s["magnitudes"]:
        assert sum(m["counts"]) + m["below"] + m["above"] == column(s, m["column"])["count"]
    assert s["sky"] is None
    assert s["preview"]["rows"][0][s["preview"]["columns"].index("id")] == 8062500000
    parquet = summarize_sample("dc2-training-9816", "test_dc2_training_9816.pq")
    assert parquet["z_histogram"] == s["z_histogram"] and parquet["magnitudes"] == s["magnitudes"]


def test_2dflens_field_straddles_ra_zero() -> None:
    s = summarize_sample("2dflens-kids-south")
    assert s["num_rows"] == 21875
    sky = s["sky"]
    assert sky["ra_wraps"] is True and (sky["ra_column"], sky["dec_column"]) == ("RA", "Dec")
    assert 329 < sky["ra_min"] < 331 and 52 < sky["ra_max"] < 53  # the field spans RA 330 to 52
    assert -36 < sky["dec_min"] < sky["dec_max"] < -26
    assert 300 < sky["area_deg2"] < 1000
    assert s["z_histogram"]["edges"][0] >= 0.15 and s["z_histogram"]["edges"][-1] <= 0.71


def test_upload_example_error_sentinel() -> None:
    s = summarize_sample("pzserver-upload-example")
    assert (s["format"], s["num_rows"]) == ("csv", 10)
    err = column(s, "ERR_Z")
    assert (err["count"], err["sentinels"], err["min"], err["quantiles"]) == (0, {"99": 10}, None, None)
    assert s["preview"]["rows"][0][0] == 1037374 and s["sky"]["ra_wraps"] is False


def test_rubin_ids_and_bpz_pdfs() -> None:
    rubin = summarize_sample("rubin-dm-dc2-example")
    assert rubin["preview"]["rows"][0][0] == 1650753981384753153
    ids = column(rubin, "objectId")
    assert ids["min"] == 1650753981384753153 and ids["quantiles"]["0.01"] == 1650753981384753154  # exact
    pdfs = summarize_sample("bpz-lite-dc2-pdfs", "output_BPZ_lite.fits")
    yvals = column(pdfs, "yvals")
    assert (yvals["shape"], yvals["nulls"]) == ([301], 0)
    assert pdfs["preview"]["rows"][0] == ["array(301)"]


def test_reservoir_keeps_the_rows_with_the_smallest_keys_in_bounded_memory() -> None:
    sampler = stats_module.Sampler(1000)
    sizes = []
    for n in (700, 5000, 3, 20_000, 12_345):
        sampler.select(n)
        sizes.append(len(sampler.keys) + sampler.waiting)
        if sampler.due():
            sampler.merge()
    sampler.merge()
    replay = np.random.default_rng(stats_module._SEED).random(700 + 5000 + 3 + 20_000 + 12_345)
    assert np.array_equal(np.sort(sampler.keys), np.sort(replay)[:1000])
    assert max(sizes) <= 1500 + 20_000  # one chunk's candidates at most wait beyond the bound


def test_an_error_while_summarising_stops_the_reading_thread(catalog) -> None:
    import threading

    path, _ = catalog

    def fail(n: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop") as info:
        summarize_file(path, progress=fail, batch_rows=100)
    # even while the traceback (which holds the frames) is alive
    assert info.traceback and not [t for t in threading.enumerate() if t.name == "pz-summary-reader"]


def test_reservoir_values_belong_to_the_sampled_rows(tmp_path: Path) -> None:
    n = RESERVOIR + 150_000
    path = write_parquet(tmp_path / "rows.parquet", {"row": np.arange(n, dtype=np.int64)})
    got = column(summarize_file(path, batch_rows=100_000), "row")["quantiles"]
    keys = np.random.default_rng(stats_module._SEED).random(n)  # the generator's draw, one key per row
    sampled = np.argpartition(keys, RESERVOIR - 1)[:RESERVOIR]
    assert got == {f"{q:g}": int(np.quantile(sampled, q, method="nearest")) for q in QS}
