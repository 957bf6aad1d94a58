"""`pz update`, `pz deprecate` and `pz retract`: change an existing product atomically."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from site_builder.catalog.catalog import Catalog, as_catalog
from site_builder.catalog.model import TABLE_FORMATS
from site_builder.catalog.source import ProductSource
from site_builder.catalog.yamledit import update_fields
from site_builder.dvc.cache import add_to_cache, copy_with_md5, remove_from_gitignore
from site_builder.dvc.pointer import write_pointer
from site_builder.errors import DataFileError, UsageError
from site_builder.ingest.staging import (
    IngestError,
    ValidationFailed,
    check_source_file,
    check_space,
    checkpoint,
    new_staging,
    safe_file_name,
    summarize_staged,
)
from site_builder.system import exchange
from site_builder.tables.reader import detect_format, get_table_info
from site_builder.validation.validate import validate_product_folder


def _get_product(catalog: Catalog, pid: str) -> ProductSource:
    source = catalog.get_product(pid)
    if source.doc is None:
        raise IngestError(f"{source.relpath} cannot be read ({source.error}); fix it first (`pz validate {pid}`)")
    return source


def update_product(catalog: Catalog | Path, pid: str, file: Path, *, progress: Callable[[str, int, int], None] | None = None
                   ) -> tuple[Path, str, str]:
    """Replace the main file of a product with a new version; returns (folder, old md5, new md5).

    The metadata is kept (``updated`` is set to today); the declared columns
    must all still exist in the new file. Atomic like :func:`execute_add`.
    """
    # Long on purpose: one atomic transaction (stage, copy, summarise, validate, cache, swap) whose
    # try/except must cover every step; the docstring and the rollback are a third of it.
    from site_builder.dvc.pointer import read_pointer

    catalog = as_catalog(catalog)
    root = catalog.root
    source = _get_product(catalog, pid)
    data = source.data
    files = data.get("files") if isinstance(data.get("files"), list) else []
    main = next((f for f in files if isinstance(f, dict) and f.get("role") == "main"), None)
    if main is None or not isinstance(main.get("path"), str):
        raise IngestError(f"{source.relpath} has no main file to replace; fix it first (`pz validate {pid}`)")
    new = check_source_file(root, file, "file")
    old_name = main["path"]
    old_pointer = source.dir / f"{old_name}.dvc"
    old_md5 = read_pointer(old_pointer).md5 if old_pointer.is_file() else "(untracked)"
    fmt = detect_format(new)
    declared_fmt = main.get("format")
    if declared_fmt in TABLE_FORMATS or fmt in TABLE_FORMATS:
        if fmt not in TABLE_FORMATS:
            raise IngestError(f"{new.name!r} is not a table, but the product's main file is {declared_fmt}")
        try:
            info = get_table_info(new, format=fmt, table=main.get("table"))
        except DataFileError as exc:
            raise IngestError(f"cannot read {new.name!r} as {fmt}: {exc}") from None
        have = set(info.names)
        declared = [c.get("name") for c in data.get("columns") or [] if isinstance(c, dict)]
        vanished = [n for n in declared if n not in have]
        if vanished:
            raise IngestError(f"the new file lacks declared column(s) {', '.join(map(repr, vanished))}; "
                              f"its columns are: {', '.join(info.names)}. Fix the file, or edit 'columns' in "
                              f"{source.relpath} in a separate change first")
    new_name = old_name if Path(old_name).suffix == new.suffix else safe_file_name(new.name)
    check_space(root, new.stat().st_size * 2)
    staged = new_staging(root, pid)
    old_copy = None
    try:
        for entry in source.dir.iterdir():  # small files are copied, other data files hard-linked
            if entry.name in (old_name, f"{old_name}.dvc"):
                continue
            if entry.is_dir():
                shutil.copytree(entry, staged / entry.name, symlinks=True)
            elif entry.stat().st_size > 1 << 20:
                os.link(entry, staged / entry.name)
            else:
                shutil.copy2(entry, staged / entry.name)
        size = new.stat().st_size
        md5 = copy_with_md5(new, staged / new_name, (lambda n: progress("copying", n, size)) if progress else None)
        checkpoint("copied")
        changes: dict = {"updated": dt.date.today().isoformat()}
        if new_name != old_name:
            remove_from_gitignore(staged, old_name)
            changes[("files", files.index(main), "path")] = new_name
            if fmt and fmt != declared_fmt:
                changes[("files", files.index(main), "format")] = fmt
        text = update_fields((source.path).read_text(encoding="utf-8"), changes)
        (staged / "product.yaml").write_text(text, encoding="utf-8")
        md5s = {new_name: md5}
        for f in files:
            if isinstance(f, dict) and f.get("path") != old_name and (staged / f"{f['path']}.dvc").is_file():
                md5s[f["path"]] = read_pointer(staged / f"{f['path']}.dvc").md5
        (staged / "summary.json").unlink(missing_ok=True)
        summarize_staged(staged, pid, md5s, progress)
        checkpoint("summarized")
        report = validate_product_folder(root, staged, pid, trusted_summary=True)  # summarised just above
        if not report.ok():
            raise ValidationFailed(f"the updated product does not validate; nothing was changed ({pid})",
                                   list(report.issues))
        add_to_cache(root, staged / new_name, md5)
        write_pointer(staged, new_name, md5, size)
        checkpoint("cached")
        exchange(staged, source.dir)  # the one moment the new version appears
        old_copy = staged
        checkpoint("committed")
        return source.dir, old_md5, md5
    except BaseException:
        if old_copy is None:
            shutil.rmtree(staged, ignore_errors=True)
        raise
    finally:
        if old_copy is not None:
            shutil.rmtree(old_copy, ignore_errors=True)


def set_status(catalog: Catalog | Path, pid: str, status: str, reason: str) -> Path:
    """Mark a product deprecated or retracted (nothing is deleted); atomic write of product.yaml."""
    if not reason.strip():
        raise UsageError("--reason must say why (and what to use instead)")
    source = _get_product(as_catalog(catalog), pid)
    text = update_fields(source.path.read_text(encoding="utf-8"), {
        "status": status,
        "status_reason": reason.strip(),
        "updated": dt.date.today().isoformat(),
    })
    partial = source.path.with_name(f".product.yaml.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, source.path)
    finally:
        partial.unlink(missing_ok=True)
    return source.path
