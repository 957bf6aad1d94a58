"""Render the catalogue as a static mkdocs-material site (``pz build``, ``pz serve``).

Two phases, as in mkdocs: read and check every metadata file (nothing is written
if one is broken), then generate a temporary mkdocs project (hand-written pages,
landing page, one page per product, a config inheriting ``mkdocs.yml``) and build
it. Metadata is untrusted: values are escaped before they reach Markdown, and
descriptions are rendered and sanitised (nh3) here, then passed on as raw HTML.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from logging.handlers import BufferingHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import markdown
import yaml

from .catalog import CATALOG_FILE, iter_product_folders, read_document, read_product
from .errors import PzError
from .model import PRODUCT_TYPES

MKDOCS_FILE = "mkdocs.yml"
DOCS_DIR = "docs"
NOTICE = ("Products are visible to all RSP users and are not scientifically validated "
          "by the PZ Coordination Group unless marked official.")

# Markdown-significant characters in metadata values become numeric entities,
# so a title can neither open a link, emphasis, attribute list nor table cell.
_MD_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[](){}|#!~^=+?"})
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2", "h3",
         "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table",
         "tbody", "td", "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}


class SiteBuildError(PzError):
    """The site cannot be built from the catalogue as it is."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_site` produced."""

    out: Path
    pages: int
    products: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Product:
    """A product's id (its folder), metadata and Markdown description."""

    id: str
    data: dict[str, Any]
    description: str


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
    catalog, products = _gather(root, out)
    pages = {"index.md": _render_index(catalog, products)}
    for product in products:
        pages[f"products/{product.id}/index.md"] = _render_product(catalog, product)

    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    with tempfile.TemporaryDirectory(prefix="pz-site-") as tmp:
        docs = Path(tmp) / DOCS_DIR
        if (root / DOCS_DIR).is_dir():
            shutil.copytree(root / DOCS_DIR, docs)
        handwritten = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
        for relpath, text in pages.items():
            (docs / relpath).parent.mkdir(parents=True, exist_ok=True)
            (docs / relpath).write_text(text, encoding="utf-8")
        config_file = Path(tmp) / MKDOCS_FILE
        # Product pages stay out of the global nav: material embeds the whole
        # nav in every page, which makes builds quadratic in the product count.
        config_file.write_text(yaml.safe_dump({
            "INHERIT": str(root / MKDOCS_FILE), "docs_dir": str(docs), "site_dir": str(out),
            "not_in_nav": "/products/\n",
        }), encoding="utf-8")
        warnings = BufferingHandler(capacity=100_000)  # kept for the message or the caller
        warnings.setLevel(logging.WARNING)
        logging.getLogger("mkdocs").addHandler(warnings)
        try:
            config = load_config(str(config_file), strict=strict or None)
            if config.nav is None:
                config.nav = ["index.md", *handwritten]
            build(config)
        except (MkDocsException, SystemExit) as exc:
            details = "".join(f"\n  {m}" for m in _messages(warnings))
            raise SiteBuildError(f"{MKDOCS_FILE}: error: mkdocs failed: {exc}{details}") from exc
        finally:
            logging.getLogger("mkdocs").removeHandler(warnings)
    return BuildResult(out, len(pages) + len(handwritten), len(products), _messages(warnings))


def _gather(root: Path, out: Path) -> tuple[dict[str, Any], list[_Product]]:
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

    products = []
    for folder in iter_product_folders(root):
        source = read_product(root, folder)
        if source.error or source.doc is None or not isinstance(source.doc.data, dict):
            problems.append(f"{source.relpath}:{source.error_line or 1}: error: "
                            f"{source.error or 'not a mapping of fields'}")
            continue
        text = source.data.get("description") or ""
        if source.data.get("description_file"):
            path = (source.dir / str(source.data["description_file"])).resolve()
            try:
                if not path.is_relative_to(source.dir.resolve()):
                    raise OSError("outside the product folder")
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{source.relpath}:1: error: field 'description_file': "
                                f"{str(path.name)!r} cannot be read ({exc})")
        products.append(_Product(folder, source.data, str(text)))
    if problems:
        raise SiteBuildError("\n".join([*problems, "  hint: run `pz validate` for details"]))
    return catalog, products


def _render_index(catalog: dict[str, Any], products: list[_Product]) -> str:
    """Markdown of the landing page: catalogue, notice and a table of all products."""
    official = sum(1 for p in products if p.data.get("official") is True)
    lines = [
        f"# {_md(catalog.get('name') or 'PZ Server')}", "", _md(catalog.get("description")), "",
        '!!! warning "Not validated unless official"', f"    {NOTICE}", "", "## Products", "",
        f"{len(products)} products, {official} of them official.", "",
        "| Product | Title | Type | Official | Status | Release |", "|---|---|---|---|---|---|",
    ]
    for p in sorted(products, key=lambda p: (p.data.get("official") is not True, p.id)):
        lines.append(_row(
            f"[{_md(p.id)}](products/{quote(p.id)}/index.md)", _md(p.data.get("title")),
            _md(_type_name(p.data)), _md(p.data.get("official") is True),
            _md(p.data.get("status")), _md(_release_name(catalog, p.data)),
        ))
    return "\n".join(lines) + "\n"


def _render_product(catalog: dict[str, Any], product: _Product) -> str:
    """Markdown of one product page (metadata escaped, description sanitised)."""
    d = product.data
    title = str(d.get("title") or product.id)
    status = str(d.get("status") or "active")
    owner = d.get("owner") if isinstance(d.get("owner"), dict) else {}
    login = str(owner.get("github") or "")
    owner_md = _md(owner.get("name") or login)
    if login:
        owner_md += f" ([@{_md(login)}](https://github.com/{quote(login, safe='')}))"
    facts = {
        "Type": _type_name(d), "Official": d.get("official") is True,
        "Release": _release_name(catalog, d),
        "Status": status + (f": {d['status_reason']}" if d.get("status_reason") else ""),
        "Created": d.get("created"), "License": d.get("license"), "Citation": d.get("citation"),
        "DOI": d.get("doi"), "Survey": d.get("survey"), "Tags": d.get("tags"), "Photo-z code": d.get("pz_code"),
    }
    rows = [_row(k, _md(v)) for k, v in facts.items()]
    rows.insert(4, _row("Owner", owner_md))
    lines = [
        "---", f"title: {json.dumps(html.escape(title))}", "---", "",
        f"# {_md(title)}", "", _md(d.get("summary") or ""), "",
    ]
    if status != "active":
        lines += [f'!!! danger "{_md(status.capitalize())}"',
                  f"    {_md(d.get('status_reason') or 'No reason given.')}", ""]
    lines += ["## Key facts", "", "| Property | Value |", "|---|---|", *rows, ""]
    if product.description.strip():
        lines += ["## Description", "", '<div class="pz-description" markdown="0">',
                  render_description(product.description), "</div>", ""]
    files = [f for f in _items(d.get("files")) if isinstance(f, dict)]
    lines += ["## Files", "", "| Path | Role | Format |", "|---|---|---|"]
    lines += [_row(_md(f.get("path")), _md(f.get("role")), _md(f.get("format"))) for f in files]
    columns = [c for c in _items(d.get("columns")) if isinstance(c, dict)]
    if columns:
        lines += ["", "## Columns", "", "| Name | Role | UCD | Unit | Type | Description |", "|---" * 6 + "|"]
        lines += [_row(*(_md(c.get(k)) for k in ("name", "role", "ucd", "unit", "dtype", "description")))
                  for c in columns]
    main = next((f for f in files if f.get("role") == "main"), files[0] if files else None)
    if main and main.get("path"):
        path = f"products/{product.id}/{main['path']}"
        repo = str(catalog.get("repository_url") or "<repository URL>")
        commands = (f"dvc get {shlex.quote(repo)} {shlex.quote(path)}\n"
                    f"# or, in a clone of the repository:\n"
                    f"dvc pull {shlex.quote(path + '.dvc')}")
        # Raw HTML rather than a fence: a file name cannot close the block.
        lines += ["", "## Get the data", "", f"<pre><code>{html.escape(commands)}</code></pre>"]
    lines += ["", "[All products](../../index.md)"]
    return "\n".join(lines) + "\n"


def render_description(text: str) -> str:
    """Render a Markdown description to HTML that is safe to embed (nh3-sanitised)."""
    import nh3  # the "site" extra, like mkdocs

    rendered = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"],
                                 extension_configs={"tables": {"use_align_attribute": True}})
    return nh3.clean(rendered, tags=_TAGS, attributes=_ATTRIBUTES, clean_content_tags={"script", "style"},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


def serve_site(out: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the built site in ``out`` over HTTP until Ctrl-C (a preview, not production)."""
    if not (out / "index.html").is_file():
        raise SiteBuildError(f"{out}: error: no built site here; run `pz build` first")
    with ThreadingHTTPServer((host, port), partial(SimpleHTTPRequestHandler, directory=str(out))) as server:
        print(f"Serving {out} at http://{host}:{server.server_address[1]}/ (press Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def _md(value: Any) -> str:
    """A metadata value as inert Markdown text (one line, no markup of its own)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return " ".join(str(value).split()).translate(_MD_ESCAPES)


def _messages(handler: BufferingHandler) -> tuple[str, ...]:
    """mkdocs' log records as ``warning: ...`` lines."""
    return tuple(f"{r.levelname.lower()}: {r.getMessage()}" for r in handler.buffer)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _type_name(data: dict[str, Any]) -> str:
    ptype = PRODUCT_TYPES.get(str(data.get("product_type")))
    return ptype.display_name if ptype else str(data.get("product_type") or "")


def _release_name(catalog: dict[str, Any], data: dict[str, Any]) -> str:
    for release in _items(catalog.get("releases")):
        if isinstance(release, dict) and release.get("name") == data.get("release"):
            return str(release.get("display_name") or release["name"])
    return str(data.get("release") or "")
