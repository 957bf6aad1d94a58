"""Write product.yaml files people can read, and edit them without losing comments.

ruamel.yaml's round-trip mode keeps comments, key order and flow style, so
`pz deprecate` or `pz update` change one line of a hand-edited file, not the
whole file.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from site_builder.catalog.model import PRODUCT_TYPES

# A comment beside each field of a new product.yaml: what it is and what to check.
_COMMENTS = {
    "id": "lowercase slug, equal to the folder name; stable forever",
    "title": "shown as the page title",
    "summary": "one line shown in lists and search results",
    "product_type": " | ".join(PRODUCT_TYPES),
    "official": "true only for products of the PZ Coordination Group (admins in catalog.yaml)",
    "release": "one of the releases in catalog.yaml (none for redshift catalogues)",
    "status": "active | deprecated | retracted (`pz deprecate` / `pz retract`)",
    "owner": "GitHub login of who answers questions; add name and email",
    "created": "date the product was added",
    "license": "SPDX identifier: CHECK that it matches the data's licence",
    "pz_code": "photo-z code that produced the estimates, e.g. BPZ_lite",
    "description": "long description in Markdown",
    "files": "exactly one main file; the data are tracked by DVC (<file>.dvc)",
    "columns": "proposed by `pz add`: check roles, UCDs, units and sentinels (values meaning 'no value')",
}
# Suggested fields not filled in by `pz add`, written as comments so people see them.
_TRAILER = """
# Optional fields worth filling in (uncomment):
# citation: "Author et al. 2026, Journal 1, 2"
# doi: 10.xxxx/xxxxx
# tags: [spec-z]
# survey: [DESI]
# provenance:
#   derived_from: []          # ids of products this one was made from
#   code: {repository: https://github.com/..., version: v1.0}
"""


def _yaml() -> YAML:
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    return yaml


def _flow(mapping: dict) -> CommentedMap:
    out = CommentedMap()
    for key, value in mapping.items():
        if isinstance(value, list):
            seq = CommentedSeq(value)
            seq.fa.set_flow_style()
            value = seq
        out[key] = value
    out.fa.set_flow_style()
    return out


def render_new_product(metadata: dict[str, Any]) -> str:
    """product.yaml text for a new product: one field per line with a comment above it,
    files and columns one per line in flow style."""
    doc = CommentedMap()
    for key, value in metadata.items():
        if value is None and key not in ("pz_code",):
            continue
        if key in ("files", "columns"):
            seq = CommentedSeq(_flow(item) for item in value)
            value = seq
        elif key == "owner":
            value = _flow(value)
        elif key == "description" and isinstance(value, str):
            value = LiteralScalarString(value if value.endswith("\n") else value + "\n")
        doc[key] = value
    # End-of-line comments: a comment above a key belongs, in ruamel, to the key
    # before it, and would end up above the wrong field once `pz deprecate`
    # inserts status_reason.
    for key, comment in _COMMENTS.items():
        if key in doc:
            doc.yaml_add_eol_comment(comment, key, column=0)
    doc.yaml_set_start_comment("Metadata of one PZ Server product (see the schema reference on the site).\n"
                               "Written by `pz add`; edit freely, then run `pz validate`.")
    stream = io.StringIO()
    _yaml().dump(doc, stream)
    return stream.getvalue() + _TRAILER


def update_fields(text: str, changes: dict[Any, Any]) -> str:
    """Set fields of a product.yaml text, keeping everything else as written.

    Keys are top-level names or paths such as ``("files", 0, "path")``. A new
    ``status_reason`` goes right after ``status``, a new ``updated`` after
    ``created``.
    """
    yaml = _yaml()
    doc = yaml.load(text)
    for key, value in changes.items():
        if isinstance(key, tuple):
            node = doc
            for part in key[:-1]:
                node = node[part]
            node[key[-1]] = value
        elif key in doc:
            doc[key] = value
        else:
            after = {"status_reason": "status", "updated": "created"}.get(key)
            keys = list(doc.keys())
            position = keys.index(after) + 1 if after in keys else len(keys)
            doc.insert(position, key, value)
    stream = io.StringIO()
    yaml.dump(doc, stream)
    return stream.getvalue()
