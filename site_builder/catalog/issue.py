"""Problems found in the catalogue, and how they are printed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One problem, located as precisely as we can.

    ``path`` is relative to the repository root; ``line`` is 1-based (None when
    the problem is about a whole file); ``field`` is the dotted path of the
    metadata field, e.g. ``columns[3].ucd``.
    """

    path: str
    line: int | None
    severity: str
    message: str
    field: str | None = None
    hint: str | None = None
    product: str | None = None
    rule: str = ""

    def format_text(self) -> str:
        """GNU-style line(s): ``path:line: severity: field 'x': message`` then the hint."""
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.severity}: "
        if self.field:
            text += f"field {self.field!r}: "
        text += self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def format_github(self, tool: str = "pz validate") -> str:
        """A GitHub Actions workflow command that annotates the line (titled ``tool: rule``)."""
        props = f"file={_gh_property(self.path)}"
        if self.line:
            props += f",line={self.line}"
        title = f"{tool}: {self.rule}" if self.rule else tool
        props += f",title={_gh_property(title)}"
        body = (f"field {self.field!r}: " if self.field else "") + self.message
        if self.hint:
            body += f"\nhint: {self.hint}"
        return f"::{self.severity} {props}::{_gh_data(body)}"


def field_name(path: Sequence[str | int]) -> str:
    """``("columns", 3, "ucd")`` -> ``"columns[3].ucd"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    """Order by file then line, keeping the order of discovery otherwise."""
    return sorted(issues, key=lambda i: (i.path, i.line or 0))


def count_summary(issues: Sequence[Issue], checked: int, strict: bool = False) -> str:
    """One line such as ``3 errors, 1 warning in 2 products (12 checked)``."""
    errors = sum(1 for i in issues if i.severity == ERROR)
    warnings = len(issues) - errors
    products = len({i.product for i in issues if i.product})
    settings = any(i.product is None for i in issues)
    if not issues:
        return f"ok: {checked} product{'s' * (checked != 1)} checked, no problems"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        label = "warning" + "s" * (warnings != 1)
        parts.append(f"{warnings} {label}" + (" (errors under --strict)" if strict else ""))
    places = [f"{products} product{'s' * (products != 1)}"] if products else []
    if settings:
        places.insert(0, "catalog.yaml")
    where = " and ".join(places)
    return f"{', '.join(parts)} in {where} ({checked} checked)"


def render_json(issues: Sequence[Issue], checked: int, ok: bool) -> str:
    """``{"ok": ..., "checked": n, "issues": [...]}``."""
    return json.dumps({"ok": ok, "checked": checked, "issues": [asdict(i) for i in issues]}, indent=2)


class Reporter:
    """Collects the Issues of one product file, locating each field by its YAML line.

    ``source`` is a :class:`site_builder.catalog.source.ProductSource` (its ``doc``,
    ``relpath`` and ``folder`` are used).
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.issues: list[Issue] = []

    def add(self, path: tuple, message: str, hint: str | None = None, *, rule: str, severity: str = ERROR) -> None:
        """A problem of the field at ``path`` of product.yaml."""
        doc = self.source.doc
        line = doc.line_of(path) if doc else None
        self.issues.append(
            Issue(self.source.relpath, line, severity, message, field_name(path) or None, hint, self.source.folder, rule)
        )

    def add_file(self, file: str, line: int | None, message: str, hint: str | None, *, rule: str) -> None:
        """A problem located in another file than product.yaml (e.g. a .dvc pointer)."""
        self.issues.append(Issue(file, line, ERROR, message, None, hint, self.source.folder, rule))
