"""``open_catalog``: list, search and open the products of a PZ Server catalogue."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import pandas as pd

from .cache import ObjectCache
from .errors import ProductNotFoundError
from .html import html_table
from .product import Product
from .source import LocalSource, SiteSource, read_token

__all__ = ["DEFAULT_URL", "Catalog", "open_catalog"]

#: The catalogue opened by ``open_catalog()`` without a source (``$PZCLIENT_URL`` overrides it).
DEFAULT_URL = "https://pz-server.lsst.io"
#: Columns of :meth:`Catalog.products`, in order.
LIST_COLUMNS = ["id", "title", "product_type", "release", "official", "status", "owner",
                "num_rows", "size", "created", "updated", "pz_code", "summary"]
_URL = re.compile(r"^https?://", re.IGNORECASE)


def open_catalog(source: str | os.PathLike | None = None, *, token: str | None = None,
                 token_file: str | Path | None = None, cache: str | Path | None = None,
                 remote: str | None = None, progress: bool | None = None,
                 workers: int = 4, verify: bool = False) -> Catalog:
    """Open a catalogue from its site URL or from a local clone.

    Parameters
    ----------
    source
        ``https://...`` (the site; reads ``/api/v1/`` and the DVC remote) or the path of a clone
        of the catalogue repository (reads ``products/`` and ``.dvc/cache``). Default:
        ``$PZCLIENT_URL``, else https://pz-server.lsst.io.
    token
        RSP access token with the ``read:image`` scope. Default: ``$ACCESS_TOKEN`` (set in RSP
        notebooks), else the first line of ``token_file`` / ``$PZCLIENT_TOKEN_FILE`` /
        ``~/.config/pzclient/token``.
    cache
        Folder of the object cache. Default: ``$PZCLIENT_CACHE``, else ``~/.cache/pzclient``.
    remote
        URL of the DVC remote, if not the one the site names.
    progress
        Show progress bars (default: yes, in terminals and notebooks).
    workers
        Files downloaded at the same time.
    verify
        Hash cached objects on every use, not only when their size or times changed (slower;
        finds damage that left the file's stat alone).
    """
    source = source if source is not None else os.environ.get("PZCLIENT_URL") or DEFAULT_URL
    text = os.fspath(source)
    if _URL.match(text):
        src: SiteSource | LocalSource = SiteSource(text, token=read_token(token, token_file),
                                                   remote=remote)
    else:
        src = LocalSource(text)
    return Catalog(src, ObjectCache(cache, verify=verify), progress=progress, workers=workers)


class Catalog:
    """The products of one catalogue; ``catalog[id]`` is a :class:`~pzclient.product.Product`."""

    def __init__(self, source: SiteSource | LocalSource, cache: ObjectCache, *,
                 progress: bool | None = None, workers: int = 4) -> None:
        self._source = source
        self.cache = cache
        self.progress = (os.environ.get("PZCLIENT_PROGRESS", "1") != "0") if progress is None else progress
        self.workers = workers

    def __repr__(self) -> str:
        return f"<Catalog {self.name!r} from {self._source.url}: {len(self)} products>"

    @property
    def name(self) -> str:
        return self._source.name

    @property
    def source(self) -> str:
        """The site URL or the clone's path."""
        return self._source.url

    @property
    def ids(self) -> list[str]:
        return [p["id"] for p in self._source.products_list()]

    def __len__(self) -> int:
        return len(self._source.products_list())

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self.ids

    def _ipython_key_completions_(self) -> list[str]:
        return self.ids

    def __getitem__(self, product_id: str) -> Product:
        if not isinstance(product_id, str):
            raise TypeError(f"product ids are strings, not {type(product_id).__name__}")
        if product_id not in self.ids:
            near = get_close_matches(product_id, self.ids, n=3)
            hint = f"; did you mean {', '.join(map(repr, near))}?" if near else (
                "; list them with catalog.products()")
            raise ProductNotFoundError(f"no product {product_id!r} in {self.source}{hint}")
        return Product(self, self._source.product(product_id))

    def products(self, type: str | Sequence[str] | None = None, release: str | None = None,
                 official: bool | None = None, search: str | None = None,
                 status: str | Sequence[str] | None = None) -> pd.DataFrame:
        """The products as a DataFrame, filtered.

        Parameters
        ----------
        type
            Product type(s), by name (``"training_set"``) or display name (``"Training Set"``).
        release
            Release name (``"dp0.2"``) or display name (``"LSST DP0.2"``).
        official
            Only official (True) or only user (False) products.
        search
            Words that must all appear (case-insensitive) in the id, title, summary, tags,
            survey, owner or column names.
        status
            ``"active"``, ``"deprecated"``, ``"retracted"`` (or a list of them).
        """
        rows = self._source.products_list()
        if type is not None:
            names = self._names([type] if isinstance(type, str) else type, self.product_types())
            rows = [r for r in rows if r.get("product_type") in names]
        if release is not None:
            names = self._names([release], self.releases())
            rows = [r for r in rows if r.get("release") in names]
        if official is not None:
            rows = [r for r in rows if bool(r.get("official")) is bool(official)]
        if status is not None:
            wanted = {status} if isinstance(status, str) else set(status)
            rows = [r for r in rows if r.get("status") in wanted]
        if search:
            words = search.lower().split()
            rows = [r for r in rows if all(w in _haystack(r) for w in words)]
        return pd.DataFrame([{k: r.get(k) for k in LIST_COLUMNS} for r in rows], columns=LIST_COLUMNS)

    @staticmethod
    def _names(values: Sequence[str], table: pd.DataFrame) -> set[str]:
        wanted = {str(v).lower() for v in values}
        return {n for n, d in zip(table["name"], table["display_name"], strict=True)
                if str(n).lower() in wanted or str(d).lower() in wanted}

    def product_types(self) -> pd.DataFrame:
        """The product types: name, display name, whether tabular, number of products."""
        rows = self._source.product_types()
        return pd.DataFrame(rows, columns=["name", "display_name", "description", "tabular", "products"])

    def releases(self) -> pd.DataFrame:
        """The data releases: name, display name, description, number of products."""
        rows = self._source.releases()
        return pd.DataFrame(rows, columns=["name", "display_name", "description", "products", "official"])

    def load(self, product_id: str, **kwargs: Any) -> Any:
        """``catalog[product_id].load(**kwargs)``."""
        return self[product_id].load(**kwargs)

    def download(self, product_id: str, dest: str | Path = ".", **kwargs: Any) -> list[Path]:
        """``catalog[product_id].download(dest, **kwargs)``."""
        return self[product_id].download(dest, **kwargs)

    def _fetch(self, objects: list[tuple[str, int | None, str]]) -> list[Path]:
        """Verified local paths of objects ``(md5, size, label)``, fetched in parallel."""
        unique = list({md5: (md5, size, label) for md5, size, label in objects}.values())
        paths = dict(zip([u[0] for u in unique], self._fetch_unique(unique), strict=True))
        return [paths[md5] for md5, _, _ in objects]

    def _read(self, obj: tuple[str, int | None, str], read: Callable[[Path], Any]) -> Any:
        """``read(path)`` of one verified object (read while its md5 is computed, if downloaded)."""
        md5, size, label = obj
        bar, todo = self._bar([obj])
        try:
            return self._source.fetch(md5, size, label, self.cache,
                                      bar.update if bar is not None and todo else None, read)
        finally:
            if bar is not None:
                bar.close()

    def _bar(self, objects: list[tuple[str, int | None, str]]) -> tuple[Any, set[str]]:
        """A progress bar over the objects that will be downloaded (none if all are at hand)."""
        if not self.progress or not isinstance(self._source, SiteSource):
            return None, set()
        todo = [(md5, size) for md5, size, _ in objects if not self.cache.path(md5).exists()]
        if not todo:
            return None, set()
        return _progress_bar(sum(size or 0 for _, size in todo), len(todo)), {md5 for md5, _ in todo}

    def _fetch_unique(self, objects: list[tuple[str, int | None, str]]) -> list[Path]:
        bar, todo = self._bar(objects)

        def one(item: tuple[str, int | None, str]) -> Path:
            md5, size, label = item
            update = bar.update if bar is not None and md5 in todo else None
            return self._source.fetch(md5, size, label, self.cache, update)

        try:
            if len(objects) == 1:
                return [one(objects[0])]
            with ThreadPoolExecutor(max(1, self.workers)) as pool:
                return list(pool.map(one, objects))
        finally:
            if bar is not None:
                bar.close()

    def _repr_html_(self) -> str:
        products = self._source.products_list()
        by_type: dict[str, int] = {}
        for p in products:
            by_type[str(p.get("product_type"))] = by_type.get(str(p.get("product_type")), 0) + 1
        rows = [("source", self.source), ("products", len(products)),
                ("official", sum(bool(p.get("official")) for p in products)),
                ("by type", [f"{k}: {v}" for k, v in sorted(by_type.items())]),
                ("ids", [p["id"] for p in products[:20]] + (["…"] if len(products) > 20 else []))]
        return html_table(rows, title=self.name)


def _haystack(row: dict) -> str:
    parts = [row.get("id"), row.get("title"), row.get("summary"), row.get("owner"),
             *(row.get("tags") or []), *(row.get("survey") or []), *(row.get("columns") or [])]
    return " ".join(str(p) for p in parts if p).lower()


def _progress_bar(total: int, count: int) -> Any:
    from tqdm.auto import tqdm

    what = "1 file" if count == 1 else f"{count} files"
    return tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"pzclient: {what}", leave=False, mininterval=0.2)
