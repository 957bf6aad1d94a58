"""The page shell: product pages in the theme of the site without mkdocs rendering each one.

mkdocs-material renders one placeholder product page (:data:`SHELL_PAGE`, at the same depth as
``products/<id>/``, so relative links to assets hold) whose title and article are markers and
whose table of contents lists every section a product page can have. :func:`load_shell` cuts
that HTML into parts once; :meth:`Shell.render` joins them around one product's article in a
few microseconds, keeping only the table-of-contents entries of the sections it has.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote

from site_builder.errors import PzError
from site_builder.site.productpage import SECTIONS, ProductPage

__all__ = ["SHELL_DIR", "SHELL_PAGE", "Shell", "ShellError", "load_shell", "render_shell_markdown"]

SHELL_DIR = "products/_shell"
SHELL_PAGE = f"{SHELL_DIR}/index.md"
TITLE = "PZSHELLTITLE"
BODY = "PZSHELLBODY"
_ARTICLE_OPEN = re.compile(r'<article class="md-content__inner md-typeset">')
_TOC = re.compile(r'(<ul class="md-nav__list" data-md-component="toc"[^>]*>)(.*?)(</ul>)', re.DOTALL)
_TOC_ITEM = re.compile(r'<li class="md-nav__item">\s*<a href="#([a-z-]+)".*?</li>', re.DOTALL)


class ShellError(PzError):
    """The theme's page does not have the parts product pages are cut from."""


def render_shell_markdown() -> str:
    """The Markdown of the placeholder page that mkdocs renders (kept out of search)."""
    sections = "".join(f"## {heading}\n\n{BODY}\n\n" for _, heading in SECTIONS)
    return f"---\ntitle: {TITLE}\nsearch:\n  exclude: true\n---\n\n# {TITLE}\n\n{BODY}\n\n{sections}"


@dataclass(frozen=True)
class Shell:
    """The theme's page cut around the title, the table of contents and the article."""

    head: tuple[str, ...]  #: page before the article, split where the title goes
    toc: tuple[str, str, dict[str, str]] | None  #: before, after, entry of each section anchor
    tail: str  #: from ``</article>`` to the end

    def render(self, product_id: str, page: ProductPage) -> str:
        """The whole HTML page of one product."""
        title = html.escape(page.title)
        before = title.join(self.head).replace(SHELL_DIR + "/", f"products/{quote(product_id, safe='')}/")
        if self.toc is not None:
            start, end, items = self.toc
            entries = "".join(items[anchor] for anchor in page.sections if anchor in items)
            marker = start + "".join(items.values()) + end
            before = before.replace(marker, start + entries + end, 1)
        return before + page.body + self.tail


def load_shell(source: str) -> Shell:
    """Cut the rendered placeholder page (:func:`render_shell_markdown`) into a :class:`Shell`.

    Raises
    ------
    ShellError
        The page lacks the article or title markers (the theme or its templates changed).
    """
    opened = _ARTICLE_OPEN.search(source)
    end = source.rfind("</article>")
    if opened is None or end < opened.end() or TITLE not in source[:opened.start()]:
        raise ShellError(f"{SHELL_PAGE}: error: the theme's page has no article or title where expected; "
                         "check mkdocs.yml's theme (product pages are cut from mkdocs-material pages)")
    before = source[:opened.end()]
    toc = None
    if (found := _TOC.search(before)) is not None:
        items = {m.group(1): m.group(0) for m in _TOC_ITEM.finditer(found.group(2))}
        known = {anchor for anchor, _ in SECTIONS}
        if set(items) == known:  # else (toc hidden or rearranged) the shell's toc is dropped below
            toc = (found.group(1), found.group(3), items)
        else:
            before = before[:found.start()] + found.group(1) + found.group(3) + before[found.end():]
    if toc is not None:  # the placeholder's entries are all there, separated by whitespace only
        start, end_, items = toc
        found = _TOC.search(before)
        before = before[:found.start()] + start + "".join(items.values()) + end_ + before[found.end():]
    return Shell(tuple(before.split(TITLE)), toc, source[end:])
