"""The catalogue's settings (``catalog.yaml``) as one typed, frozen record.

There is one reader of the settings file, :func:`load_settings`. It never raises for
content: every problem (YAML, schema) comes back as an :class:`Issue`, and the record
holds whatever could be read, field by field, so that the site and the API of a
catalogue with a broken setting still build while `pz validate` names the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from site_builder.catalog.issue import ERROR, Issue, field_name
from site_builder.catalog.schema import SchemaChecker
from site_builder.catalog.source import CATALOG_FILE, read_document
from site_builder.catalog.yamlio import YamlDocument

__all__ = ["AuthSettings", "CatalogSettings", "Release", "RemoteSettings", "document_issues", "load_settings"]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Release:
    """A data release that products may name with ``release:``."""

    name: str | None
    display_name: str | None = None
    description: str | None = None

    @property
    def label(self) -> str:
        """The name shown to readers."""
        return str(self.display_name or self.name or "")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Release:
        return cls(_str(data.get("name")), _str(data.get("display_name")), _str(data.get("description")))


@dataclass(frozen=True)
class RemoteSettings:
    """The DVC remote that holds the data (an HTTP remote behind the proxy)."""

    name: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class AuthSettings:
    """Rubin Science Platform (Gafaelfawr) authentication in front of the site and remote."""

    url: str | None = None
    login_url: str | None = None
    read_scope: str | None = None
    write_scope: str | None = None


@dataclass(frozen=True)
class CatalogSettings:
    """What ``catalog.yaml`` says; fields that are missing or of the wrong type are None/empty."""

    name: str | None = None
    description: str | None = None
    site_url: str | None = None
    repository_url: str | None = None
    releases: tuple[Release, ...] = ()
    admins: tuple[str, ...] = ()
    dvc_remote: RemoteSettings | None = None
    auth: AuthSettings | None = None
    #: Whether the file could be parsed at all.
    readable: bool = field(default=True, compare=False)

    @property
    def release_names(self) -> tuple[str, ...]:
        """Names of the releases (those with a name)."""
        return tuple(r.name for r in self.releases if r.name is not None)

    @property
    def remote_url(self) -> str | None:
        """The DVC remote's URL without a trailing slash."""
        url = self.dvc_remote.url if self.dvc_remote else None
        return str(url or "").rstrip("/") or None

    def find_release(self, name: Any) -> Release | None:
        """The release called ``name``, or None."""
        return next((r for r in self.releases if r.name is not None and r.name == name), None)

    @classmethod
    def from_mapping(cls, data: Any) -> CatalogSettings:
        """The settings from a parsed ``catalog.yaml``, tolerating any wrong field."""
        if not isinstance(data, dict):
            return cls()
        releases = data.get("releases") if isinstance(data.get("releases"), list) else []
        admins = data.get("admins") if isinstance(data.get("admins"), list) else []
        remote, auth = data.get("dvc_remote"), data.get("auth")
        return cls(
            name=_str(data.get("name")),
            description=_str(data.get("description")),
            site_url=_str(data.get("site_url")),
            repository_url=_str(data.get("repository_url")),
            releases=tuple(Release.from_mapping(r) for r in releases if isinstance(r, dict)),
            admins=tuple(a for a in admins if isinstance(a, str)),
            dvc_remote=RemoteSettings(_str(remote.get("name")), _str(remote.get("url")))
            if isinstance(remote, dict) else None,
            auth=AuthSettings(_str(auth.get("url")), _str(auth.get("login_url")), _str(auth.get("read_scope")),
                              _str(auth.get("write_scope"))) if isinstance(auth, dict) else None,
        )


def document_issues(doc: YamlDocument | None, error: str | None, line: int | None, hint: str | None,
                    relpath: str, product: str | None) -> list[Issue]:
    """Problems of a YAML document as a whole: unreadable, duplicate keys, not a mapping."""
    issues = []
    if doc is None:
        issues.append(Issue(relpath, line, ERROR, error or "cannot read file", None, hint, product, "yaml"))
        return issues
    for path, dup_line in doc.duplicates:
        first = doc.lines.get(path)
        issues.append(Issue(relpath, dup_line, ERROR, f"duplicate key {path[-1]!r}", field_name(path),
                            "remove one of them; YAML would silently keep only the last"
                            + (f" (the other is on line {first})" if first and first != dup_line else ""),
                            product, "yaml.duplicate"))
    if not isinstance(doc.data, dict):
        issues.append(Issue(relpath, doc.line_of(()), ERROR, "the file must hold a mapping of fields", None,
                            "start with 'id: <product-id>' on the first line", product, "yaml"))
    return issues


def load_settings(root: Path) -> tuple[CatalogSettings, list[Issue]]:
    """Read and check ``catalog.yaml``: the settings (what is readable) and every problem."""
    doc, error = read_document(root / CATALOG_FILE)
    issues = document_issues(doc, error and error.message, error and error.line, error and error.hint,
                             CATALOG_FILE, None)
    if doc is None:
        return CatalogSettings(readable=False), issues
    if not isinstance(doc.data, dict):
        return CatalogSettings(), issues
    issues += SchemaChecker.named("catalog").check(doc, CATALOG_FILE)
    return CatalogSettings.from_mapping(doc.data), issues
