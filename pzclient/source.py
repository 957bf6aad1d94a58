"""Where a catalogue comes from: a published site (its JSON API and DVC remote) or a clone.

Both sources hand out the documents of the static JSON API v1 (``products.json`` entries,
``products/<id>.json``, releases, product types), so the rest of the client has one code path.
A :class:`SiteSource` fetches them over HTTP and objects from the DVC remote by md5; a
:class:`LocalSource` builds them from ``products/`` and reads objects from the DVC cache.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .cache import ObjectCache
from .errors import CorruptObjectError, ObjectNotFoundError, ProductNotFoundError, PzClientError
from .http import HttpClient, origin

__all__ = ["PRODUCT_TYPES", "LocalSource", "SiteSource", "read_token"]

#: The product types (name, display name, tabular) for catalogues read from a clone (a site's
#: JSON API lists its own). The client must not import the builder, so this comes from
#: product_types.json, written from site_builder/catalog/model.py (a test keeps both in step).
PRODUCT_TYPES = tuple(
    (t["name"], t["display_name"], t["tabular"])
    for t in json.loads((Path(__file__).parent / "product_types.json").read_text(encoding="utf-8"))
)
#: Token file read when neither ``token=`` nor ``$ACCESS_TOKEN`` is given.
DEFAULT_TOKEN_FILE = Path("~/.config/pzclient/token")
Progress = Callable[[int], None]


def read_token(token: str | None = None, token_file: str | Path | None = None) -> str | None:
    """The token to send: the argument, else ``$ACCESS_TOKEN``, else the token file.

    The token file is ``token_file``, else ``$PZCLIENT_TOKEN_FILE``, else
    ``~/.config/pzclient/token`` (first line; make it readable by you only).
    """
    if token:
        return token.strip()
    if os.environ.get("ACCESS_TOKEN", "").strip() and token_file is None:
        return os.environ["ACCESS_TOKEN"].strip()
    path = Path(token_file or os.environ.get("PZCLIENT_TOKEN_FILE") or DEFAULT_TOKEN_FILE).expanduser()
    if token_file is not None and not path.is_file():
        raise PzClientError(f"{path}: token file not found; write your RSP token in it, or pass "
                            "token=... instead")
    if path.is_file():
        lines = path.read_text(encoding="utf-8").split()
        return lines[0] if lines else None
    return None


class SiteSource:
    """A published catalogue: ``<url>/api/v1/`` and the DVC remote it names.

    Parameters
    ----------
    url
        The site (``https://pz-server.lsst.io``); a URL ending in ``/api/v1`` works too.
    remote
        URL of the DVC remote, when it is not the one ``index.json`` names. By default the
        remote named by the catalogue is used; if it lives under the catalogue's own
        ``site_url``, it is taken relative to ``url`` (so a mirror or a test stack works).
    """

    def __init__(self, url: str, *, token: str | None, remote: str | None = None,
                 retries: int = 5) -> None:
        base = url.rstrip("/")
        for suffix in ("/api/v1", "/index.json"):
            base = base.removesuffix(suffix)
        self.url = base
        self.api = f"{base}/api/v1"
        self.http = HttpClient(token, [base] + ([remote] if remote else []), retries=retries)
        self.index = self.http.get_json(f"{self.api}/index.json", "the catalogue index")
        if not isinstance(self.index, dict) or self.index.get("api_version") != "v1":
            raise PzClientError(f"{self.api}/index.json: not a PZ Server API v1 index; check the URL")
        self.remote = (remote or self._remote_from_index()).rstrip("/")
        self._products: list[dict] | None = None

    def __repr__(self) -> str:
        return f"SiteSource({self.url!r})"

    def _remote_from_index(self) -> str:
        declared = str((self.index.get("dvc_remote") or {}).get("url") or "")
        site = str(self.index.get("site_url") or "").rstrip("/")
        if not declared:
            return f"{self.url}/dvc"
        if site and (declared == site or declared.startswith(site + "/")):
            return self.url + declared[len(site):]
        return declared  # another origin: the token is not sent there (see HttpClient)

    @property
    def name(self) -> str:
        return str(self.index.get("name") or "PZ Server")

    def products_list(self) -> list[dict]:
        if self._products is None:
            doc = self.http.get_json(f"{self.api}/products.json", "the list of products")
            self._products = list(doc.get("products") or [])
        return self._products

    def product(self, product_id: str) -> dict:
        url = f"{self.api}/products/{quote(product_id, safe='')}.json"
        try:
            return self.http.get_json(url, f"product {product_id!r}")
        except ObjectNotFoundError:
            raise ProductNotFoundError(f"no product {product_id!r} in {self.url}") from None

    def history(self, product_id: str, doc: dict) -> list[dict]:
        return list(doc.get("history") or [])

    def releases(self) -> list[dict]:
        return list(self.http.get_json(f"{self.api}/releases.json", "the releases")["releases"])

    def product_types(self) -> list[dict]:
        doc = self.http.get_json(f"{self.api}/product-types.json", "the product types")
        return list(doc["product_types"])

    def object_url(self, md5: str) -> str:
        return f"{self.remote}/files/md5/{md5[:2]}/{md5[2:]}"

    def fetch(self, md5: str, size: int | None, label: str, cache: ObjectCache,
              progress: Progress | None = None, read: Callable[[Path], Any] | None = None) -> Any:
        """The verified object: from the cache, or downloaded (resumably) into it.

        With ``read``, return ``read(path)`` instead of the path. When the object has to be
        downloaded, ``read`` runs on the downloaded file while its md5 is still being computed
        (on two cores this hides most of the hashing), and its result is returned only once
        the md5 is found right; otherwise the object is fetched again and read again.
        """
        if (found := cache.find(md5)) is not None:
            if progress:
                progress(found.stat().st_size)
            return read(found) if read else found
        part = cache.part(md5)
        part.parent.mkdir(parents=True, exist_ok=True)
        with _locked(part.with_name(part.name + ".lock")):  # one writer per object, across processes
            if (found := cache.find(md5)) is not None:  # another process has just fetched it
                if progress:
                    progress(found.stat().st_size)
                return read(found) if read else found
            return self._download(md5, size, label, cache, part, progress, read)

    def _download(self, md5: str, size: int | None, label: str, cache: ObjectCache, part: Path,
                  progress: Progress | None, read: Callable[[Path], Any] | None) -> Any:
        url = self.object_url(md5)
        what = f"the data of {label} (md5 {md5})"
        for attempt in (1, 2):
            try:
                digest = self.http.fetch(url, part, size=size, what=what, progress=progress)
            except ObjectNotFoundError:
                raise ObjectNotFoundError(
                    f"{url}: 404 Not Found: the data of {label} (md5 {md5}) is not in the DVC "
                    "remote; it was probably never pushed: ask the product's owner to run "
                    "`dvc push` for it") from None
            result, error = None, None
            if read is not None:
                try:
                    result = read(part)
                except Exception as err:  # judged after the md5: corrupt data may not parse
                    error = err
            got = digest()
            if got == md5:
                path = cache.add(md5, part)
                if error is not None:
                    raise error
                return result if read is not None else path
            part.unlink(missing_ok=True)  # corrupt: fetch the whole object once more
            if progress:
                progress(-(size or 0))
            if attempt == 2:
                raise CorruptObjectError(
                    f"{url}: the data of {label} has md5 {got}, not {md5}, twice in a row: the "
                    "copy in the DVC remote is corrupt; report it to the catalogue maintainers")
        raise AssertionError("unreachable")


class LocalSource:
    """A clone of the catalogue repository: ``products/`` and the DVC cache (``.dvc/cache``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not (self.root / "products").is_dir():
            raise PzClientError(f"{self.root}: no products/ folder; give the root of a clone of "
                                "the catalogue, or the site's URL")
        self.url = str(self.root)
        self.settings = _read_yaml(self.root / "catalog.yaml") if (self.root / "catalog.yaml").is_file() else {}
        self.index = {"name": self.settings.get("name"), "site_url": self.settings.get("site_url")}
        self._products: list[dict] | None = None
        self._docs: dict[str, dict] = {}

    def __repr__(self) -> str:
        return f"LocalSource({str(self.root)!r})"

    @property
    def name(self) -> str:
        return str(self.settings.get("name") or "PZ Server")

    def _ids(self) -> list[str]:
        return sorted(p.parent.name for p in (self.root / "products").glob("*/product.yaml"))

    def products_list(self) -> list[dict]:
        if self._products is None:
            ids = self._ids()
            with ThreadPoolExecutor(4) as pool:
                docs = list(pool.map(self.product, ids))
            self._products = [_entry(doc) for doc in docs]
        return self._products

    def product(self, product_id: str) -> dict:
        if product_id in self._docs:
            return self._docs[product_id]
        folder = self.root / "products" / product_id
        if "/" in product_id or product_id.startswith(".") or not (folder / "product.yaml").is_file():
            raise ProductNotFoundError(f"no product {product_id!r} in {self.root}/products")
        metadata = _jsonable(_read_yaml(folder / "product.yaml"))
        summary = None
        if (folder / "summary.json").is_file():
            import json

            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        files = []
        for entry in metadata.get("files") or []:
            pointer = folder / f"{entry.get('path')}.dvc"
            md5 = size = None
            if pointer.is_file():
                md5, size = _pointer(pointer.read_text(encoding="utf-8"))
            files.append({**{k: entry.get(k) for k in ("path", "role", "format", "table", "description")},
                          "size": size, "md5": md5,
                          "remote_path": f"files/md5/{md5[:2]}/{md5[2:]}" if md5 else None, "url": None})
        doc = {"api_version": "v1", "id": product_id, "metadata": metadata, "files": files,
               "summary": summary, "history": None}
        self._docs[product_id] = doc
        return doc

    def history(self, product_id: str, doc: dict) -> list[dict]:
        """Commits that changed the product, newest first, with each tracked file's md5."""
        folder = f"products/{product_id}"
        log = _git(self.root, "log", "--format=%H%x1f%aI%x1f%an%x1f%s", "--", folder,
                   f":(exclude){folder}/summary.json")
        history = []
        for line in log.splitlines():
            sha, date, author, message = line.split("\x1f", 3)
            names = _git(self.root, "ls-tree", "--name-only", sha, f"{folder}/").splitlines()
            md5s = {}
            for name in names:
                if name.endswith(".dvc"):
                    md5, _ = _pointer(_git(self.root, "show", f"{sha}:{name}"))
                    md5s[name[len(folder) + 1:-4]] = md5
            history.append({"commit": sha, "date": date, "author": author, "message": message,
                            "md5s": dict(sorted(md5s.items()))})
        return history

    def releases(self) -> list[dict]:
        out = []
        for r in self.settings.get("releases") or []:
            count = [p for p in self.products_list() if p.get("release") == r.get("name")]
            out.append({"name": r.get("name"), "display_name": r.get("display_name") or r.get("name"),
                        "description": r.get("description"), "products": len(count),
                        "official": sum(bool(p.get("official")) for p in count)})
        return out

    def product_types(self) -> list[dict]:
        products = self.products_list()
        return [{"name": n, "display_name": d, "description": None, "tabular": t,
                 "products": sum(p.get("product_type") == n for p in products)}
                for n, d, t in PRODUCT_TYPES]

    def fetch(self, md5: str, size: int | None, label: str, cache: ObjectCache,
              progress: Progress | None = None, read: Callable[[Path], Any] | None = None) -> Any:
        """The object from the DVC cache (or the workspace copy), checked against its md5."""
        candidates = [self.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]]
        product, _, path = label.partition("/")
        if path and "@" not in path:
            candidates.append(self.root / "products" / product / path)
        corrupt = []
        for candidate in candidates:
            if not candidate.is_file():
                continue
            if cache.find(md5, candidate) is not None:
                if progress:
                    progress(candidate.stat().st_size)
                return read(candidate) if read else candidate
            corrupt.append(str(candidate))
        if corrupt:
            raise CorruptObjectError(f"{', '.join(corrupt)}: not the data of {label} (md5 {md5}); "
                                     "run `dvc pull --force` in the clone to restore it")
        raise ObjectNotFoundError(
            f"{label}: its data (md5 {md5}) is not in the DVC cache of {self.root}; run "
            "`dvc pull` there (for an older version: `dvc fetch --all-commits`), or open the "
            "site's URL instead of the clone")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock between processes (threads share the md5 check)
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _entry(doc: dict) -> dict:
    """A ``products.json`` entry made from a product document (as the site's API does)."""
    d, files = doc["metadata"], doc["files"]
    main = next((f for f in files if f.get("role") == "main"), files[0] if files else None)
    stats = ((doc.get("summary") or {}).get("files") or {}).get(main["path"]) if main else None
    columns = [c.get("name") for c in d.get("columns") or [] if isinstance(c, dict)]
    return {
        "id": doc["id"], "title": d.get("title"), "summary": d.get("summary"),
        "product_type": d.get("product_type"), "official": d.get("official") is True,
        "status": d.get("status"), "release": d.get("release"),
        "owner": (d.get("owner") or {}).get("github"), "survey": d.get("survey") or [],
        "tags": d.get("tags") or [], "created": d.get("created"), "updated": d.get("updated"),
        "num_rows": stats.get("num_rows") if isinstance(stats, dict) else None,
        "size": main.get("size") if main else None, "columns": columns, "pz_code": d.get("pz_code"),
    }


def _read_yaml(path: Path) -> dict:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _jsonable(value: Any) -> Any:
    """YAML dates as ISO strings, as the JSON API has them."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _pointer(text: str) -> tuple[str, int | None]:
    import yaml

    data = yaml.safe_load(text) or {}
    outs = data.get("outs") or [{}]
    md5 = str(outs[0].get("md5") or "")
    if len(md5) != 32:
        raise PzClientError(f"a .dvc pointer without an md5: {text[:200]!r}")
    return md5, outs[0].get("size")


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-c", "core.quotePath=off", *args], cwd=root,
                              capture_output=True, text=True, check=False)
    except OSError:
        raise PzClientError("git is needed to read older versions from a clone; install it") from None
    if done.returncode != 0:
        raise PzClientError(f"git {' '.join(args[:2])} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b)
