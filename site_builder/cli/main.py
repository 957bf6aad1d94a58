"""The ``pz`` command: the group, its options, and the commands of each module of this package.

The command modules know nothing of this one; it imports them and adds their commands,
so there is no circle between the group and its commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from site_builder import __version__
from site_builder.cli import catalog, ingest, pr, remote, site
from site_builder.cli.base import PzGroup

__all__ = ["cli", "main"]


@click.group(cls=PzGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), envvar="PZ_REPO",
              help="Catalogue repository (default: the nearest folder upwards holding catalog.yaml).")
@click.version_option(__version__, prog_name="pz")
@click.pass_context
def cli(ctx: click.Context, repo: Path | None) -> None:
    """Validate, add and publish photo-z data products of the PZ Server catalogue."""
    ctx.obj = {"repo": repo}


for _command in (
    catalog.validate, catalog.list_, catalog.show,
    ingest.add, ingest.update, ingest.deprecate, ingest.retract, ingest.summarize,
    site.build, site.serve,
    pr.check_pr,
    remote.token, remote.pull, remote.push, remote.nginx_config,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pz")
