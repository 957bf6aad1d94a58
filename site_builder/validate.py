"""Validate the catalogue: settings, every product's metadata, and optionally its data."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .catalog import CATALOG_FILE, ProductSource, iter_product_folders, read_document, read_product
from .errors import ProductNotFoundError
from .issue import ERROR, Issue, field_name
from .rules import CatalogContext, check_cycles, check_product
from .schema import SchemaChecker, did_you_mean
from .yamlio import YamlDocument


@dataclass(frozen=True)
class Report:
    """Outcome of a validation run."""

    issues: tuple[Issue, ...]
    checked: int

    def ok(self, strict: bool = False) -> bool:
        return not any(i.severity == ERROR or strict for i in self.issues)


def _document_issues(doc: YamlDocument | None, error: str | None, line: int | None, hint: str | None,
                     relpath: str, product: str | None) -> list[Issue]:
    issues = []
    if doc is None:
        issues.append(Issue(relpath, line, ERROR, error or "cannot read file", None, hint, product, "yaml"))
        return issues
    for path, dup_line in doc.duplicates:
        first = doc.lines.get(path)
        issues.append(Issue(relpath, dup_line, ERROR, f"duplicate key {path[-1]!r}", field_name(path),
                            "remove one of them; YAML would silently keep only the last"
                            + (f" (the other is on line {first})" if first and first != dup_line else ""),
                            product, "yaml.duplicate"))
    if not isinstance(doc.data, dict):
        issues.append(Issue(relpath, doc.line_of(()), ERROR, "the file must hold a mapping of fields", None,
                            "start with 'id: <product-id>' on the first line", product, "yaml"))
    return issues


def load_settings(root: Path) -> tuple[dict, list[Issue]]:
    """Read and check ``catalog.yaml``; returns its content (possibly empty) and the problems."""
    doc, error = read_document(root / CATALOG_FILE)
    issues = _document_issues(doc, error and error.message, error and error.line, error and error.hint,
                              CATALOG_FILE, None)
    if doc is None or not isinstance(doc.data, dict):
        return {}, issues
    issues += SchemaChecker.named("catalog").check(doc, CATALOG_FILE)
    return doc.data, issues


def validate_catalog(
    root: Path,
    ids: Iterable[str] | None = None,
    *,
    data: bool = True,
    progress: Callable[[Iterable[ProductSource]], Iterable[ProductSource]] | None = None,
) -> Report:
    """Check the catalogue under ``root``.

    Parameters
    ----------
    root
        Repository root (holds ``catalog.yaml`` and ``products/``).
    ids
        Only check these products (the cross-references of the catalogue are
        still resolved against all products). None checks everything.
    data
        Also check the data files (presence, md5, format, columns, values).
    progress
        Wraps the iteration over products, e.g. with a progress bar.

    Raises
    ------
    ProductNotFoundError
        One of ``ids`` is not a product folder.
    """
    settings, issues = load_settings(root)
    folders = iter_product_folders(root)
    selected = list(ids) if ids is not None else None
    if selected is not None:
        known = set(folders)
        for pid in selected:
            if pid not in known:
                hint = did_you_mean(pid, folders)
                raise ProductNotFoundError(f"no product {pid!r} in products/" + (f"; {hint}" if hint else ""))
    sources = [read_product(root, f) for f in folders]
    releases = settings.get("releases") if isinstance(settings.get("releases"), list) else []
    ctx = CatalogContext(
        releases=tuple(r["name"] for r in releases if isinstance(r, dict) and isinstance(r.get("name"), str)),
        types={s.folder: s.data.get("product_type") for s in sources},
    )
    wanted = set(selected) if selected is not None else None
    to_check = [s for s in sources if wanted is None or s.folder in wanted]
    checker = SchemaChecker.named("product")
    if data:
        from .datacheck import check_data  # needs numpy and the readers: import only when used
    for source in progress(to_check) if progress else to_check:
        doc_issues = _document_issues(source.doc, source.error, source.error_line, source.error_hint,
                                      source.relpath, source.folder)
        issues += doc_issues
        if source.doc is None or not isinstance(source.doc.data, dict):
            continue
        issues += checker.check(source.doc, source.relpath, source.folder)
        product_issues = check_product(source, ctx)
        issues += product_issues
        if data:
            issues += check_data(source, root)
    issues += _check_ids(sources, wanted)
    issues += [i for i in check_cycles(sources) if wanted is None or i.product in wanted]
    return Report(tuple(issues), len(to_check))


def _check_ids(sources: list[ProductSource], wanted: set[str] | None) -> list[Issue]:
    """Folder names must be valid ids, and no product may take another's id."""
    slug = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    issues = []
    folders = {s.folder for s in sources}
    owners: dict[str, str] = {}
    for s in sources:
        pid = s.data.get("id")
        if isinstance(pid, str) and pid != s.folder:
            other = pid if pid in folders else owners.get(pid)
            if other and (wanted is None or s.folder in wanted):
                issues.append(Issue(s.relpath, s.doc.line_of(("id",)) if s.doc else None, ERROR,
                                    f"id {pid!r} is already used by products/{other}/", "id",
                                    "every product needs its own id, equal to its folder name", s.folder, "id.unique"))
            owners.setdefault(pid, s.folder)
        if (wanted is None or s.folder in wanted) and not slug.match(s.folder):
            issues.append(Issue(s.relpath, None, ERROR, f"folder name {s.folder!r} is not a valid product id",
                                None, "rename the folder to a lowercase slug such as 'dc2-training-9816'",
                                s.folder, "id.folder"))
    return issues
