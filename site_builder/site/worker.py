"""The worker side of a site build: read products, then render their pages and JSON.

One :class:`Reader` per process keeps the products it read for the render step
(:mod:`site_builder.site.incremental` decides what to read and render, and shares the work
between processes that run :func:`serve`).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from site_builder.catalog.settings import CatalogSettings
from site_builder.catalog.source import PRODUCTS_DIR
from site_builder.site.api import (
    API_VERSION,
    ApiBuildError,
    ProductRecord,
    product_entry,
    read_record_parts,
    render_product_json,
)
from site_builder.site.productpage import ProductPage, render_product_page
from site_builder.site.shell import Shell

__all__ = ["LITE_KEYS", "Reader", "fingerprint", "serve"]

#: Metadata keys that the landing, release, type and owner pages and index.json need.
LITE_KEYS = ("title", "product_type", "official", "status", "release", "owner")


@dataclass
class _Read:
    """A product read in phase one (kept by the process that read it)."""

    data: dict[str, Any]
    summary: dict[str, Any] | None
    files: list[dict[str, Any]]
    description: str | None


class Reader:
    """The products one process read, and how it reads and renders them."""

    def __init__(self, root: Path, settings: CatalogSettings) -> None:
        self.root, self.settings, self.remote = root, settings, settings.remote_url
        self.read: dict[str, _Read] = {}

    def do(self, action: str, items: list, kwargs: dict[str, Any], conn: Any = None) -> list[tuple[str, Any]]:
        if action == "read":
            return [(folder, self._read(folder)) for folder in items]
        if action == "render-early":
            return self._render_early(items, conn, **kwargs)
        return [self._render(*item, **kwargs) for item in items]

    def _render_early(self, items: list, conn: Any, *, out: Path, known: frozenset[str]) -> list[tuple[str, Any]]:
        """Render ``items`` before the page shell is known: each JSON is written at once, each page
        as soon as the shell comes down ``conn`` (looked for between products)."""
        shell: Shell | None = None
        waiting: list[tuple[str, ProductPage]] = []
        results = []
        for folder, outputs, history in items:
            if shell is None and conn.poll():
                shell = _receive_shell(conn)
                for done, page in waiting:
                    _write_page(out, done, shell, page)
                waiting.clear()
            page, entry = self._article(folder, outputs, history, out=out, known=known)
            if shell is None:
                waiting.append((folder, page))
            else:
                _write_page(out, folder, shell, page)
            results.append((folder, entry))
        if shell is None:
            shell = _receive_shell(conn)
            for done, page in waiting:
                _write_page(out, done, shell, page)
        return results

    def _read(self, folder: str) -> tuple[tuple, tuple[str, ...], dict[str, Any]] | str:
        # Taken before the files are read: a file changed meanwhile shows in the next build.
        prints = fingerprint(self.root / PRODUCTS_DIR / folder)
        try:
            data, summary, files = read_record_parts(self.root, folder, self.remote)
        except ApiBuildError as err:
            return str(err)
        description = None
        if name := data.get("description_file"):
            base = (self.root / PRODUCTS_DIR / folder).resolve()
            path = (base / str(name)).resolve()
            try:
                if not path.is_relative_to(base):
                    raise OSError("outside the product folder")
                description = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                return (f"{PRODUCTS_DIR}/{folder}/product.yaml:1: error: field 'description_file': "
                        f"{path.name!r} cannot be read ({exc})")
        self.read[folder] = _Read(data, summary, files, description)
        provenance = data.get("provenance")
        derived = provenance.get("derived_from") if isinstance(provenance, dict) else None
        lite = {k: data.get(k) for k in LITE_KEYS}
        return prints, tuple(str(p) for p in derived) if isinstance(derived, list) else (), lite

    def _render(self, folder: str, outputs: list[str], history: list[dict], *,
                out: Path, shell: Shell, known: frozenset[str]) -> tuple[str, dict[str, Any]]:
        page, entry = self._article(folder, outputs, history, out=out, known=known)
        _write_page(out, folder, shell, page)
        return folder, entry

    def _article(self, folder: str, outputs: list[str], history: list[dict], *,
                 out: Path, known: frozenset[str]) -> tuple[ProductPage, dict[str, Any]]:
        """The page's article and the products.json entry of a product; its JSON is written."""
        got = self.read.pop(folder, None)
        if got is None:  # unchanged, but what it links to or its history changed
            problem = self._read(folder)
            if isinstance(problem, str):
                raise ApiBuildError(problem)
            got = self.read.pop(folder)
        record = ProductRecord(folder, got.data, got.summary, got.files, outputs, history)
        page = render_product_page(record, self.settings, description=got.description, known=known)
        (out / "api" / API_VERSION / "products" / f"{folder}.json").write_bytes(
            render_product_json(self.settings, record))
        return page, product_entry(record)


class _Stopped(Exception):
    """The build told a worker to stop while it waited for the page shell."""


def _receive_shell(conn: Any) -> Shell:
    action, shell, _ = conn.recv()
    if action != "shell":  # "stop": the build failed before it had a shell
        raise _Stopped
    return shell


def _write_page(out: Path, folder: str, shell: Shell, page: ProductPage) -> None:
    folder_out = out / PRODUCTS_DIR / folder
    folder_out.mkdir(exist_ok=True)  # exists when linking it failed half-way
    (folder_out / "index.html").write_text(shell.render(folder, page), encoding="utf-8")


def serve(conn: Any, root: Path, settings: CatalogSettings) -> None:
    """A worker process: run the requests of :class:`ProductBuild` until told to stop."""
    import gc

    gc.disable()  # metadata has no cycles; the process is short-lived
    reader = Reader(root, settings)
    while True:
        try:
            action, items, kwargs = conn.recv()
        except EOFError:
            return
        if action == "stop":
            return
        if action == "shell":  # for a render that already failed (and said so)
            continue
        try:
            conn.send(("ok", reader.do(action, items, kwargs, conn)))
        except _Stopped:
            return
        except Exception:  # reported to the parent, which raises
            conn.send(("error", traceback.format_exc()))


def fingerprint(folder: Path) -> tuple:
    """Names, sizes and modification times of the files of a product folder."""
    try:
        with os.scandir(folder) as entries:
            found = []
            for e in entries:
                st = e.stat(follow_symlinks=False)
                found.append((e.name, st.st_size, st.st_mtime_ns, e.is_dir(follow_symlinks=False)))
    except OSError:
        return ()
    return tuple(sorted(found))
