"""The streaming accumulators behind a summary: a quantile sample, fixed-grid histograms, a sky map.

Each takes one slice of values at a time (:mod:`site_builder.tables.summary` feeds them)
and keeps memory bounded whatever the table's length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["CELL_AREA_DEG2", "MAX_SKY_CELLS", "RESERVOIR", "Histogram", "Sampler", "Sky", "round_float"]

RESERVOIR = 200_000  #: rows sampled for quantiles; smaller tables get exact quantiles
RA_BINS, SINDEC_BINS = 360, 180
CELL_AREA_DEG2 = 4 * math.pi * (180 / math.pi) ** 2 / (RA_BINS * SINDEC_BINS)
MAX_SKY_CELLS = 3000  #: cells stored in summary.json at most; wider footprints are stored coarser
SKY_FACTORS = (1, 2, 3, 4, 5, 6, 9, 10, 12, 15, 18)  #: coarsening steps (divide both 360 and 180)
_SEED = 20_261_125
_MERGE_FACTORS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
#: One slice of a numeric column: as float64, valid mask (None: all valid), valid values.
Chunk = tuple[np.ndarray, "np.ndarray | None", np.ndarray]


def round_float(x: float) -> float:
    return float(f"{x:.7g}")



class Sampler:
    """A uniform sample of rows in one pass: the rows with the smallest random keys (one per row,
    in file order: batch sizes do not matter). Candidates, keys below the largest kept, wait until
    they number half the sample; a merge then writes the newly kept rows over the evicted ones,
    so a column's cost is proportional to the candidates, not to the sample."""

    def __init__(self, size: int) -> None:
        self.size, self.rng = size, np.random.default_rng(_SEED)
        self.keys = np.empty(0)
        self.pending: list[np.ndarray] = []
        self.waiting, self.limit = 0, 1.0

    def select(self, n: int) -> np.ndarray:
        keys = self.rng.random(n)
        rows = np.flatnonzero(keys < self.limit)
        self.pending.append(keys[rows])
        self.waiting += len(rows)
        return rows

    def due(self) -> bool:
        return len(self.keys) + self.waiting > self.size * 3 // 2

    def merge(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Fold the candidates in: (slots of the sample to write, candidates written there, sample size)."""
        new, old = np.concatenate([self.keys[:0], *self.pending]), len(self.keys)
        self.pending, self.waiting = [], 0
        both = np.concatenate([self.keys, new])
        length = min(self.size, len(both))
        if len(both) <= self.size:
            slots, picked = np.arange(old, length), np.arange(len(new))
        else:
            kept = np.zeros(len(both), bool)
            kept[np.argpartition(both, self.size - 1)[: self.size]] = True
            slots = np.concatenate([np.flatnonzero(~kept[:old]), np.arange(old, length)])  # evicted, then free
            picked = np.flatnonzero(kept[old:])
        self.keys = written(self.keys, slots, new[picked], length)
        if length == self.size:
            self.limit = float(self.keys.max())
        return slots, picked, length


def written(arr: np.ndarray, slots: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """``arr`` grown to ``length`` with ``values`` written at ``slots``."""
    if len(arr) < length:
        arr = np.concatenate([arr, np.empty(length - len(arr), arr.dtype)])
    arr[slots] = values
    return arr


class Histogram:
    """Counts on a fixed grid ``lo + k * step``, plus the counts below and above it."""

    def __init__(self, lo: float, hi: float, step: float) -> None:
        self.lo, self.hi, self.step, self.bins = lo, hi, step, round((hi - lo) / step)
        self.counts = np.zeros(self.bins + 2, np.int64)  # [below, bins..., above]
        # index = floor((x - lo) / step) + 1; the tiny shift puts a value on an edge in the bin above it
        self.scale, self.shift = 1 / step, 1 - lo / step + 1e-6

    def add(self, values: np.ndarray, bounds: tuple[float, float]) -> None:
        """Count ``values``, whose min and max are ``bounds``."""
        if len(values):
            t = values * self.scale
            t += self.shift
            if not self.lo <= bounds[0] <= bounds[1] < self.hi:
                np.clip(t, 0, self.bins + 1, out=t)
            self.counts += np.bincount(t.astype(np.intp), minlength=self.bins + 2)

    def result(self, max_bins: int | None) -> dict[str, Any]:
        """Edges and counts without the empty bins at both ends, merged to at most ``max_bins``."""
        fine = self.counts[1:-1]
        filled = np.flatnonzero(fine)
        edges: list[float] = []
        counts: list[int] = []
        if len(filled):
            first, last = int(filled[0]), int(filled[-1])
            factor = next(f for f in _MERGE_FACTORS if max_bins is None or (last - first + 1) / f + 1 <= max_bins)
            zero = round(-self.lo / self.step)  # merged edges fall on multiples of factor * step
            start = (first - zero) // factor * factor + zero
            stop = (last - zero) // factor * factor + zero + factor
            padded = np.zeros(stop - start, np.int64)
            padded[first - start : last + 1 - start] = fine[first : last + 1]
            counts = padded.reshape(-1, factor).sum(axis=1).tolist()
            edges = [round_float(self.lo + k * self.step) for k in range(start, stop + 1, factor)]
        return {"edges": edges, "counts": counts, "below": int(self.counts[0]), "above": int(self.counts[-1])}


class Sky:
    """Occupied cells of an equal-area grid (1° in RA, uniform in sin Dec) and the exact extent."""

    def __init__(self, ra: str, dec: str) -> None:
        self.ra, self.dec = ra, dec
        self.cells = np.zeros(RA_BINS * SINDEC_BINS, np.int64)
        self.ra_lo, self.ra_hi = np.full(RA_BINS, np.inf), np.full(RA_BINS, -np.inf)  # per 1° bin
        self.dec_lo, self.dec_hi = np.inf, -np.inf

    def add(self, ra: Chunk, dec: Chunk) -> None:
        (ra_x, ra_ok, ra_v), (dec_x, dec_ok, dec_v) = ra, dec
        if not (ra_ok is None and dec_ok is None and len(ra_v) and len(dec_v) and ra_v.min() >= 0
                and ra_v.max() <= 360 and dec_v.min() >= -90 and dec_v.max() <= 90):
            with np.errstate(invalid="ignore"):
                ok = (ra_x >= 0) & (ra_x <= 360) & (dec_x >= -90) & (dec_x <= 90)
            for part in (ra_ok, dec_ok):
                if part is not None:
                    ok &= part
            ra_x, dec_x = ra_x[ok], dec_x[ok]
        if not len(ra_x):
            return
        i = ra_x.astype(np.intp)
        np.minimum(i, RA_BINS - 1, out=i)
        np.minimum.at(self.ra_lo, i, ra_x)
        np.maximum.at(self.ra_hi, i, ra_x)
        # float32 sine is several times faster; it moves only points within 1e-7 of a cell edge
        s = np.sin(np.deg2rad(dec_x.astype(np.float32)))
        s += 1
        s *= SINDEC_BINS / 2
        j = s.astype(np.intp)
        np.minimum(j, SINDEC_BINS - 1, out=j)
        i *= SINDEC_BINS
        i += j
        self.cells += np.bincount(i, minlength=RA_BINS * SINDEC_BINS)
        self.dec_lo, self.dec_hi = min(self.dec_lo, float(dec_x.min())), max(self.dec_hi, float(dec_x.max()))

    def result(self) -> dict[str, Any] | None:
        filled = np.flatnonzero(self.cells)
        if not len(filled):
            return None
        ra_min, ra_max, wraps = self._ra_extent(np.isfinite(self.ra_lo))
        # The footprint area comes from the fine grid; the stored map is coarsened for wide
        # surveys so that summary.json stays small (an all-sky table fills all 64,800 cells).
        grid = self.cells.reshape(RA_BINS, SINDEC_BINS)
        factor = next(f for f in SKY_FACTORS if f == SKY_FACTORS[-1] or np.count_nonzero(
            grid.reshape(RA_BINS // f, f, SINDEC_BINS // f, f).sum(axis=(1, 3))) <= MAX_SKY_CELLS)
        coarse = grid.reshape(RA_BINS // factor, factor, SINDEC_BINS // factor, factor).sum(axis=(1, 3))
        i, j = np.nonzero(coarse)
        cells = np.stack([i, j, coarse[i, j]], axis=1)
        return {
            "ra_column": self.ra, "dec_column": self.dec,
            "grid": f"equal-area: {RA_BINS // factor} RA bins x {SINDEC_BINS // factor} sin(Dec) bins",
            "ra_bins": RA_BINS // factor, "sindec_bins": SINDEC_BINS // factor, "count": int(self.cells.sum()),
            "cells": cells.tolist(), "cell_area_deg2": round_float(CELL_AREA_DEG2 * factor * factor),
            "area_deg2": round_float(len(filled) * CELL_AREA_DEG2), "ra_min": round_float(ra_min),
            "ra_max": round_float(ra_max), "dec_min": round_float(self.dec_lo), "dec_max": round_float(self.dec_hi),
            "ra_wraps": wraps,
        }

    def _ra_extent(self, occupied: np.ndarray) -> tuple[float, float, bool]:
        """Smallest RA arc holding every position: the complement of the largest empty gap."""
        if occupied.all():
            return 0.0, 360.0, False
        first = int(np.argmax(occupied))  # rotate so that the circle starts with an occupied bin
        change = np.flatnonzero(np.diff(np.concatenate([[1], np.roll(occupied, -first).astype(np.int8), [1]])))
        gap = int(np.argmax(change[1::2] - change[0::2]))  # runs of empty bins: [change[0::2], change[1::2])
        start = (first + int(change[1::2][gap])) % RA_BINS  # first occupied bin after the largest gap
        end = (first + int(change[0::2][gap]) - 1) % RA_BINS  # last occupied bin before it
        return float(self.ra_lo[start]), float(self.ra_hi[end]), bool(start > end)


# --- preview and JSON --------------------------------------------------------
