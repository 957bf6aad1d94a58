"""Rules that relate several fields or several products.

The JSON Schema checks the shape of each field; these rules check what the
schema cannot say well: the rules of each product type, file paths that must
stay inside the product folder, UCDs against the IVOA vocabulary, and
references between products. They run on metadata that may itself be partly
invalid, so every access is defensive: a field of the wrong type was already
reported by the schema and is skipped here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from site_builder.catalog.issue import ERROR, WARNING, Issue, Reporter
from site_builder.catalog.model import PRODUCT_TYPES, ROLE_UCD_PREFIXES, ROLE_UCDS, UNIQUE_ROLES
from site_builder.catalog.schema import did_you_mean
from site_builder.catalog.source import ProductSource
from site_builder.catalog.spdx import SPDX_IDS
from site_builder.catalog.ucd import check_ucd


@dataclass(frozen=True)
class CatalogContext:
    """What rules need to know about the rest of the catalogue."""

    releases: tuple[str, ...]
    types: dict[str, str | None]  # product id -> product_type, for every product


def _list_of_dicts(value: Any) -> list[tuple[int, dict]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


#: Top-level fields that refer to other products or to catalog.yaml.
REFERENCE_FIELDS = ("id", "product_type", "release", "validation_set", "superseded_by", "provenance")


def check_product(source: ProductSource) -> list[Issue]:
    """Every rule of one product that needs neither its data nor other products."""
    rep = Reporter(source)
    data = source.data
    _check_identity(rep, data)
    _check_type_rules(rep, data)
    _check_files(rep, data)
    _check_columns(rep, data)
    _check_description(rep, data)
    lic = data.get("license")
    if isinstance(lic, str) and " " not in lic and lic not in SPDX_IDS and not lic.startswith("LicenseRef-"):
        rep.add(("license",), f"{lic!r} is not a known SPDX licence identifier",
                did_you_mean(lic, sorted(SPDX_IDS)) or "see https://spdx.org/licenses/",
                rule="license", severity=WARNING)
    return rep.issues


def _check_identity(rep: Reporter, data: dict) -> None:
    pid = data.get("id")
    folder = rep.source.folder
    if isinstance(pid, str) and pid != folder:
        rep.add(("id",), f"id {pid!r} differs from the folder name {folder!r}",
                f"ids are stable forever: set 'id: {folder}', or rename the folder if the product is new",
                rule="id.folder")


def _check_type_rules(rep: Reporter, data: dict) -> None:
    ptype = PRODUCT_TYPES.get(data.get("product_type"))  # type: ignore[arg-type]
    if ptype is None:
        return  # unknown or missing type: reported by the schema
    status = data.get("status")
    if status in ("deprecated", "retracted") and not data.get("status_reason"):
        rep.add(("status",), f"a {status} product needs a 'status_reason'",
                f"add 'status_reason:' saying why, or run `pz {status[:-1]} {rep.source.folder} --reason TEXT`",
                rule="status.reason")
    if data.get("release") and not ptype.release_allowed:
        rep.add(("release",), f"a {ptype.name} must not have a release",
                "reference redshift catalogues are independent of Rubin data releases: remove 'release:'",
                rule="type.release")
    if data.get("pz_code") and not ptype.pz_code_allowed:
        allowed = ", ".join(t.name for t in PRODUCT_TYPES.values() if t.pz_code_allowed)
        rep.add(("pz_code",), f"'pz_code' is only for {allowed}, not {ptype.name}", "remove 'pz_code:'",
                rule="type.pz_code")
    if data.get("validation_set") and not ptype.validation_set_allowed:
        allowed = ", ".join(t.name for t in PRODUCT_TYPES.values() if t.validation_set_allowed)
        rep.add(("validation_set",), f"'validation_set' is only for {allowed}, not {ptype.name}",
                "use provenance.derived_from to say what the product was made from", rule="type.validation_set")
    if not ptype.tabular:
        return
    columns = data.get("columns")
    if not isinstance(columns, list) or not columns:
        roles = ", ".join(ptype.required_roles)
        rep.add(("columns",) if columns is not None else (), f"a {ptype.name} is tabular and needs 'columns'",
                f"list the columns of the main file, with roles {roles} at least (`pz add` proposes them)",
                rule="type.columns")
        return
    present = {c.get("role") for _, c in _list_of_dicts(columns)}
    for role in ptype.required_roles:
        if role not in present:
            rep.add(("columns",), f"a {ptype.name} needs a column with role {role!r}",
                    f"add 'role: {role}' to the column that holds it (UCD {ROLE_UCDS[role]!r})",
                    rule="type.roles")


def check_references(source: ProductSource, ctx: CatalogContext) -> list[Issue]:
    """References to releases and other products resolve (reads only REFERENCE_FIELDS)."""
    rep = Reporter(source)
    _check_references(rep, source.data, ctx)
    return rep.issues


def _check_references(rep: Reporter, data: dict, ctx: CatalogContext) -> None:
    release = data.get("release")
    if isinstance(release, str) and release not in ctx.releases:
        hint = did_you_mean(release, list(ctx.releases)) or f"releases in catalog.yaml: {', '.join(ctx.releases)}"
        rep.add(("release",), f"unknown release {release!r}", hint, rule="ref.release")
    me = rep.source.folder
    vset = data.get("validation_set")
    if isinstance(vset, str):
        if vset not in ctx.types:
            rep.add(("validation_set",), f"no product with id {vset!r}", did_you_mean(vset, list(ctx.types)),
                    rule="ref.validation_set")
        elif ctx.types[vset] != "training_set":
            rep.add(("validation_set",), f"{vset!r} is a {ctx.types[vset]}, not a training_set",
                    "point validation_set at the training or validation set the results were made with",
                    rule="ref.validation_set")
    sup = data.get("superseded_by")
    if isinstance(sup, str) and sup not in ctx.types:
        rep.add(("superseded_by",), f"no product with id {sup!r}", did_you_mean(sup, list(ctx.types)),
                rule="ref.superseded_by")
    prov = data.get("provenance")
    parents = prov.get("derived_from") if isinstance(prov, dict) else None
    for i, parent in enumerate(parents if isinstance(parents, list) else []):
        if not isinstance(parent, str):
            continue
        if parent == me:
            rep.add(("provenance", "derived_from", i), "a product cannot be derived from itself", None,
                    rule="ref.derived_from")
        elif parent not in ctx.types:
            rep.add(("provenance", "derived_from", i), f"no product with id {parent!r}",
                    did_you_mean(parent, list(ctx.types)), rule="ref.derived_from")


def check_relative_path(text: str) -> str | None:
    """Why a path written in metadata is unsafe, or None if it is a plain relative path."""
    if not text.strip():
        return "is empty"
    if "\\" in text:
        return "uses backslashes; write paths with '/'"
    if text.startswith("/") or PurePosixPath(text).is_absolute() or (len(text) > 1 and text[1] == ":"):
        return "is absolute; paths are relative to the product folder"
    if ".." in PurePosixPath(text).parts:
        return "uses '..'; files must stay inside the product folder"
    if any(part.startswith(".") for part in PurePosixPath(text).parts):
        return "names a hidden file; hidden files are not published"
    return None


def resolve_inside(folder: Path, text: str) -> Path | None:
    """The file ``text`` in ``folder``, or None when a symlink takes it outside.

    ``text`` has passed :func:`check_relative_path`, so only a symlink among
    its components can lead out; resolving the whole path is needed only then
    (one lstat per component instead of one per component of the absolute path).
    """
    target = folder / text
    current = str(folder)
    for part in text.split("/"):
        current = os.path.join(current, part)
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                break
        except OSError:
            return target  # does not exist (yet): nothing to escape through
    else:
        return target
    real = Path(os.path.realpath(target))
    base = Path(os.path.realpath(folder))
    return target if real == base or base in real.parents else None


def _check_files(rep: Reporter, data: dict) -> None:
    files = _list_of_dicts(data.get("files"))
    mains = [i for i, f in files if f.get("role") == "main"]
    if files and len(mains) != 1:
        if not mains:
            rep.add(("files",), "no file has role 'main'", "mark the product's principal file with 'role: main'",
                    rule="files.main")
        else:
            for i in mains[1:]:
                rep.add(("files", i, "role"), "more than one file has role 'main'",
                        "a product has exactly one main file; mark the others 'role: auxiliary'", rule="files.main")
    seen: dict[str, int] = {}
    for i, f in files:
        path = f.get("path")
        if not isinstance(path, str):
            continue
        problem = check_relative_path(path)
        if problem:
            rep.add(("files", i, "path"), f"path {path!r} {problem}", None, rule="files.path")
        elif resolve_inside(rep.source.dir, path) is None:
            rep.add(("files", i, "path"), f"path {path!r} is a symlink that leads outside the product folder",
                    "copy the file into the product folder and track it with `dvc add`", rule="files.path")
        if path in seen:
            rep.add(("files", i, "path"), f"{path!r} is listed twice (also files[{seen[path]}])", None,
                    rule="files.unique")
        seen.setdefault(path, i)
    ptype = PRODUCT_TYPES.get(data.get("product_type"))  # type: ignore[arg-type]
    if ptype and ptype.tabular and len(mains) == 1:
        fmt = dict(files)[mains[0]].get("format")
        if fmt is not None and fmt not in ("csv", "tsv", "text", "parquet", "fits", "hdf5", "votable"):
            rep.add(("files", mains[0], "format"), f"a {ptype.name} needs a table as its main file, not {fmt!r}",
                    "use CSV, Parquet, FITS, HDF5 or VOTable", rule="files.format")


def _iter_columns(data: dict) -> Iterator[tuple[int, dict]]:
    return iter(_list_of_dicts(data.get("columns")))


def _check_columns(rep: Reporter, data: dict) -> None:
    names: dict[str, int] = {}
    roles: dict[str, int] = {}
    for i, col in _iter_columns(data):
        name = col.get("name")
        if isinstance(name, str):
            if name in names:
                rep.add(("columns", i, "name"), f"column {name!r} is listed twice (also columns[{names[name]}])",
                        None, rule="columns.unique")
            names.setdefault(name, i)
        role = col.get("role")
        if role in UNIQUE_ROLES:
            if role in roles:
                rep.add(("columns", i, "role"), f"role {role!r} is already given to columns[{roles[role]}]",
                        "only one column may be the main identifier or position", rule="columns.role")
            roles.setdefault(role, i)
        ucd = col.get("ucd")
        if isinstance(ucd, str):
            bad = check_ucd(ucd)
            if bad:
                hint = bad[1]
                if role in ROLE_UCDS and ROLE_UCDS[role] and hint and not hint.startswith("did you"):
                    hint = f"for role {role!r} use {ROLE_UCDS[role]!r}"
                rep.add(("columns", i, "ucd"), bad[0], hint, rule="columns.ucd")
            elif role in ROLE_UCD_PREFIXES:
                first = ucd.split(";")[0].strip().lower()
                if not first.startswith(tuple(p.lower() for p in ROLE_UCD_PREFIXES[role])):  # UCDs ignore case
                    rep.add(("columns", i, "ucd"), f"UCD {ucd!r} does not fit role {role!r}",
                            f"use {ROLE_UCDS[role]!r}", rule="columns.ucd_role", severity=WARNING)


def _check_description(rep: Reporter, data: dict) -> None:
    desc_file = data.get("description_file")
    if data.get("description") and desc_file:
        rep.add(("description_file",), "give either 'description' or 'description_file', not both", None,
                rule="description")
    if not isinstance(desc_file, str):
        return
    problem = check_relative_path(desc_file)
    if problem:
        rep.add(("description_file",), f"path {desc_file!r} {problem}", None, rule="description")
        return
    target = resolve_inside(rep.source.dir, desc_file)
    if target is None:
        rep.add(("description_file",), f"path {desc_file!r} is a symlink that leads outside the product folder",
                None, rule="description")
    elif not target.is_file():
        rep.add(("description_file",), f"file {desc_file!r} does not exist in the product folder",
                f"create {rep.source.relpath.rsplit('/', 1)[0]}/{desc_file}", rule="description")


def check_cycles(sources: list[ProductSource]) -> list[Issue]:
    """Provenance loops (a derived from b derived from a)."""
    parents: dict[str, list[str]] = {}
    by_id = {}
    for s in sources:
        prov = s.data.get("provenance")
        derived = prov.get("derived_from") if isinstance(prov, dict) else None
        parents[s.folder] = [p for p in derived if isinstance(p, str)] if isinstance(derived, list) else []
        by_id[s.folder] = s
    issues = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for parent in parents.get(node, []):
            if parent == node or parent not in parents:
                continue
            if state.get(parent) == 1:
                loop = [*trail[trail.index(parent):], parent] if parent in trail else [node, parent]
                src = by_id[node]
                idx = parents[node].index(parent)
                line = src.doc.line_of(("provenance", "derived_from", idx)) if src.doc else None
                issues.append(Issue(src.relpath, line, ERROR, f"provenance loop: {' -> '.join(loop)}",
                                    f"provenance.derived_from[{idx}]", "a product cannot descend from itself",
                                    node, "ref.cycle"))
            elif state.get(parent) is None:
                visit(parent, [*trail, parent])
        state[node] = 2

    for pid in sorted(parents):
        if pid not in state:
            visit(pid, [pid])
    return issues
