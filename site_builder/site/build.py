"""Render the catalogue as a static mkdocs-material site with its JSON API (``pz build``, ``pz serve``).

Two phases, as in mkdocs. Phase one reads and checks ``catalog.yaml`` and every new or changed
product (:mod:`site_builder.site.incremental`; nothing is written if one is broken). Phase two
writes into a fresh folder beside the output: mkdocs-material builds the hand-written pages,
the landing, catalogue, release, type, owner and schema pages and one placeholder product page
(:mod:`site_builder.site.shell`), or they are hard-linked from the previous build when nothing
they are made from changed (:mod:`site_builder.site.pagecache`); the product pages and product
JSON are then rendered into that placeholder's theme (or hard-linked from the previous build when nothing they show changed),
the JSON API listings written, internal links checked, and the new folder swapped in for the
old one in one rename. A failed build leaves the previous site as it was.

Metadata is untrusted: values are escaped before they reach Markdown or HTML, descriptions are
rendered and sanitised (nh3).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from logging.handlers import BufferingHandler
from pathlib import Path
from typing import Any

import yaml

from site_builder.catalog.catalog import Catalog, as_catalog
from site_builder.catalog.settings import CatalogSettings
from site_builder.catalog.source import CATALOG_FILE
from site_builder.errors import PzError
from site_builder.site.api import NOW, ProductRecord, write_api_listings
from site_builder.site.incremental import ProductBuild
from site_builder.site.linkcheck import check_links
from site_builder.site.pagecache import SitePages, link_pages, list_pages, pages_key
from site_builder.site.pages import NOT_IN_NAV, render_site_pages, with_site_pages
from site_builder.site.productpage import md as _md
from site_builder.site.productpage import render_description
from site_builder.site.shell import SHELL_DIR, SHELL_PAGE, load_shell, render_shell_markdown
from site_builder.system import SwapError, exchange

__all__ = ["NOTICE", "BuildResult", "SiteBuildError", "build_site", "render_description", "serve_site"]

MKDOCS_FILE = "mkdocs.yml"
DOCS_DIR = "docs"
#: Static files of the catalogue page, shipped in the package and copied into the site.
ASSETS_DIR = Path(__file__).parent / "assets"
ASSETS = ("catalog.js", "catalog.css")
#: The catalogue pages (filled in the browser from the JSON API): path, nav title, heading, preset.
CATALOG_PAGES = (
    ("catalog/index.md", "All products", "All products", ""),
    ("official/index.md", "Official products", "Official products", "official=true"),
)
NOTICE = ("Products are visible to all RSP users and are not scientifically validated "
          "by the PZ Coordination Group unless marked official.")


class SiteBuildError(PzError):
    """The site cannot be built from the catalogue as it is."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_site` produced."""

    out: Path
    pages: int  #: landing, hand-written and product pages
    products: int
    warnings: tuple[str, ...] = ()
    rendered: int = 0  #: products whose page and JSON were rendered (the others were reused)
    api_files: int = 0
    seconds: float = 0.0


def build_site(catalog: Catalog | Path, out: Path, *, strict: bool = False, cache: bool = True,
               workers: int | None = None, generated_at: str | None = NOW) -> BuildResult:
    """Build the static site and JSON API of the catalogue into ``out``.

    Parameters
    ----------
    catalog
        The catalogue (or its repository root, which holds ``catalog.yaml``, ``mkdocs.yml``,
        ``products/``).
    out
        Output folder; its previous content is replaced (only once the new one is complete).
    strict
        Fail on mkdocs warnings and on broken links between pages of the site.
    cache
        Reuse what the previous build read and rendered (``.pz/cache/site.pickle``). The cache
        is written for the next build either way.
    workers
        Processes for large builds (default: one per core).
    generated_at
        Time stamp of ``api/v1/index.json`` (see :func:`site_builder.site.api.write_api_listings`).

    Returns
    -------
    BuildResult
        The output folder, counts, and warnings (non-strict builds succeed with them).

    Raises
    ------
    SiteBuildError
        A metadata file cannot be read, the mkdocs configuration is wrong, mkdocs aborted, or
        (strict) a link is broken.
    """
    started = time.perf_counter()
    catalog = as_catalog(catalog)
    root, out, settings = catalog.root, out.resolve(), catalog.settings
    _check_out(root, out)
    problems = _settings_problems(catalog)
    with ProductBuild(root, settings, use_cache=cache, workers=workers) as products:
        problems += products.read()
        if problems:
            raise SiteBuildError("\n".join([*problems, "  hint: run `pz validate` for details"]))
        lites = [ProductRecord(pid, state.lite, None, [], [], []) for pid, state in sorted(products.states.items())]
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            previous = out if (out / "index.html").is_file() else None
            products.start_writing(staging, previous)  # workers render while mkdocs runs, when they can
            handwritten, warnings, shell_html = _site_pages(root, previous, staging, settings, lites, strict,
                                                            products)
            shell = load_shell(shell_html)
            products.write(staging, previous, shell, hashlib.sha256(shell_html.encode()).hexdigest())
            entries = [products.states[r.id].entry for r in lites]
            written = write_api_listings(staging, settings, lites, entries, generated_at=generated_at)
            with products.adopt(staging):  # undone if the link check or the swap fails
                if strict and (broken := check_links(staging)):
                    raise SiteBuildError("\n".join([*(str(b) for b in broken[:50]),
                                                    f"{len(broken)} broken links; fix them or build without --strict"]))
                _swap(staging, out)
        except BaseException:
            products.close()  # no worker may still be writing into the staging folder
            shutil.rmtree(staging, ignore_errors=True)
            raise
        products.save()
    return BuildResult(out, 1 + handwritten + len(lites), len(lites), warnings, products.rendered,
                       len(written) + len(lites), time.perf_counter() - started)


def _check_out(root: Path, out: Path) -> None:
    # The output folder is replaced: never let that be the catalogue or a stranger's folder.
    if root.is_relative_to(out) or out.is_relative_to(root / DOCS_DIR) or out.is_relative_to(root / "products"):
        raise SiteBuildError(f"{out}: error: output folder would erase the catalogue; choose another")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.html").is_file():
        raise SiteBuildError(f"{out}: error: the output folder is not empty and holds no built "
                             "site; choose another one or empty it")


def _settings_problems(catalog: Catalog) -> list[str]:
    problems: list[str] = []
    if (unreadable := catalog.settings_unreadable) is not None:
        problems.append(f"{CATALOG_FILE}:{unreadable.line or 1}: error: {unreadable.message}")
    root = catalog.root
    if not (root / MKDOCS_FILE).is_file():
        problems.append(f"{MKDOCS_FILE}:1: error: missing site configuration; restore {MKDOCS_FILE}")
    if (root / DOCS_DIR / "index.md").exists():
        problems.append(f"{DOCS_DIR}/index.md:1: error: the landing page is generated; remove this file")
    return problems


def _site_pages(root: Path, previous: Path | None, site_dir: Path, catalog: CatalogSettings,
                lites: list[ProductRecord], strict: bool, products: ProductBuild) -> tuple[int, tuple[str, ...], str]:
    """mkdocs' part of the site: built by :func:`_build_pages`, or taken over from ``previous``
    when it was built from the same inputs (:mod:`site_builder.site.pagecache`)."""
    generated = {"index.md": _render_index(catalog, lites), SHELL_PAGE: render_shell_markdown(),
                 **{path: _render_catalog_page(heading, preset) for path, _, heading, preset in CATALOG_PAGES},
                 **render_site_pages(catalog, lites)}
    key = pages_key(root, root / MKDOCS_FILE, generated, [ASSETS_DIR / name for name in ASSETS], strict)
    found = products.find_pages(previous, key) if previous is not None and key is not None else None
    if found is not None and link_pages(previous, site_dir, found.files):
        return found.handwritten, found.warnings, found.shell
    if found is not None:  # a file could not be linked: build them all again
        for rel in found.files:
            (site_dir / rel).unlink(missing_ok=True)
    # mkdocs empties the folder it builds into, and product files may already be in site_dir
    built = Path(tempfile.mkdtemp(prefix=f"{site_dir.name}.mkdocs-", dir=site_dir.parent))
    try:
        handwritten, warnings, shell_html = _build_pages(root, built, generated, strict)
        files = list_pages(built) if key is not None else None
        _move_into(built, site_dir)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    if files is not None:
        products.remember_pages(SitePages(key, files, handwritten, warnings, shell_html))
    return handwritten, warnings, shell_html


def _move_into(source: Path, target: Path) -> None:
    """Move the files of ``source`` into ``target``, keeping the files ``target`` already has
    (the build's own, which it would have written after mkdocs')."""
    for entry in source.iterdir():
        there = target / entry.name
        if entry.is_dir() and there.is_dir():
            _move_into(entry, there)
        elif not there.exists():
            entry.rename(there)


def _build_pages(root: Path, site_dir: Path, generated: dict[str, str],
                 strict: bool) -> tuple[int, tuple[str, ...], str]:
    """mkdocs-material: hand-written and the ``generated`` pages, and the product page shell.

    Returns the number of hand-written pages, mkdocs' warnings and the shell page's HTML
    (removed from the site, its search index and its sitemap).
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    with tempfile.TemporaryDirectory(prefix="pz-site-") as tmp:
        docs = Path(tmp) / DOCS_DIR
        if (root / DOCS_DIR).is_dir():
            shutil.copytree(root / DOCS_DIR, docs)
        else:
            docs.mkdir()
        handwritten = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
        for relpath, text in generated.items():
            (docs / relpath).parent.mkdir(parents=True, exist_ok=True)
            (docs / relpath).write_text(text, encoding="utf-8")
        (docs / "assets").mkdir(exist_ok=True)
        for name in ASSETS:
            shutil.copyfile(ASSETS_DIR / name, docs / "assets" / name)
        config_file = Path(tmp) / MKDOCS_FILE
        config_file.write_text(yaml.safe_dump({
            "INHERIT": str(root / MKDOCS_FILE), "docs_dir": str(docs), "site_dir": str(site_dir),
            "not_in_nav": "/products/\n" + NOT_IN_NAV,
            "extra_javascript": ["assets/catalog.js"], "extra_css": ["assets/catalog.css"],
        }), encoding="utf-8")
        warnings = BufferingHandler(capacity=100_000)  # kept for the message or the caller
        warnings.setLevel(logging.WARNING)
        logging.getLogger("mkdocs").addHandler(warnings)
        try:
            config = load_config(str(config_file), strict=strict or None)
            if config.nav is None:
                config.nav = ["index.md", *handwritten]
            config.nav = with_site_pages(_with_catalog_pages(config.nav))
            build(config)
        except (MkDocsException, SystemExit) as exc:
            details = "".join(f"\n  {m}" for m in _messages(warnings))
            raise SiteBuildError(f"{MKDOCS_FILE}: error: mkdocs failed: {exc}{details}") from exc
        finally:
            logging.getLogger("mkdocs").removeHandler(warnings)
    shell = site_dir / SHELL_DIR
    shell_html = (shell / "index.html").read_text(encoding="utf-8")
    shutil.rmtree(shell)
    _drop_from_search_and_sitemap(site_dir, SHELL_DIR + "/")
    return len(handwritten), _messages(warnings), shell_html


def _drop_from_search_and_sitemap(site_dir: Path, location: str) -> None:
    index = site_dir / "search" / "search_index.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data["docs"] = [d for d in data.get("docs", []) if not str(d.get("location", "")).startswith(location)]
        index.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    sitemap = site_dir / "sitemap.xml"
    if sitemap.is_file():
        import gzip
        import re

        text = re.sub(r"\s*<url>\s*<loc>[^<]*" + re.escape(location) + r"</loc>.*?</url>", "",
                      sitemap.read_text(encoding="utf-8"), flags=re.DOTALL)
        sitemap.write_text(text, encoding="utf-8")
        (site_dir / "sitemap.xml.gz").write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def _swap(staging: Path, out: Path) -> None:
    """Put the new site in place of the old one in one step, then remove the old one.

    The old site is removed by a background ``rm -rf`` (10,000 product folders take a second
    or two): it is already out of the way, under a hidden name beside the new one.
    """
    if not out.exists():
        staging.rename(out)
        return
    try:
        exchange(staging, out)
        old = staging  # now the old site
    except SwapError:
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)  # no atomic exchange here: a moment without a site, never a half-built one
        staging.rename(out)
    try:
        subprocess.Popen(["rm", "-rf", "--", str(old)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        shutil.rmtree(old, ignore_errors=True)


def _render_index(catalog: CatalogSettings, products: list[ProductRecord]) -> str:
    """Markdown of the landing page: what this is, the notice, and cards to the parts of the site."""
    official = sum(1 for p in products if p.metadata.get("official") is True)
    validation = sum(1 for p in products if p.metadata.get("product_type") == "validation_results")
    def card(title: str, href: str, text: str) -> list[str]:
        return [f'-   <a href="{href}"><strong>{title}</strong></a>', "", "    ---", "", f"    {text}", ""]
    lines = [
        f"# {_md(catalog.name or 'PZ Server')}", "", _md(catalog.description), "",
        '!!! warning "Not validated unless official"', f"    {NOTICE}", "",
        '<div class="grid cards pz-cards" markdown>', "",
        *card("Official products", "official/",
              f"{official} products of the PZ Coordination Group: reference redshift catalogues, "
              "training and validation sets for Rubin data releases."),
        *card("User-generated products", "catalog/?official=false",
              f"{len(products) - official} products shared by Rubin/LSST scientists. "
              f"[Search all {len(products)} products](catalog/index.md)."),
        *card("PZ Validation Cooperative", "catalog/?type=validation_results",
              f"{validation} validation results comparing photo-z codes on shared training and "
              "validation sets. [How it works](about.md)."),
        *card("How to contribute", "contributing/",
              "Add your product in five minutes: `pz add`, `dvc push`, open a pull request."),
        *card("Python client & API", "tutorial/",
              "Load products into pandas or astropy in a notebook; every page is also "
              "[JSON](api.md)."),
        "</div>", "",
    ]
    return "\n".join(lines) + "\n"


def _render_catalog_page(heading: str, preset: str) -> str:
    """Markdown of a catalogue page: a container that assets/catalog.js fills from the JSON API."""
    api = "../api/v1/"
    return "\n".join([
        "---", "hide:", "  - toc", "---", "",  # the table needs the width of the table of contents
        f"# {heading}", "",
        f'<div class="pz-catalog" data-api="{api}products.json" data-types="{api}product-types.json" '
        f'data-products="../products/" data-preset="{preset}"></div>', "",
        f'<noscript><p>The searchable catalogue needs JavaScript. The list of products is '
        f'available as JSON: <a href="{api}products.json">products.json</a>.</p></noscript>', "",
    ])


def _with_catalog_pages(nav: list[Any]) -> list[Any]:
    """The nav with the catalogue pages after the first entry (the landing page), unless present."""
    listed = str(nav)
    extra = [{title: path} for path, title, _, _ in CATALOG_PAGES if path not in listed]
    return [*nav[:1], *extra, *nav[1:]]


def serve_site(out: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the built site in ``out`` over HTTP until Ctrl-C (a preview, not production)."""
    if not (out / "index.html").is_file():
        raise SiteBuildError(f"{out}: error: no built site here; run `pz build` first")
    with ThreadingHTTPServer((host, port), partial(SimpleHTTPRequestHandler, directory=str(out))) as server:
        print(f"Serving {out} at http://{host}:{server.server_address[1]}/ (press Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def _messages(handler: BufferingHandler) -> tuple[str, ...]:
    """mkdocs' log records as ``warning: ...`` lines."""
    return tuple(f"{r.levelname.lower()}: {r.getMessage()}" for r in handler.buffer)

