"""Check metadata against the JSON Schemas and explain each failure plainly.

The schemas in ``schemas/`` are the single source of truth for the shape of
``product.yaml`` and ``catalog.yaml``. Valid documents (almost all of them) are
accepted by a compiled validator (jsonschema-rs, a declared dependency), which
is about fifty times faster than walking the errors; only a document that
fails is walked again with the reference implementation (``jsonschema``) to
build messages. Both read the same schema, and the tests check that they
agree on every case of the test corpus.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker

from site_builder.catalog.issue import ERROR, Issue, field_name
from site_builder.catalog.model import (
    COLUMN_ROLES,
    FILE_FORMATS,
    ID_MAX_LENGTH,
    ID_PATTERN,
    PRODUCT_TYPES,
)
from site_builder.catalog.yamlio import YamlDocument

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

# Messages for patterns, by the name of the field they constrain: a regular
# expression means nothing to most contributors.
_PATTERN_MESSAGES = {
    "id": ("is not a valid id", "use lowercase letters, digits and single hyphens, e.g. 'dc2-training-9816'"),
    "github": ("is not a GitHub login", "give the login only, e.g. 'jdoe', not a URL or an e-mail"),
    "license": ("is not an SPDX licence identifier", "see https://spdx.org/licenses/, e.g. 'CC-BY-4.0' or 'MIT'"),
    "doi": ("is not a DOI", "write it without https://doi.org/, e.g. '10.1093/mnras/stw2151'"),
    "orcid": ("is not an ORCID iD", "write the 16 digits with hyphens, e.g. '0000-0002-1825-0097'"),
    "url": ("is not an http(s) URL", None),
    "repository": ("is not an http(s) URL", None),
    "tags": ("is not a valid tag", "use lowercase letters, digits and '+._-', e.g. 'spec-z'"),
    "name": ("is not a valid name", "use lowercase letters, digits and '._-'"),
    "admins": ("is not a GitHub login", None),
}
_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "array": "a list", "object": "a mapping", "null": "null",
}


def _python_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


@cache
def load_schema(name: str, schema_dir: Path = SCHEMA_DIR) -> dict[str, Any]:
    """Read ``schemas/<name>.schema.json``, with the domain facts filled in.

    The product schema leaves the product types, column roles, file formats and the id
    rule to :mod:`site_builder.catalog.model` (their one home); they are added here, so
    the validator, the schema reference page and the published schema all see them.
    """
    schema = json.loads((schema_dir / f"{name}.schema.json").read_text(encoding="utf-8"))
    if name == "product":
        fill_domain_facts(schema)
    return schema


def fill_domain_facts(schema: dict[str, Any]) -> dict[str, Any]:
    """Put the enums and the id pattern of :mod:`site_builder.catalog.model` into the product schema."""
    props, defs = schema["properties"], schema["$defs"]
    props["id"].update(pattern=ID_PATTERN, maxLength=ID_MAX_LENGTH)
    props["product_type"]["enum"] = list(PRODUCT_TYPES)
    defs["file"]["properties"]["format"]["enum"] = list(FILE_FORMATS)
    defs["column"]["properties"]["role"]["enum"] = list(COLUMN_ROLES)
    return schema


class SchemaChecker:
    """Validate documents against one schema and turn errors into Issues."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = Draft202012Validator(schema, format_checker=FormatChecker())
        self._fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)

    @classmethod
    def named(cls, name: str) -> SchemaChecker:
        return _checker(name)

    def is_valid(self, data: Any) -> bool:
        """True when the document matches the schema (fast path)."""
        return self._fast.is_valid(data)

    def check(self, doc: YamlDocument, relpath: str, product: str | None = None) -> list[Issue]:
        """All schema problems of ``doc``, located at their YAML lines."""
        if self.is_valid(doc.data):
            return []
        issues = []
        for error in sorted(self._validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
            issues.extend(self._explain(error, doc, relpath, product))
        return issues

    def _explain(
        self, error: jsonschema.ValidationError, doc: YamlDocument, relpath: str, product: str | None
    ) -> Iterator[Issue]:
        path = tuple(error.absolute_path)
        kind = error.validator
        value = error.instance
        hint = None

        def issue(message: str, at: tuple = path, hint: str | None = None, rule: str = f"schema.{kind}") -> Issue:
            return Issue(relpath, doc.line_of(at), ERROR, message, field_name(at) or None, hint, product, rule)

        if kind == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(set(value) - set(allowed), key=str):
                yield issue(f"unknown key {key!r}", (*path, key), _did_you_mean(key, allowed, allowed))
            return
        if kind == "required":
            for key in error.validator_value:
                if key not in value:
                    desc = error.schema.get("properties", {}).get(key, {}).get("description")
                    yield issue(
                        f"missing required field {field_name((*path, key))!r}",
                        path,
                        f"add '{key}:' ({_lower_first(desc).rstrip('.')})" if desc else None,
                    )
            return
        if kind == "enum":
            options = [str(o) for o in error.validator_value]
            message = f"{value!r} is not one of {', '.join(map(repr, options))}"
            hint = _did_you_mean(str(value), options)
        elif kind == "type":
            expected = error.validator_value
            expected = [expected] if isinstance(expected, str) else expected
            names = " or ".join(_TYPE_NAMES.get(t, t) for t in expected if t != "null")
            message = f"expected {names}, got {_python_type(value)} {value!r}"
            if "string" in expected and isinstance(value, int | float | bool):
                hint = f"put the value in quotes: \"{value}\""
        elif kind == "pattern":
            key = next((p for p in reversed(path) if isinstance(p, str)), "")
            text, hint = _PATTERN_MESSAGES.get(key, (f"does not match the pattern {error.validator_value!r}", None))
            message = f"{value!r} {text}"
        elif kind == "format":
            fmt = error.validator_value
            message = f"{value!r} is not a valid {fmt}" + (" (YYYY-MM-DD)" if fmt == "date" else "")
        elif kind == "minItems":
            message = f"needs at least {error.validator_value} item{'s' * (error.validator_value != 1)}"
        elif kind == "uniqueItems":
            seen: set[str] = set()
            dups = [v for v in map(json.dumps, value) if v in seen or seen.add(v)]
            message = f"has duplicate items: {', '.join(dups)}"
        elif kind == "minLength":
            message = "must not be empty" if error.validator_value == 1 else f"is shorter than {error.validator_value} characters"
        elif kind == "maxLength":
            message = f"is longer than {error.validator_value} characters ({len(value)})"
        else:
            message = error.message
        yield issue(message, path, hint)


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless it starts an acronym ('SPDX')."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


@cache
def _checker(name: str) -> SchemaChecker:
    return SchemaChecker(load_schema(name))


def _did_you_mean(word: str, choices: list[str], listing: list[str] | None = None) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if listing:
        return f"allowed keys: {', '.join(listing)}"
    return None


def did_you_mean(word: str, choices: list[str]) -> str | None:
    """``"did you mean 'x'?"`` for the closest choice, or None."""
    return _did_you_mean(word, choices)
