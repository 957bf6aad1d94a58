"""Generated reference and browsing pages of the static site.

* ``schema/index.md``: the product schema reference, generated from
  ``schemas/product.schema.json`` and :mod:`site_builder.catalog.model` so that it cannot drift
  from what ``pz validate`` checks;
* ``releases/``, ``types/`` and ``owners/``: an index page each (in the nav) and one page
  per release, product type and owner (kept out of the nav, like product pages), each
  holding the catalogue container of ``assets/catalog.js`` with a fixed preset.

Metadata is untrusted: every value goes through :func:`site_builder.site.productpage.md`, and
only names restricted by a pattern (release names, GitHub logins, type names) become
folder names and links.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any
from urllib.parse import quote, urlencode

from site_builder.catalog.model import (
    PRODUCT_TYPES,
    ROLE_RANGES,
    ROLE_UCD_PREFIXES,
    ROLE_UCDS,
    TABLE_FORMATS,
    UNIQUE_ROLES,
)
from site_builder.catalog.schema import load_schema
from site_builder.catalog.settings import CatalogSettings
from site_builder.site.api import ProductRecord
from site_builder.site.productpage import find_owner_login, find_release_name, md, release_names

__all__ = ["NAV_PAGES", "NOT_IN_NAV", "render_schema_page", "render_site_pages", "with_site_pages"]

#: Pages added to the global nav: title, path.
NAV_PAGES = (
    ("Product schema", "schema/index.md"),
    ("Releases", "releases/index.md"),
    ("Product types", "types/index.md"),
    ("Owners", "owners/index.md"),
)
#: gitignore-style patterns (mkdocs ``not_in_nav``) of the per-item pages.
NOT_IN_NAV = "/releases/*/\n/types/*/\n/owners/*/\n"


def render_site_pages(catalog: CatalogSettings, records: list[ProductRecord]) -> dict[str, str]:
    """Markdown of every page of this module, by path relative to ``docs/``.

    Parameters
    ----------
    catalog
        The settings of ``catalog.yaml`` (releases).
    records
        The products, as read by :func:`site_builder.site.api.collect_records`.
    """
    pages = {"schema/index.md": render_schema_page(load_schema("product"))}
    pages.update(_release_pages(catalog, records))
    pages.update(_type_pages(records))
    pages.update(_owner_pages(records))
    return pages


def with_site_pages(nav: list[Any]) -> list[Any]:
    """The nav with :data:`NAV_PAGES` appended, unless already listed."""
    listed = str(nav)
    return [*nav, *({title: path} for title, path in NAV_PAGES if path not in listed)]


# -- schema reference -------------------------------------------------------------------------

def render_schema_page(schema: dict[str, Any]) -> str:
    """Markdown of the product schema reference (fields, types, roles, cross-field rules)."""
    lines = [*_front("Product schema"), "# Product schema", "",
             md(schema.get("description")), "",
             "Each product is described by `products/<id>/product.yaml`. `pz validate` checks it "
             "against [the JSON Schema](#json-schema) and the [rules below](#rules-across-fields).", "",
             "## Fields", "", *_field_table(schema, "", schema)]
    for path, sub in _nested_objects(schema, "", schema):
        lines += [f"### {md(path)}", "", md(sub.get("description") or ""), "", *_field_table(sub, path + ".", schema)]
    lines += ["## Product types", "",
              "| Name | Display name | Tabular | Required column roles | Release allowed "
              "| pz_code allowed | validation_set allowed | Description |", "|---" * 8 + "|"]
    for t in PRODUCT_TYPES.values():
        lines.append(_row(_code(t.name), md(t.display_name), md(t.tabular),
                          ", ".join(_code(r) for r in t.required_roles) or "—", md(t.release_allowed),
                          md(t.pz_code_allowed), md(t.validation_set_allowed), md(t.description)))
    lines += ["", "## Column roles", "",
              "| Role | Standard UCD | Accepted UCD prefixes | At most one column | Plausible range |",
              "|---|---|---|---|---|"]
    for role, ucd in ROLE_UCDS.items():
        low, high = ROLE_RANGES.get(role, (None, None))
        span = "—" if role not in ROLE_RANGES else md(f"{_num(low)} to {_num(high)}")
        lines.append(_row(_code(role), _code(ucd) if ucd else "—",
                          ", ".join(_code(p) for p in ROLE_UCD_PREFIXES.get(role, ())) or "—",
                          md(role in UNIQUE_ROLES), span))
    lines += ["", "## Rules across fields", "", "Checked by `pz validate`, beyond the JSON Schema:", "",
              *(f"- {rule}" for rule in _rules()), "",
              "## JSON Schema", "",
              f"The machine-readable schema is `schemas/product.schema.json` ({md(schema.get('$id'))}).", ""]
    return "\n".join(lines)


def _field_table(obj: dict[str, Any], prefix: str, schema: dict[str, Any]) -> list[str]:
    required = set(obj.get("required") or ())
    lines = ["| Field | Type | Required | Description | Allowed values | Notes |", "|---" * 6 + "|"]
    for name, prop in (obj.get("properties") or {}).items():
        prop = _resolve(prop, schema)
        lines.append(_row(_code(prefix + name), md(_type_of(prop, schema)), md(name in required),
                          md(prop.get("description")), ", ".join(_code(v) for v in prop.get("enum", ())) or "—",
                          _notes(prop, schema)))
    return [*lines, ""]


def _nested_objects(obj: dict[str, Any], prefix: str, schema: dict[str, Any]) -> list[tuple[str, dict]]:
    """``(path, schema)`` of every object nested in ``obj``: ``owner``, ``files[]``, ``provenance.code``..."""
    found = []
    for name, prop in (obj.get("properties") or {}).items():
        prop, path = _resolve(prop, schema), prefix + name
        if "items" in prop:
            prop, path = _resolve(prop["items"], schema), path + "[]"
        if "properties" in prop:
            found.append((path, prop))
            found += _nested_objects(prop, path + ".", schema)
    return found


def _resolve(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return schema["$defs"][ref.removeprefix("#/$defs/")]
    return prop


def _type_of(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of the allowed values"
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "array" in types and "items" in prop:
        inner = _type_of(_resolve(prop["items"], schema), schema)
        types[types.index("array")] = f"list of {inner}s" if inner.isalpha() else f"list of ({inner})"
    return " or ".join(types) or "any"


def _notes(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    notes = []
    for target in (prop, _resolve(prop.get("items") or {}, schema)):
        if "pattern" in target:
            notes.append(f"pattern {_code(target['pattern'])}")
        for key, label in (("format", "format"), ("minLength", "min. length"), ("maxLength", "max. length"),
                           ("minItems", "min. items")):
            if key in target:
                notes.append(f"{label} {md(target[key])}")
    if prop.get("uniqueItems"):
        notes.append("no duplicates")
    return "; ".join(notes) or "—"


def _rules() -> list[str]:
    types = PRODUCT_TYPES.values()
    rules = [f"A {_code(t.name)} needs columns with roles {', '.join(_code(r) for r in t.required_roles)}."
             for t in types if t.required_roles]
    tabular = [_code(t.name) for t in types if t.tabular]
    rules.append(f"Tabular types ({', '.join(tabular)}) list their `columns`, and their main file has a "
                 f"table format ({', '.join(_code(f) for f in TABLE_FORMATS)}).")
    rules += [f"`release` is forbidden for {_code(t.name)}." for t in types if not t.release_allowed]
    rules.append("`release` must be a release listed in `catalog.yaml` ([Releases](../releases/index.md)).")
    for field, allowed in (("pz_code", [t.name for t in types if t.pz_code_allowed]),
                           ("validation_set", [t.name for t in types if t.validation_set_allowed])):
        rules.append(f"`{field}` is only allowed for {', '.join(_code(n) for n in allowed)}.")
    rules += ["`validation_set`, `superseded_by` and `provenance.derived_from` name existing products.",
              "A `deprecated` or `retracted` product needs a `status_reason`.",
              "Exactly one file of `files` has role `main`.",
              f"At most one column has each of the roles {', '.join(_code(r) for r in UNIQUE_ROLES)}.",
              "Only admins listed in `catalog.yaml` may set `official: true`."]
    return rules


# -- releases, product types, owners ----------------------------------------------------------

def _release_pages(catalog: CatalogSettings, records: list[ProductRecord]) -> dict[str, str]:
    releases = release_names(catalog)
    counts = Counter(find_release_name(catalog, r.metadata) for r in records)
    pages = {}
    rows = []
    for name, release in releases.items():
        display = release.label
        pages[f"releases/{name}/index.md"] = "\n".join([
            *_front(display), f"# {md(display)}", "", md(release.description or ""), "",
            f"Release name: `{name}`. {_count(counts[name])} in this release.", "",
            *_container(f"release={name}"), "[All releases](../index.md)", ""])
        rows.append(_row(f"[{md(display)}]({quote(name)}/index.md)", _code(name),
                         md(release.description), str(counts[name])))
    return {"releases/index.md": _index_page(
        "Releases", "Data releases that products may refer to with `release:` (listed in `catalog.yaml`). "
        f"{_count(sum(counts[n] for n in releases))} belong to a release.",
        "| Release | Name | Description | Products |", rows), **pages}


def _type_pages(records: list[ProductRecord]) -> dict[str, str]:
    counts = Counter(r.metadata.get("product_type") for r in records)
    pages = {}
    rows = []
    for t in PRODUCT_TYPES.values():
        rules = [f"Tabular: {md(t.tabular)}.",
                 f"Required column roles: {', '.join(_code(r) for r in t.required_roles) or 'none'}.",
                 f"`release` allowed: {md(t.release_allowed)}.", f"`pz_code` allowed: {md(t.pz_code_allowed)}.",
                 f"`validation_set` allowed: {md(t.validation_set_allowed)}."]
        pages[f"types/{t.name}/index.md"] = "\n".join([
            *_front(t.display_name), f"# {md(t.display_name)}", "", md(t.description), "",
            f"Type name: `{t.name}`. {_count(counts[t.name])} of this type.", "", "## Rules", "",
            *(f"- {rule}" for rule in rules), "",
            "See the [product schema](../../schema/index.md) for all fields and rules.", "",
            "## Products", "", *_container(f"type={t.name}"), "[All product types](../index.md)", ""])
        rows.append(_row(f"[{md(t.display_name)}]({t.name}/index.md)", _code(t.name),
                         md(t.description), str(counts[t.name])))
    return {"types/index.md": _index_page(
        "Product types", "Every product has one `product_type`, which decides the rules it follows.",
        "| Type | Name | Description | Products |", rows), **pages}


def _owner_pages(records: list[ProductRecord]) -> dict[str, str]:
    names: dict[str, list[str]] = {}
    counts: Counter[str] = Counter()
    for record in sorted(records, key=lambda r: r.id):
        login = find_owner_login(record.metadata)
        if login is None:
            continue
        counts[login] += 1
        name = record.metadata["owner"].get("name")
        if isinstance(name, str) and name.strip() and name not in names.setdefault(login, []):
            names[login].append(name)
    pages = {}
    rows = []
    for login in sorted(counts, key=str.lower):
        github = f'<a href="https://github.com/{quote(login, safe="")}">github.com/{md(login)}</a>'
        pages[f"owners/{login}/index.md"] = "\n".join([
            *_front(f"@{login}"), f"# @{md(login)}", "",
            f"{md(names.get(login) or None)} ({github})", "", f"{_count(counts[login])} owned.", "",
            *_container(f"owner={login}"), "[All owners](../index.md)", ""])
        rows.append(_row(f"[@{md(login)}]({login}/index.md)", md(names.get(login) or None), str(counts[login])))
    return {"owners/index.md": _index_page(
        "Owners", "People and teams who answer questions about products (`owner.github`).",
        "| Owner | Name | Products |", rows), **pages}


def _index_page(title: str, intro: str, header: str, rows: list[str]) -> str:
    table = [header, "|---" * header.count(" | ") + "|---|", *rows] if rows else ["None yet."]
    return "\n".join([*_front(title), f"# {title}", "", intro, "", *table, ""])


def _container(preset: str) -> list[str]:
    """The catalogue container of assets/catalog.js, for a page two folders deep."""
    api = "../../api/v1/"
    return [f'<div class="pz-catalog" data-api="{api}products.json" data-types="{api}product-types.json" '
            f'data-products="../../products/" data-preset="{html.escape(_preset(preset))}"></div>', "",
            f'<noscript><p>The list of products needs JavaScript; it is available as JSON: '
            f'<a href="{api}products.json">products.json</a>.</p></noscript>', ""]


def _preset(text: str) -> str:
    key, _, value = text.partition("=")
    return urlencode({key: value})


def _front(title: str) -> list[str]:
    # The theme puts the front-matter title into <title> unescaped: escape it here.
    return ["---", f"title: {json.dumps(html.escape(title))}", "---", ""]


def _count(n: int) -> str:
    return f"{n} product{'' if n == 1 else 's'}"


def _num(value: float | None) -> str:
    return "∞" if value is None else f"{value:g}"


def _code(value: Any) -> str:
    return f"<code>{md(value)}</code>"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"
