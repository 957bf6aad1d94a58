"""A product's ``summary.json``: which files it covers, and whether it is still fresh.

Each tabular file's summary (see :mod:`site_builder.tables.summary`) is stored with
the md5 of the data it was computed from and a hash of the column metadata
that shaped it (names, roles, sentinels). A summary whose data or metadata
changed is stale: `pz validate` reports it without needing the data (the
md5 is in the DVC pointer), and `pz summarize` recomputes only those.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from site_builder.catalog.issue import ERROR, Issue
from site_builder.catalog.model import PRODUCT_TYPES, TABLE_FORMATS
from site_builder.catalog.source import ProductSource
from site_builder.errors import DataFileError
from site_builder.tables.summary import SCHEMA_VERSION, SUMMARY_FILE, read_summary, summarize_file


def summarized_files(data: dict) -> list[tuple[int, dict]]:
    """The ``files`` entries that get a summary: declared tables, and the main file of tabular types."""
    ptype = PRODUCT_TYPES.get(data.get("product_type"))  # type: ignore[arg-type]
    files = data.get("files") if isinstance(data.get("files"), list) else []
    out = []
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        is_main = entry.get("role") == "main"
        if entry.get("format") in TABLE_FORMATS or (is_main and ptype is not None and ptype.tabular):
            out.append((index, entry))
    return out


def metadata_key(data: dict, entry: dict) -> str:
    """Hash of what in product.yaml shapes a file's summary (for the main file: its columns)."""
    columns = data.get("columns") if entry.get("role") == "main" else None
    shaped = [
        {k: c.get(k) for k in ("name", "role", "sentinels")} for c in columns or [] if isinstance(c, dict)
    ]
    text = json.dumps([entry.get("table"), shaped], sort_keys=True)
    return hashlib.md5(text.encode()).hexdigest()[:12]


def pointer_md5(folder: Path, name: str) -> str | None:
    """md5 recorded in ``<name>.dvc``, or None (no pointer, or an unreadable one: validate reports that)."""
    from site_builder.dvc.pointer import read_pointer

    pointer = folder / f"{name}.dvc"
    if not pointer.is_file():
        return None
    try:
        return read_pointer(pointer).md5
    except DataFileError:
        return None


def summarize_product(folder: Path, data: dict, md5s: dict[str, str] | None = None, *,
                      progress: Callable[[str, int, int], None] | None = None,
                      force: bool = False, skip: set[str] | None = None) -> tuple[dict | None, list[str]]:
    """Compute (or reuse) the summary of every tabular file of a product.

    Returns the new ``summary.json`` content (None if the product has no
    table) and the names of files that could not be summarised because
    their data is not in the workspace. Files named in ``skip`` are left
    for the caller to fill in.
    """
    from site_builder.dvc.pointer import md5_of
    from site_builder.tables.reader import get_table_info

    wanted = summarized_files(data)
    if not wanted:
        return None, []
    try:
        old = read_summary(folder) or {}
    except DataFileError:
        old = {}
    old_files = old.get("files", {}) if old.get("schema_version") == SCHEMA_VERSION else {}
    files: dict[str, dict] = {}
    missing: list[str] = []
    for _, entry in wanted:
        name = entry["path"]
        if name in (skip or ()):
            continue
        key = metadata_key(data, entry)
        md5 = (md5s or {}).get(name) or pointer_md5(folder, name)
        path = folder / name
        if md5 is None and path.is_file():
            md5 = md5_of(path)
        previous = old_files.get(name)
        if not force and previous and md5 and previous.get("md5") == md5 and previous.get("metadata_key") == key:
            files[name] = previous
            continue
        if not path.is_file():
            missing.append(name)
            if previous:
                files[name] = previous  # keep what we had; validate reports it if stale
            continue
        table = entry.get("table") if isinstance(entry.get("table"), str) else None
        fmt = entry.get("format") if entry.get("format") in TABLE_FORMATS else None
        tick = None
        if progress is not None:
            total = get_table_info(path, format=fmt, table=table).num_rows if fmt not in ("csv", "tsv", "text") else 0
            label = f"summarising {name}"
            tick = (lambda n, label=label, total=total: progress(label, n, total)) if total else None
        columns = data.get("columns") if entry.get("role") == "main" else None
        result = summarize_file(path, format=fmt, table=table, columns=columns, md5=md5, progress=tick)
        result["md5"] = md5
        result["metadata_key"] = key
        files[name] = result
    return {"schema_version": SCHEMA_VERSION, "files": files}, missing


def check_summary(source: ProductSource) -> list[Issue]:
    """Stale or broken ``summary.json`` (no data needed: md5s come from the DVC pointers)."""
    folder = source.dir
    if not (folder / SUMMARY_FILE).is_file():
        return []
    rel = f"{source.relpath.rsplit('/', 1)[0]}/{SUMMARY_FILE}"
    fix = f"run `pz summarize {source.folder}`"
    try:
        summary = read_summary(folder) or {}
    except DataFileError as exc:
        return [Issue(rel, None, ERROR, f"cannot read the summary: {exc}", None, fix, source.folder, "summary")]
    if summary.get("schema_version") != SCHEMA_VERSION:
        return [Issue(rel, None, ERROR, f"summary format {summary.get('schema_version')!r} is not the current "
                      f"{SCHEMA_VERSION}", None, fix, source.folder, "summary")]
    issues = []
    stored = summary.get("files") if isinstance(summary.get("files"), dict) else {}
    for _, entry in summarized_files(source.data):
        name = entry["path"]
        got = stored.get(name)
        if got is None:
            continue
        md5 = pointer_md5(folder, name)
        if md5 is not None and got.get("md5") != md5:
            issues.append(Issue(rel, None, ERROR, f"the summary of {name!r} was computed from md5 {got.get('md5')}, "
                                f"but the data now has md5 {md5}", None, fix, source.folder, "summary.stale"))
        elif got.get("metadata_key") != metadata_key(source.data, entry):
            issues.append(Issue(rel, None, ERROR, f"the summary of {name!r} predates a change of its columns, "
                                "roles or sentinels in product.yaml", None, fix, source.folder, "summary.stale"))
    return issues
