"""Check the links between the pages of a built site (``pz build --strict``, tests).

Every ``href`` and ``src`` of every HTML page that points inside the site (a relative URL or
an absolute path) must name a file of the build, or a folder holding ``index.html``. Links
with a scheme (``https:``, ``mailto:``) are left alone, except ``javascript:`` links, which
are reported: nothing of ours writes one, so one means metadata got through unescaped.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["BrokenLink", "check_links"]

_ATTR = re.compile(r'\s(?:href|src)="([^"]*)"')
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class BrokenLink:
    """A link of ``page`` (relative to the site) to ``target``, which the site does not have."""

    page: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}: error: {self.reason}: {self.target!r}"


def check_links(site: Path) -> list[BrokenLink]:
    """Every broken internal link (and ``javascript:`` link) of the HTML pages under ``site``."""
    site = site.resolve()
    existing = set()
    pages = []
    for folder, _, files in os.walk(site):
        for name in files:
            path = os.path.join(folder, name)
            existing.add(path)
            if name.endswith(".html"):
                pages.append(path)
    broken = []
    checked: dict[tuple[str, str], str | None] = {}
    for page in sorted(pages):
        base = os.path.dirname(page)
        relpage = os.path.relpath(page, site)
        for raw in _ATTR.findall(Path(page).read_text(encoding="utf-8", errors="replace")):
            url = html.unescape(raw).strip()
            if _SCHEME.match(url):
                if url.lower().startswith("javascript:"):
                    broken.append(BrokenLink(relpage, url, "javascript: link"))
                continue
            if url.startswith(("#", "//")) or not url:
                continue
            key = (base, url)
            if key not in checked:
                checked[key] = _missing(site, base, url, existing)
            if checked[key] is not None:
                broken.append(BrokenLink(relpage, url, checked[key]))
    return broken


def _missing(site: Path, base: str, url: str, existing: set[str]) -> str | None:
    path = unquote(urlsplit(url).path)
    if not path:
        return None
    target = os.path.normpath(os.path.join(str(site) if path.startswith("/") else base, path.lstrip("/")
                                           if path.startswith("/") else path))
    if not (target == str(site) or target.startswith(str(site) + os.sep)):
        return "link leaves the site"
    if target in existing or os.path.join(target, "index.html") in existing:
        return None
    return "link to a page or file that the site does not have"
