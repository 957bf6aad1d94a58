"""Benchmark: `pz build` at 100, 1,000 and 10,000 products, against plain mkdocs-material.

For each size, in one run and on the same synthetic catalogue (bench/sitegen.py: realistic
products made from the six samples, with their summaries, in a git repository):

* `pz build --no-cache` into an empty folder (a full build), and right after it, each time,
  `mkdocs build` of the same products as ordinary Markdown pages (title, summary, key facts,
  columns, description) with the same theme, out of the navigation as `pz build` keeps them
  (in it, mkdocs-material grows quadratically: DESIGN.md measured 3,000 pages in 485 s). The
  two alternate, as many runs each, so that other work on the machine weighs on both alike;
  the ratio is that of the medians (and the median of the ratios of each pair);
* `pz build` after changing one product's title and committing it (a rebuild).

Then, on the 10,000-product site served over HTTP to headless Chromium: the bytes the
catalogue page transfers (every response, gzipped at level 6 as nginx would) and the time
from a keystroke in its search box to the filtered results.

    .venv/bin/python bench/site.py [--sizes 100 1000 10000] [--runs 3]

Run it from a venv made by `make install` in a fresh clone (the first lines say whether it is).
Goals (issues "The website and the static JSON API" and 12): at 10,000 realistic products a full
build <= 30 s and <= 0.5x plain mkdocs-material, a rebuild after one change <= 3 s, the
catalogue page < 1.5 MB gzipped, a keystroke < 100 ms.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchenv import print_environment
from sitegen import env_commit, make_site_catalog, synthetic_products

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHANGED = "products/{}/product.yaml"
GOAL_FULL, GOAL_REBUILD, GOAL_RATIO = 30.0, 3.0, 0.5  # seconds, seconds, pz build / plain mkdocs


def run(*args: str | Path, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return seconds


def settle(site: Path) -> None:
    """Wait until the background removal of the previous site is over (it is not part of a build)."""
    for _ in range(600):
        if not any(p.name.startswith(f".{site.name}.") for p in site.parent.iterdir()):
            return
        time.sleep(0.1)


def time_full(root: Path, site: Path, work: Path, runs: int) -> tuple[list[float], list[float]]:
    """Full `pz build` and plain mkdocs-material builds of the same products, alternating."""
    config = plain_mkdocs_project(root, work / "plain")
    full, plain = [], []
    for _ in range(runs):
        shutil.rmtree(site, ignore_errors=True)
        settle(site)
        full.append(run(BIN / "pz", "--repo", root, "build", "--out", site, "--no-cache"))
        shutil.rmtree(config.parent / "site", ignore_errors=True)  # as for pz: removing the old site is not timed
        plain.append(run(BIN / "mkdocs", "build", "-q", "-f", config))
    return full, plain


def time_rebuild(root: Path, site: Path, runs: int) -> list[float]:
    run(BIN / "pz", "--repo", root, "build", "--out", site)  # the cache of the current state
    folders = sorted(p.name for p in (root / "products").iterdir())
    target = root / CHANGED.format(folders[len(folders) // 2])
    times = []
    for n in range(runs):
        text = target.read_text(encoding="utf-8")
        head, _, rest = text.partition("\ntitle: ")
        target.write_text(f"{head}\ntitle: Changed title {n}\n{rest.split(chr(10), 1)[1]}", encoding="utf-8")
        env_commit(root, f"Change the title of one product ({n})")
        settle(site)
        times.append(run(BIN / "pz", "--repo", root, "build", "--out", site))
    return times


def plain_mkdocs_project(root: Path, dest: Path) -> Path:
    """The products as ordinary Markdown pages of a mkdocs-material project, out of the nav."""
    import yaml

    docs = dest / "docs"
    shutil.copytree(root / "docs", docs)
    (docs / "index.md").write_text("# PZ Server\n", encoding="utf-8")
    nav = ["index.md", *sorted(p.name for p in (root / "docs").glob("*.md"))]
    for folder in sorted((root / "products").iterdir()):
        data = yaml.load((folder / "product.yaml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        rows = "\n".join(f"| {k} | {html.escape(str(data.get(k)))} |" for k in
                         ("product_type", "official", "release", "status", "license", "created", "survey", "tags"))
        columns = "\n".join(f"| {html.escape(str(c.get('name')))} | {c.get('role')} | {c.get('ucd')} | "
                            f"{c.get('unit') or ''} | {html.escape(str(c.get('description') or ''))} |"
                            for c in data.get("columns") or [])
        page = (f"# {html.escape(data['title'])}\n\n{html.escape(data.get('summary') or '')}\n\n## Key facts\n\n"
                f"| Property | Value |\n|---|---|\n{rows}\n\n## Columns\n\n| Name | Role | UCD | Unit | Description |\n"
                f"|---|---|---|---|---|\n{columns}\n\n## Description\n\n{data.get('description') or ''}\n")
        (docs / "products" / folder.name).mkdir(parents=True)
        (docs / "products" / folder.name / "index.md").write_text(page, encoding="utf-8")
    config = yaml.safe_load((root / "mkdocs.yml").read_text(encoding="utf-8"))
    config["docs_dir"], config["site_dir"] = str(docs), str(dest / "site")
    config["nav"] = nav
    config["not_in_nav"] = "/products/"
    (dest / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return dest / "mkdocs.yml"


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return server, f"http://127.0.0.1:{port}/"


def measure_page(site: Path, keystrokes: int) -> tuple[int, int, int, list[float]]:
    """Requests, bytes and gzipped bytes of the catalogue page; keystroke-to-results times (ms)."""
    from playwright.sync_api import sync_playwright

    server, url = serve(site)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update"])
            page = context.new_page()
            bodies: dict[str, bytes] = {}
            page.on("response", lambda r: bodies.__setitem__(r.url, r.body()) if r.ok else None)
            page.goto(url + "catalog/")
            status = ".pz-catalog__main .pz-catalog__status"
            page.wait_for_function(f"document.querySelector('{status}')?.textContent.startsWith('100 of ')",
                                   timeout=60_000)
            page.wait_for_load_state("networkidle")
            raw = sum(len(b) for b in bodies.values())
            packed = sum(len(gzip.compress(b, 6)) for b in bodies.values())
            page.evaluate("""() => { window.measure = () => new Promise(resolve => {
                const status = document.querySelector('.pz-catalog__main .pz-catalog__status');
                let start = null;
                document.querySelector('.pz-catalog__search').addEventListener(
                    'keydown', () => { start = performance.now(); }, {once: true, capture: true});
                const observer = new MutationObserver(() => { observer.disconnect(); resolve(performance.now() - start); });
                observer.observe(status, {childList: true, characterData: true, subtree: true});
            }); }""")
            page.focus(".pz-catalog__search")
            times = []
            for n in range(keystrokes):
                page.evaluate("() => { window.measuring = window.measure(); }")
                page.keyboard.press("0123456789"[n % 10])
                times.append(page.evaluate("() => window.measuring"))
                page.keyboard.press("Backspace")
                page.wait_for_function(f"!document.querySelector('{status}').textContent.includes('in total')")
            context.close()
        return len(bodies), raw, packed, times
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=3, help="runs of each build measurement (pz and mkdocs alike)")
    parser.add_argument("--keystrokes", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pz-bench-site")
    args = parser.parse_args()
    print_environment()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    pages = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            work = Path(tmp)
            root = make_site_catalog(work / "catalog", size)
            site = work / "site"
            full, plain = time_full(root, site, work, args.runs)
            rebuild = time_rebuild(root, site, args.runs + 2)
            rows.append((size, full, rebuild, plain))
            pairs = [f / m for f, m in zip(full, plain, strict=True)]
            print(f"{size:>7,} products: pz build {statistics.median(full):6.2f} s (runs {_fmt(full)}), "
                  f"plain mkdocs out of nav {statistics.median(plain):6.2f} s (runs {_fmt(plain)}), "
                  f"pz/mkdocs {statistics.median(full) / statistics.median(plain):.2f}x (pairs {_fmt(pairs)}), "
                  f"rebuild {statistics.median(rebuild):5.2f} s (runs {_fmt(rebuild)})", flush=True)
            if size == max(args.sizes):
                pages = [("realistic products", measure_page(site, args.keystrokes))]
                # Also with random words everywhere, which compress like real text.
                (site / "api/v1/products.json").write_text(json.dumps(synthetic_products(size)), encoding="utf-8")
                pages.append(("random titles and summaries", measure_page(site, args.keystrokes)))
    print()
    print(f"{'products':>9}  {'pz build s':>10}  {'plain mkdocs s':>14}  {'pz/mkdocs':>9}  {'rebuild s':>9}  "
          f"{'full/rebuild':>12}   (medians of {args.runs} runs; {args.runs + 2} rebuilds)")
    for size, full, rebuild, plain in rows:
        f, r, m = statistics.median(full), statistics.median(rebuild), statistics.median(plain)
        print(f"{size:>9,}  {f:>10.2f}  {m:>14.2f}  {f / m:>8.2f}x  {r:>9.2f}  {f / r:>11.1f}x")
    for label, (requests, raw, packed, keys) in pages:
        print(f"\ncatalogue page at {max(args.sizes):,} products ({label}): {requests} responses, "
              f"{raw / 1e6:.2f} MB, {packed / 1e6:.2f} MB gzipped; keystroke to filtered results: "
              f"median {statistics.median(keys):.1f} ms, max {max(keys):.1f} ms ({len(keys)} keystrokes)")
    size, full, rebuild, plain = rows[-1]
    f, r, m = statistics.median(full), statistics.median(rebuild), statistics.median(plain)
    print(f"\ngoals at {size:,} products: full build {f:.2f} s <= {GOAL_FULL:.0f} s: {_met(f <= GOAL_FULL)}; "
          f"rebuild {r:.2f} s <= {GOAL_REBUILD:.0f} s: {_met(r <= GOAL_REBUILD)}; "
          f"pz/mkdocs {f / m:.2f}x <= {GOAL_RATIO}x: {_met(f / m <= GOAL_RATIO)}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    main()
