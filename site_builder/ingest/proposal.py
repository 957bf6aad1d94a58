"""Propose column roles, UCDs, units and sentinel values for a new data file.

`pz add` shows these proposals for the contributor to confirm; they come
from the column name first (the conventions of spec-z compilations, DESC
simulations and Rubin DM tables), then are checked against the values: a
column called ``ra`` holding values above 360 is not proposed as a position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from site_builder.catalog.model import (
    COLUMN_ROLES,
    PRODUCT_TYPES,
    ROLE_RANGES,
    ROLE_UCDS,
    UNIQUE_ROLES,
)
from site_builder.catalog.model import SENTINEL_CANDIDATES as _SENTINELS
from site_builder.tables.info import ColumnInfo, TableInfo
from site_builder.tables.reader import iter_batches

SENTINEL_CANDIDATES = _SENTINELS
_ROLE_SENTINELS = {r.name: r.sentinels for r in COLUMN_ROLES.values() if r.sentinels}
# First match wins: error and flag patterns come before the quantity they qualify.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (r.name, re.compile(r.name_pattern))
    for r in sorted(COLUMN_ROLES.values(), key=lambda r: r.pattern_order) if r.name_pattern
]
_BAND = re.compile(r"(?:^|_)([ugrizy])(?:_|$)|^([ugrizy])(?=[a-z]*(flux|mag))")
_BAND_UCD = {"u": "em.opt.U", "g": "em.opt.B", "r": "em.opt.R", "i": "em.opt.I", "z": "em.opt.I", "y": "em.opt.I"}
_UNITS = {r.name: r.unit for r in COLUMN_ROLES.values() if r.unit is not None}
_PHOTO_Z_TYPES = tuple(t.name for t in PRODUCT_TYPES.values() if t.photo_z)


@dataclass
class ValueStats:
    """What one streaming pass learns about a numeric column.

    ``minimum`` and ``maximum`` leave out NaN and every sentinel candidate, so
    that a redshift column full of -99 still shows its real range.
    """

    count: int = 0
    minimum: float = np.inf
    maximum: float = -np.inf
    candidates: dict[float, int] = field(default_factory=dict)

    def update(self, values: np.ndarray) -> None:
        if isinstance(values, np.ma.MaskedArray):
            values = values.compressed()
        if values.dtype.kind not in "f":
            values = values.astype("float64")
        low, high = values.min(initial=np.inf), values.max(initial=-np.inf)
        if np.isnan(low) or np.isnan(high) or np.isinf(low) or np.isinf(high):
            values = values[np.isfinite(values)]
            low, high = values.min(initial=np.inf), values.max(initial=-np.inf)
        if not values.size:
            return
        self.count += values.size
        # Only candidates inside the range can occur: usually one comparison per column, not five.
        present = []
        for s in SENTINEL_CANDIDATES:
            if low <= s <= high:
                n = int(np.count_nonzero(values == s))
                if n:
                    self.candidates[s] = self.candidates.get(s, 0) + n
                    present.append(s)
        if low in present or high in present:
            values = values[~np.isin(values, present)]
            if not values.size:
                return
            low, high = values.min(), values.max()
        self.minimum = min(self.minimum, float(low))
        self.maximum = max(self.maximum, float(high))


@dataclass(frozen=True)
class ColumnProposal:
    """A proposed entry of ``columns:`` in product.yaml, and why."""

    name: str
    dtype: str
    shape: tuple[int, ...] = ()
    role: str | None = None
    ucd: str | None = None
    unit: str | None = None
    sentinels: tuple[float, ...] = ()
    note: str = ""

    def as_metadata(self) -> dict:
        """The dict written to product.yaml (only the keys that carry information)."""
        out: dict = {"name": self.name}
        if self.role:
            out["role"] = self.role
        if self.ucd:
            out["ucd"] = self.ucd
        if self.unit is not None:
            out["unit"] = self.unit
        if not self.shape and self.dtype in _DTYPES:
            out["dtype"] = self.dtype
        if self.sentinels:
            out["sentinels"] = [float(s) for s in self.sentinels]
        return out


_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
           "bool", "str", "bytes"}


def role_from_name(name: str) -> str | None:
    """The role a column name suggests, if any (``'ERR_Z'`` -> ``'z_err'``)."""
    key = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
    for role, pattern in _PATTERNS:
        if pattern.match(key):
            return role
    return None


def _ucd(role: str, name: str, product_type: str) -> str | None:
    ucd = ROLE_UCDS.get(role)
    if role == "z" and product_type in _PHOTO_Z_TYPES:
        return "src.redshift.phot"
    if role in ("mag", "mag_err", "flux", "flux_err"):
        match = _BAND.search(name.lower())
        band = match and (match.group(1) or match.group(2))
        if band:
            ucd = f"{ucd};{_BAND_UCD[band]}"
    return ucd


def scan_values(path: Path, info: TableInfo, *, format: str | None, table: str | None,
                max_rows: int | None = None, progress: Callable[[int], None] | None = None
                ) -> dict[str, ValueStats]:
    """Ranges and sentinel-like values of the numeric scalar columns (the first ``max_rows`` rows)."""
    stats = new_stats(info)
    if not stats:
        return stats
    seen = 0
    for batch in iter_batches(path, columns=list(stats), format=format, table=table,
                              batch_rows=min(max_rows or 1_000_000, 1_000_000)):
        update_stats(stats, batch)
        rows = len(next(iter(batch.values())))
        seen += rows
        if progress:
            progress(rows)
        if max_rows is not None and seen >= max_rows:
            break
    return stats


def new_stats(info: TableInfo) -> dict[str, ValueStats]:
    """Empty statistics for the numeric scalar columns of a table."""
    return {c.name: ValueStats() for c in info.columns
            if not c.shape and c.dtype.startswith(("int", "uint", "float"))}


def update_stats(stats: dict[str, ValueStats], batch: dict[str, np.ndarray]) -> None:
    for name, values in batch.items():
        if name in stats:
            stats[name].update(values)


def stats_from_summary(summary: dict, info: TableInfo) -> dict[str, ValueStats]:
    """The statistics of :func:`scan_values`, read off a summary computed with
    :func:`speculative_columns` (its min and max leave out the role's sentinel candidates)."""
    stats = new_stats(info)
    for col in summary.get("columns", []):
        if col.get("name") not in stats:
            continue
        hits = {float(k): n for k, n in (col.get("sentinels") or {}).items() if n}
        low, high = col.get("min"), col.get("max")  # None when every value is a sentinel or null
        stats[col["name"]] = ValueStats(count=col.get("count", 0) + sum(hits.values()),
                                        minimum=np.inf if low is None else float(low),
                                        maximum=-np.inf if high is None else float(high), candidates=hits)
    return stats


def speculative_columns(proposals: list[ColumnProposal]) -> list[dict]:
    """Column metadata for a summary computed before the sentinels are known.

    Every value that is a sentinel candidate for a column's role is declared;
    a declared value that never occurs changes no statistic, so once the pass
    has shown which ones occur, the summary is exact for the final metadata.
    """
    out = []
    for p in proposals:
        meta = p.as_metadata()
        candidates = _ROLE_SENTINELS.get(p.role or "", ())
        if candidates:
            meta["sentinels"] = sorted({*p.sentinels, *candidates})
        out.append(meta)
    return out


def propose_columns(info: TableInfo, stats: dict[str, ValueStats], product_type: str) -> list[ColumnProposal]:
    """A proposal for every column of the table, in file order."""
    taken: set[str] = set()
    out = []
    for col in info.columns:
        out.append(_propose(col, stats.get(col.name), product_type, taken))
    return out


def _propose(col: ColumnInfo, stats: ValueStats | None, product_type: str, taken: set[str]) -> ColumnProposal:
    base = ColumnProposal(col.name, col.dtype, col.shape)
    if col.shape:
        if col.shape[-1] > 1 and col.dtype.startswith("float"):
            return replace(base, role="pdf", ucd=ROLE_UCDS["pdf"], note=f"array of {col.shape}: a PDF?")
        return replace(base, role="other")
    role = role_from_name(col.name)
    if role is None:
        return replace(base, role="other")
    numeric = col.dtype.startswith(("int", "uint", "float"))
    if role == "id" and col.dtype not in ("str", "bytes") and not col.dtype.startswith(("int", "uint")):
        return replace(base, role="other", note="looks like an id but is not an integer or string")
    if role in ROLE_RANGES and not numeric:
        return replace(base, role="other", note=f"name suggests {role} but values are not numbers")
    if role in UNIQUE_ROLES and role in taken:
        return replace(base, role="other", note=f"another column already has role {role}")
    sentinels: tuple[float, ...] = ()
    if stats is not None:
        sentinels = tuple(s for s in _ROLE_SENTINELS.get(role, ()) if stats.candidates.get(s))
        low, high = ROLE_RANGES.get(role, (None, None))
        if stats.maximum >= stats.minimum and (
                (low is not None and stats.minimum < low) or (high is not None and stats.maximum > high)):
            return replace(base, role="other",
                           note=f"name suggests {role} but values run from {stats.minimum:g} to {stats.maximum:g}")
    if role in UNIQUE_ROLES:
        taken.add(role)
    unit = _UNITS.get(role)
    note = f"{', '.join(f'{s:g}' for s in sentinels)} taken as 'no value'" if sentinels else ""
    return replace(base, role=role, ucd=_ucd(role, col.name, product_type), unit=unit, sentinels=sentinels,
                   note=note)


def apply_overrides(proposals: list[ColumnProposal], overrides: dict[str, str], product_type: str
                    ) -> list[ColumnProposal]:
    """Apply ``--column ROLE=NAME`` choices; a role given explicitly is taken from any other column.

    Raises
    ------
    ValueError
        A named column does not exist or a role is unknown (the message lists the choices).
    """
    names = [p.name for p in proposals]
    for role, name in overrides.items():
        if role not in ROLE_UCDS:
            raise ValueError(f"unknown role {role!r} in --column; roles: {', '.join(ROLE_UCDS)}")
        if name not in names:
            raise ValueError(f"--column {role}={name}: no column {name!r} in the file; columns: {', '.join(names)}")
    out = []
    chosen = {name: role for role, name in overrides.items()}
    for p in proposals:
        if p.name in chosen:
            role = chosen[p.name]
            out.append(replace(p, role=role, ucd=_ucd(role, p.name, product_type) if role != "other" else None,
                               unit=_UNITS.get(role, p.unit), note="set by --column"))
        elif p.role in overrides and p.role in (*UNIQUE_ROLES, "z"):
            out.append(replace(p, role="other", ucd=None, sentinels=(), note=f"{p.role} given to another column"))
        else:
            out.append(p)
    return out
