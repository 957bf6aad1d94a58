"""Checks that need the data files: presence, DVC pointers, md5, format, columns, values.

Files are streamed (md5 in 1 MiB blocks, tables in batches) so that a large
product is checked in bounded memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from site_builder.catalog.issue import ERROR, WARNING, Issue, Reporter
from site_builder.catalog.model import (
    NUMERIC_ROLES,
    PRODUCT_TYPES,
    ROLE_RANGES,
    SENTINEL_CANDIDATES,
    TABLE_FORMATS,
    TEXT_FORMATS,
)
from site_builder.catalog.rules import check_relative_path, resolve_inside
from site_builder.catalog.schema import did_you_mean
from site_builder.catalog.source import ProductSource
from site_builder.dvc.pointer import PointerError, md5_of, read_pointer
from site_builder.errors import DataFileError
from site_builder.tables.reader import ColumnInfo, detect_format, get_table_info, iter_batches

# Values that often mean "no value" in photo-z tables; seen undeclared, they earn a hint.
COMMON_SENTINELS = SENTINEL_CANDIDATES
_TEXT_FORMATS = frozenset(TEXT_FORMATS)
_NUMERIC_ROLES = NUMERIC_ROLES


def check_data(source: ProductSource, root: Path, trusted_summary: dict | None = None) -> list[Issue]:
    """Check every file of one product; the main file's table in depth.

    ``trusted_summary`` (the summary.json content that `pz add` has just
    computed from these very files, never one read from disk) lets the value
    checks skip their pass over the data when its ranges are plausible.
    """
    rep = Reporter(source)
    data = source.data
    files = data.get("files")
    if not isinstance(files, list):
        return []
    ptype = PRODUCT_TYPES.get(data.get("product_type"))  # type: ignore[arg-type]
    folder_rel = source.relpath.rsplit("/", 1)[0]
    # Columns describe the first main file only (a second one is already an error).
    main = next((i for i, f in enumerate(files) if isinstance(f, dict) and f.get("role") == "main"), None)
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        rel = entry["path"]
        if check_relative_path(rel) or resolve_inside(source.dir, rel) is None:
            continue  # reported by the rules; never open such a path
        local = _locate(rep, source, index, rel, folder_rel)
        if local is None:
            continue
        fmt = entry.get("format")
        is_main = index == main
        if fmt in TABLE_FORMATS or (is_main and ptype is not None and ptype.tabular and fmt is None):
            known = ((trusted_summary or {}).get("files") or {}).get(rel) if is_main else None
            _check_table(rep, index, local, fmt, entry.get("table"), data if is_main else None, known)
    return rep.issues


def _locate(rep: Reporter, source: ProductSource, index: int, rel: str, folder_rel: str) -> Path | None:
    """The workspace file to check, or None (after reporting) when it cannot be checked."""
    local = source.dir / rel
    pointer_path = source.dir / f"{rel}.dvc"
    shown = f"{folder_rel}/{rel}"
    at = ("files", index, "path")
    pointer = None
    if pointer_path.is_file():
        try:
            pointer = read_pointer(pointer_path)
        except PointerError as exc:
            rep.add_file(f"{shown}.dvc", exc.line, str(exc), f"re-create it with `dvc add {shown}`",
                         rule="data.pointer")
            return None
        if pointer.path != Path(rel).name:
            rep.add(at, f"DVC pointer {shown}.dvc tracks {pointer.path!r}, not {Path(rel).name!r}",
                    f"re-create it with `dvc add {shown}`", rule="data.pointer")
            return None
    if not local.is_file():
        if local.exists():
            rep.add(at, f"{shown!r} is not a regular file", "track one file per entry (archive a folder first)",
                    rule="data.missing")
            return None
        if pointer is None:
            rep.add(at, f"file {shown!r} does not exist and has no DVC pointer",
                    f"copy the file into {folder_rel}/ and run `dvc add {shown}`", rule="data.missing")
        else:
            rep.add(at, f"data of {shown!r} is not in the workspace, so it was not checked",
                    f"run `dvc pull {shown}.dvc`, or use --no-data", rule="data.not_pulled", severity=WARNING)
        return None
    if pointer is not None:
        actual_md5 = md5_of(local)
        if actual_md5 != pointer.md5:
            rep.add(at, f"md5 of {shown!r} is {actual_md5}, but its DVC pointer says {pointer.md5}",
                    f"if the new content is intended run `dvc add {shown}`; otherwise `dvc checkout {shown}.dvc`",
                    rule="data.md5")
            return None
    return local


def _check_table(rep: Reporter, index: int, local: Path, fmt: str | None, table: Any,
                 data: dict | None, known: dict | None = None) -> None:
    at = ("files", index)
    name = local.name
    detected = detect_format(local)
    if fmt is not None and detected is not None and detected != fmt and not (
        fmt in _TEXT_FORMATS and detected in _TEXT_FORMATS
    ):
        rep.add((*at, "format"), f"{name!r} is declared as {fmt!r} but its content is {detected!r}",
                f"set 'format: {detected}'", rule="data.format")
        return
    if detected is None and fmt in TABLE_FORMATS:
        rep.add((*at, "format"), f"{name!r} is declared as {fmt!r} but its content is not a table (binary data?)",
                "check that the right file was added", rule="data.format")
        return
    use = fmt or detected
    try:
        info = get_table_info(local, format=use, table=table if isinstance(table, str) else None)
    except DataFileError as exc:
        rep.add(at, f"cannot read {name!r} as {use}: {exc}", None, rule="data.read")
        return
    if data is None:
        return
    if info.num_rows == 0:
        rep.add(at, f"{name!r} has no rows", None, rule="data.empty", severity=WARNING)
    by_name = {c.name: c for c in info.columns}
    declared = [(i, c) for i, c in enumerate(data.get("columns") or []) if isinstance(c, dict)
                and isinstance(c.get("name"), str)]
    checkable: list[tuple[int, dict, ColumnInfo]] = []
    for i, col in declared:
        actual = by_name.get(col["name"])
        if actual is None:
            names = [c.name for c in info.columns]
            hint = did_you_mean(col["name"], names) or f"{name!r} has columns: {', '.join(names[:30])}"
            rep.add(("columns", i, "name"), f"column {col['name']!r} is not in {name!r}", hint,
                    rule="data.column_missing")
            continue
        problem = _dtype_problem(col, actual)
        if problem:
            rep.add(("columns", i), problem[0], problem[1], rule="data.dtype")
            continue
        checkable.append((i, col, actual))
    if known is not None and _ranges_plausible(known, checkable):
        return
    _check_values(rep, local, use, table if isinstance(table, str) else None, checkable)


def _ranges_plausible(known: dict, columns: list[tuple[int, dict, ColumnInfo]]) -> bool:
    """True when a trusted summary shows every range-checked column inside its bounds."""
    stats = {c.get("name"): c for c in known.get("columns") or [] if isinstance(c, dict)}
    for _, col, info in columns:
        if col.get("role") not in ROLE_RANGES or info.shape:
            continue
        got = stats.get(col["name"])
        if got is not None and got.get("count") == 0:
            continue  # only nulls and sentinels: nothing to range-check
        if got is None or not isinstance(got.get("min"), int | float) or not isinstance(got.get("max"), int | float):
            return False
        low, high = ROLE_RANGES[col["role"]]
        if (low is not None and got["min"] < low) or (high is not None and got["max"] > high):
            return False
    return True


def _kind(dtype: str) -> str:
    if dtype in ("str", "bytes") or dtype.startswith(("str", "bytes", "<U", "|S", "object")):
        return "text"
    if dtype == "bool":
        return "bool"
    if dtype.startswith(("int", "uint")):
        return "int"
    if dtype.startswith("float"):
        return "float"
    return dtype


def _dtype_problem(col: dict, actual: ColumnInfo) -> tuple[str, str | None] | None:
    kind = _kind(actual.dtype)
    declared = col.get("dtype")
    if isinstance(declared, str):
        want = _kind(declared)
        ok = want == kind or (want == "float" and kind == "int")
        if want == kind == "int" and declared.startswith("int") and actual.dtype.startswith("int"):
            ok = int(actual.dtype[3:] or 64) <= int(declared[3:] or 64)
        if not ok:
            return (f"column {col['name']!r} is declared {declared} but the file holds {actual.dtype}",
                    f"set 'dtype: {actual.dtype}' if the file is right")
    role = col.get("role")
    if role in _NUMERIC_ROLES and kind not in ("int", "float"):
        return (f"column {col['name']!r} has role {role!r} but holds {actual.dtype} values, not numbers",
                "check the role, or convert the column to numbers")
    if role in _NUMERIC_ROLES and actual.shape and role != "pdf":
        return (f"column {col['name']!r} has role {role!r} but holds arrays of shape {actual.shape}",
                "give array columns role 'pdf' or 'other'")
    return None


def _check_values(rep: Reporter, local: Path, fmt: str | None, table: str | None,
                  columns: Iterable[tuple[int, dict, ColumnInfo]]) -> None:
    """Stream the columns whose role has a plausible range and report values outside it."""
    wanted = [(i, c) for i, c, info in columns if c.get("role") in ROLE_RANGES and not info.shape]
    if not wanted:
        return
    stats = {c["name"]: _RangeStats(c) for _, c in wanted}
    try:
        for batch in iter_batches(local, columns=list(stats), format=fmt, table=table):
            for name, values in batch.items():
                if name in stats:
                    stats[name].update(values)
    except DataFileError as exc:
        rep.add(("files",), f"cannot read {local.name!r}: {exc}", None, rule="data.read")
        return
    for i, col in wanted:
        for message, hint, severity in stats[col["name"]].problems():
            rep.add(("columns", i), message, hint, rule="data.range", severity=severity)


class _RangeStats:
    """Running counts of out-of-range and sentinel-like values of one column."""

    def __init__(self, col: dict) -> None:
        self.name = col["name"]
        self.role = col["role"]
        self.low, self.high = ROLE_RANGES[self.role]
        sentinels = col.get("sentinels")
        self.sentinels = [float(s) for s in sentinels if isinstance(s, int | float)] if isinstance(
            sentinels, list) else []
        self.rows = 0
        self.bad = 0
        self.worst: float | None = None
        self.bad_values: dict[float, int] = {}
        self.common: dict[float, int] = {}

    def update(self, values: np.ndarray) -> None:
        self.rows += len(values)
        # Nulls (a mask, from Parquet or VOTable integer columns) count as missing, like NaN.
        values = np.ma.filled(np.ma.asarray(values).astype("float64"), np.nan)
        keep = ~np.isnan(values)
        for s in self.sentinels:
            keep &= values != s
        for s in COMMON_SENTINELS:
            if s not in self.sentinels:
                n = int(np.count_nonzero(values[keep] == s))
                if n:
                    self.common[s] = self.common.get(s, 0) + n
        vals = values[keep]
        out = np.zeros(len(vals), dtype=bool)
        if self.low is not None:
            out |= vals < self.low
        if self.high is not None:
            out |= vals > self.high
        if out.any():
            bad = vals[out]
            self.bad += len(bad)
            extreme = float(bad.min() if self.low is not None and bad.min() < self.low else bad.max())
            if self.worst is None or abs(extreme) > abs(self.worst):
                self.worst = extreme
            uniq, counts = np.unique(bad, return_counts=True)
            for u, n in zip(uniq[:20], counts[:20], strict=False):
                self.bad_values[float(u)] = self.bad_values.get(float(u), 0) + int(n)

    def problems(self) -> list[tuple[str, str | None, str]]:
        out = []
        if self.high is None:
            outside = f"below {self.low:g}"
        else:
            outside = f"outside [{self.low:g}, {self.high:g}]"
        if self.bad:
            repeated = max(self.bad_values.items(), key=lambda kv: kv[1], default=None)
            hint = None
            if repeated and repeated[1] > 1 and _looks_like_sentinel(repeated[0]):
                value = _fmt(repeated[0])
                hint = f"if {value} means 'no value', declare it: sentinels: [{value}]"
            elif self.sentinels:
                hint = f"declared sentinels {[_fmt(s) for s in self.sentinels]} do not cover these values"
            out.append((
                f"{self.bad} of {self.rows} values of {self.name!r} (role {self.role}) are {outside}, "
                f"e.g. {_fmt(self.worst)}", hint, ERROR))
        for value, n in sorted(self.common.items()):
            if self.bad_values.get(value):
                continue  # already explained above
            v = _fmt(value)
            out.append((f"{n} of {self.rows} values of {self.name!r} are exactly {v}, which often means 'no value'",
                        f"if so, declare it: sentinels: [{v}]", WARNING))
        return out


def _looks_like_sentinel(value: float) -> bool:
    return math.isfinite(value) and value == int(value) and abs(value) >= 1


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
