"""`pz add`: inspect a file, propose its columns, and add it as a new product atomically.

See :mod:`site_builder.ingest.staging` for how nothing is changed unless every step succeeds.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from site_builder.catalog.catalog import Catalog, as_catalog
from site_builder.catalog.model import PRODUCT_TYPES, TABLE_FORMATS, is_valid_id
from site_builder.catalog.schema import did_you_mean
from site_builder.catalog.source import PRODUCTS_DIR
from site_builder.catalog.yamledit import render_new_product
from site_builder.dvc.cache import add_to_cache, copy_with_md5
from site_builder.dvc.pointer import write_pointer
from site_builder.errors import DataFileError, UsageError
from site_builder.ingest.proposal import (
    ColumnProposal,
    apply_overrides,
    propose_columns,
    scan_values,
)
from site_builder.ingest.staging import (
    IngestError,
    ValidationFailed,
    check_source_file,
    check_space,
    checkpoint,
    new_staging,
    safe_file_name,
    slugify,
    summarize_staged,
)
from site_builder.tables.info import TableInfo
from site_builder.tables.reader import detect_format, get_table_info
from site_builder.validation.validate import validate_product_folder

# Rows read to propose column roles before the user confirms (the whole file is read after).
SAMPLE_ROWS = 200_000


@dataclass(frozen=True)
class AddRequest:
    """What the user asked `pz add` for."""

    file: Path
    product_type: str
    title: str
    pid: str | None = None
    release: str | None = None
    official: bool = False
    columns: dict[str, str] = field(default_factory=dict)
    aux: tuple[Path, ...] = ()
    description: Path | None = None
    table: str | None = None
    owner: str | None = None
    license: str = "CC-BY-4.0"
    summary: str | None = None
    move: bool = False


@dataclass(frozen=True)
class AddPlan:
    """Everything `pz add` will write, decided before writing anything."""

    request: AddRequest
    pid: str
    source: Path
    data_name: str
    aux: tuple[tuple[Path, str], ...]
    format: str | None
    table: str | None
    info: TableInfo | None
    proposals: tuple[ColumnProposal, ...]
    metadata: dict
    notes: tuple[str, ...] = ()

    @property
    def yaml_text(self) -> str:
        return render_new_product(self.metadata)


def plan_add(catalog: Catalog | Path, req: AddRequest, *, scan: bool = True,
             progress: Callable[[int], None] | None = None) -> AddPlan:
    """Check the request and inspect the file; nothing is written.

    With ``scan`` the proposals already look at the first rows' values (for
    a person to confirm); without, they come from the names alone. Either
    way :func:`execute_add` checks them against every row.

    Raises
    ------
    IngestError
        With a message that says what is wrong and how to fix it.
    """
    # Long on purpose: every check that must pass before anything is written, in the order a user
    # fixes them (id, release, file, format, columns); splitting it would scatter that order.
    catalog = as_catalog(catalog)
    root = catalog.root
    ptype = PRODUCT_TYPES[req.product_type]
    if not (root / ".dvc").is_dir():
        raise UsageError(f"{str(root)!r} is not a DVC repository (no .dvc/ folder); run `dvc init` there first")
    source = check_source_file(root, req.file, "file")
    pid = req.pid if req.pid is not None else slugify(req.title)
    if req.pid is not None and not is_valid_id(req.pid):
        raise UsageError(f"--id {req.pid!r} is not a valid id; use lowercase letters, digits and single hyphens, "
                         f"e.g. {slugify(req.pid) or 'my-product'!r}")
    if not pid:
        raise UsageError(f"the title {req.title!r} gives no usable id; pass one with --id, e.g. --id my-spec-z")
    if (root / PRODUCTS_DIR / pid).exists():
        raise IngestError(f"a product with id {pid!r} already exists (products/{pid}/); choose another with --id, "
                          f"or replace its data with `pz update {pid} FILE`")
    releases = list(catalog.releases)
    if req.release is not None:
        if not ptype.release_allowed:
            raise UsageError(f"a {ptype.name} has no release; drop --release")
        if req.release not in releases:
            hint = did_you_mean(req.release, releases)
            raise UsageError(f"unknown release {req.release!r}" + (f"; {hint}" if hint else "")
                             + f" (releases: {', '.join(releases)})")
    notes = []
    data_name = safe_file_name(source.name)
    if data_name != source.name:
        notes.append(f"the file is stored as {data_name!r} (no spaces or non-ASCII characters in data file names)")
    aux = []
    for extra in req.aux:
        extra_path = check_source_file(root, extra, "auxiliary file")
        name = safe_file_name(extra_path.name)
        if name in {data_name, *(n for _, n in aux), "product.yaml", "summary.json", "README.md"}:
            raise UsageError(f"two files would be stored as {name!r}; rename one of them")
        aux.append((extra_path, name))
    if req.description is not None and not req.description.is_file():
        raise UsageError(f"description file {str(req.description)!r} does not exist")
    check_space(root, source.stat().st_size * (1 if req.move else 2)
                 + sum(p.stat().st_size * 2 for p, _ in aux))

    fmt = detect_format(source)
    info = None
    proposals: list[ColumnProposal] = []
    if ptype.tabular and fmt not in TABLE_FORMATS:
        raise IngestError(f"{source.name!r} is not a table ({_describe(source)}), but a {ptype.name} needs one; "
                          "give a CSV, Parquet, FITS, HDF5 or VOTable file")
    if fmt in TABLE_FORMATS:
        try:
            info = get_table_info(source, format=fmt, table=req.table)
            if ptype.tabular and not info.columns:
                raise DataFileError("no columns found")
            # Proposals come from the first rows; execute_add checks them on the whole file
            # in the same pass that computes the summary.
            stats = scan_values(source, info, format=fmt, table=req.table, max_rows=SAMPLE_ROWS,
                                progress=progress) if scan else {}
        except DataFileError as exc:
            if ptype.tabular:
                raise IngestError(f"cannot read {source.name!r} as {fmt}: {exc}") from None
            notes.append(f"{source.name!r} was not inspected as a table: {exc}")
            info = None
        else:
            proposals = propose_columns(info, stats, ptype.name)
            try:
                proposals = apply_overrides(proposals, req.columns, ptype.name)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
    elif req.columns:
        raise UsageError(f"--column needs a table, and {source.name!r} is not one ({_describe(source)})")
    if info is not None and not req.table and info.table and fmt in ("fits", "hdf5"):
        table = info.table
    else:
        table = req.table
    missing = [r for r in ptype.required_roles if r not in {p.role for p in proposals}]
    if missing:
        names = ", ".join(p.name for p in proposals)
        raise IngestError(f"a {ptype.name} needs columns with roles {', '.join(missing)}, and none of the columns "
                          f"({names}) was recognised as such; name them with --column ROLE=NAME, "
                          f"e.g. --column {missing[0]}={proposals[0].name if proposals else 'NAME'}")
    description = req.description.read_text(encoding="utf-8") if req.description else None
    metadata = {
        "id": pid,
        "title": req.title,
        "summary": req.summary or req.title,
        "product_type": ptype.name,
        "official": req.official,
        "release": req.release,
        "status": "active",
        "owner": {"github": req.owner or _default_owner()},
        "created": dt.date.today().isoformat(),
        "license": req.license,
        "files": [_file_entry(data_name, "main", fmt, table)]
        + [_file_entry(name, "auxiliary", detect_format(path), None) for path, name in aux],
    }
    if description:
        metadata["description"] = description
    if ptype.pz_code_allowed:
        metadata["pz_code"] = None
    if proposals:
        metadata["columns"] = [p.as_metadata() for p in proposals]
    return AddPlan(req, pid, source, data_name, tuple(aux), fmt, table, info, tuple(proposals), metadata,
                   tuple(notes))


def _describe(path: Path) -> str:
    head = path.open("rb").read(4096)
    if b"\0" in head:
        return "binary content"
    return "text that is not a table"


def _file_entry(name: str, role: str, fmt: str | None, table: str | None) -> dict:
    entry: dict = {"path": name, "role": role}
    if fmt:
        entry["format"] = fmt
    elif name.lower().endswith((".md", ".markdown")):
        entry["format"] = "markdown"
    if table:
        entry["table"] = table
    return entry


def _default_owner() -> str:
    """A GitHub login: $GITHUB_ACTOR (CI), `git config github.user`, else the login name."""
    import subprocess

    for candidate in (os.environ.get("GITHUB_ACTOR"),):
        if candidate:
            return candidate
    try:
        out = subprocess.run(["git", "config", "github.user"], capture_output=True, text=True, check=False)
        if out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    login = re.sub(r"[^A-Za-z0-9-]+", "-", os.environ.get("USER", "")).strip("-")
    return login or "unknown-owner"


def execute_add(catalog: Catalog | Path, plan: AddPlan, *, progress: Callable[[str, int, int], None] | None = None
                ) -> AddResult:
    """Write the product planned by :func:`plan_add`; atomic (see the module docstring).

    The data is copied (and hashed) in a thread while the main thread reads
    the file once to summarise it and to check the column proposals on every
    row. Returns the product folder and notes for the user.

    Raises
    ------
    ValidationFailed
        The prepared product does not pass `pz validate`; nothing was changed.
    """
    root = as_catalog(catalog).root
    staged = new_staging(root, plan.pid)
    notes: list[str] = []
    try:
        size = plan.source.stat().st_size
        data_path = staged / plan.data_name
        metadata = dict(plan.metadata)
        main_summary = None
        final: list[ColumnProposal] = []
        # On an error or Ctrl-C the pool waits for the copy to end before the staging folder goes.
        with ThreadPoolExecutor(1) as pool:
            copying = pool.submit(_bring_in, plan, data_path, size, progress)
            if plan.info is not None:
                final, main_summary, notes = _final_columns(plan, progress)
                metadata["columns"] = [p.as_metadata() for p in final]
            md5 = copying.result()
        checkpoint("copied")
        pointers = [(plan.data_name, md5, size)]
        for path, name in plan.aux:
            pointers.append((name, copy_with_md5(path, staged / name), path.stat().st_size))
        (staged / "product.yaml").write_text(render_new_product(metadata), encoding="utf-8")
        checkpoint("written")
        summarize_staged(staged, plan.pid, {name: m for name, m, _ in pointers}, progress,
                          known={plan.data_name: main_summary} if main_summary else None)
        checkpoint("summarized")
        report = validate_product_folder(root, staged, plan.pid, trusted_summary=True)
        if not report.ok():
            raise ValidationFailed(f"the new product does not validate; nothing was added ({plan.pid})",
                                   list(report.issues))
        checkpoint("validated")
        for name, m, _ in pointers:
            add_to_cache(root, staged / name, m)
            write_pointer(staged, name, m, (staged / name).stat().st_size)
        checkpoint("cached")
        target = root / PRODUCTS_DIR / plan.pid
        target.parent.mkdir(exist_ok=True)
        os.rename(staged, target)  # the one moment the product appears
        checkpoint("committed")
        if plan.request.move:
            plan.source.unlink(missing_ok=True)
        return AddResult(target, final, notes)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


@dataclass(frozen=True)
class AddResult:
    """What `pz add` did: the product folder, the final column proposals and notes for the user."""

    folder: Path
    columns: list[ColumnProposal]
    notes: list[str]


def _bring_in(plan: AddPlan, data_path: Path, size: int, progress) -> str:
    """Copy (or hard-link, with --move) the user's file into the staging folder; its md5."""
    if plan.request.move and os.stat(plan.source).st_dev == os.stat(data_path.parent).st_dev:
        os.link(plan.source, data_path)  # the original disappears only once the product is in place
        from site_builder.dvc.pointer import md5_of

        return md5_of(data_path)
    tick = (lambda n: progress("copying", n, size)) if progress and plan.info is None else None
    return copy_with_md5(plan.source, data_path, tick)


def _final_columns(plan: AddPlan, progress: Callable[[str, int, int], None] | None = None
                   ) -> tuple[list[ColumnProposal], dict, list[str]]:
    """One pass over the whole file: its summary, and the proposals checked on every row."""
    from site_builder.ingest.proposal import speculative_columns, stats_from_summary
    from site_builder.tables.summary import sentinel_key, summarize_file

    assert plan.info is not None
    ptype = plan.request.product_type
    spec = speculative_columns(list(plan.proposals))
    rows = plan.info.num_rows
    tick = (lambda n: progress(f"reading {plan.source.name}", n, rows)) if progress and rows else None
    summary = summarize_file(plan.source, format=plan.format, table=plan.table, columns=spec, progress=tick)
    stats = stats_from_summary(summary, plan.info)
    final = apply_overrides(propose_columns(plan.info, stats, ptype), plan.request.columns, ptype)
    notes = []
    for before, after in zip(plan.proposals, final, strict=True):
        if before.role != after.role:
            notes.append(f"column {after.name!r}: role {after.role} instead of {before.role} ({after.note})")
        elif before.sentinels and set(after.sentinels) - set(before.sentinels):
            extra = ", ".join(f"{v:g}" for v in sorted(set(after.sentinels) - set(before.sentinels)))
            notes.append(f"column {after.name!r}: {extra} also taken as 'no value' (found beyond the first rows)")
    if [p.role for p in final] != [p.role for p in plan.proposals]:
        columns = [p.as_metadata() for p in final]
        summary = summarize_file(plan.source, format=plan.format, table=plan.table, columns=columns)
    else:  # drop the speculative sentinels that never occurred (they changed no statistic)
        declared = {p.name: {sentinel_key(v) for v in p.sentinels} for p in final}
        for col in summary.get("columns", []):
            if isinstance(col.get("sentinels"), dict):
                col["sentinels"] = {k: v for k, v in col["sentinels"].items() if k in declared.get(col["name"], ())}
    return final, summary, notes
