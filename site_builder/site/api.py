"""The static JSON API, version 1, published under ``/api/v1/`` beside the site.

Two phases, as for the site: :func:`collect_records` reads every product once (metadata,
summary, DVC pointers) and the history of ``products/`` from a single ``git log``, into
:class:`ProductRecord` values that the product pages can reuse; :func:`build_api` then renders
and writes the JSON files and copies their JSON Schemas (``schemas/api/``).

Keys are only ever added to a response, never renamed, removed or retyped; clients ignore keys
they do not know (the schemas allow them); a breaking change would be published as ``/api/v2/``.
The JSON is data: strings are written as given (``ensure_ascii=False``) and a page that embeds
them must escape them itself.
"""

from __future__ import annotations

import codecs
import json
import re
import shlex
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from site_builder.catalog.catalog import Catalog, as_catalog
from site_builder.catalog.model import PRODUCT_TYPES
from site_builder.catalog.schema import SCHEMA_DIR
from site_builder.catalog.settings import CatalogSettings, RemoteSettings
from site_builder.catalog.source import PRODUCTS_DIR, paused_gc, read_product
from site_builder.dvc.git import find_git_output
from site_builder.dvc.pointer import read_pointer
from site_builder.errors import DataFileError, PzError
from site_builder.tables.summary import SUMMARY_FILE, read_summary

__all__ = ["API_VERSION", "NOW", "ApiBuildError", "ProductRecord", "build_api", "collect_records",
           "product_entry", "read_history", "read_history_update", "read_record_parts",
           "render_get", "render_product_json", "write_api_listings"]

API_VERSION = "v1"
API_PATH = f"/api/{API_VERSION}"
API_SCHEMA_DIR = SCHEMA_DIR / "api"
SCHEMA_NAMES = ("index", "products", "product", "releases", "product-types")
#: Default of ``generated_at``: stamp the build with the current UTC time (None leaves it out).
NOW = "now"
STABILITY = (
    f"Responses under {API_PATH}/ only ever gain keys: a documented key is never renamed, "
    "removed or given another type. Clients must ignore keys they do not know. "
    "A breaking change would be published under /api/v2/, next to this version."
)
_GIT_FORMAT = "%x1e%H%x1f%aI%x1f%an%x1f%s"
# The md5 of an entry of `outs:` in an added line of a .dvc diff (not a top-level `md5:`).
_MD5_LINE = re.compile(r"^\+(?:- |  )md5: *['\"]?([0-9a-f]{32})['\"]? *$")


class ApiBuildError(PzError):
    """The JSON API cannot be built from the catalogue as it is."""


@dataclass(frozen=True)
class ProductRecord:
    """Everything the API and the product page need about one product, read once.

    ``files`` are the ``files`` entries of product.yaml with ``size``, ``md5``, ``remote_path``
    (``files/md5/<2 hex>/<30 hex>``) and ``url`` (in the DVC remote) added; those four are None
    for a file without a ``.dvc`` pointer. ``outputs`` are the ids of the products whose
    ``provenance.derived_from`` lists this one; ``history`` the commits that changed the
    product (newest first), each with the md5 of every tracked file after that commit.
    """

    id: str
    metadata: dict[str, Any]
    summary: dict[str, Any] | None
    files: list[dict[str, Any]]
    outputs: list[str]
    history: list[dict[str, Any]]

    @property
    def main_file(self) -> dict[str, Any] | None:
        """The file with role ``main`` (the first file if none says so)."""
        return next((f for f in self.files if f["role"] == "main"), self.files[0] if self.files else None)

    @property
    def main_summary(self) -> dict[str, Any] | None:
        """The summary of the main file, if it has one."""
        main, files = self.main_file, (self.summary or {}).get("files")
        entry = files.get(main["path"]) if main and isinstance(files, dict) else None
        return entry if isinstance(entry, dict) else None


def collect_records(catalog: Catalog | Path) -> list[ProductRecord]:
    """Read every product of the catalogue once, sorted by id.

    Raises
    ------
    ApiBuildError
        A product.yaml, summary.json or ``.dvc`` pointer cannot be read (every problem is
        listed, one GNU-style line each).
    """
    catalog = as_catalog(catalog)
    root, remote = catalog.root, catalog.settings.remote_url  # `pz validate` reports bad settings
    problems, read = [], []
    with ThreadPoolExecutor(1) as git, paused_gc():  # git log runs while the files are read
        history = git.submit(read_history, root)
        for folder in catalog.folders:
            try:
                read.append((folder, *read_record_parts(root, folder, remote)))
            except ApiBuildError as err:
                problems.append(str(err))
        histories = history.result()
    if problems:
        raise ApiBuildError("\n".join([*problems, f"{len(problems)} products cannot be read; "
                                       "run `pz validate` for details"]))
    outputs: dict[str, set[str]] = {}
    for folder, data, _, _ in read:
        for parent in _list(_dict(data.get("provenance")).get("derived_from")):
            outputs.setdefault(str(parent), set()).add(folder)
    return [ProductRecord(folder, data, summary, files, sorted(outputs.get(folder, ())),
                          histories.get(folder, []))
            for folder, data, summary, files in read]


def read_record_parts(root: Path, folder: str, remote: str | None
                      ) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """Metadata, summary and file entries of ``products/<folder>/`` (see :class:`ProductRecord`).

    Raises
    ------
    ApiBuildError
        One GNU-style line saying what cannot be read.
    """
    source = read_product(root, folder)
    if source.doc is None or not isinstance(source.doc.data, dict):
        where = f"{source.relpath}:{source.error_line}" if source.error_line else source.relpath
        raise ApiBuildError(f"{where}: error: {source.error or 'product.yaml is not a mapping'}")
    try:
        summary = read_summary(source.dir)
        files = [_file_entry(source.dir, f, remote) for f in _list(source.data.get("files"))
                 if isinstance(f, dict) and isinstance(f.get("path"), str)]
    except DataFileError as err:
        raise ApiBuildError(f"{PRODUCTS_DIR}/{folder}: error: {err}") from None
    return source.data, summary, files


def _file_entry(folder: Path, entry: dict[str, Any], remote: str | None) -> dict[str, Any]:
    pointer = folder / f"{entry['path']}.dvc"
    md5 = size = remote_path = None
    if pointer.is_file():
        found = read_pointer(pointer)  # PointerError is a DataFileError
        md5, size = found.md5, found.size
        remote_path = f"files/md5/{md5[:2]}/{md5[2:]}"
    return {
        "path": entry["path"], "role": entry.get("role"), "format": entry.get("format"),
        "table": entry.get("table"), "description": entry.get("description"), "size": size, "md5": md5,
        "remote_path": remote_path, "url": f"{remote}/{remote_path}" if remote and remote_path else None,
    }


def read_history(root: Path, *, since: str | None = None,
                 known: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The commits that changed each product, newest first, from ``git log`` of ``products/``.

    Each entry is ``{commit, date, author, message, md5s}``: ``date`` is the author date (ISO
    8601), ``message`` the subject line, ``md5s`` the md5 of each DVC-tracked file of the product
    (``{file: md5}``) as of that commit. Commits that only change ``summary.json`` (derived from
    the data) are left out. Outside a git repository, or without git, every history is empty; in
    a shallow clone it starts at the oldest commit fetched.

    Two logs: the files each commit changed (names only), and the diffs of the ``.dvc`` pointers
    alone (a diff of every product.yaml would be a hundred megabytes at 10,000 products).
    """
    options = ["-c", "log.showRoot=true", "-c", "log.showSignature=false",
               "log", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--relative",
               "--encoding=UTF-8", *([f"{since}..HEAD"] if since else [])]
    names = find_git_output(root, *options, "--name-only", f"--format={_GIT_FORMAT}", "--", PRODUCTS_DIR,
                            f":(exclude){PRODUCTS_DIR}/*/{SUMMARY_FILE}")
    if names is None:  # not a git repository (or no commit yet, or no git)
        return {}
    pointers = find_git_output(root, *options, "--src-prefix=a/", "--dst-prefix=b/", "-p", "--unified=0",
                               "--format=%x1e%H", "--", f"{PRODUCTS_DIR}/*.dvc") or b""
    return _parse_log(names.decode("utf-8", "replace"), pointers.decode("utf-8", "replace"), known or {})


def read_history_update(root: Path, head: str | None, known: dict[str, list[dict[str, Any]]]
                        ) -> tuple[str | None, dict[str, list[dict[str, Any]]]]:
    """The history of every product at HEAD, reading only the commits after ``head``.

    ``known`` is the result of an earlier call at commit ``head``; when that commit is an
    ancestor of HEAD, only the newer commits are read (a rebuild after one commit reads one
    commit), otherwise the whole history is. Returns ``(HEAD, history)``; HEAD is None outside
    a git repository.
    """
    now = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if now is None:
        return None, {}
    if head == now:
        return now, known
    if head is not None and _git(root, "merge-base", "--is-ancestor", head, now) is not None:
        newer = read_history(root, since=head, known=known)
        return now, {p: newer.get(p, []) + known.get(p, []) for p in {*newer, *known}}
    return now, read_history(root)


def _git(root: Path, *args: str) -> str | None:
    out = find_git_output(root, *args)
    return out.decode("utf-8", "replace").strip() if out is not None else None


def _parse_log(names: str, pointers: str, known: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The histories from the two logs of :func:`read_history` (``known``: those before them)."""
    md5s = _pointer_changes(pointers)
    commits: list[tuple[dict[str, Any], dict[str, dict[str, str | None]]]] = []
    for line in names.split("\n"):
        if line.startswith("\x1e"):
            sha, date, author, message = line[1:].split("\x1f", 3)  # the subject is last: it may hold anything
            commits.append(({"commit": sha, "date": date, "author": author, "message": message},
                            md5s.get(sha, {})))
        elif line and commits:
            parts = _unquote(line).split("/", 2)
            if len(parts) == 3 and parts[0] == PRODUCTS_DIR:
                commits[-1][1].setdefault(parts[1], {})
    # The md5s of each product's files before the first of these commits.
    state = {p: dict(entries[0]["md5s"]) for p, entries in known.items() if entries}
    history: dict[str, list[dict[str, Any]]] = {}
    for meta, touched in reversed(commits):  # oldest first, to know every file's md5 at each commit
        for product, changes in touched.items():
            files = state.setdefault(product, {})
            for name, md5 in changes.items():
                if md5 is None:
                    files.pop(name, None)
                else:
                    files[name] = md5
            history.setdefault(product, []).append({**meta, "md5s": dict(sorted(files.items()))})
    for entries in history.values():
        entries.reverse()
    return history


def _pointer_changes(text: str) -> dict[str, dict[str, dict[str, str | None]]]:
    """``{commit: {product: {file: md5, or None when its pointer was deleted}}}`` from the diffs
    of ``.dvc`` pointers."""
    found: dict[str, dict[str, dict[str, str | None]]] = {}
    commit: dict[str, dict[str, str | None]] | None = None
    changes: dict[str, str | None] | None = None  # md5 changes of the current product in this commit
    tracked: str | None = None  # data file of the .dvc pointer whose diff is being read
    for line in text.split("\n"):
        if line.startswith("\x1e"):
            commit = found.setdefault(line[1:].strip(), {})
            changes = tracked = None
        elif line.startswith("diff --git ") and commit is not None:
            parts = _diff_path(line[11:]).split("/", 2)
            if len(parts) == 3 and parts[0] == PRODUCTS_DIR and parts[2].endswith(".dvc"):
                changes = commit.setdefault(parts[1], {})
                tracked = parts[2][:-4]
            else:
                changes = tracked = None
        elif tracked is not None and changes is not None:
            if line.startswith("deleted file mode"):
                changes[tracked] = None
            elif (match := _MD5_LINE.match(line)) is not None:
                changes[tracked] = match.group(1)
    return found


def _unquote(path: str) -> str:
    """A path as git writes it: as is, or C-quoted when it holds special characters."""
    if not path.startswith('"') or not path.endswith('"'):
        return path
    raw = codecs.escape_decode(path[1:-1].encode("utf-8"))[0]
    return bytes(raw).decode("utf-8", "replace")


def _diff_path(header: str) -> str:
    """The path of ``a/<path> b/<path>`` (renames are off, so both are equal), C-quoted or not."""
    if not header.startswith('"'):
        return header[2:2 + (len(header) - 5) // 2]
    end, escaped = 1, False
    while end < len(header) and (escaped or header[end] != '"'):
        escaped = not escaped and header[end] == "\\"
        end += 1
    raw = codecs.escape_decode(header[1:end].encode("utf-8"))[0]
    return bytes(raw).decode("utf-8", "replace")[2:]


def build_api(catalog: Catalog | Path, out: Path, records: list[ProductRecord] | None = None, *,
              generated_at: str | None = NOW) -> list[Path]:
    """Write the JSON API of the catalogue into ``out/api/v1/``.

    Parameters
    ----------
    catalog
        The catalogue (or its repository root).
    out
        Site output folder; ``api/v1/products/`` is left holding exactly this build's products.
    records
        The products, when the caller has already collected them (:func:`collect_records`).
    generated_at
        Time stamp of ``index.json``: :data:`NOW` for the current UTC time, None to leave it
        out (byte-identical output for identical input), or an ISO 8601 string.

    Returns
    -------
    list of Path
        Every file written, schemas included.
    """
    catalog = as_catalog(catalog)
    settings = catalog.settings
    if records is None:
        records = collect_records(catalog)
    with paused_gc():
        texts = {f"products/{r.id}.json": render_product_json(settings, r) for r in records}
    base = out / "api" / API_VERSION
    (base / "products").mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in texts.items():
        (base / rel).write_bytes(text)
        written.append(base / rel)
    for stale in (base / "products").glob("*.json"):  # a product folder renamed since the last build
        if f"products/{stale.name}" not in texts:
            stale.unlink()
    return written + write_api_listings(out, settings, records, [product_entry(r) for r in records],
                                        generated_at=generated_at)


def render_product_json(settings: CatalogSettings, record: ProductRecord) -> bytes:
    """The bytes of ``products/<id>.json``."""
    return _dumps(f"products/{record.id}.json", render_product(settings, record), True)


def write_api_listings(out: Path, settings: CatalogSettings, records: list[ProductRecord], entries: list[dict], *,
                       generated_at: str | None = NOW) -> list[Path]:
    """Write ``index.json``, ``products.json``, ``releases.json``, ``product-types.json`` and the schemas.

    ``records`` need only their metadata's ``product_type``, ``official``, ``status`` and
    ``release``; ``entries`` are the :func:`product_entry` of every product, in id order.
    """
    if generated_at == NOW:
        generated_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    documents: dict[str, tuple[Any, bool]] = {  # relative path: (document, compact)
        "index.json": (render_index(settings, records, generated_at), False),
        "products.json": (render_products(entries), True),
        "releases.json": (render_releases(settings, records), False),
        "product-types.json": (render_product_types(records), False),
    }
    base = out / "api" / API_VERSION
    (base / "schemas").mkdir(parents=True, exist_ok=True)
    written = []
    for rel, (doc, compact) in documents.items():
        (base / rel).write_bytes(_dumps(rel, doc, compact))
        written.append(base / rel)
    for name in SCHEMA_NAMES:
        written.append(Path(shutil.copyfile(API_SCHEMA_DIR / f"{name}.schema.json",
                                            base / "schemas" / f"{name}.schema.json")))
    return written


def _dumps(rel: str, document: Any, compact: bool) -> bytes:
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False,
                          **({"separators": (",", ":")} if compact else {"indent": 2}))
    except ValueError as err:  # NaN or infinity: not JSON
        raise ApiBuildError(f"{API_PATH}/{rel}: error: {err}; write such values as null "
                            "or a string in product.yaml") from None
    return (text + "\n").encode("utf-8")


def render_index(settings: CatalogSettings, records: list[ProductRecord], generated_at: str | None) -> dict:
    """``index.json``: what the catalogue is, how many products of each kind, where the rest is."""
    by_type = dict.fromkeys(PRODUCT_TYPES, 0)
    for record in records:
        kind = str(record.metadata.get("product_type"))
        by_type[kind] = by_type.get(kind, 0) + 1
    remote = settings.dvc_remote or RemoteSettings()
    index = {
        "api_version": API_VERSION, "name": settings.name, "description": settings.description,
        "site_url": settings.site_url, "repository_url": settings.repository_url,
        "dvc_remote": {"name": remote.name, "url": remote.url},
        "generated_at": generated_at,
        "counts": {
            "products": len(records),
            "official": sum(r.metadata.get("official") is True for r in records),
            "by_type": by_type,
            "by_status": dict(sorted(Counter(str(r.metadata.get("status")) for r in records).items())),
        },
        "links": {
            "products": "products.json", "product": "products/{id}.json", "releases": "releases.json",
            "product_types": "product-types.json",
            "schemas": {name: f"schemas/{name}.schema.json" for name in SCHEMA_NAMES},
        },
        "stability": STABILITY,
    }
    if generated_at is None:
        del index["generated_at"]
    return index


def render_products(entries: list[dict]) -> dict:
    """``products.json``: the :func:`product_entry` of every product, for the catalogue page and search."""
    return {"api_version": API_VERSION, "count": len(entries), "products": entries}


def product_entry(record: ProductRecord) -> dict:
    """The short entry of a product in ``products.json``."""
    d, main, stats = record.metadata, record.main_file, record.main_summary
    columns = [c.get("name") for c in _list(d.get("columns")) if isinstance(c, dict)]
    if not columns and stats:
        columns = [c.get("name") for c in _list(stats.get("columns")) if isinstance(c, dict)]
    return {
        "id": record.id, "title": d.get("title"), "summary": d.get("summary"),
        "product_type": d.get("product_type"), "official": d.get("official") is True,
        "status": d.get("status"), "release": d.get("release"), "owner": _dict(d.get("owner")).get("github"),
        "survey": _list(d.get("survey")), "tags": _list(d.get("tags")), "created": d.get("created"),
        "updated": d.get("updated") or (record.history[0]["date"][:10] if record.history else None),
        "num_rows": stats.get("num_rows") if stats else None, "size": main["size"] if main else None,
        "columns": columns, "pz_code": d.get("pz_code"),
    }


def render_product(settings: CatalogSettings, record: ProductRecord) -> dict:
    """``products/<id>.json``: the metadata as given, files, summary, lineage, history, how to get it."""
    page, json_path = f"/products/{quote(record.id)}/", f"{API_PATH}/products/{quote(record.id)}.json"
    site = str(settings.site_url or "").rstrip("/")
    return {
        "api_version": API_VERSION, "id": record.id, "metadata": record.metadata, "files": record.files,
        "summary": record.summary, "outputs": record.outputs, "history": record.history,
        "citation": _citation(settings, record, site + page if site else page),
        "links": {"page": page, "json": json_path, "page_url": site + page if site else None,
                  "json_url": site + json_path if site else None,
                  "schema": f"{API_PATH}/schemas/product.schema.json"},
        "get": render_get(settings, record),
    }


def _citation(settings: CatalogSettings, record: ProductRecord, page: str) -> str:
    d = record.metadata
    if isinstance(d.get("citation"), str) and d["citation"].strip():
        return d["citation"]
    owner = _dict(d.get("owner"))
    who = owner.get("name") or owner.get("github") or "unknown"
    year = str(d.get("created") or "")[:4] or "n.d."
    doi = f", doi:{d['doi']}" if d.get("doi") else ""
    return f"{who} ({year}), {d.get('title') or record.id}, {settings.name or 'PZ Server'}, {page}{doi}"


def render_get(settings: CatalogSettings, record: ProductRecord) -> dict:
    """Ready-to-copy commands for the main file (shell-quoted: file names are untrusted)."""
    main, repo = record.main_file, settings.repository_url
    path = f"{PRODUCTS_DIR}/{record.id}/{main['path']}" if main else None
    get = f"dvc get {shlex.quote(str(repo))} {shlex.quote(path)}" if path and repo else None
    token = ' --remote-config auth=custom custom_auth_header=Authorization password="Bearer $ACCESS_TOKEN"'
    return {
        "main_file": path, "dvc_get": get, "dvc_get_with_token": get + token if get else None,
        "dvc_pull": f"dvc pull {shlex.quote(path + '.dvc')}" if path else None,
        "python": (f"from pzclient import open_catalog\n\ncatalog = open_catalog()\n"
                   f"table = catalog.load({json.dumps(record.id)})"),
    }


def render_releases(settings: CatalogSettings, records: list[ProductRecord]) -> dict:
    """``releases.json``: the releases of catalog.yaml with their product counts."""
    counts = Counter(r.metadata.get("release") for r in records)
    official = Counter(r.metadata.get("release") for r in records if r.metadata.get("official") is True)
    releases = [{"name": r.name, "display_name": r.display_name or r.name, "description": r.description,
                 "products": counts[r.name], "official": official[r.name]}
                for r in settings.releases]
    return {"api_version": API_VERSION, "releases": releases}


def render_product_types(records: list[ProductRecord]) -> dict:
    """``product-types.json``: the seven product types, their rules and product counts."""
    counts = Counter(r.metadata.get("product_type") for r in records)
    types = [{"name": t.name, "display_name": t.display_name, "description": t.description,
              "tabular": t.tabular, "required_roles": list(t.required_roles),
              "release_allowed": t.release_allowed, "pz_code_allowed": t.pz_code_allowed,
              "validation_set_allowed": t.validation_set_allowed, "products": counts[t.name]}
             for t in PRODUCT_TYPES.values()]
    return {"api_version": API_VERSION, "product_types": types}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
