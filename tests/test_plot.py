"""Inline SVG plots of summaries: real samples, synthetic inputs, hostile column names, size."""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from site_builder.site.plot import render_magnitudes, render_sky_map, render_z_histogram

REPO = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '"><script>alert(1)</script>'
SAMPLES = sorted(
    (path.parent.name, name, entry)
    for path in REPO.glob("products/*/summary.json")
    for name, entry in json.loads(path.read_text(encoding="utf-8"))["files"].items()
)


def entry(product: str) -> dict:
    return next(e for p, _, e in SAMPLES if p == product and (e.get("sky") or e.get("z_histogram")))


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def title(svg: str) -> str:
    return parse(svg).find(f"{SVG}title").text


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in parse(svg).iter(f"{SVG}text")]


def points(d: str) -> list[tuple[float, float]]:
    """Corners of the M/H/L/Z polygons the sky map draws."""
    out, y = [], 0.0
    for cmd, args in re.findall(r"([MHLZ])([^MHLZ]*)", d):
        nums = [float(v) for v in args.split()]
        if cmd in "ML":
            out.append((nums[0], nums[1]))
            y = nums[1]
        elif cmd == "H":
            out.append((nums[0], y))
    return out


def cells_by_path(svg: str) -> list[tuple[float, list[tuple[float, float]]]]:
    """(fill-opacity, corners) of each shade of the sky map."""
    return [(float(p.get("fill-opacity")), points(p.get("d")))
            for p in parse(svg).iter(f"{SVG}path") if p.get("class") == "cells"]


def outline(svg: str) -> tuple[float, float, float, float]:
    e = parse(svg).find(f"{SVG}ellipse")
    return tuple(float(e.get(k)) for k in ("cx", "cy", "rx", "ry"))


def sky(cells: list[list[int]], **extra) -> dict:
    return {"ra_column": "ra", "dec_column": "dec", "cells": cells, "count": sum(c[2] for c in cells), **extra}


# --- real samples ------------------------------------------------------------------------------


@pytest.mark.parametrize(("product", "name", "summary"), SAMPLES, ids=[f"{p}:{n}" for p, n, _ in SAMPLES])
def test_samples_render_accessible_well_formed_svg(product: str, name: str, summary: dict) -> None:
    plots = [render_z_histogram(summary.get("z_histogram")), render_sky_map(summary.get("sky")),
             render_magnitudes(summary.get("magnitudes"))]
    expected = [bool(summary.get("z_histogram")), bool(summary.get("sky")), bool(summary.get("magnitudes"))]
    assert [bool(p) for p in plots] == expected
    for svg in filter(None, plots):
        root = parse(svg)
        assert root.get("role") == "img"
        assert root.get("aria-label") == title(svg) and len(title(svg)) > 30
        assert "\n\n" not in svg and not re.search(r"^\s", svg, re.M)  # Markdown keeps it as raw HTML
        numbers = re.findall(r'(?:\b[xy]|width|height|c[xy]|r[xy]?|d)="([^"]*)"', svg)
        assert not any(re.search(r"\d\.\d\d", v) for v in numbers)  # coordinates have one decimal


def test_redshift_histogram_of_2dflens() -> None:
    hist = entry("2dflens-kids-south")["z_histogram"]
    svg = render_z_histogram(hist)
    assert title(svg) == "Histogram of redshift (column 'redshift'): 21,875 objects, z from 0.15 to 0.70"
    bars = parse(svg).find(f"{SVG}g[@class='bars']").findall(f"{SVG}rect")
    assert len(bars) == len(hist["counts"])
    heights = [float(b.get("height")) for b in bars]
    tallest = max(range(len(heights)), key=heights.__getitem__)
    assert hist["counts"][tallest] == max(hist["counts"])
    assert "redshift z" in texts(svg) and "objects per Δz = 0.01" in texts(svg)
    assert "var(--md-primary-fg-color" in svg and 'stroke="currentColor"' in svg


def test_sky_map_of_2dflens_is_one_field_across_ra_zero() -> None:
    svg = render_sky_map(entry("2dflens-kids-south")["sky"])
    cx, cy, rx, _ = outline(svg)
    xs = [x for _, corners in cells_by_path(svg) for x, _ in corners]
    assert min(xs) < cx < max(xs)  # on both sides of the central meridian, RA 0
    assert all(abs(x - cx) < 0.3 * rx for x in xs)  # not split to the map's edges
    assert all(y > cy for _, corners in cells_by_path(svg) for _, y in corners)  # south of the equator
    assert "598.4 deg² · RA 329.6° → 52.7° (across 0°) · Dec −35.7° → −26.3°" in texts(svg)
    assert "across 0°" in title(svg) and "21,875 objects" in title(svg)
    assert "<circle" not in svg  # big enough to be seen without a marker
    ra_zero = [t for t in parse(svg).iter(f"{SVG}text") if t.text == "0°" and t.get("text-anchor") == "middle"]
    assert [float(t.get("x")) for t in ra_zero] == [cx]  # centred on RA 0, as usual, not on the field


def test_tiny_footprint_is_circled() -> None:
    svg = render_sky_map(entry("rubin-dm-dc2-example")["sky"])
    circle = parse(svg).find(f"{SVG}circle")
    (_, corners), = cells_by_path(svg)
    assert abs(float(circle.get("cx")) - corners[0][0]) < 3 and abs(float(circle.get("cy")) - corners[0][1]) < 3


def test_magnitudes_of_dc2_in_band_order() -> None:
    mags = next(e["magnitudes"] for p, _, e in SAMPLES if p == "dc2-training-9816" and e["magnitudes"])
    svg = render_magnitudes(mags)
    lines = [p for p in parse(svg).iter(f"{SVG}path") if p.get("class") == "band"]
    order = ["mag_u_lsst", "mag_g_lsst", "mag_r_lsst", "mag_i_lsst", "mag_z_lsst", "mag_y_lsst"]
    assert [p.find(f"{SVG}title").text for p in lines] == order
    assert [t for t in texts(svg) if t.startswith("mag_")] == order  # the legend
    assert len({p.get("stroke") for p in lines}) == 6
    assert title(svg).startswith("Histograms of 6 magnitude columns: 'mag_u_lsst' 9,511 objects, 18.0 to 33.4 mag;")


# --- synthetic inputs --------------------------------------------------------------------------


def test_bar_per_bin_and_note_of_values_off_the_grid() -> None:
    hist = {"column": "Z", "edges": [0.0, 0.5, 1.0, 1.5], "counts": [3, 0, 7], "below": 2, "above": 5}
    svg = render_z_histogram(hist)
    assert len(parse(svg).find(f"{SVG}g[@class='bars']").findall(f"{SVG}rect")) == 3
    assert "2 below, 5 above the range shown" in texts(svg)
    assert title(svg).endswith("z from 0.0 to 1.5; 2 below and 5 above that range, not drawn")


def test_ra_grows_to_the_left() -> None:
    svg = render_sky_map(sky([[10, 90, 1], [350, 100, 1]]))  # RA 10° on the equator, 350° north of it
    cx = outline(svg)[0]
    (_, corners), = cells_by_path(svg)
    north, south = sorted([corners[:4], corners[4:]], key=lambda c: c[0][1])
    assert all(x < cx for x, _ in south) and all(x > cx for x, _ in north)


def test_field_around_ra_180_is_centred_on_180() -> None:
    cells = [[i, 80, 5] for i in (*range(170, 180), *range(180, 191))]
    svg = render_sky_map(sky(cells, ra_min=170.2, ra_max=190.8, ra_wraps=False))
    cx, _, rx, _ = outline(svg)
    xs = [x for _, corners in cells_by_path(svg) for x, _ in corners]
    assert all(abs(x - cx) < 0.2 * rx for x in xs)
    assert "RA 170.2° → 190.8°" in " ".join(texts(svg)) and "across" not in svg
    (_, corners), = cells_by_path(svg)
    assert len(corners) == 4  # 21 neighbouring cells of one shade: one trapezoid


def test_field_across_0_and_180_is_centred_on_its_middle() -> None:
    cells = [[i % 360, 80, 5] for i in range(120, 391)]  # RA 120° -> 30° through 180° and 0°
    svg = render_sky_map(sky(cells, ra_min=120.0, ra_max=30.9, ra_wraps=True))
    (_, corners), = cells_by_path(svg)
    assert len(corners) == 4  # one piece


def test_log_shades_grow_with_the_count() -> None:
    counts = [1, 10, 100, 1000, 10_000]
    svg = render_sky_map(sky([[0, 20 + 30 * n, c] for n, c in enumerate(counts)]))
    shades = sorted(cells_by_path(svg), key=lambda s: -s[1][0][1])  # south (low count) to north
    assert len(shades) == len(counts)
    opacity = [s[0] for s in shades]
    assert opacity == sorted(opacity) and len(set(opacity)) == len(counts)
    legend = [float(r.get("fill-opacity")) for r in parse(svg).iter(f"{SVG}rect")]
    assert legend == sorted(legend) and len(legend) == 6
    assert "10,000 objects per cell (log scale)" in texts(svg)


def test_sky_map_is_the_same_for_cells_in_any_order() -> None:
    rng = random.Random(3)
    cells = [[i, j, rng.randint(1, 50)] for i in range(40) for j in range(60, 80)]
    shuffled = cells[:]
    rng.shuffle(shuffled)
    assert render_sky_map(sky(cells)) == render_sky_map(sky(shuffled))


def test_bands_are_drawn_in_wavelength_order_whatever_the_input_order() -> None:
    mags = [{"column": f"mag_{b}", "edges": [20, 21, 22], "counts": [n, 1]} for n, b in enumerate("yzirgu", 1)]
    assert render_magnitudes(mags) == render_magnitudes(mags[::-1])


@pytest.mark.parametrize(("ra_bins", "sindec_bins"), [(72, 36), (360, 180)])
def test_all_sky_map_stays_small(ra_bins: int, sindec_bins: int) -> None:
    """Up to 3,000 cells with random counts, scattered or all-sky: few neighbours merge."""
    rng = random.Random(7)
    grid = [(i, j) for i in range(ra_bins) for j in range(sindec_bins)]
    cells = [[i, j, rng.randint(1, 10**6)] for i, j in sorted(rng.sample(grid, min(3000, len(grid))))]
    svg = render_sky_map(sky(cells, ra_bins=ra_bins, sindec_bins=sindec_bins, ra_min=0, ra_max=360))
    assert len(svg.encode()) < 150_000
    cx, cy, rx, ry = outline(svg)
    corners = [p for _, c in cells_by_path(svg) for p in c]
    assert all(abs(x - cx) <= rx + 0.1 and abs(y - cy) <= ry + 0.1 for x, y in corners)


def test_sky_map_of_3000_cells_that_cannot_merge_stays_small() -> None:
    """Neighbours alternate between the faintest and the darkest shade: one trapezoid per cell."""
    cells = [[i, j, 1 + (i + j) % 2 * 10**6] for j in range(80, 100) for i in range(150)]
    svg = render_sky_map(sky(cells))
    assert sum(len(c) for _, c in cells_by_path(svg)) == 4 * 3000
    assert len(svg.encode()) < 150_000


def test_old_summary_without_bin_counts_uses_one_degree_grid() -> None:
    a = render_sky_map(sky([[100, 50, 4]]))
    b = render_sky_map(sky([[100, 50, 4]], ra_bins=360, sindec_bins=180))
    assert a == b and a != render_sky_map(sky([[100, 50, 4]], ra_bins=72, sindec_bins=36))


@pytest.mark.parametrize("value", [None, {}, [], "x", {"edges": [], "counts": []},
                                   {"edges": [0, 1], "counts": [1, 2]}, {"edges": [1, 0], "counts": [3]},
                                   {"edges": [0, "a"], "counts": [1]}, {"edges": [0, 1], "counts": [0]},
                                   {"edges": 5, "counts": None}, 7])
def test_missing_or_malformed_input_gives_no_plot(value) -> None:
    assert render_z_histogram(value) == ""
    assert render_magnitudes([value] if isinstance(value, dict) else value) == ""
    assert render_sky_map(value) == ""
    assert render_sky_map({"cells": value}) == ""


def test_sky_without_cells_gives_no_plot() -> None:
    assert render_sky_map(sky([])) == ""
    assert render_sky_map(sky([[400, 10, 3], [1, 10, 0], ["a", 1, 1]])) == ""  # off the grid, empty, junk


# --- hostile text ------------------------------------------------------------------------------


def test_hostile_column_names_are_text() -> None:
    svgs = [
        render_z_histogram({"column": HOSTILE, "edges": [0, 1], "counts": [4]}),
        render_sky_map({"ra_column": HOSTILE, "dec_column": "d&c", "cells": [[1, 2, 3]]}),
        render_magnitudes([{"column": HOSTILE, "edges": [20, 21], "counts": [4]}]),
    ]
    for svg in svgs:
        assert "<script" not in svg
        root = parse(svg)
        assert HOSTILE in title(svg) and HOSTILE in root.get("aria-label")
        assert not [e for e in root.iter() if "script" in e.tag]
    assert "d&c" in title(svgs[1])
    assert HOSTILE[:23] + "…" in texts(svgs[2])  # the legend shortens long names
