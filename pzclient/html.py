"""Rich HTML reprs for notebooks. Every value from the catalogue is escaped: metadata is
written by contributors and may hold markup that must show as text, never run."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["html_table", "html_value"]


def html_value(value: Any) -> str:
    """One value as escaped HTML text (lists joined with commas, None as an em dash)."""
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))


def html_table(rows: list[tuple[str, Any]], title: str | None = None) -> str:
    """A two-column key/value table with an optional escaped caption."""
    caption = f"<caption style='text-align:left'><b>{escape(title)}</b></caption>" if title else ""
    body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th>"
                   f"<td style='text-align:left'>{html_value(v)}</td></tr>" for k, v in rows)
    return f"<table>{caption}{body}</table>"
