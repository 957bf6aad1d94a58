"""What every ``pz`` command shares: the group that turns PzError into one line, the
catalogue of the invocation, progress bars and issue printing.

Only the modules of this package import click, print, and decide exit codes
(0 success, 1 a data or validation problem, 2 a usage error).
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from site_builder.catalog.catalog import Catalog, load_catalog
from site_builder.catalog.issue import sort_issues
from site_builder.catalog.source import find_root
from site_builder.errors import PzError

__all__ = ["Progress", "PzGroup", "bar", "catalog_of", "print_issues", "reporting", "root_of"]

#: A message that already names its place GNU-style ("products/x/product.yaml:3: error: ...").
_LOCATED = re.compile(r"^[^\s:][^:\n]*(:\d+)*: error: ")


class PzGroup(click.Group):
    """Shows PzError as one line on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PzError as exc:
            message = str(exc)
            click.echo(message if _LOCATED.match(message) else f"pz: error: {message}", err=True)
            ctx.exit(exc.exit_code)


def root_of(ctx: click.Context) -> Path:
    """The catalogue root of this invocation (--repo, $PZ_REPO, or found upwards)."""
    repo = ctx.obj.get("repo")
    if repo is not None and not (repo / "catalog.yaml").is_file():
        raise click.UsageError(f"{str(repo)!r} holds no catalog.yaml; is it a PZ Server catalogue?")
    return find_root(repo)


def catalog_of(ctx: click.Context) -> Catalog:
    """The catalogue of this invocation, read once."""
    return load_catalog(root_of(ctx))


def bar(items, total: int):
    """``progress(iterable, total)`` for the validator: a bar on stderr."""
    with click.progressbar(items, length=total, label="checking products", file=sys.stderr,
                           show_pos=True) as progress:
        yield from progress


class Progress:
    """A progress bar on stderr for long steps (only in a terminal)."""

    def __init__(self) -> None:
        self.bar = None
        self.label = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        if label != self.label:
            self.close()
            self.label = label
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def print_issues(issues) -> None:
    for issue in sort_issues(issues):
        click.echo(issue.format_text(), err=True)


@contextmanager
def reporting(progress: Progress):
    """Close the progress bar, and print the validator's findings when a prepared product fails it."""
    from site_builder.ingest.staging import ValidationFailed

    try:
        yield
    except ValidationFailed as exc:
        progress.close()
        print_issues(exc.issues)
        raise
    finally:
        progress.close()
