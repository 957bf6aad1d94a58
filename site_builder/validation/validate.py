"""Validate the catalogue: settings, every product's metadata, and optionally its data.

Two phases. First each product is checked on its own (parse, schema, rules of
its type, files, data): this is where the time goes, so on large catalogues
it runs in one worker process per core. Then the references between products
are resolved in the parent, from a slim copy of each product's reference
fields.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from site_builder.catalog.catalog import Catalog, as_catalog
from site_builder.catalog.issue import ERROR, Issue
from site_builder.catalog.model import is_valid_id
from site_builder.catalog.rules import (
    REFERENCE_FIELDS,
    check_cycles,
    check_product,
    check_references,
)
from site_builder.catalog.schema import SchemaChecker
from site_builder.catalog.settings import document_issues
from site_builder.catalog.source import (
    ProductSource,
    paused_gc,
    read_product,
    read_product_at,
)
from site_builder.catalog.yamlio import YamlDocument
from site_builder.validation.summaries import check_summary

# Below this many products a worker pool costs more than it saves.
PARALLEL_THRESHOLD = 400


@dataclass(frozen=True)
class Report:
    """Outcome of a validation run."""

    issues: tuple[Issue, ...]
    checked: int

    def ok(self, strict: bool = False) -> bool:
        return not any(i.severity == ERROR or strict for i in self.issues)


def _slim(source: ProductSource) -> ProductSource:
    """The product with only its reference fields (cheap to send between processes)."""
    doc = source.doc
    if doc is None or not isinstance(doc.data, dict):
        return ProductSource(source.folder, source.path, source.relpath, None)
    data = {k: doc.data[k] for k in REFERENCE_FIELDS if k in doc.data}
    lines = {p: n for p, n in doc.lines.items() if not p or p[0] in data}
    return ProductSource(source.folder, source.path, source.relpath, YamlDocument(data, lines))


def _check_one(folder: str, *, root: Path, wanted: frozenset[str] | None, data: bool
               ) -> tuple[ProductSource, list[Issue]]:
    """Phase one for one product: its own problems, and its slim reference fields."""
    source = read_product(root, folder)
    if wanted is not None and folder not in wanted:
        return _slim(source), []
    return _slim(source), _check_source(source, root, data)


def _check_source(source: ProductSource, root: Path, data: bool, trusted_summary: dict | None = None
                  ) -> list[Issue]:
    folder = source.folder
    issues = document_issues(source.doc, source.error, source.error_line, source.error_hint,
                              source.relpath, folder)
    if source.doc is not None and isinstance(source.doc.data, dict):
        issues += SchemaChecker.named("product").check(source.doc, source.relpath, folder)
        issues += check_product(source)
        issues += check_summary(source)
        if data:
            from site_builder.validation.data import (
                check_data,  # numpy and the readers: only when data is checked
            )

            issues += check_data(source, root, trusted_summary)
    if not is_valid_id(folder):
        issues.append(Issue(source.relpath, None, ERROR, f"folder name {folder!r} is not a valid product id",
                            None, "rename the folder to a lowercase slug such as 'dc2-training-9816'",
                            folder, "id.folder"))
    return issues


def _results(folders: list[str], check: Callable, jobs: int) -> Iterator[tuple[ProductSource, list[Issue]]]:
    if jobs <= 1 or len(folders) < PARALLEL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(check, folders)
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(check, folders, chunksize=64)


def validate_catalog(
    catalog: Catalog | Path,
    ids: Iterable[str] | None = None,
    *,
    data: bool = True,
    jobs: int | None = None,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> Report:
    """Check the catalogue: its settings, every product, and the references between them.

    Parameters
    ----------
    catalog
        The catalogue (or its repository root, which holds ``catalog.yaml`` and ``products/``).
    ids
        Only check these products (references are still resolved against all
        products). None checks everything.
    data
        Also check the data files (presence, md5, format, columns, values).
    jobs
        Worker processes for large catalogues (default: one per core).
    progress
        ``progress(iterable, total)`` wraps the per-product loop, e.g. with a bar.

    Raises
    ------
    ProductNotFoundError
        One of ``ids`` is not a product folder.
    """
    catalog = as_catalog(catalog)
    root, folders, issues = catalog.root, list(catalog.folders), list(catalog.settings_issues)
    wanted = None
    if ids is not None:
        wanted = frozenset(ids)
        catalog.check_ids(wanted)
    check = partial(_check_one, root=root, wanted=wanted, data=data)
    slims: list[ProductSource] = []
    with paused_gc():
        results = _results(folders, check, jobs or os.cpu_count() or 1)
        for slim, product_issues in progress(results, len(folders)) if progress else results:
            slims.append(slim)
            issues += product_issues
    ctx = catalog.context({s.folder: s.data.get("product_type") for s in slims})
    checked = [s for s in slims if wanted is None or s.folder in wanted]
    for slim in checked:
        issues += check_references(slim, ctx)
    issues += _check_ids(slims, wanted)
    issues += [i for i in check_cycles(slims) if wanted is None or i.product in wanted]
    return Report(tuple(issues), len(checked))


def _check_ids(sources: list[ProductSource], wanted: frozenset[str] | None) -> list[Issue]:
    """No product may take another's id (the id must also equal its folder: see rules)."""
    folders = {s.folder for s in sources}
    owners: dict[str, str] = {}
    issues = []
    for s in sources:
        pid = s.data.get("id")
        if not isinstance(pid, str) or pid == s.folder:
            continue
        other = pid if pid in folders else owners.get(pid)
        if other and (wanted is None or s.folder in wanted):
            issues.append(Issue(s.relpath, s.doc.line_of(("id",)) if s.doc else None, ERROR,
                                f"id {pid!r} is already used by products/{other}/", "id",
                                "every product needs its own id, equal to its folder name", s.folder, "id.unique"))
        owners.setdefault(pid, s.folder)
    return issues


def validate_product_folder(catalog: Catalog | Path, staged: Path, pid: str, *, data: bool = True,
                            trusted_summary: bool = False) -> Report:
    """Check a product prepared outside ``products/`` as if it were ``products/<pid>/``.

    Used by `pz add` and `pz update` before the staged folder is moved into
    place. References are resolved by reading only the products referred to.
    ``trusted_summary``: the staged summary.json was computed by the caller
    from the staged data in this process, so value ranges may be taken from it.
    """
    catalog = as_catalog(catalog)
    source = read_product_at(staged / "product.yaml", pid)
    summary = None
    if trusted_summary:
        from site_builder.tables.summary import read_summary

        summary = read_summary(staged)
    issues = _check_source(source, catalog.root, data, summary)
    slim = _slim(source)
    wanted_refs = {v for k in ("validation_set", "superseded_by") if isinstance(v := slim.data.get(k), str)}
    prov = slim.data.get("provenance")
    if isinstance(prov, dict) and isinstance(prov.get("derived_from"), list):
        wanted_refs |= {p for p in prov["derived_from"] if isinstance(p, str)}
    types: dict[str, object] = {f: None for f in catalog.folders if f != pid}
    types.update({ref: catalog.get_product(ref).data.get("product_type") for ref in wanted_refs if ref in types})
    types[pid] = slim.data.get("product_type")
    issues += check_references(slim, catalog.context(types))
    return Report(tuple(issues), 1)
