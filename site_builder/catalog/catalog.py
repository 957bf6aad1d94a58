"""The catalogue: its root, checked settings, releases, admins and product folders.

:func:`load_catalog` is the one way in for every part of the builder (validation,
check-pr, ingest, the site, the API, deploy and the CLI): it reads ``catalog.yaml``
once and lists ``products/`` once. Looking a product up by id, with the "did you
mean" hint when it is missing, is written here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from site_builder.catalog.issue import Issue
from site_builder.catalog.rules import CatalogContext
from site_builder.catalog.schema import did_you_mean
from site_builder.catalog.settings import CatalogSettings, load_settings
from site_builder.catalog.source import (
    PRODUCTS_DIR,
    ProductSource,
    find_root,
    iter_product_folders,
    read_product,
)
from site_builder.errors import ProductNotFoundError

__all__ = ["Catalog", "as_catalog", "load_catalog"]


@dataclass(frozen=True)
class Catalog:
    """A catalogue on disk, as read at one moment (reload it after changing files)."""

    root: Path
    settings: CatalogSettings
    #: Problems of ``catalog.yaml`` (YAML and schema); `pz validate` reports them.
    settings_issues: tuple[Issue, ...]
    #: Names of the folders under ``products/``, sorted.
    folders: tuple[str, ...]

    @property
    def releases(self) -> tuple[str, ...]:
        """Names of the releases products may refer to."""
        return self.settings.release_names

    @property
    def admins(self) -> tuple[str, ...]:
        """GitHub logins of the PZ Coordination Group."""
        return self.settings.admins

    @property
    def settings_unreadable(self) -> Issue | None:
        """The problem that kept ``catalog.yaml`` from being parsed at all, if any."""
        if self.settings.readable:
            return None
        return next((i for i in self.settings_issues if i.code == "yaml"), None)

    def product_dir(self, pid: str) -> Path:
        """Where product ``pid`` lives (whether or not it exists)."""
        return self.root / PRODUCTS_DIR / pid

    def has_product(self, pid: str) -> bool:
        return pid in self._folder_set

    def find_product(self, pid: str) -> ProductSource | None:
        """Product ``pid`` as read from disk, or None when there is no such folder."""
        return read_product(self.root, pid) if pid in self._folder_set else None

    def get_product(self, pid: str) -> ProductSource:
        """Product ``pid`` as read from disk.

        Raises
        ------
        ProductNotFoundError
            No folder ``products/<pid>/``; the message suggests the closest ids.
        """
        self.check_ids([pid])
        return read_product(self.root, pid)

    def check_ids(self, pids: object) -> None:
        """Raise :class:`ProductNotFoundError` for the first (sorted) id that is not a product."""
        for pid in sorted(set(pids) - self._folder_set):  # type: ignore[call-overload]
            raise ProductNotFoundError(self.not_found_message(pid))

    def not_found_message(self, pid: str) -> str:
        """``no product 'x' in products/; did you mean 'y'?``"""
        hint = did_you_mean(pid, list(self.folders))
        return f"no product {pid!r} in products/" + (f"; {hint}" if hint else "")

    def context(self, types: dict[str, object]) -> CatalogContext:
        """What the cross-reference rules need: the releases and the type of each product."""
        return CatalogContext(releases=self.releases, types=types)

    @cached_property
    def _folder_set(self) -> frozenset[str]:
        return frozenset(self.folders)


def load_catalog(root: Path | None = None) -> Catalog:
    """Read the catalogue at ``root`` (default: found upwards from the current folder).

    Raises
    ------
    CatalogNotFoundError
        ``root`` is None and no folder upwards holds ``catalog.yaml``.
    """
    root = (root or find_root()).resolve()
    settings, issues = load_settings(root)
    return Catalog(root, settings, tuple(issues), tuple(iter_product_folders(root)))


def as_catalog(catalog: Catalog | Path) -> Catalog:
    """A :class:`Catalog` as it is, or loaded from its root folder (for notebooks and tests)."""
    return catalog if isinstance(catalog, Catalog) else load_catalog(Path(catalog))
