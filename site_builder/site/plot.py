"""Small inline SVG plots of a file's summary for the product pages: no JavaScript, no library.

Lines and text are ``currentColor`` and fills the theme's ``--md-primary-fg-color``, so the plots
follow light and dark mode. Each has a ``<title>`` and ``aria-label`` saying what it shows; text
from the data is escaped. Coordinates have one decimal and the output depends on the input
alone. No line is blank or indented, so Markdown passes the SVG through inside a ``<div>``.
A missing, empty or malformed input gives ``""``: a page without that plot, not a failed build.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from html import escape
from itertools import pairwise
from typing import Any

__all__ = ["render_lineage", "render_magnitudes", "render_sky_map", "render_z_histogram"]

FILL = "var(--md-primary-fg-color, #4051b5)"
FONT = "var(--md-text-font-family, sans-serif)"
HALO = "var(--md-default-bg-color, #fff)"
SKY_LEVELS = 6  #: shades of the sky map, on a log scale of objects per cell
#: magnitude band colours from blue to red, of middle lightness so that they read on white and slate
BAND_COLOURS = ("#7048e8", "#1c7ed6", "#0ca678", "#c29100", "#e8590c", "#c92a2a",
                "#868e96", "#d6336c", "#5c940d", "#1098ad")
_BAND_ORDER = "ugrizyJHK"
_SQRT2 = math.sqrt(2)
_GRATICULE_RA, _GRATICULE_DEC = range(0, 360, 60), (-60, -30, 0, 30, 60)


def render_z_histogram(hist: dict | None, *, width: int = 560, height: int = 220) -> str:
    """Bars of the redshift histogram of a summary (``files[name]["z_histogram"]``).

    Parameters
    ----------
    hist
        ``{column, edges, counts, below, above}``; ``below`` and ``above`` count the values off
        the histogram's grid, which are noted in a corner rather than drawn.
    width, height
        Size in CSS pixels; the SVG shrinks with a narrower page.

    Returns
    -------
    str
        An ``<svg>`` element, or ``""`` without bins.
    """
    edges, counts = _bins(hist)
    if not sum(counts):
        return ""
    column = str(hist.get("column") or "")
    below, above = _int(hist.get("below")), _int(hist.get("above"))
    dec = _decimals(min(b - a for a, b in pairwise(edges)))
    lo, hi = _fmt(edges[0], dec), _fmt(edges[-1], dec)
    label = f"Histogram of redshift (column '{column}'): {sum(counts):,} objects, z from {lo} to {hi}"
    if below or above:
        label += f"; {below:,} below and {above:,} above that range, not drawn"
    box = (58, 12, width - 12, height - 38)
    widths = {round(b - a, 6) for a, b in pairwise(edges)}
    unit = f"objects per Δz = {widths.pop():g}" if len(widths) == 1 else "objects per bin"
    px, py, body = _frame(box, (edges[0], edges[-1]), max(counts), "redshift z", unit, width, height)
    bars = []
    for (a, b), n in zip(pairwise(edges), counts, strict=True):
        x, w = px(a), px(b) - px(a)
        w -= 0.4 if w > 3 else 0  # a hairline between wide bars
        bars.append(f'<rect x="{_num(x)}" y="{_num(py(n))}" width="{_num(w)}" height="{_num(py(0) - py(n))}">'
                    f"<title>z {_fmt(a, dec)}–{_fmt(b, dec)}: {n:,}</title></rect>")
    body += [f'<g class="bars" fill="{FILL}">', *bars, "</g>"]
    if below or above:
        note = f"{below:,} below, {above:,} above the range shown"
        body.append(_text(box[2], box[1] + 4, note, anchor="end", extra=' font-size="10" fill-opacity="0.8"'))
    return _svg(width, height, label, body)


def render_sky_map(sky: dict | None, *, width: int = 560, height: int = 300) -> str:
    """The footprint on an equal-area Mollweide map of the whole sky, RA growing to the left.

    Occupied cells of the summary's equal-area grid (``ra_bins`` in RA by ``sindec_bins`` in
    sin Dec) are shaded by their count on a log scale; runs of neighbouring cells of one shade
    are drawn as one trapezoid (parallels are straight in this projection), which keeps a map
    of 3,000 cells under 150 KB. The map is centred on RA 0°, else 180°, else the middle of the
    footprint, whichever keeps the footprint in one piece; a footprint of a few pixels is circled.

    Parameters
    ----------
    sky
        ``files[name]["sky"]`` of a summary: ``cells`` ``[[ra_bin, sindec_bin, count], ...]``,
        ``ra_bins`` and ``sindec_bins`` (360 and 180 when absent), and for the caption
        ``area_deg2``, ``ra_min``, ``ra_max``, ``ra_wraps``, ``dec_min``, ``dec_max``, ``count``.
    width, height
        Size in CSS pixels.

    Returns
    -------
    str
        An ``<svg>`` element, or ``""`` without occupied cells.
    """
    if not isinstance(sky, dict) or not isinstance(sky.get("cells"), list):
        return ""
    n_ra, n_s = max(0, _int(sky.get("ra_bins")) or 360), max(0, _int(sky.get("sindec_bins")) or 180)
    cells = [(i, j, n) for i, j, n in (_cell(c) for c in sky["cells"])
             if 0 <= i < n_ra and 0 <= j < n_s and n > 0]
    if not cells:  # also for a grid of no bins
        return ""
    step = 360 / n_ra
    shift = round(_centre(sky, step) / step)  # a whole number of cells: none is cut by the edge
    r = min((width - 80) / (4 * _SQRT2), (height - 52) / (2 * _SQRT2))
    cx, cy = width / 2, 10 + _SQRT2 * r

    def xy(lon: float, theta: float) -> tuple[float, float]:
        """Pixel position of the longitude ``lon`` (degrees from the centre) at ``theta``."""
        return cx - r * 2 * _SQRT2 / 180 * lon * math.cos(theta), cy - r * _SQRT2 * math.sin(theta)

    runs, shades = _sky_runs(cells, shift, n_ra)
    # xy() of the corners, its factors computed once per row (same operations, same floats):
    # a map has hundreds of runs, and their coordinates are most of its time.
    thetas, scale = _thetas(n_s), r * 2 * _SQRT2 / 180
    rows = {row for row, *_ in runs}
    cosines = {j: math.cos(thetas[j]) for j in rows | {j + 1 for j in rows}}
    heights = {j: cy - r * _SQRT2 * math.sin(thetas[j]) for j in cosines}
    paths: dict[int, list[tuple[float, ...]]] = {}
    xs, ys = [], []
    for row, k0, k1, level in runs:  # bottom edge at thetas[row], top edge at thetas[row + 1]
        west, east, below, above = k0 * step, (k1 + 1) * step, cosines[row], cosines[row + 1]
        corners = (cx - scale * west * below, heights[row], cx - scale * east * below,
                   cx - scale * east * above, heights[row + 1], cx - scale * west * above)
        paths.setdefault(level, []).append(corners)
        xs += corners[0], corners[2], corners[3], corners[5]
        ys += corners[1], corners[4]
    body = [f'<ellipse class="outline" cx="{_num(cx)}" cy="{_num(cy)}" rx="{_num(2 * _SQRT2 * r)}" '
            f'ry="{_num(_SQRT2 * r)}" fill-opacity="0.04" stroke="currentColor" stroke-opacity="0.6"/>']
    body += [f'<path class="cells" fill="{FILL}" fill-opacity="{_opacity(lev)}" '
             f'd="{_path("M%.1f %.1fH%.1fL%.1f %.1fH%.1fZ" * len(d), [v for c in d for v in c])}"/>'
             for lev, d in sorted(paths.items())]
    body += _graticule(xy, cx, cy, r, shift * step)
    if max(xs) - min(xs) < 6 and max(ys) - min(ys) < 6:  # a few pixels: show where it is
        body.append(f'<circle cx="{_num((min(xs) + max(xs)) / 2)}" cy="{_num((min(ys) + max(ys)) / 2)}" '
                    f'r="8" fill="none" stroke="{FILL}" stroke-width="1.5"/>')
    extent, total = _extent(sky), _int(sky.get("count")) or sum(c[2] for c in cells)
    body += [_text(8, height - 24, extent), *_sky_legend(height - 8, shades)]
    label = (f"Sky map (Mollweide projection, RA increasing to the left) of columns '{sky.get('ra_column') or ''}' "
             f"and '{sky.get('dec_column') or ''}': {total:,} objects")
    return _svg(width, height, f"{label}; {extent}" if extent else label, body)


def _sky_runs(cells: list[tuple[int, int, int]], shift: int, n_ra: int
              ) -> tuple[list[list[int]], dict[int, list[int]]]:
    """Runs of neighbouring cells of one shade, ``[row, first k, last k, level]`` (``k``: RA bin
    from the map's centre), and the counts of each shade."""
    lo, hi = min(c[2] for c in cells), max(c[2] for c in cells)
    runs: list[list[int]] = []
    shades: dict[int, list[int]] = {}  # level: counts
    levels: dict[int, int] = {}  # count: level (counts repeat)
    for j, k, n in sorted((j, (i - shift + n_ra // 2) % n_ra - n_ra // 2, n) for i, j, n in cells):
        level = levels.get(n)
        if level is None:
            level = levels[n] = _level(n, lo, hi)
        shades.setdefault(level, []).append(n)
        if runs and runs[-1][0] == j and runs[-1][2] == k - 1 and runs[-1][3] == level:
            runs[-1][2] = k
        else:
            runs.append([j, k, k, level])
    return runs, shades


def render_magnitudes(mags: Sequence[dict] | None, *, width: int = 560, height: int = 220) -> str:
    """One step line per magnitude column on shared axes, with a legend of the column names.

    Parameters
    ----------
    mags
        ``files[name]["magnitudes"]`` of a summary: ``[{column, edges, counts}, ...]``. Columns
        named like bands (``mag_g_lsst``) are ordered by wavelength, ``u`` to ``K``.
    width, height
        Size in CSS pixels.

    Returns
    -------
    str
        An ``<svg>`` element, or ``""`` without any counts.
    """
    if not isinstance(mags, list | tuple):
        return ""
    bands = [(str(m.get("column") or ""), *_bins(m)) for m in mags if isinstance(m, dict)]
    bands = sorted([b for b in bands if sum(b[2])], key=lambda b: _band_rank(b[0]))
    if not bands:
        return ""
    lo, hi = min(b[1][0] for b in bands), max(b[1][-1] for b in bands)
    widths = {round(e1 - e0, 6) for _, e, _ in bands for e0, e1 in pairwise(e)}
    unit = f"objects per {widths.pop():g} mag" if len(widths) == 1 else "objects per bin"
    box = (58, 12, width - 12, height - 38)
    top = max(max(c) for _, _, c in bands)
    px, py, body = _frame(box, (lo, hi), top, "magnitude", unit, width, height)
    colours = [BAND_COLOURS[n % len(BAND_COLOURS)] for n in range(len(bands))]
    for colour, (name, edges, counts) in zip(colours, bands, strict=True):
        pairs = [(py(c), px(e)) for c, e in zip(counts, edges[1:], strict=False)]
        steps = _path("V%.1fH%.1f" * len(pairs), [v for pair in pairs for v in pair])
        body.append(f'<path class="band" fill="none" stroke="{colour}" stroke-width="1.5" '
                    f'd="M{_num(px(edges[0]))} {_num(py(0))}{steps}V{_num(py(0))}"><title>{escape(name)}</title></path>')
    # the legend goes to the side where the lines stay lower
    mid = (lo + hi) / 2
    left = max((c for _, e, cs in bands for c, e0 in zip(cs, e, strict=False) if e0 < mid), default=0)
    right = max((c for _, e, cs in bands for c, e0 in zip(cs, e, strict=False) if e0 >= mid), default=0)
    at_left = left <= right
    for n, (name, _, _) in enumerate(bands[:12]):
        x, y, colour = box[0] + 10 if at_left else box[2] - 24, box[1] + 8 + 14 * n, colours[n]
        short = name if len(name) <= 24 else name[:23] + "…"
        body.append(f'<path d="M{_num(x)} {_num(y - 4)}h14" stroke="{colour}" stroke-width="2"/>')
        body.append(_text(x + 18 if at_left else x - 4, y, short, anchor="start" if at_left else "end"))
    label = f"Histograms of {len(bands)} magnitude columns: " + "; ".join(
        f"'{name}' {sum(c):,} objects, {_fmt(e[0], 1)} to {_fmt(e[-1], 1)} mag" for name, e, c in bands)
    return _svg(width, height, label, body)


# --- helpers -----------------------------------------------------------------------------------


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    alt = escape(label, quote=True)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pz-plot" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{alt}" font-size="11" '
        f'font-family="{FONT}" fill="currentColor" style="max-width:100%;height:auto">',
        f"<title>{alt}</title>", *body, "</svg>"])


def _text(x: float, y: float, text: str, *, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"{extra}>{escape(text, quote=True)}</text>'


def _frame(box: tuple[float, float, float, float], xrange: tuple[float, float], ymax: float, xlabel: str,
           ylabel: str, width: int, height: int) -> tuple[Callable, Callable, list[str]]:
    """Axes with ticks, light horizontal grid lines and titles; the scales from data to pixels."""
    x0, y0, x1, y1 = box
    ystep, _ = _ticks(0, ymax, 4, min_step=1)
    top = math.ceil(ymax / ystep) * ystep
    xlo, xhi = xrange

    px, py = (lambda v: x0 + (v - xlo) / ((xhi - xlo) or 1) * (x1 - x0)), (lambda v: y1 - v / top * (y1 - y0))
    xstep, xticks = _ticks(xlo, xhi, 10)
    yticks = [k * ystep for k in range(round(top / ystep) + 1)]
    grid = "".join(f"M{_num(x0)} {_num(py(v))}H{_num(x1)}" for v in yticks[1:])
    ticks = "".join(f"M{_num(px(v))} {_num(y1)}v4" for v in xticks) + "".join(
        f"M{_num(x0)} {_num(py(v))}h-4" for v in yticks)
    out = [f'<path d="{grid}" stroke="currentColor" stroke-opacity="0.15"/>',
           f'<path d="M{_num(x0)} {_num(y0)}V{_num(y1)}H{_num(x1)}{ticks}" fill="none" stroke="currentColor"/>']
    out += [_text(px(v), y1 + 15, _fmt(v, _decimals(xstep)), anchor="middle") for v in xticks]
    out += [_text(x0 - 7, py(v) + 4, f"{v / 1000:g}k" if v >= 10_000 else f"{v:,.0f}", anchor="end")
            for v in yticks]
    out.append(_text((x0 + x1) / 2, height - 6, xlabel, anchor="middle"))
    ym = (y0 + y1) / 2
    out.append(_text(14, ym, ylabel, anchor="middle", extra=f' transform="rotate(-90 14 {_num(ym)})"'))
    return px, py, out


def _graticule(xy: Callable, cx: float, cy: float, r: float, centre: float) -> list[str]:
    """Meridians every 60° (arcs of ellipses), parallels every 30° (straight lines), labels."""
    ry, d, labels = _SQRT2 * r, [], []
    for ra in _GRATICULE_RA:
        lon = (ra - centre + 180) % 360 - 180
        x = xy(lon, 0)[0]
        if lon != -180:
            d.append(f"M{_num(cx)} {_num(cy - ry)}" + (f"V{_num(cy + ry)}" if lon == 0 else
                     f"A{_num(abs(x - cx))} {_num(ry)} 0 0 {int(x > cx)} {_num(cx)} {_num(cy + ry)}"))
        labels.append(_text(x, cy + 11, f"{ra}°", anchor="middle"))
    for dec in _GRATICULE_DEC:
        x, y = xy(180, _theta(math.sin(math.radians(dec))))
        d.append(f"M{_num(x)} {_num(y)}H{_num(2 * cx - x)}")
        labels.append(_text(x - 3, y + 3, f"{dec:+d}°".replace("-", "−") if dec else "0°", anchor="end"))
    return [f'<path class="graticule" d="{"".join(d)}" fill="none" stroke="currentColor" '
            f'stroke-opacity="0.3" stroke-width="0.6"/>',
            # a halo of the page's background keeps the labels legible over the footprint
            f'<g class="graticule-labels" font-size="9" stroke="{HALO}" stroke-width="2.5" '
            'stroke-linejoin="round" paint-order="stroke">', *labels, "</g>"]


def _sky_legend(y: float, shades: dict[int, list[int]]) -> list[str]:
    """Swatches of the shades, least to most objects per cell, each titled with its counts."""
    lo, hi = min(map(min, shades.values())), max(map(max, shades.values()))
    levels = range(SKY_LEVELS) if hi > lo else [SKY_LEVELS - 1]
    out = [_text(40, y, f"{lo:,}" if hi > lo else "", anchor="end")]
    for n, lev in enumerate(levels):
        counts = shades.get(lev)
        tip = f"{min(counts):,}–{max(counts):,} objects" if counts else "no cell"
        out.append(f'<rect x="{44 + 14 * n}" y="{_num(y - 9)}" width="13" height="10" fill="{FILL}" '
                   f'fill-opacity="{_opacity(lev)}"><title>{tip}</title></rect>')
    note = "objects per cell" + (" (log scale)" if hi > lo else "")
    return [*out, _text(48 + 14 * len(levels), y, f"{hi:,} {note}")]


def _extent(sky: dict) -> str:
    """``598.4 deg² · RA 329.6° → 52.7° (across 0°) · Dec −35.7° → −26.3°``, from what is known."""
    area, ra0, ra1, dec0, dec1 = (sky.get(k) for k in ("area_deg2", "ra_min", "ra_max", "dec_min", "dec_max"))
    parts = [f"{area:,.1f} deg²"] if isinstance(area, int | float) else []
    if all(isinstance(v, int | float) for v in (ra0, ra1)):
        parts.append(f"RA {_fmt(ra0, 1)}° → {_fmt(ra1, 1)}°" + (" (across 0°)" if sky.get("ra_wraps") else ""))
    if all(isinstance(v, int | float) for v in (dec0, dec1)):
        parts.append(f"Dec {_fmt(dec0, 1)}° → {_fmt(dec1, 1)}°")
    return " · ".join(parts)


def _centre(sky: dict, step: float) -> float:
    """RA at the centre of the map: 0°, else 180°, else the middle of the footprint."""
    lo, hi = sky.get("ra_min"), sky.get("ra_max")
    if not (isinstance(lo, int | float) and isinstance(hi, int | float)):
        return 0.0
    span = (hi - lo) % 360 if sky.get("ra_wraps") else hi - lo
    if span >= 360 - step:
        return 0.0
    for centre in (0.0, 180.0):
        if (centre + 180 - lo) % 360 > span:  # the map's edge misses the footprint
            return centre
    return round((lo + span / 2) % 360 / step) * step


@functools.cache
def _thetas(n_s: int) -> tuple[float, ...]:
    """Mollweide angles of the ``n_s + 1`` edges of rows equal in sin Dec (the same for every map)."""
    return tuple(_theta(-1 + 2 * j / n_s) for j in range(n_s + 1))


def _theta(sindec: float) -> float:
    """Mollweide's auxiliary angle: solves 2θ + sin 2θ = π sin δ (by bisection: exact at the poles)."""
    a, b = -math.pi / 2, math.pi / 2
    for _ in range(60):
        m = (a + b) / 2
        a, b = (m, b) if 2 * m + math.sin(2 * m) < math.pi * sindec else (a, m)
    return (a + b) / 2


def _level(count: int, lo: int, hi: int) -> int:
    """Shade of a cell, 0 to SKY_LEVELS - 1, evenly spaced in log(count) from ``lo`` to ``hi``."""
    if hi <= lo:
        return SKY_LEVELS - 1
    return min(SKY_LEVELS - 1, int(SKY_LEVELS * math.log(count / lo) / math.log(hi / lo)))


def _opacity(level: int) -> str:
    return f"{0.35 + 0.65 * level / (SKY_LEVELS - 1):.2f}"


def _bins(hist: Any) -> tuple[list[float], list[int]]:
    """Edges and counts of a histogram dict, or ``([], [])`` unless they are numbers that match."""
    edges, counts = (hist.get("edges"), hist.get("counts")) if isinstance(hist, dict) else (0, 0)
    try:
        edges, counts = [float(e) for e in edges], [max(0, int(c)) for c in counts]
    except (TypeError, ValueError):  # not lists of numbers
        return [], []
    ok = len(edges) == len(counts) + 1 > 1 and all(a < b for a, b in pairwise(edges))
    return (edges, counts) if ok and all(map(math.isfinite, edges)) else ([], [])


def _cell(cell: Any) -> tuple[int, int, int]:
    try:
        i, j, n = cell
        return int(i), int(j), int(n)
    except (TypeError, ValueError):
        return -1, -1, 0


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _ticks(lo: float, hi: float, n: int, *, min_step: float = 0.0) -> tuple[float, list[float]]:
    """A round step (1, 2 or 5 times a power of ten) giving about ``n`` ticks, and the ticks."""
    raw = max((hi - lo) / n, min_step, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return step, [k * step for k in range(first, last + 1)]


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _fmt(value: float, decimals: int) -> str:
    """A label: fixed decimals and a true minus sign."""
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-") and float(text) == 0 else text.replace("-", "−")


def _num(value: float) -> str:
    """A coordinate with one decimal, ``12`` for 12.0: no more is seen on a plot this size."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


_POINT_ZERO = re.compile(r"\.0(?![0-9])")
_MINUS_ZERO = re.compile(r"(?<![0-9.])-0(?![0-9.])")


def _path(template: str, values: list[float]) -> str:
    """Path data: ``template`` of ``%.1f`` fields between letters, each number written as :func:`_num`
    would write it (formatted in one go, then ``.0`` and ``-0`` trimmed: thousands of numbers)."""
    return _MINUS_ZERO.sub("0", _POINT_ZERO.sub("", template % tuple(values)))


def _band_rank(name: str) -> int:
    """Position of the band named in a column (``mag_g_lsst`` -> g) in u g r i z y J H K."""
    found = re.search(r"(?:^|[^A-Za-z])([ugrizyJHK])(?:[^A-Za-z]|$)", name)
    return _BAND_ORDER.index(found.group(1)) if found else len(_BAND_ORDER)


def render_lineage(inputs: Sequence[str], product: str, outputs: Sequence[str], *, width: int = 560) -> str:
    """Provenance as a graph: the products this one derives from, itself, and those derived from it.

    Parameters
    ----------
    inputs, outputs
        Product ids (``provenance.derived_from`` and its inverse); shown as boxes linked by arrows.
    product
        The product of the page, in the middle.

    The boxes are not links (the theme's instant navigation rewrites ``<a>`` elements and
    fails on SVG ones); the page links the same products in the table below the graph.

    Returns
    -------
    str
        An ``<svg>`` element, or ``""`` when the product has neither inputs nor outputs.
    """
    if not inputs and not outputs:
        return ""
    rows = max(len(inputs), len(outputs), 1)
    row_h, box_h, box_w = 34, 24, (width - 80) / 3
    height = rows * row_h + 12
    columns = ((8, list(inputs)), ((width - box_w) / 2, [product]), (width - 8 - box_w, list(outputs)))
    body, centres = [], []
    for column, (x, ids) in enumerate(columns):
        top = (height - len(ids) * row_h) / 2 + (row_h - box_h) / 2
        spots = []
        for k, pid in enumerate(ids):
            y = top + k * row_h
            label = pid if len(pid) <= 30 else pid[:29] + "…"
            box = (f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(box_w)}" height="{box_h}" rx="4" '
                   f'fill="{FILL}" fill-opacity="{0.25 if column == 1 else 0.08}" stroke="{FILL}"/>'
                   f'<text x="{_num(x + box_w / 2)}" y="{_num(y + 16)}" text-anchor="middle" font-size="10">'
                   f"<title>{escape(pid)}</title>{escape(label)}</text>")
            body.append(box)
            spots.append((x, y + box_h / 2))
        centres.append(spots)
    (mid_x, mid_y), = centres[1]
    for x, y in centres[0]:
        body.append(_arrow(x + box_w, y, mid_x, mid_y))
    for x, y in centres[2]:
        body.append(_arrow(mid_x + box_w, mid_y, x, y))
    body.insert(0, '<defs><marker id="pz-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
                   'markerHeight="7" orient="auto"><path d="M0 0L8 4L0 8z" fill="currentColor"/></marker></defs>')
    label = (f"Lineage of {product}: derived from {', '.join(inputs) or 'no product of the catalogue'}; "
             f"used by {', '.join(outputs) or 'no product of the catalogue'}")
    return _svg(width, height, label, body)


def _arrow(x0: float, y0: float, x1: float, y1: float) -> str:
    return (f'<path d="M{_num(x0)} {_num(y0)}L{_num(x1)} {_num(y1)}" stroke="currentColor" '
            'stroke-opacity="0.6" fill="none" marker-end="url(#pz-arrow)"/>')
