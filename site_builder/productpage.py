"""The page of one product (``products/<id>/index.md``) of the static site.

Metadata and summaries are untrusted. Every value reaches the Markdown through :func:`md`
(Markdown-significant characters become numeric entities, so it can open neither a link nor
emphasis, a tag nor a table cell); descriptions are rendered and sanitised with nh3; commands
go into fenced blocks longer than any run of backticks they hold; plots come from
:mod:`site_builder.plot`, which escapes what it draws. Links between pages are raw HTML
relative links (``../<id>/``), which mkdocs neither rewrites nor reports when a product is
missing.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from typing import Any
from urllib.parse import quote

import markdown

from .api import ProductRecord
from .model import PRODUCT_TYPES
from .plot import render_magnitudes, render_sky_map, render_z_histogram
from .schema import load_schema

__all__ = ["PREVIEW_ROWS", "md", "render_description", "render_product_page"]

PREVIEW_ROWS = 10
TOKEN_OPTIONS = ('--remote-config auth=custom custom_auth_header=Authorization '
                 'password="Bearer $ACCESS_TOKEN"')
# Markdown-significant characters in metadata values become numeric entities,
# so a title can neither open a link, emphasis, attribute list nor table cell.
_MD_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_[](){}|#!~^=+?"})
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2", "h3",
         "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table",
         "tbody", "td", "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
_WEB_URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
# Only names matching the schemas' patterns (release names in catalog.schema.json, owner.github
# in product.schema.json) get a page and a folder of their own (site_builder.sitepages).
_RELEASE = re.compile(load_schema("catalog")["properties"]["releases"]["items"]["properties"]["name"]["pattern"])
_LOGIN = re.compile(load_schema("product")["properties"]["owner"]["properties"]["github"]["pattern"])


def render_product_page(record: ProductRecord, settings: dict[str, Any], *,
                        description: str | None = None) -> str:
    """Markdown (with raw HTML) of the page of one product.

    Parameters
    ----------
    record
        The product, as read by :func:`site_builder.api.collect_records`.
    settings
        The content of ``catalog.yaml`` (releases, ``repository_url``).
    description
        The Markdown description when it comes from ``description_file``; by default the
        ``description`` field.

    Returns
    -------
    str
        The page, front matter included.
    """
    d = record.metadata
    title = str(d.get("title") or record.id)
    if description is None:
        description = str(d.get("description") or "")
    # The theme puts the front-matter title into <title> unescaped: escape it here.
    lines = ["---", f"title: {json.dumps(html.escape(title))}", "---", "", f"# {md(title)}", ""]
    lines += _badges(d)
    lines += [md(d.get("summary") or ""), ""]
    lines += _key_facts(record, settings)
    if description.strip():
        lines += ["## Description", "", '<div class="pz-description" markdown="0">',
                  render_description(description), "</div>", ""]
    lines += _plots(record.main_summary)
    lines += _columns(d, record.main_summary)
    lines += _preview(record.main_summary)
    lines += _files(record)
    lines += _get_the_data(record, settings)
    lines += _provenance(record)
    lines += _history(record, settings)
    lines += _citation(d)
    lines += ["## Machine-readable", "",
              f'<a href="../../api/v1/products/{quote(record.id, safe="")}.json">'
              f"This product as JSON</a> (JSON API, version 1)", "",
              "[All products](../../index.md)"]
    return "\n".join(lines) + "\n"


def render_description(text: str) -> str:
    """Render a Markdown description to HTML that is safe to embed (nh3-sanitised)."""
    import nh3  # the "site" extra, like mkdocs

    rendered = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"],
                                 extension_configs={"tables": {"use_align_attribute": True}})
    return nh3.clean(rendered, tags=_TAGS, attributes=_ATTRIBUTES, clean_content_tags={"script", "style"},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


def md(value: Any) -> str:
    """A metadata value as inert Markdown text (one line, no markup of its own)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, float):
        value = f"{value:.6g}"
    return " ".join(str(value).split()).translate(_MD_ESCAPES)


def type_name(data: dict[str, Any]) -> str:
    """Display name of the product type (the raw value if unknown)."""
    ptype = PRODUCT_TYPES.get(str(data.get("product_type")))
    return ptype.display_name if ptype else str(data.get("product_type") or "")


def release_name(settings: dict[str, Any], data: dict[str, Any]) -> str:
    """Display name of the product's release (the raw value if unknown)."""
    for release in _list(settings.get("releases")):
        if isinstance(release, dict) and release.get("name") == data.get("release"):
            return str(release.get("display_name") or release["name"])
    return str(data.get("release") or "")


def find_release_name(catalog: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The product's release when it has a page (listed in catalog.yaml), else None."""
    release = data.get("release")
    return release if isinstance(release, str) and release in release_names(catalog) else None


def find_owner_login(data: dict[str, Any]) -> str | None:
    """The product owner's GitHub login when it has a page (a valid login), else None."""
    owner = data.get("owner")
    login = owner.get("github") if isinstance(owner, dict) else None
    return login if isinstance(login, str) and _LOGIN.match(login) else None


def release_names(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The releases of ``catalog.yaml`` that have a page, by name (only well-formed names)."""
    return {r["name"]: r for r in _list(catalog.get("releases"))
            if isinstance(r, dict) and isinstance(r.get("name"), str) and _RELEASE.match(r["name"])}


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


def _badges(d: dict[str, Any]) -> list[str]:
    lines = []
    if d.get("official") is True:
        lines += ['!!! success "Official"',
                  "    Validated and maintained by the PZ Coordination Group.", ""]
    status = str(d.get("status") or "active")
    if status != "active":
        lines += [f'!!! danger "{md(status.capitalize())}"',
                  f"    {md(d.get('status_reason') or 'No reason given.')}", ""]
    return lines


def _key_facts(record: ProductRecord, settings: dict[str, Any]) -> list[str]:
    d, main, stats = record.metadata, record.main_file, record.main_summary
    owner = _dict(d.get("owner"))
    login = str(owner.get("github") or "")
    owner_md = md(owner.get("name") or login)
    if find_owner_login(d):  # a valid login has a page of its own
        owner_md = f'<a href="../../owners/{quote(login, safe="")}/">{owner_md}</a>'
    if login:
        owner_md += f' (<a href="https://github.com/{quote(login, safe="")}">@{md(login)}</a>)'
    updated = d.get("updated") or (record.history[0]["date"][:10] if record.history else None)
    formats = sorted({str(f["format"]) for f in record.files if f.get("format")})
    status = str(d.get("status") or "active")
    facts = [
        ("Type", _local_link("types", d.get("product_type") if d.get("product_type") in PRODUCT_TYPES else None,
                             md(type_name(d)))), ("Official", md(d.get("official") is True)),
        ("Status", md(status + (f": {d['status_reason']}" if d.get("status_reason") else ""))),
        ("Release", _local_link("releases", find_release_name(settings, d), md(release_name(settings, d)))), ("Owner", owner_md),
        ("Created", md(d.get("created"))), ("Updated", md(updated)),
        ("Rows", md(f"{stats['num_rows']:,}" if stats and isinstance(stats.get("num_rows"), int) else None)),
        ("Size", md(human_size(main["size"]) if main else None)),
        ("Formats", md(formats)), ("License", md(d.get("license"))), ("Survey", md(d.get("survey"))),
        ("Tags", md(d.get("tags"))), ("Photo-z code", md(d.get("pz_code"))),
    ]
    return ["## Key facts", "", "| Property | Value |", "|---|---|", *(_row(k, v) for k, v in facts), ""]


def _plots(stats: dict[str, Any] | None) -> list[str]:
    if not stats:
        return []
    plots = [render_z_histogram(stats.get("z_histogram")), render_sky_map(stats.get("sky")),
             render_magnitudes(stats.get("magnitudes"))]
    blocks = [f'<div class="pz-plot">{svg}</div>' for svg in plots if svg]
    if not blocks:
        return []
    return ["## Data at a glance", "", *(line for block in blocks for line in (block, "")), ""]


def _columns(d: dict[str, Any], stats: dict[str, Any] | None) -> list[str]:
    measured = {str(c.get("name")): c for c in _list((stats or {}).get("columns")) if isinstance(c, dict)}
    columns = [c for c in _list(d.get("columns")) if isinstance(c, dict)] or list(measured.values())
    if not columns:
        return []
    lines = ["## Columns", "", "| Name | Role | UCD | Unit | Type | Description | Min | Max | Nulls |",
             "|---" * 9 + "|"]
    for column in columns:
        found = measured.get(str(column.get("name")), {})
        lines.append(_row(*(md(column.get(k)) for k in ("name", "role", "ucd", "unit")),
                          md(column.get("dtype") or found.get("dtype")), md(column.get("description")),
                          md(found.get("min")), md(found.get("max")), md(found.get("nulls"))))
    return [*lines, ""]


def _preview(stats: dict[str, Any] | None) -> list[str]:
    preview = _dict((stats or {}).get("preview"))
    names, rows = _list(preview.get("columns")), _list(preview.get("rows"))[:PREVIEW_ROWS]
    if not names or not rows:
        return []
    lines = ["## Preview", "", f"The first {len(rows)} rows of the main file.", "",
             _row(*(md(n) for n in names)), "|---" * len(names) + "|"]
    lines += [_row(*(md(v) for v in _list(row))) for row in rows]
    return [*lines, ""]


def _files(record: ProductRecord) -> list[str]:
    lines = ["## Files", "", "| Path | Role | Format | Size | MD5 |", "|---|---|---|---|---|"]
    lines += [_row(md(f["path"]), md(f.get("role")), md(f.get("format")), md(human_size(f.get("size"))),
                   md(f.get("md5"))) for f in record.files]
    return [*lines, ""]


def _main_path(record: ProductRecord) -> str | None:
    main = record.main_file
    return f"products/{record.id}/{main['path']}" if main else None


def _dvc_get(record: ProductRecord, settings: dict[str, Any]) -> str | None:
    path = _main_path(record)
    repo = str(settings.get("repository_url") or "<repository URL>")
    return f"dvc get {shlex.quote(repo)} {shlex.quote(path)}" if path else None


def _get_the_data(record: ProductRecord, settings: dict[str, Any]) -> list[str]:
    get, path = _dvc_get(record, settings), _main_path(record)
    if get is None or path is None:
        return []
    return ["## Get the data", "", "Download the main file with DVC:", "", *_fence(get),
            "", "On the Rubin Science Platform, with your access token:", "",
            *_fence(f"{get} {TOKEN_OPTIONS}"), "", "Or, in a clone of the repository:", "",
            *_fence(f"dvc pull {shlex.quote(path + '.dvc')}"), ""]


def _provenance(record: ProductRecord) -> list[str]:
    prov = _dict(record.metadata.get("provenance"))
    code = _dict(prov.get("code"))
    inputs = [str(p) for p in _list(prov.get("derived_from"))]
    rows = [("Derived from", ", ".join(_page_link(p) for p in inputs) or "—"),
            ("Used by", ", ".join(_page_link(p) for p in record.outputs) or "—"),
            ("Source", md(prov.get("source"))), ("Code repository", _link(code.get("repository"))),
            ("Code version", md(code.get("version"))), ("Code path", md(code.get("path")))]
    return ["## Provenance", "", "| | |", "|---|---|", *(_row(k, v) for k, v in rows), ""]


def _history(record: ProductRecord, settings: dict[str, Any]) -> list[str]:
    lines = ["## Version history", ""]
    main, get = record.main_file, _dvc_get(record, settings)
    if not record.history:
        return [*lines, "No history: the catalogue was built outside its git repository.", ""]
    lines += ["| Date | Author | Change | MD5 of the main file | Get this version |", "|---|---|---|---|---|"]
    for entry in record.history:
        md5 = _dict(entry.get("md5s")).get(main["path"]) if main else None
        command = f"{get} --rev {shlex.quote(str(entry['commit']))}" if get and md5 else None
        lines.append(_row(md(str(entry.get("date") or "")[:10]), md(entry.get("author")),
                          md(entry.get("message")), md(md5),
                          f"<code>{md(command)}</code>" if command else "—"))
    return [*lines, ""]


def _citation(d: dict[str, Any]) -> list[str]:
    lines = ["## How to cite", "", md(d.get("citation") or "No citation given; cite this page."), ""]
    if d.get("doi"):
        doi = str(d["doi"])
        lines += [f"DOI: {_link('https://doi.org/' + quote(doi, safe='/'), doi)}", ""]
    return lines


def _fence(text: str) -> list[str]:
    """A fenced code block that its text cannot close (mkdocs-material adds a copy button)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence} sh", text, fence]


def _page_link(product_id: str) -> str:
    return f'<a href="../{quote(product_id, safe="")}/">{md(product_id)}</a>'


def _local_link(section: str, name: str | None, text: str) -> str:
    """``text`` linked to the page of a release, type or owner (site_builder.sitepages), if it has one."""
    return f'<a href="../../{section}/{quote(name, safe="")}/">{text}</a>' if name else text


def _link(url: Any, text: Any = None) -> str:
    """A link to a web address, or the value as text when it is not an http(s) URL."""
    if not isinstance(url, str) or not _WEB_URL.match(url):
        return md(url)
    # md() escapes quotes and Markdown characters as entities, which attributes decode.
    return f'<a href="{md(url)}" rel="noopener noreferrer nofollow">{md(text or url)}</a>'


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
