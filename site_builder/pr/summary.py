"""The change summary of `pz check-pr` as plain text and as GitHub job-summary Markdown.

Every value shown comes from a pull request, so the Markdown escapes HTML and
neutralises Markdown syntax in each of them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from site_builder.catalog.issue import ERROR
from site_builder.pr.check import ChangeSummary, ProductChange, PrReport


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _describe(change: ProductChange) -> list[tuple[str, str, str]]:
    """``(what, product, details)`` rows of one product's change (plain text)."""
    rows = []
    kind = "official" if change.official else "user"
    if change.kind == "new":
        rows.append(("new product", change.product,
                     f"{change.title!r} ({change.product_type or 'no type'}, {kind} product)" if change.title
                     else "product.yaml unreadable, see the problems"))
    elif change.kind == "deleted":
        rows.append(("deleted", change.product, "the product folder was removed"))
    else:
        if "status" in change.fields:
            rows.append(("status", change.product, f"now {change.status or 'unset'}"))
        if change.fields:
            rows.append(("metadata", change.product, "fields " + ", ".join(change.fields)))
    if change.kind == "changed" and not change.fields and not change.versions:
        names = ", ".join(PurePosixPath(p).name for p in change.paths)
        rows.append(("files", change.product, f"changed {names}"))
    for v in change.versions:
        name = PurePosixPath(v.path).name
        if change.kind == "new":
            rows.append(("data", change.product, f"{name}: md5 {v.md5[:8]} ({_size(v.size)})"))
        else:
            old = f"md5 {v.old_md5[:8]} -> " if v.old_md5 else "new file, md5 "
            rows.append(("new version", change.product, f"{name}: {old}{v.md5[:8]} ({_size(v.size)})"))
    return rows


def render_summary_text(summary: ChangeSummary) -> str:
    """The change as lines of plain text."""
    count = len(summary.products)
    lines = [f"change against {summary.base_ref} (merge base {summary.base[:12]}): "
             f"{count} product{'s' * (count != 1)} touched"]
    for change in summary.products:
        for what, pid, details in _describe(change):
            lines.append(f"  {what:<12} {pid}: {details}")
    if summary.catalog_changed:
        lines.append("  settings     catalog.yaml changed")
    if summary.other_paths:
        shown = ", ".join(summary.other_paths[:5]) + (" ..." if len(summary.other_paths) > 5 else "")
        lines.append(f"  other files  {len(summary.other_paths)}: {shown}")
    return "\n".join(lines)


#: Characters that mean something to HTML or to GitHub's Markdown (tables, links, emphasis, code).
_SPECIAL = frozenset("&<>\"'\\`*_[]()|#~!:")


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell: one line, each special character as a numeric entity."""
    return "".join(f"&#{ord(c)};" if c in _SPECIAL else c for c in " ".join(str(text).split()))


def render_summary_markdown(report: PrReport, strict: bool = False) -> str:
    """A GitHub job summary: the verdict, the change as a table, and the problems."""
    s = report.summary
    errors = sum(1 for i in report.issues if i.severity == ERROR)
    warnings = len(report.issues) - errors
    verdict = ("passed" if report.ok(strict) else "failed") + (
        f": {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        if report.issues else ": no problems")
    lines = [f"## pz check-pr {'✅' if report.ok(strict) else '❌'} {_md(verdict)}", "",
             f"Change against {_md(s.base_ref)} (merge base {_md(s.base[:12])})"
             + (f" by {_md(s.author)}" if s.author else "") + f"; {report.checked} product(s) validated.", ""]
    rows = [row for change in s.products for row in _describe(change)]
    if s.catalog_changed:
        rows.append(("settings", "catalog.yaml", "changed"))
    if rows:
        lines += ["| change | product | details |", "|---|---|---|"]
        lines += [f"| {_md(what)} | {_md(pid)} | {_md(details)} |" for what, pid, details in rows]
        lines.append("")
    if s.other_paths:
        lines += [f"Other files changed: {len(s.other_paths)}.", ""]
    if report.issues:
        lines += ["### Problems", ""]
        for issue in report.issues:
            where = f"{issue.path}:{issue.line}" if issue.line else issue.path
            field = f"field {issue.field!r}: " if issue.field else ""
            text = f"- {_md(where)} **{issue.severity}**: {_md(field + issue.message)}"
            if issue.hint:
                text += f"<br>hint: {_md(issue.hint)}"
            lines.append(text)
        lines.append("")
    return "\n".join(lines)
