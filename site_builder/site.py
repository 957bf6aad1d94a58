"""Render the catalogue as a static mkdocs-material site (``pz build``, ``pz serve``).

Two phases, as in mkdocs: read and check every metadata file, summary and DVC
pointer once (:func:`site_builder.api.collect_records`; nothing is written if one
is broken), then generate a temporary mkdocs project (hand-written pages, landing
page, one page per product from :mod:`site_builder.productpage`, a config
inheriting ``mkdocs.yml``) and build it. Metadata is untrusted: values are escaped
before they reach Markdown, and descriptions are rendered and sanitised (nh3),
then passed on as raw HTML.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from logging.handlers import BufferingHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from .api import ProductRecord, collect_records
from .catalog import CATALOG_FILE, PRODUCTS_DIR, read_document
from .errors import PzError
from .productpage import md as _md
from .productpage import release_name, render_description, render_product_page, type_name
from .sitepages import NOT_IN_NAV, render_site_pages, with_site_pages

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
    pages: int
    products: int
    warnings: tuple[str, ...] = ()
    #: The products as read in phase one, for :func:`site_builder.api.build_api`.
    records: tuple[ProductRecord, ...] = ()


def build_site(root: Path, out: Path, *, strict: bool = False) -> BuildResult:
    """Build the static site of the catalogue at ``root`` into ``out``.

    Parameters
    ----------
    root
        Catalogue repository (holds ``catalog.yaml``, ``mkdocs.yml``, ``products/``).
    out
        Output folder; its previous content is replaced.
    strict
        Fail on mkdocs warnings (broken links, pages missing from the nav).

    Returns
    -------
    BuildResult
        The output folder, the number of pages and products, and mkdocs'
        warnings (non-strict builds succeed with them; the caller shows them).

    Raises
    ------
    SiteBuildError
        A metadata file cannot be parsed, the mkdocs configuration is wrong,
        or mkdocs aborted (strict mode).
    """
    root, out = root.resolve(), out.resolve()
    catalog, records, descriptions = _gather(root, out)
    pages = {"index.md": _render_index(catalog, records)}
    for record in records:
        pages[f"products/{record.id}/index.md"] = render_product_page(
            record, catalog, description=descriptions.get(record.id))

    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    with tempfile.TemporaryDirectory(prefix="pz-site-") as tmp:
        docs = Path(tmp) / DOCS_DIR
        if (root / DOCS_DIR).is_dir():
            shutil.copytree(root / DOCS_DIR, docs)
        handwritten = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
        # Catalogue, schema and browsing pages are not counted in BuildResult.pages (landing, docs, products).
        generated = {**pages, **{path: _render_catalog_page(heading, preset)
                                 for path, _, heading, preset in CATALOG_PAGES},
                     **render_site_pages(catalog, records)}
        for relpath, text in generated.items():
            (docs / relpath).parent.mkdir(parents=True, exist_ok=True)
            (docs / relpath).write_text(text, encoding="utf-8")
        (docs / "assets").mkdir(exist_ok=True)
        for name in ASSETS:
            shutil.copyfile(ASSETS_DIR / name, docs / "assets" / name)
        config_file = Path(tmp) / MKDOCS_FILE
        # Product pages stay out of the global nav: material embeds the whole
        # nav in every page, which makes builds quadratic in the product count.
        config_file.write_text(yaml.safe_dump({
            "INHERIT": str(root / MKDOCS_FILE), "docs_dir": str(docs), "site_dir": str(out),
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
    return BuildResult(out, len(pages) + len(handwritten), len(records), _messages(warnings), tuple(records))


def _gather(root: Path, out: Path) -> tuple[dict[str, Any], list[ProductRecord], dict[str, str]]:
    """Phase one: read and check everything, collecting every problem."""
    # mkdocs empties the output folder: never let that be the catalogue or a stranger's folder.
    if root.is_relative_to(out) or out in (root / DOCS_DIR, root / "products"):
        raise SiteBuildError(f"{out}: error: output folder would erase the catalogue; choose another")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.html").is_file():
        raise SiteBuildError(f"{out}: error: the output folder is not empty and holds no built "
                             "site; choose another one or empty it")
    problems: list[str] = []
    doc, error = read_document(root / CATALOG_FILE)
    if error is not None:
        problems.append(f"{CATALOG_FILE}:{error.line or 1}: error: {error.message}")
    catalog = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    if not (root / MKDOCS_FILE).is_file():
        problems.append(f"{MKDOCS_FILE}:1: error: missing site configuration; restore {MKDOCS_FILE}")
    if (root / DOCS_DIR / "index.md").exists():
        problems.append(f"{DOCS_DIR}/index.md:1: error: the landing page is generated; remove this file")

    records: list[ProductRecord] = []
    try:
        records = collect_records(root)
    except PzError as err:  # every unreadable product.yaml, summary.json or .dvc pointer, one per line
        lines = str(err).splitlines()
        problems += lines[:-1] if len(lines) > 1 and "pz validate" in lines[-1] else lines  # hint added below
    descriptions = {}
    for record in records:
        name = record.metadata.get("description_file")
        if not name:
            continue
        folder = (root / PRODUCTS_DIR / record.id).resolve()
        path = (folder / str(name)).resolve()
        try:
            if not path.is_relative_to(folder):
                raise OSError("outside the product folder")
            descriptions[record.id] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{PRODUCTS_DIR}/{record.id}/product.yaml:1: error: field 'description_file': "
                            f"{str(path.name)!r} cannot be read ({exc})")
    if problems:
        raise SiteBuildError("\n".join([*problems, "  hint: run `pz validate` for details"]))
    return catalog, records, descriptions


def _render_index(catalog: dict[str, Any], products: list[ProductRecord]) -> str:
    """Markdown of the landing page: catalogue, notice and a table of all products."""
    official = sum(1 for p in products if p.metadata.get("official") is True)
    lines = [
        f"# {_md(catalog.get('name') or 'PZ Server')}", "", _md(catalog.get("description")), "",
        '!!! warning "Not validated unless official"', f"    {NOTICE}", "", "## Products", "",
        f"{len(products)} products, {official} of them official. "
        "[Search and filter them in the catalogue](catalog/index.md).", "",
        "| Product | Title | Type | Official | Status | Release |", "|---|---|---|---|---|---|",
    ]
    for p in sorted(products, key=lambda p: (p.metadata.get("official") is not True, p.id)):
        lines.append(_row(
            f"[{_md(p.id)}](products/{quote(p.id)}/index.md)", _md(p.metadata.get("title")),
            _md(type_name(p.metadata)), _md(p.metadata.get("official") is True),
            _md(p.metadata.get("status")), _md(release_name(catalog, p.metadata)),
        ))
    return "\n".join(lines) + "\n"


def _render_catalog_page(heading: str, preset: str) -> str:
    """Markdown of a catalogue page: a container that assets/catalog.js fills from the JSON API."""
    api = "../api/v1/"
    return "\n".join([
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


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"

