"""Add and update products atomically: `pz add`, `pz update`, `pz deprecate`, `pz retract`.

Every change is prepared in a staging folder under ``.pz/staging/`` (ignored
by git and DVC) and becomes visible by one ``rename`` — for a new product into
``products/<id>/``, for an update by exchanging the old and new folders with
``renameat2(RENAME_EXCHANGE)``. Whatever happens before that moment (an
error, Ctrl-C, a killed process), ``products/``, git and the user's file are
exactly as they were; a killed run leaves only a staging folder that the next
run removes. Objects added to the DVC cache beforehand are content-addressed
and change nothing that git or DVC pointers see.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from site_builder.catalog.model import PRODUCT_TYPES, TABLE_FORMATS
from site_builder.catalog.schema import did_you_mean
from site_builder.catalog.source import PRODUCTS_DIR, iter_product_folders, read_product
from site_builder.catalog.yamledit import render_new_product, update_fields
from site_builder.dvc.cache import add_to_cache, copy_with_md5, remove_from_gitignore, write_pointer
from site_builder.errors import DataFileError, ProductNotFoundError, PzError, UsageError
from site_builder.ingest.proposal import (
    ColumnProposal,
    apply_overrides,
    propose_columns,
    scan_values,
)
from site_builder.system import exchange, pid_alive
from site_builder.tables.info import TableInfo
from site_builder.tables.reader import detect_format, get_table_info
from site_builder.validation.validate import load_settings, validate_product_folder

STAGING = Path(".pz") / "staging"
# Rows read to propose column roles before the user confirms (the whole file is read after).
SAMPLE_ROWS = 200_000
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class IngestError(PzError):
    """A product cannot be added or updated; nothing was changed."""


class ValidationFailed(IngestError):
    """The prepared product does not validate; ``issues`` says why."""

    def __init__(self, message: str, issues: list) -> None:
        super().__init__(message)
        self.issues = issues


def checkpoint(name: str) -> None:
    """Test hook for the atomicity tests: ``PZ_FAULT=<name>`` kills the process here
    (SIGKILL, as the OOM killer would); ``PZ_FAULT=<name>:int`` raises KeyboardInterrupt."""
    fault = os.environ.get("PZ_FAULT")
    if fault:
        where, _, how = fault.partition(":")
        if where == name:
            if how == "int":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGKILL)


def slugify(text: str) -> str:
    """``'DC2 training set, healpix 9816'`` -> ``'dc2-training-set-healpix-9816'``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-")


def safe_file_name(name: str) -> str:
    """A file name without spaces or non-ASCII characters (kept readable)."""
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    clean = _SAFE_NAME.sub("_", ascii_stem).strip("_.") or "data"
    return f"{clean}{dot}{_SAFE_NAME.sub('', ext)}"


def _clean_stale_staging(root: Path) -> None:
    base = root / STAGING
    if not base.is_dir():
        return
    for entry in base.iterdir():
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _new_staging(root: Path, label: str) -> Path:
    _clean_stale_staging(root)
    base = root / STAGING
    base.mkdir(parents=True, exist_ok=True)
    staged = base / f"{label}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    return staged


def _check_source_file(root: Path, path: Path, what: str) -> Path:
    """The user's file, checked before anything is written."""
    if path.is_symlink():
        raise IngestError(f"{what} {str(path)!r} is a symlink (to {os.readlink(path)!r}); "
                          "give the path of the real file so that its content is what gets stored")
    if not path.exists():
        raise IngestError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise IngestError(f"{what} {str(path)!r} is not a regular file; archive a folder first (e.g. tar)")
    if path.stat().st_size == 0:
        raise IngestError(f"{what} {str(path)!r} is empty")
    if not os.access(path, os.R_OK):
        raise IngestError(f"{what} {str(path)!r} is not readable")
    resolved = path.resolve()
    products = (root / PRODUCTS_DIR).resolve()
    if products in resolved.parents:
        owner = resolved.relative_to(products).parts[0]
        raise IngestError(f"{what} {str(path)!r} is already inside product {owner!r}; "
                          f"to replace that product's data use `pz update {owner} FILE`")
    return resolved


def _check_space(root: Path, needed: int) -> None:
    free = shutil.disk_usage(root).free
    if needed > free:
        raise IngestError(f"not enough free disk space: {needed / 1e9:.2f} GB needed (a copy in the product "
                          f"folder and one in the DVC cache), {free / 1e9:.2f} GB free; free some space or use "
                          "--move to avoid one copy")


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


def plan_add(root: Path, req: AddRequest, *, scan: bool = True,
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
    ptype = PRODUCT_TYPES[req.product_type]
    if not (root / ".dvc").is_dir():
        raise UsageError(f"{str(root)!r} is not a DVC repository (no .dvc/ folder); run `dvc init` there first")
    source = _check_source_file(root, req.file, "file")
    pid = req.pid if req.pid is not None else slugify(req.title)
    if req.pid is not None and not _SLUG.match(req.pid):
        raise UsageError(f"--id {req.pid!r} is not a valid id; use lowercase letters, digits and single hyphens, "
                         f"e.g. {slugify(req.pid) or 'my-product'!r}")
    if not pid:
        raise UsageError(f"the title {req.title!r} gives no usable id; pass one with --id, e.g. --id my-spec-z")
    if (root / PRODUCTS_DIR / pid).exists():
        raise IngestError(f"a product with id {pid!r} already exists (products/{pid}/); choose another with --id, "
                          f"or replace its data with `pz update {pid} FILE`")
    settings, _ = load_settings(root)
    releases = [r.get("name") for r in settings.get("releases", []) if isinstance(r, dict)]
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
        extra_path = _check_source_file(root, extra, "auxiliary file")
        name = safe_file_name(extra_path.name)
        if name in {data_name, *(n for _, n in aux), "product.yaml", "summary.json", "README.md"}:
            raise UsageError(f"two files would be stored as {name!r}; rename one of them")
        aux.append((extra_path, name))
    if req.description is not None and not req.description.is_file():
        raise UsageError(f"description file {str(req.description)!r} does not exist")
    _check_space(root, source.stat().st_size * (1 if req.move else 2)
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


def execute_add(root: Path, plan: AddPlan, *, progress: Callable[[str, int, int], None] | None = None
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
    staged = _new_staging(root, plan.pid)
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
        _summarize_staged(staged, plan.pid, {name: m for name, m, _ in pointers}, progress,
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
        from site_builder.validation.data import md5_of

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


def _summarize_staged(staged: Path, pid: str, md5s: dict[str, str],
                      progress: Callable[[str, int, int], None] | None, known: dict[str, dict] | None = None
                      ) -> None:
    from site_builder.catalog.source import read_product_at
    from site_builder.tables.summary import write_summary
    from site_builder.validation.summaries import metadata_key, summarize_product

    data = read_product_at(staged / "product.yaml", pid).data
    summary, _ = summarize_product(staged, data, md5s, progress=progress, skip=set(known or ()))
    if summary is not None:
        for name, file_summary in (known or {}).items():
            entry = next(f for f in data["files"] if f.get("path") == name)
            summary["files"][name] = {**file_summary, "md5": md5s[name], "metadata_key": metadata_key(data, entry)}
        write_summary(staged, summary)


# --- update, deprecate, retract -------------------------------------------------------------

def _get_product(root: Path, pid: str):
    folders = iter_product_folders(root)
    if pid not in folders:
        hint = did_you_mean(pid, folders)
        raise ProductNotFoundError(f"no product {pid!r}" + (f"; {hint}" if hint else ""))
    source = read_product(root, pid)
    if source.doc is None:
        raise IngestError(f"{source.relpath} cannot be read ({source.error}); fix it first (`pz validate {pid}`)")
    return source


def update_product(root: Path, pid: str, file: Path, *, progress: Callable[[str, int, int], None] | None = None
                   ) -> tuple[Path, str, str]:
    """Replace the main file of a product with a new version; returns (folder, old md5, new md5).

    The metadata is kept (``updated`` is set to today); the declared columns
    must all still exist in the new file. Atomic like :func:`execute_add`.
    """
    from site_builder.validation.data import read_pointer

    source = _get_product(root, pid)
    data = source.data
    files = data.get("files") if isinstance(data.get("files"), list) else []
    main = next((f for f in files if isinstance(f, dict) and f.get("role") == "main"), None)
    if main is None or not isinstance(main.get("path"), str):
        raise IngestError(f"{source.relpath} has no main file to replace; fix it first (`pz validate {pid}`)")
    new = _check_source_file(root, file, "file")
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
    _check_space(root, new.stat().st_size * 2)
    staged = _new_staging(root, pid)
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
        _summarize_staged(staged, pid, md5s, progress)
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


def set_status(root: Path, pid: str, status: str, reason: str) -> Path:
    """Mark a product deprecated or retracted (nothing is deleted); atomic write of product.yaml."""
    if not reason.strip():
        raise UsageError("--reason must say why (and what to use instead)")
    source = _get_product(root, pid)
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
