"""Check a pull request: the change between a base revision and HEAD.

What the reviewers of the PZ Coordination Group need to know on a pull
request, computed from git alone plus the DVC remote:

* the products the change touches are valid (schema, rules, data), and the
  catalogue's cross-references still resolve: the references of touched
  products, references to them, and provenance loops through them. Only the
  touched products and those they name or that name them are read, so the
  check costs the same on 10 or 10,000 products (unless catalog.yaml or the
  schemas change: then every product's metadata is checked);
* the author may touch what they touched (permission rules below);
* every DVC object the change adds is in the remote (looked up, not
  downloaded);
* what changed: new products, new versions of data files, metadata fields.

Permission rules (the admins are the GitHub logins under ``admins:`` in the
*base* revision's ``catalog.yaml``, so a pull request cannot make its own
author an admin; logins compare case-insensitively, as on GitHub):

``official-products``
    only admins may add a product with ``official: true``, make a product
    official, or change (or un-officialise) an official product;
``catalog-settings``
    only admins may change ``catalog.yaml``;
``no-deletion``
    nobody may delete a product folder (``pz deprecate`` / ``pz retract``
    withdraw a product and keep it citable);
``stable-ids``
    nobody may change a product's ``id``.

The library returns :class:`PrReport`; the CLI prints it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from site_builder.catalog.catalog import Catalog, load_catalog
from site_builder.catalog.issue import ERROR, WARNING, Issue
from site_builder.catalog.rules import check_cycles, check_references
from site_builder.catalog.settings import CatalogSettings
from site_builder.catalog.source import (
    CATALOG_FILE,
    PRODUCT_FILE,
    PRODUCTS_DIR,
    ProductSource,
    iter_product_folders,
    read_product,
)
from site_builder.catalog.yamlio import YamlError, parse_yaml
from site_builder.dvc.git import changed_paths, git, read_blobs, resolve_base
from site_builder.dvc.pointer import find_pointer
from site_builder.dvc.remote import (
    DENIED,
    MISSING,
    PRESENT,
    Remote,
    RemoteConfigError,
    check_objects,
    find_remote,
    pull,
)
from site_builder.validation.validate import validate_catalog, validate_product_folder

#: Changes to these paths can make any product invalid: then every product's metadata is checked.
CATALOG_WIDE = (CATALOG_FILE, "schemas/")
#: Settings only admins may change: the catalogue's, and where its data lives.
SETTINGS_FILES = (CATALOG_FILE, ".dvc/config")


@dataclass(frozen=True)
class FileVersion:
    """A data file whose DVC pointer the change adds or changes."""

    path: str  # the data file, relative to the repository root
    old_md5: str | None  # None: a new file
    md5: str
    size: int | None


@dataclass(frozen=True)
class ProductChange:
    """What the change does to one product."""

    product: str
    kind: str  # "new", "changed" or "deleted"
    title: str | None
    product_type: str | None
    official: bool
    fields: tuple[str, ...]  # top-level metadata fields added, removed or changed
    versions: tuple[FileVersion, ...]
    paths: tuple[str, ...]  # every file of the product the change adds, modifies or deletes
    status: str | None = None  # "active", "deprecated" or "retracted" after the change


@dataclass(frozen=True)
class ChangeSummary:
    """The change between the merge base and HEAD, for the pull request."""

    base_ref: str
    base: str  # merge-base commit
    head: str
    author: str | None
    products: tuple[ProductChange, ...]
    catalog_changed: bool
    other_paths: tuple[str, ...]  # changed files outside products/ and catalog.yaml

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PrReport:
    """Outcome of :func:`check_pr`."""

    issues: tuple[Issue, ...]
    checked: int
    summary: ChangeSummary

    def ok(self, strict: bool = False) -> bool:
        return not any(i.severity == ERROR or strict for i in self.issues)


def _parse(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        data = parse_yaml(text).data
    except YamlError:
        return {}
    return data if isinstance(data, dict) else {}


def _line_of(text: str | None, path: tuple) -> int | None:
    if text is None:
        return None
    try:
        return parse_yaml(text).line_of(path)
    except YamlError:
        return None


def _pointer_md5(text: str | None) -> tuple[str | None, int | None, str | None]:
    """``(md5, size, path)`` of a single-output .dvc pointer's text (Nones when unreadable)."""
    pointer = find_pointer(text)
    return (pointer.md5, pointer.size, pointer.path) if pointer else (None, None, None)


@dataclass
class _Touched:
    pid: str
    paths: list[tuple[str, str]]
    base_text: str | None = None
    head_text: str | None = None


def check_pr(root: Path, base_ref: str, author: str | None = None, *, data: bool = True,
             remote_check: bool = True) -> PrReport:
    """Check the change between the merge base of ``base_ref`` and HEAD in the repository ``root``.

    Parameters
    ----------
    root
        Repository root (holds ``catalog.yaml``); the workspace is expected to
        hold HEAD (as in CI) and is where touched products are validated.
    base_ref
        The branch the pull request goes into, e.g. ``origin/main``.
    author
        GitHub login of the pull request's author. Without it, changes that
        need an admin are reported as warnings instead of errors.
    data
        Check the data of touched products, pulling (only) their missing
        files with ``dvc pull``.
    remote_check
        Look up the objects the change adds on the DVC remote. Off only where
        another run does it (a pull request from a fork gets no token).

    Raises
    ------
    UsageError
        Unknown ``base_ref`` or not a git repository.
    """
    # Long on purpose: one pass over the change (touched paths, blobs, permissions, remote, data,
    # summary) sharing its gathered state; the docstring is a quarter of it.
    base, head = resolve_base(root, base_ref)
    changes = changed_paths(root, base, head)
    touched: dict[str, _Touched] = {}
    other: list[str] = []
    settings_changed: list[str] = []
    for status, path in changes:
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[0] == PRODUCTS_DIR:
            touched.setdefault(parts[1], _Touched(parts[1], [])).paths.append((status, path))
        elif path in SETTINGS_FILES:
            settings_changed.append(path)
        else:
            other.append(path)
    catalog_changed = CATALOG_FILE in settings_changed
    specs = [f"{rev}:{CATALOG_FILE}" for rev in (base, head)] + [f"{base}:.dvc/config"]
    for t in touched.values():
        specs += [f"{rev}:{PRODUCTS_DIR}/{t.pid}/{PRODUCT_FILE}" for rev in (base, head)]
        specs += [f"{rev}:{p}" for _, p in t.paths if p.endswith(".dvc") for rev in (base, head)]
    blobs = read_blobs(root, specs)
    for t in touched.values():
        t.base_text = blobs[f"{base}:{PRODUCTS_DIR}/{t.pid}/{PRODUCT_FILE}"]
        t.head_text = blobs[f"{head}:{PRODUCTS_DIR}/{t.pid}/{PRODUCT_FILE}"]
    # Deny by default: admins come from the base revision only (none if it has no readable list).
    settings = _parse(blobs[f"{base}:{CATALOG_FILE}"])
    admins = list(CatalogSettings.from_mapping(settings).admins)

    issues: list[Issue] = []
    products: list[ProductChange] = []
    new_objects: dict[str, tuple[str, str | None, str]] = {}  # md5 -> (pointer path, pointer text, data path)
    for t in sorted(touched.values(), key=lambda t: t.pid):
        issues += _identity_issues(t, base)
        issues += _permission_issues(t, admins, author)
        versions = []
        for status, path in t.paths:
            if not path.endswith(".dvc") or status == "D":
                continue
            md5, size, out = _pointer_md5(blobs[f"{head}:{path}"])
            old, _, _ = _pointer_md5(blobs[f"{base}:{path}"])
            if md5 is None or md5 == old:
                continue  # unreadable pointers are reported by the data checks
            data_path = str(PurePosixPath(path).parent / (out or PurePosixPath(path).stem))
            versions.append(FileVersion(data_path, old, md5, size))
            new_objects.setdefault(md5, (path, blobs[f"{head}:{path}"], data_path))
        products.append(_product_change(t, versions))
    for path in settings_changed:
        issues += _settings_issues(path, admins, author)

    remote: Remote | None = None
    remote_error = None
    try:
        # The base revision's remote (plus the untracked .dvc/config.local), never one the change sets up.
        remote = find_remote(root, shared_config=blobs[f"{base}:.dvc/config"])
    except RemoteConfigError as exc:
        remote_error = str(exc)
    missing: set[str] = set()
    if new_objects and remote_check:
        remote_issues, missing = _remote_issues(remote, remote_error, new_objects, settings)
        issues += remote_issues
    present = [t.pid for t in touched.values() if (root / PRODUCTS_DIR / t.pid).is_dir()]
    if data and present and remote is not None and ".dvc/config" not in settings_changed:
        issues += pull_data(root, present, remote, skip=missing)
    product_issues, checked = _validate(root, sorted(present), data=data,
                                        wide=catalog_changed or any(p.startswith(CATALOG_WIDE) for p in other))
    issues += product_issues
    issues += uncommitted_issues(root)
    other += [p for p in settings_changed if p != CATALOG_FILE]
    summary = ChangeSummary(base_ref, base, head, author, tuple(products), catalog_changed, tuple(other))
    return PrReport(tuple(dict.fromkeys(issues)), checked, summary)


def uncommitted_issues(root: Path) -> list[Issue]:
    """Warnings for metadata that differs from HEAD: the check (and the pull request) sees commits only."""
    raw = git(root, "status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all", "--",
               PRODUCTS_DIR, *SETTINGS_FILES)
    paths = sorted({entry[3:] for entry in raw.decode("utf-8", "surrogateescape").split("\0") if len(entry) > 3})
    if not paths:
        return []
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return [Issue(paths[0], None, WARNING, f"uncommitted changes are not part of this check: {shown}", None,
                  "commit them (git add, git commit) and run the check again", None, "pr.uncommitted")]


def _product_change(t: _Touched, versions: list[FileVersion]) -> ProductChange:
    old, new = _parse(t.base_text), _parse(t.head_text)
    kind = "new" if t.base_text is None else "deleted" if t.head_text is None else "changed"
    shown = new or old
    fields = tuple(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))) if kind == "changed" else ()
    title = shown.get("title")
    ptype = shown.get("product_type")
    return ProductChange(t.pid, kind, title if isinstance(title, str) else None,
                         ptype if isinstance(ptype, str) else None, shown.get("official") is True, fields,
                         tuple(versions), tuple(path for _, path in t.paths),
                         shown.get("status") if isinstance(shown.get("status"), str) else None)


def _relpath(pid: str) -> str:
    return f"{PRODUCTS_DIR}/{pid}/{PRODUCT_FILE}"


def _identity_issues(t: _Touched, base: str) -> list[Issue]:
    if t.base_text is None:
        return []
    rel = _relpath(t.pid)
    if t.head_text is None:
        return [Issue(rel, None, ERROR,
                      f"rule 'no-deletion': the product {t.pid!r} was deleted; products are never deleted, "
                      "because other work cites them by id", None,
                      f"restore the folder (`git checkout {base[:12]} -- {PRODUCTS_DIR}/{t.pid}`) and withdraw "
                      f"the product instead: `pz deprecate {t.pid} --reason TEXT` (or `pz retract`)",
                      t.pid, "pr.no-deletion")]
    new = _parse(t.head_text)
    old_id, new_id = _parse(t.base_text).get("id"), new.get("id")
    if new and isinstance(old_id, str) and old_id != new_id:  # (unreadable YAML is reported by validation)
        return [Issue(rel, _line_of(t.head_text, ("id",)), ERROR,
                      f"rule 'stable-ids': the id changed from {old_id!r} to {new_id!r}; ids are stable forever",
                      "id", f"restore 'id: {old_id}'; to replace the product, add a new one and run "
                      f"`pz deprecate {old_id} --reason 'superseded by NEW-ID'`", t.pid, "pr.stable-ids")]
    return []


def _is_admin(author: str | None, admins: list[str]) -> bool:
    return author is not None and author.lower() in {a.lower() for a in admins}


def _admins_text(admins: list[str]) -> str:
    return ", ".join(admins) if admins else "nobody: catalog.yaml lists no admins"


def _permission_issues(t: _Touched, admins: list[str], author: str | None) -> list[Issue]:
    if t.head_text is None or _is_admin(author, admins):
        return []  # deletion is reported whoever the author is
    was = _parse(t.base_text).get("official") is True
    now = _parse(t.head_text).get("official") is True
    if not (was or now):
        return []
    action = ("add an official product" if t.base_text is None else
              "make a product official" if now and not was else "change an official product")
    line = _line_of(t.head_text, ("official",))
    who = f"{author!r} is not one of them" if author else "run with --author LOGIN to check the author"
    message = (f"rule 'official-products': only the admins listed in catalog.yaml ({_admins_text(admins)}) "
               f"may {action}; {who}")
    hint = ("ask one of the admins to review and make this change" if was else
            "set 'official: false' (an admin can make it official later), or ask an admin to add it")
    return [Issue(_relpath(t.pid), line, ERROR if author else WARNING, message, "official", hint, t.pid,
                  "pr.official-products")]


def _settings_issues(path: str, admins: list[str], author: str | None) -> list[Issue]:
    if _is_admin(author, admins):
        return []
    who = f"{author!r} is not one of them" if author else "run with --author LOGIN to check the author"
    return [Issue(path, 1, ERROR if author else WARNING,
                  f"rule 'catalog-settings': only the admins listed in catalog.yaml ({_admins_text(admins)}) "
                  f"may change {path}; {who}", None,
                  f"leave {path} out of this pull request (`git checkout <base> -- {path}`), "
                  "or ask an admin to make the change", None, "pr.catalog-settings")]


def _remote_issues(remote: Remote | None, remote_error: str | None,
                   new_objects: dict[str, tuple[str, str | None, str]], settings: dict
                   ) -> tuple[list[Issue], set[str]]:
    """Every new object must be in the remote; returns the issues and the md5s not (known to be) there."""
    if remote is None:
        first = next(iter(new_objects.values()))
        return [Issue(first[0], None, ERROR, f"cannot check that the data was pushed: {remote_error}", None,
                      "configure the catalogue's DVC remote (see .dvc/config)", None, "pr.data-remote")], set(new_objects)
    states = check_objects(remote, new_objects)
    issues = []
    scope = (settings.get("auth") or {}).get("read_scope") if isinstance(settings.get("auth"), dict) else None
    for md5, (pointer, text, data_path) in sorted(new_objects.items(), key=lambda kv: kv[1][0]):
        state, detail = states[md5]
        if state == PRESENT:
            continue
        line = _line_of(text, ("outs", 0, "md5"))
        where = f"DVC remote {remote.name!r} ({remote.object_location(md5)})"
        product = PurePosixPath(pointer).parts[1]
        if state == MISSING:
            issues.append(Issue(pointer, line, ERROR, f"the data of {data_path} (md5 {md5}) is not in the {where}",
                                None, f"run `dvc push {pointer}` (or `dvc push`) in your clone; nothing needs "
                                "committing, then re-run the checks", product, "pr.data-pushed"))
        elif state == DENIED:
            issues.append(Issue(pointer, line, ERROR, f"the {where} refused to say whether the data of "
                                f"{data_path} is there ({detail}): the token is missing, invalid, or lacks the "
                                f"scope{f' {scope!r}' if scope else ''}", None,
                                "set the token in .dvc/config.local (`dvc remote modify --local "
                                f"{remote.name} password 'Bearer TOKEN'` with auth = custom) or in $PZ_DVC_TOKEN",
                                product, "pr.data-access"))
        else:
            issues.append(Issue(pointer, line, ERROR, f"cannot check that the data of {data_path} is in the "
                                f"{where}: {detail}", None, "check the remote, then re-run the checks",
                                product, "pr.data-remote"))
    return issues, {m for m, (state, _) in states.items() if state != PRESENT}


def pull_data(root: Path, pids: Iterable[str], remote: Remote, skip: set[str] = frozenset()  # type: ignore[assignment]
              ) -> list[Issue]:
    """``dvc pull`` the files of these products that are missing from the workspace (and only those).

    Objects in ``skip`` (known not to be in the remote) are not asked for.
    Problems are warnings: the data checks then report the files as not checked.
    """
    from site_builder.dvc.pointer import PointerError, read_pointer

    targets = []
    for pid in pids:
        folder = root / PRODUCTS_DIR / pid
        for pointer in sorted(folder.glob("*.dvc")):
            try:
                found = read_pointer(pointer)
            except (PointerError, OSError):
                continue  # reported by the data checks
            if found.md5 not in skip and not (folder / found.path).exists():
                targets.append(str(pointer.relative_to(root)))
    if not targets:
        return []
    failure = pull(root, targets, remote)
    if failure is None:
        return []
    return [Issue(targets[0], None, WARNING, f"`dvc pull` of the changed products failed: {failure}", None,
                  f"run `dvc pull {' '.join(targets)}` to see why", PurePosixPath(targets[0]).parts[1],
                  "pr.data-pull")]


def _validate(root: Path, pids: list[str], *, data: bool, wide: bool) -> tuple[list[Issue], int]:
    """Touched products in depth, reading only the products they refer to or that refer to them.

    With ``wide`` (catalog.yaml or the schemas changed) every product's metadata is checked too.
    """
    issues: list[Issue] = []
    checked = 0
    catalog = load_catalog(root)  # read once for every check below
    if wide:
        report = validate_catalog(catalog, None, data=False)
        issues += report.issues
        checked = report.checked
    if pids and (data or not wide):
        for pid in pids:
            # The product in place, checked as `pz add` checks a new one: its own rules and data,
            # and its references resolved by reading only the products it names.
            issues += validate_product_folder(catalog, root / PRODUCTS_DIR / pid, pid, data=data).issues
        issues += cycle_issues(root, pids)
        issues += referrer_issues(catalog, pids)
        checked = max(checked, len(pids))
    return issues, checked


def cycle_issues(root: Path, pids: list[str]) -> list[Issue]:
    """Provenance loops through the touched products (only their ancestors are read)."""
    folders = set(iter_product_folders(root))
    sources: dict[str, ProductSource] = {}
    todo = [pid for pid in pids if pid in folders]
    while todo:
        pid = todo.pop()
        if pid in sources:
            continue
        sources[pid] = source = read_product(root, pid)
        prov = source.data.get("provenance")
        parents = prov.get("derived_from") if isinstance(prov, dict) else None
        todo += [p for p in parents or [] if isinstance(p, str) and p in folders and p not in sources]
    return check_cycles(list(sources.values()))


def referrer_issues(catalog: Catalog, pids: list[str]) -> list[Issue]:
    """References from untouched products to the touched ones (e.g. a validation_set whose type changed).

    Only the product files that mention a touched id are parsed.
    """
    root, folders = catalog.root, catalog.folders
    touched = set(pids)
    needles = [pid.encode() for pid in pids]
    base = root / PRODUCTS_DIR
    hits = []
    for folder in folders:
        if folder in touched:
            continue
        try:
            raw = (base / folder / PRODUCT_FILE).read_bytes()
        except OSError:
            continue
        if any(needle in raw for needle in needles):
            hits.append(read_product(root, folder))
    if not hits:
        return []
    types: dict[str, str | None] = dict.fromkeys(folders)
    for source in hits:
        data = source.data
        prov = data.get("provenance")
        refs = [data.get("validation_set"), data.get("superseded_by"),
                *(prov.get("derived_from") or [] if isinstance(prov, dict) else [])]
        for ref in refs:
            if isinstance(ref, str) and ref in types and types[ref] is None:
                types[ref] = read_product(root, ref).data.get("product_type")
    ctx = catalog.context(types)
    issues = []
    for source in hits:
        issues += [i for i in check_references(source, ctx) if i.rule != "ref.release"]
    return issues
