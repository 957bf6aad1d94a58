"""mkdocs' part of a site build, taken over from the previous build when nothing it is made from changed.

mkdocs-material renders the hand-written pages, the generated landing, catalogue, schema, release,
type and owner pages, and the page shell of the product pages: one to three seconds at 10,000
products with a few hundred owners, most of a rebuild after one product changed, which rarely
changes any of those pages. :func:`pages_key` digests everything they are made from: the
generated Markdown (which holds what they show of the products), ``docs/``, ``mkdocs.yml`` and
the theme's ``custom_dir``, this package's code and assets, the installed distributions (theme,
Markdown extensions), the strictness and the build date (mkdocs puts it into the sitemap). When
the key is that of the build whose output is being replaced, that build's files are hard-linked
into the new site (:func:`link_pages`) and mkdocs does not run; the bytes are the same.

A configuration whose pages may depend on more than that gives no key, and mkdocs always runs:
plugins other than search, hooks, or an ``INHERIT`` of its own.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from site_builder.system import code_fingerprint

__all__ = ["SitePages", "link_pages", "list_pages", "pages_key"]

#: Plugins whose output depends only on the pages (anything else may read git, the network...).
KNOWN_PLUGINS = frozenset({"search", "material/search"})
_FORMAT = b"pz-site-pages-1"
#: Where the build itself writes (product pages, product JSON, API listings).
OWN_PREFIXES = ("products/", "api/v1/")


@dataclass(frozen=True)
class SitePages:
    """What mkdocs produced in one build, to take over in the next."""

    key: str  #: :func:`pages_key` of its inputs
    files: tuple[str, ...]  #: every file it wrote, relative to the site
    handwritten: int  #: hand-written pages
    warnings: tuple[str, ...]  #: mkdocs' warnings, reported again by each build that reuses them
    shell: str  #: HTML of the product page shell


class _AnyTagLoader(yaml.SafeLoader):
    """Reads mkdocs.yml with its tags (``!ENV``, ``!!python/name:``) as plain values."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_AnyTagLoader.add_multi_constructor("!", _untagged)
_AnyTagLoader.add_multi_constructor("tag:yaml.org,2002:python/", _untagged)


def pages_key(root: Path, config_file: Path, generated: dict[str, str], assets: Iterable[Path],
              strict: bool) -> str | None:
    """Digest of what mkdocs' pages are made from, or None when that cannot be told (see module doc).

    Parameters
    ----------
    root
        The catalogue (its ``docs/``).
    config_file
        Its ``mkdocs.yml``.
    generated
        The generated Markdown pages, by path under ``docs/``.
    assets
        Files copied into ``docs/`` beside them.
    strict
        Whether mkdocs' warnings fail the build.
    """
    try:
        raw = config_file.read_bytes()
        config = yaml.load(raw, Loader=_AnyTagLoader)  # a SafeLoader
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(config, dict) or "INHERIT" in config or config.get("hooks"):
        return None
    plugins = config.get("plugins", ["search"]) or []
    names = {next(iter(p), "") if isinstance(p, dict) else str(p) for p in plugins}
    if not names <= KNOWN_PLUGINS:
        return None
    digest = hashlib.sha256(_FORMAT)

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)

    # mkdocs dates the sitemap by SOURCE_DATE_EPOCH, else by today's UTC date
    add(str(strict), os.environ.get("SOURCE_DATE_EPOCH", ""), datetime.now(UTC).strftime("%Y-%m-%d"))
    if b"!ENV" in raw:  # values from the environment
        add(*(f"{k}={v}" for k, v in sorted(os.environ.items())))
    add(raw, _code(), *_distributions())
    theme = config.get("theme")
    custom = theme.get("custom_dir") if isinstance(theme, dict) else None
    trees = [("docs", root / "docs")]
    if isinstance(custom, str):
        trees.append(("custom_dir", config_file.parent / custom))
    for label, base in trees:
        add(label)
        for path in _files(base):
            add(path.relative_to(base).as_posix(), path.read_bytes())
    for path in assets:
        add(path.name, path.read_bytes())
    for rel, text in sorted(generated.items()):
        add(rel, text)
    return digest.hexdigest()


_code = functools.cache(code_fingerprint)  # the package's code and templates do not change in a run


def _files(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _distributions() -> list[str]:
    """Names and versions of the installed distributions (their metadata folders' names)."""
    found = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found += [f"{entry}/{n}" for n in names if n.endswith((".dist-info", ".egg-info"))]
    return sorted(found)


def list_pages(site: Path) -> tuple[str, ...] | None:
    """Every file under ``site``, relative to it (mkdocs' output, before the products are added).

    None when mkdocs wrote where the build writes product pages or the JSON API (``docs/`` has
    such folders): the build would write into those files, which must not be shared.
    """
    files = tuple(sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()))
    return None if any(f.startswith(OWN_PREFIXES) for f in files) else files


def link_pages(previous: Path, site: Path, files: Iterable[str]) -> bool:
    """Hard-link ``files`` of ``previous`` into ``site``; False (some may be linked) if one cannot be.

    Nothing writes into these files afterwards: the build writes only product pages, product JSON
    and the API listings, none of which mkdocs makes, and the previous site is only ever removed.
    """
    made: set[Path] = set()
    try:
        for rel in files:
            target = site / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            os.link(previous / rel, target)
    except OSError:
        return False
    return True
