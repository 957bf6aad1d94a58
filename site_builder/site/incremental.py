"""Product pages and product JSON of a site build: read once, in parallel, and only what changed.

A build reads every new or changed product folder (phase one; a folder is unchanged when the
names, sizes and modification times of its files are), then renders the page and JSON of each
product whose inputs changed: its folder, the products derived from it, its git history, the
catalogue settings, the page shell or this package's code. The others are taken over from
the previous build (:meth:`ProductBuild.adopt`). What was read and rendered is remembered in ``.pz/cache/site.pickle``
(a cache: deleting it only makes the next build a full one).

Above :data:`PARALLEL_FROM` products to read or render, the work is shared by one forked
process per core; each keeps the products it read for the render step, so a product is parsed
once and only small values cross between processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from site_builder.catalog.settings import CatalogSettings
from site_builder.catalog.source import PRODUCTS_DIR, iter_product_folders, paused_gc
from site_builder.site.api import API_VERSION, read_history_update
from site_builder.site.pagecache import SitePages
from site_builder.site.shell import Shell
from site_builder.site.worker import Reader, fingerprint, serve
from site_builder.system import code_fingerprint

__all__ = ["CACHE_FILE", "PARALLEL_FROM", "ProductBuild", "ProductState"]

CACHE_FILE = Path(".pz") / "cache" / "site.pickle"
CACHE_VERSION = 2
#: Written into each built site; the cache names the build it describes.
BUILD_ID_FILE = ".pz-build-id"
API_PRODUCTS = f"api/{API_VERSION}/products"
PARALLEL_FROM = 300
# Any change to the package's code or templates (display names in the domain model, a
# reader, a plot, the shell) may change what a product page or JSON holds: it re-renders all.
_CODE = code_fingerprint()


@dataclass(frozen=True)
class ProductState:
    """What a build remembers of one product."""

    fingerprint: tuple
    derived_from: tuple[str, ...]
    lite: dict[str, Any]
    entry: dict[str, Any] | None = None  #: its products.json entry, once rendered
    key: tuple | None = None  #: what its page and JSON were rendered from, beyond the common inputs


@dataclass
class ProductBuild:
    """Reads and renders the products of one build (see the module docstring)."""

    root: Path
    settings: CatalogSettings
    use_cache: bool = True  #: read what the last build remembered (this build is remembered either way)
    workers: int | None = None
    states: dict[str, ProductState] = field(default_factory=dict)
    rendered: int = 0
    _cache: dict[str, Any] = field(default_factory=dict)
    _pool: list[Any] = field(default_factory=list)
    _owner: dict[str, int] = field(default_factory=dict)
    _previous: Path | None = None  #: the last build's output, when its product files are reused
    _removed: list[str] = field(default_factory=list)
    build_id: str = ""
    _local: Reader | None = None
    _git: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    _history: Future | None = None
    _pages: SitePages | None = None  #: mkdocs' part of this build, remembered for the next
    _started: tuple | None = None  #: what :meth:`start_writing` sent the workers

    def read(self) -> list[str]:
        """Phase one: read every new or changed product; return the problems (GNU-style lines)."""
        self._cache = self._load_cache() if self.use_cache else {}
        cached: dict[str, ProductState] = self._cache.get("products", {})
        folders = iter_product_folders(self.root)
        if cached:  # else everything is new: the workers take the fingerprints as they read
            changed = [f for f in folders
                       if f not in cached or cached[f].fingerprint != fingerprint(self.root / PRODUCTS_DIR / f)]
        else:
            changed = folders
        if self._parallel(len(changed)):
            self._start_pool()  # fork before the thread below exists: forking a threaded process can deadlock
        # git log runs beside the reading (another process); write() collects it.
        self._history = self._git.submit(read_history_update, self.root, *self._cache.get("history", (None, {})))
        self.states = {f: cached[f] for f in folders if f not in changed}
        problems = []
        for folder, result in self._run("read", changed):
            if isinstance(result, str):
                problems.append(result)
            else:
                self.states[folder] = ProductState(*result)
        return problems

    def start_writing(self, out: Path, previous: Path | None) -> bool:
        """Start rendering every product before the page shell exists, when every one is rendered
        whatever the shell is (no previous build to take pages over from) and workers do it: they
        render while mkdocs makes the shell, and :meth:`write` hands it to them. True if started.
        """
        if self._started is not None or not self._pool or self._reusable(previous):
            return False
        head, history = self._history.result()
        self._git.shutdown(wait=True)
        todo, keys = self._todo(history, reuse=False)
        self._prepare(out)
        self._send("render-early", todo, {"out": out, "known": frozenset(self.states)})
        self._started = (head, history, todo, keys)
        return True

    def write(self, out: Path, previous: Path | None, shell: Shell, shell_key: str) -> None:
        """Phase two: write ``products/<id>/index.html`` and ``api/v1/products/<id>.json`` into ``out``.

        Only the products whose inputs differ from those of the last build are rendered when
        ``previous`` is that build's output (its :data:`BUILD_ID_FILE` matches the cache); the
        others are taken over from it by :meth:`adopt`.
        """
        common = _hash((CACHE_VERSION, _CODE, asdict(self.settings), shell_key))
        if self._started is not None:  # every product is being rendered: hand the workers the shell
            head, history, todo, keys = self._started
            reuse = False
            for _, conn in self._pool:
                conn.send(("shell", shell, {}))
            results = self._collect()
        else:
            head, history = self._history.result()
            self._git.shutdown(wait=True)  # no thread may be alive when the render step forks workers
            reuse = common == self._cache.get("common") and self._reusable(previous)
            todo, keys = self._todo(history, reuse)
            self._prepare(out)
            results = self._run("render", todo, out=out, shell=shell, known=frozenset(self.states))
        for folder, entry in results:
            self.states[folder] = replace(self.states[folder], entry=entry, key=keys[folder])
        self.rendered = len(todo)
        self._previous = previous if reuse else None
        self._removed = sorted(set(self._cache.get("products", {})) - set(self.states))
        self.build_id = uuid.uuid4().hex
        (out / BUILD_ID_FILE).write_text(self.build_id + "\n", encoding="utf-8")
        self._cache = {"version": CACHE_VERSION, "products": self.states, "history": (head, history),
                       "common": common, "build_id": self.build_id, "pages": self._pages}

    def find_pages(self, previous: Path, key: str) -> SitePages | None:
        """mkdocs' part of the last build when it was made from ``key`` and ``previous`` is that build."""
        pages = self._cache.get("pages")
        if not isinstance(pages, SitePages) or pages.key != key:
            return None
        if _read_build_id(previous) != self._cache.get("build_id"):
            return None
        self._pages = pages
        return pages

    def remember_pages(self, pages: SitePages) -> None:
        """What mkdocs made in this build, for :meth:`find_pages` of the next (call before :meth:`write`)."""
        self._pages = pages

    def _reusable(self, previous: Path | None) -> bool:
        """Whether ``previous`` is the output of the build the cache describes."""
        return (previous is not None and _read_build_id(previous) == self._cache.get("build_id")
                and (previous / PRODUCTS_DIR).is_dir() and (previous / API_PRODUCTS).is_dir())

    def _todo(self, history: dict[str, list[dict]], reuse: bool) -> tuple[list[tuple], dict[str, tuple]]:
        """The products to render (with the products derived from each and its commits), and
        what each is rendered from; with ``reuse``, only those whose inputs changed."""
        outputs: dict[str, list[str]] = {}
        for folder in sorted(self.states):
            for parent in self.states[folder].derived_from:
                outputs.setdefault(parent, []).append(folder)
        todo, keys = [], {}
        for folder, state in self.states.items():
            mine, history_of = outputs.get(folder, []), history.get(folder, [])
            # What the page and JSON show beyond the folder: the products derived from it and its commits.
            key = (state.fingerprint, tuple(mine), tuple(e["commit"] for e in history_of))
            if not (reuse and key == state.key):
                todo.append((folder, mine, history_of))
                keys[folder] = key
        return todo, keys

    @staticmethod
    def _prepare(out: Path) -> None:
        (out / PRODUCTS_DIR).mkdir(parents=True, exist_ok=True)
        (out / API_PRODUCTS).mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def adopt(self, out: Path) -> Iterator[None]:
        """Move the unchanged products' files of the previous build into ``out`` for the block.

        The previous build's ``products/`` and ``api/v1/products/`` folders are moved (two
        renames, not 20,000 copies), then the newly rendered files into them; the files they
        replace and those of removed products are set aside beside ``out``. Every move is
        journaled: if the block raises, the moves are undone in reverse and the previous site is
        as it was; if not, what was set aside is deleted. Meanwhile the previous site lacks its
        product pages; the block (link check, swap) takes milliseconds to seconds.
        """
        previous = self._previous
        if previous is None:
            yield
            return
        aside = Path(tempfile.mkdtemp(prefix=f"{out.name}.aside-", dir=out.parent))
        journal: list[tuple[Path, Path]] = []

        def move(source: Path, target: Path) -> None:
            source.rename(target)
            journal.append((source, target))

        try:
            for rel, name in ((PRODUCTS_DIR, "fresh-pages"), (API_PRODUCTS, "fresh-api")):
                move(out / rel, aside / name)
                move(previous / rel, out / rel)
            (aside / "old-pages").mkdir()
            (aside / "old-api").mkdir()
            for folder in self._removed:  # products gone from the catalogue
                for source, target in ((out / PRODUCTS_DIR / folder, aside / "old-pages" / folder),
                                       (out / API_PRODUCTS / f"{folder}.json", aside / "old-api" / f"{folder}.json")):
                    if source.exists():
                        move(source, target)
            for fresh in (aside / "fresh-pages").iterdir():
                target = out / PRODUCTS_DIR / fresh.name
                if target.is_dir():
                    move(target / "index.html", aside / "old-pages" / f"{fresh.name}.html")
                    move(fresh / "index.html", target / "index.html")
                else:
                    move(fresh, target)
            for fresh in (aside / "fresh-api").iterdir():
                target = out / API_PRODUCTS / fresh.name
                if target.exists():
                    move(target, aside / "old-api" / fresh.name)
                move(fresh, target)
            yield
        except BaseException:
            for source, target in reversed(journal):
                target.rename(source)
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    def save(self) -> None:
        """Remember this build for the next one (atomically; a failure only costs speed).

        Also after a build that did not use the cache (``pz build --no-cache``): it ignores what
        earlier builds remembered, not the next build.
        """
        path = self.root / CACHE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with paused_gc():
            temporary.write_bytes(pickle.dumps(self._cache, protocol=pickle.HIGHEST_PROTOCOL))
        temporary.replace(path)

    def close(self) -> None:
        """Stop the worker processes."""
        for process, conn in self._pool:
            with contextlib.suppress(OSError):
                conn.send(("stop", None, {}))
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        self._pool.clear()
        self._git.shutdown(wait=True)

    def __enter__(self) -> ProductBuild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- work sharing ----------------------------------------------------------------------

    def _run(self, action: str, items: list, **kwargs: Any) -> Iterable[tuple[str, Any]]:
        """Run ``action`` on ``items`` in this process, or across the workers for large batches."""
        if not items:
            return []
        if self._pool or self._parallel(len(items)):
            return self._run_parallel(action, items, kwargs)
        if self._local is None:
            self._local = Reader(self.root, self.settings)
        with paused_gc():
            return self._local.do(action, items, kwargs)

    def _parallel(self, count: int) -> bool:
        return count >= PARALLEL_FROM and (self.workers or os.cpu_count() or 1) > 1

    def _start_pool(self) -> None:
        context = multiprocessing.get_context("fork")
        for _ in range(self.workers or os.cpu_count() or 1):
            mine, theirs = context.Pipe()
            process = context.Process(target=serve, args=(theirs, self.root, self.settings), daemon=True)
            process.start()
            theirs.close()
            self._pool.append((process, mine))

    def _run_parallel(self, action: str, items: list, kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
        self._send(action, items, kwargs)
        return self._collect()

    def _send(self, action: str, items: list, kwargs: dict[str, Any]) -> None:
        if not self._pool:
            self._start_pool()
        # A product is rendered by the process that read it; others go to the least loaded.
        shares: list[list] = [[] for _ in self._pool]
        for item in items:
            folder = item if isinstance(item, str) else item[0]
            index = self._owner.get(folder)
            if index is None:
                index = min(range(len(shares)), key=lambda i: len(shares[i]))
                self._owner[folder] = index
            shares[index].append(item)
        for (_, conn), share in zip(self._pool, shares, strict=True):
            conn.send((action, share, kwargs))

    def _collect(self) -> list[tuple[str, Any]]:
        results = []
        for _, conn in self._pool:
            status, payload = conn.recv()
            if status == "error":
                raise RuntimeError(f"a site build worker failed:\n{payload}")
            results += payload
        return results

    def _load_cache(self) -> dict[str, Any]:
        try:
            with paused_gc():
                cache = pickle.loads((self.root / CACHE_FILE).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            return {}
        return cache if isinstance(cache, dict) and cache.get("version") == CACHE_VERSION else {}


def _read_build_id(site: Path) -> str | None:
    try:
        return (site / BUILD_ID_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _hash(value: Any) -> str:
    """A digest of a JSON-like value that depends only on its content (not on object identity)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


