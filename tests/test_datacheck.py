"""Value checks of the data: sentinels, nulls, masked arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from site_builder.cli.main import cli
from site_builder.validation.data import _RangeStats


def test_masked_values_are_missing_not_zero_or_garbage():
    stats = _RangeStats({"name": "Z", "role": "z", "sentinels": [-99]})
    stats.update(np.ma.MaskedArray(np.array([1, -99, -1000, -5]), mask=[False, False, True, False]))
    assert stats.rows == 4
    assert stats.bad == 1 and stats.worst == -5.0


def test_parquet_integer_nulls_do_not_count_as_values(make_catalog):
    root = make_catalog()
    folder = root / "products" / "minimal-spec-z"
    (folder / "data.csv").unlink()
    table = pa.table({
        "ID": pa.array([1, 2, 3], pa.int64()),
        "RA": [10.0, 20.0, 30.0],
        "DEC": [-5.0, -6.0, -7.0],
        "Z": pa.array([1, None, 2], pa.int64()),  # integer redshift bins, one null
        "ERR_Z": [0.1, 0.2, 99.0],
    })
    pq.write_table(table, folder / "data.parquet")
    text = (folder / "product.yaml").read_text().replace("path: data.csv, role: main, format: csv",
                                                          "path: data.parquet, role: main, format: parquet")
    (folder / "product.yaml").write_text(text)
    result = CliRunner().invoke(cli, ["--repo", str(root), "validate", "--strict", "minimal-spec-z"])
    assert result.exit_code == 0, result.stderr


def test_undeclared_common_sentinel_is_a_warning_with_the_fix(make_catalog):
    root = make_catalog()
    folder = root / "products" / "minimal-spec-z"
    text = (folder / "product.yaml").read_text().replace(", sentinels: [99.0]}", "}")
    (folder / "product.yaml").write_text(text)
    result = CliRunner().invoke(cli, ["--repo", str(root), "validate", "minimal-spec-z"])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "products/minimal-spec-z/product.yaml:22: warning: field 'columns[4]': 1 of 3 values of 'ERR_Z' are exactly 99, "
        "which often means 'no value'",
        "  hint: if so, declare it: sentinels: [99]",
        "1 warning in 1 product (1 checked)",
    ]
