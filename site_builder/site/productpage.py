"""The page of one product (``products/<id>/index.html``) of the static site, as HTML.

Product pages do not go through mkdocs (it renders about 75 pages a second, too slow for
10,000 products): :func:`render_product_page` writes the article of the page as HTML, and
:mod:`site_builder.site.shell` puts it into a page that mkdocs-material rendered once, so every
product page has the theme's header, search, palette toggle and table of contents.

Metadata and summaries are untrusted. Every value goes through :func:`text` (``html.escape``,
quotes included), links only ever point to ``http(s)`` addresses or to pages of this site,
descriptions are rendered from Markdown and sanitised with nh3, and plots come from
:mod:`site_builder.site.plot`, which escapes what it draws. :func:`md` remains for the pages that
mkdocs renders from Markdown (landing, releases, types, owners, schema).
"""

from __future__ import annotations

import functools
import html
import re
import shlex
from collections.abc import Container
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import markdown

from site_builder.catalog.model import PRODUCT_TYPES
from site_builder.catalog.schema import load_schema
from site_builder.catalog.settings import CatalogSettings, Release
from site_builder.site.api import ProductRecord, render_get
from site_builder.site.plot import (
    render_lineage,
    render_magnitudes,
    render_sky_map,
    render_z_histogram,
)

__all__ = ["PREVIEW_ROWS", "SECTIONS", "ProductPage", "md", "render_description", "render_product_page", "text"]

PREVIEW_ROWS = 10
TOKEN_OPTIONS = ('--remote-config auth=custom custom_auth_header=Authorization '
                 'password="Bearer $ACCESS_TOKEN"')
#: Every section a product page can have, in order: (anchor, heading). The page shell's table of
#: contents lists them all; each page keeps the entries of the sections it has.
SECTIONS = (
    ("key-facts", "Key facts"), ("description", "Description"), ("data-at-a-glance", "Data at a glance"),
    ("columns", "Columns"), ("preview", "Preview"), ("files", "Files"), ("get-the-data", "Get the data"),
    ("provenance", "Provenance"), ("version-history", "Version history"), ("how-to-cite", "How to cite"),
    ("machine-readable", "Machine-readable"),
)
_HEADINGS = dict(SECTIONS)
# Markdown-significant characters in metadata values become numeric entities,
# so a title can neither open a link, emphasis, attribute list nor table cell.
_MD_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[](){}|#!~^=+?"})
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2", "h3",
         "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table",
         "tbody", "td", "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
_WEB_URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
# Only names matching the schemas' patterns (release names in catalog.schema.json, owner.github
# in product.schema.json) get a page and a folder of their own (site_builder.site.pages).
_RELEASE = re.compile(load_schema("catalog")["properties"]["releases"]["items"]["properties"]["name"]["pattern"])
_LOGIN = re.compile(load_schema("product")["properties"]["owner"]["properties"]["github"]["pattern"])


@dataclass(frozen=True)
class ProductPage:
    """The rendered article of a product page."""

    title: str  #: plain text (the shell escapes it)
    body: str  #: HTML of the article
    sections: tuple[str, ...]  #: anchors of the sections present, in order


def render_product_page(record: ProductRecord, settings: CatalogSettings, *,
                        description: str | None = None, known: Container[str] | None = None) -> ProductPage:
    """The article of the page of one product, as safe HTML.

    Parameters
    ----------
    record
        The product, as read by :func:`site_builder.site.api.collect_records`.
    settings
        The content of ``catalog.yaml`` (releases, ``repository_url``).
    description
        The Markdown description when it comes from ``description_file``; by default the
        ``description`` field.
    known
        The ids of the catalogue's products: inputs named in ``provenance.derived_from`` that
        are not among them are shown without a link. By default every input is linked.

    Returns
    -------
    ProductPage
        Title, article HTML and the anchors of its sections (for the table of contents).
    """
    d = record.metadata
    title = " ".join(str(d.get("title") or record.id).split())
    if description is None:
        description = str(d.get("description") or "")
    parts = {
        "key-facts": _key_facts(record, settings),
        "description": (f'<div class="pz-description">{render_description(description)}</div>'
                        if description.strip() else ""),
        "data-at-a-glance": _plots(record.main_summary),
        "columns": _columns(d, record.main_summary),
        "preview": _preview(record.main_summary),
        "files": _files(record),
        "get-the-data": _get_the_data(record, settings),
        "provenance": _provenance(record, known),
        "version-history": _history(record, settings),
        "how-to-cite": _citation(d),
        "machine-readable": (f'<p><a href="../../api/v1/products/{quote(record.id, safe="")}.json">'
                             "This product as JSON</a> (JSON API, version 1)</p>"
                             '<p><a href="../../catalog/">All products</a></p>'),
    }
    body = [_heading("h1", _slug(title), text(title)), *_badges(d, known), f"<p>{text(d.get('summary') or '')}</p>"]
    present = []
    for anchor, content in parts.items():
        if content:
            present.append(anchor)
            body += [_heading("h2", anchor, html.escape(_HEADINGS[anchor])), content]
    return ProductPage(title, "\n".join(body) + "\n", tuple(present))


def render_description(text: str) -> str:
    """Render a Markdown description to HTML that is safe to embed (nh3-sanitised)."""
    import nh3  # the "site" extra, like mkdocs

    rendered = _markdown().reset().convert(text)
    return nh3.clean(rendered, tags=_TAGS, attributes=_ATTRIBUTES, clean_content_tags={"script", "style"},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


@functools.cache
def _markdown() -> markdown.Markdown:
    """One converter per process (building one costs more than converting a description)."""
    return markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists"],
                             extension_configs={"tables": {"use_align_attribute": True}})


def md(value: Any) -> str:
    """A metadata value as inert Markdown text (one line, no markup of its own)."""
    return _plain(value).translate(_MD_ESCAPES)


def _plain(value: Any) -> str:
    """A metadata value as one line of text: ``—`` when empty, ``yes``/``no``, lists joined."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, float):
        value = f"{value:.6g}"
    return " ".join(str(value).split())


def type_name(data: dict[str, Any]) -> str:
    """Display name of the product type (the raw value if unknown)."""
    ptype = PRODUCT_TYPES.get(str(data.get("product_type")))
    return ptype.display_name if ptype else str(data.get("product_type") or "")


def release_name(settings: CatalogSettings, data: dict[str, Any]) -> str:
    """Display name of the product's release (the raw value if unknown)."""
    release = settings.find_release(data.get("release"))
    return release.label if release else str(data.get("release") or "")


def find_release_name(catalog: CatalogSettings, data: dict[str, Any]) -> str | None:
    """The product's release when it has a page (listed in catalog.yaml), else None."""
    release = data.get("release")
    return release if isinstance(release, str) and release in release_names(catalog) else None


def find_owner_login(data: dict[str, Any]) -> str | None:
    """The product owner's GitHub login when it has a page (a valid login), else None."""
    owner = data.get("owner")
    login = owner.get("github") if isinstance(owner, dict) else None
    return login if isinstance(login, str) and _LOGIN.match(login) else None


def release_names(catalog: CatalogSettings) -> dict[str, Release]:
    """The releases of ``catalog.yaml`` that have a page, by name (only well-formed names)."""
    return {r.name: r for r in catalog.releases if r.name is not None and _RELEASE.match(r.name)}


def human_size(size: Any) -> str:
    """``470227`` → ``459.2 KiB``; ``—`` when unknown."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "—"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def text(value: Any) -> str:
    """A metadata value as escaped HTML text (one line): ``—`` when empty, ``yes``/``no``..."""
    return html.escape(_plain(value))


def _heading(tag: str, anchor: str, content: str) -> str:
    return (f'<{tag} id="{anchor}">{content}<a class="headerlink" href="#{anchor}" '
            f'title="Permanent link">&para;</a></{tag}>')


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product"


def _badges(d: dict[str, Any], known: Container[str] | None) -> list[str]:
    blocks = []
    if d.get("official") is True:
        blocks.append(_admonition("success", "Official", "Validated and maintained by the PZ Coordination Group."))
    status = str(d.get("status") or "active")
    if status != "active":
        block = _admonition("danger", status.capitalize(), d.get("status_reason") or "No reason given.")
        if d.get("superseded_by"):
            block = block.replace("</div>", f"<p>Superseded by {_product_ref(str(d['superseded_by']), known)}.</p></div>")
        blocks.append(block)
    return blocks


def _admonition(kind: str, title: str, message: Any) -> str:
    return (f'<div class="admonition {kind}"><p class="admonition-title">{text(title)}</p>'
            f"<p>{text(message)}</p></div>")


def _table(header: tuple[str, ...] | None, rows: list[tuple[str, ...]], cls: str = "") -> str:
    """An HTML table of cells that are already HTML."""
    head = "<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}>{head}<tbody>{body}</tbody></table>"


def _key_facts(record: ProductRecord, settings: CatalogSettings) -> str:
    d, main, stats = record.metadata, record.main_file, record.main_summary
    owner = _dict(d.get("owner"))
    login = str(owner.get("github") or "")
    owner_html = text(owner.get("name") or login)
    if find_owner_login(d):  # a valid login has a page of its own
        owner_html = f'<a href="../../owners/{quote(login, safe="")}/">{owner_html}</a>'
    if login:
        owner_html += f' (<a href="https://github.com/{quote(login, safe="")}">@{text(login)}</a>)'
    updated = d.get("updated") or (record.history[0]["date"][:10] if record.history else None)
    formats = sorted({str(f["format"]) for f in record.files if f.get("format")})
    status = str(d.get("status") or "active")
    ptype = d.get("product_type") if d.get("product_type") in PRODUCT_TYPES else None
    facts = [
        ("Type", _local_link("types", ptype, text(type_name(d)))), ("Official", text(d.get("official") is True)),
        ("Status", text(status + (f": {d['status_reason']}" if d.get("status_reason") else ""))),
        ("Release", _local_link("releases", find_release_name(settings, d), text(release_name(settings, d)))),
        ("Owner", owner_html), ("Created", text(d.get("created"))), ("Updated", text(updated)),
        ("Rows", text(f"{stats['num_rows']:,}" if stats and isinstance(stats.get("num_rows"), int) else None)),
        ("Size", text(human_size(main["size"]) if main else None)),
        ("Formats", text(formats)), ("License", text(d.get("license"))), ("Survey", text(d.get("survey"))),
        ("Tags", text(d.get("tags"))), ("Photo-z code", text(d.get("pz_code"))),
    ]
    return _table(("Property", "Value"), facts)


def _plots(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    plots = [render_z_histogram(stats.get("z_histogram")), render_sky_map(stats.get("sky")),
             render_magnitudes(stats.get("magnitudes"))]
    return "\n".join(f'<div class="pz-plot">{svg}</div>' for svg in plots if svg)


def _columns(d: dict[str, Any], stats: dict[str, Any] | None) -> str:
    measured = {str(c.get("name")): c for c in _list((stats or {}).get("columns")) if isinstance(c, dict)}
    columns = [c for c in _list(d.get("columns")) if isinstance(c, dict)] or list(measured.values())
    if not columns:
        return ""
    rows = []
    for column in columns:
        found = measured.get(str(column.get("name")), {})
        rows.append((*(text(column.get(k)) for k in ("name", "role", "ucd", "unit")),
                     text(column.get("dtype") or found.get("dtype")), text(column.get("description")),
                     text(found.get("min")), text(found.get("max")), text(found.get("nulls"))))
    return _table(("Name", "Role", "UCD", "Unit", "Type", "Description", "Min", "Max", "Nulls"), rows)


def _preview(stats: dict[str, Any] | None) -> str:
    preview = _dict((stats or {}).get("preview"))
    names, rows = _list(preview.get("columns")), _list(preview.get("rows"))[:PREVIEW_ROWS]
    if not names or not rows:
        return ""
    return (f"<p>The first {len(rows)} rows of the main file.</p>"
            + _table(tuple(text(n) for n in names), [tuple(text(v) for v in _list(row)) for row in rows]))


def _files(record: ProductRecord) -> str:
    rows = [(text(f["path"]), text(f.get("role")), text(f.get("format")), text(human_size(f.get("size"))),
             f"<code>{text(f.get('md5'))}</code>" if f.get("md5") else "—", text(f.get("description")))
            for f in record.files]
    return _table(("Path", "Role", "Format", "Size", "MD5", "Description"), rows) if rows else ""


def _main_path(record: ProductRecord) -> str | None:
    main = record.main_file
    return f"products/{record.id}/{main['path']}" if main else None


def _dvc_get(record: ProductRecord, settings: CatalogSettings) -> str | None:
    path = _main_path(record)
    repo = str(settings.repository_url or "<repository URL>")
    return f"dvc get {shlex.quote(repo)} {shlex.quote(path)}" if path else None


def _get_the_data(record: ProductRecord, settings: CatalogSettings) -> str:
    get, path = _dvc_get(record, settings), _main_path(record)
    if get is None or path is None:
        return ""
    return "\n".join([
        "<p>Download the main file with DVC:</p>", _code_block(get),
        "<p>On the Rubin Science Platform, with your access token:</p>", _code_block(f"{get} {TOKEN_OPTIONS}"),
        "<p>Or, in a clone of the repository:</p>", _code_block(f"dvc pull {shlex.quote(path + '.dvc')}"),
        "<p>In Python, with the <code>pzclient</code> package (a notebook on the RSP passes your token):</p>",
        _code_block(render_get(settings, record)["python"]),
    ])


def _code_block(code: str) -> str:
    """A code block in the markup of pymdownx.highlight: the theme gives it a copy button."""
    return f'<div class="highlight"><pre><span></span><code>{html.escape(code)}</code></pre></div>'


def _provenance(record: ProductRecord, known: Container[str] | None) -> str:
    prov = _dict(record.metadata.get("provenance"))
    code = _dict(prov.get("code"))
    inputs = [str(p) for p in _list(prov.get("derived_from"))]
    graph = render_lineage(inputs, record.id, record.outputs)
    rows = [("Derived from", ", ".join(_product_ref(p, known) for p in inputs) or "—"),
            ("Used by", ", ".join(_page_link(p) for p in record.outputs) or "—"),
            ("Source", text(prov.get("source"))), ("Notes", text(prov.get("notes"))),
            ("Code repository", _link(code.get("repository"))),
            ("Code version", text(code.get("version"))), ("Code path", text(code.get("path")))]
    return (f'<div class="pz-plot pz-lineage">{graph}</div>' if graph else "") + _table(None, rows)


def _history(record: ProductRecord, settings: CatalogSettings) -> str:
    main, get = record.main_file, _dvc_get(record, settings)
    if not record.history:
        return "<p>No history: the catalogue was built outside its git repository.</p>"
    rows = []
    for entry in record.history:
        md5 = _dict(entry.get("md5s")).get(main["path"]) if main else None
        command = f"{get} --rev {shlex.quote(str(entry['commit']))}" if get and md5 else None
        rows.append((text(str(entry.get("date") or "")[:10]), text(entry.get("author")), text(entry.get("message")),
                     f"<code>{text(md5)}</code>" if md5 else "—", f"<code>{text(command)}</code>" if command else "—"))
    return _table(("Date", "Author", "Change", "MD5 of the main file", "Get this version"), rows)


def _citation(d: dict[str, Any]) -> str:
    lines = [f"<p>{text(d.get('citation') or 'No citation given; cite this page.')}</p>"]
    if d.get("doi"):
        doi = str(d["doi"])
        lines.append(f"<p>DOI: {_link('https://doi.org/' + quote(doi, safe='/'), doi)}</p>")
    references = [r for r in _list(d.get("references")) if isinstance(r, dict)]
    if references:
        items = "".join(f"<li>{_link(r.get('url'), r.get('title'))}"
                        + ("" if _is_web(r.get("url")) or not r.get("title") else f" ({text(r.get('title'))})")
                        + "</li>" for r in references)
        lines.append(f"<p>References:</p><ul>{items}</ul>")
    return "".join(lines)


def _is_web(url: Any) -> bool:
    return isinstance(url, str) and _WEB_URL.match(url) is not None


def _product_ref(product_id: str, known: Container[str] | None) -> str:
    """A link to the page of a product, or its id as text when the catalogue lacks it."""
    if known is None or product_id in known:
        return _page_link(product_id)
    return f"{text(product_id)} (not in the catalogue)"


def _page_link(product_id: str) -> str:
    return f'<a href="../{quote(product_id, safe="")}/">{text(product_id)}</a>'


def _local_link(section: str, name: str | None, content: str) -> str:
    """``content`` linked to the page of a release, type or owner (site_builder.site.pages), if it has one."""
    return f'<a href="../../{section}/{quote(name, safe="")}/">{content}</a>' if name else content


def _link(url: Any, label: Any = None) -> str:
    """A link to a web address, or the value as text when it is not an http(s) URL."""
    if not isinstance(url, str) or not _WEB_URL.match(url):
        return text(url)
    return f'<a href="{html.escape(url)}" rel="noopener noreferrer nofollow">{text(label or url)}</a>'


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
