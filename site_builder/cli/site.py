"""``pz build`` and ``pz serve``: the website and its JSON API."""

from __future__ import annotations

from pathlib import Path

import click

from site_builder.cli.base import root_of


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Folder to write the site into.")
@click.option("--strict", is_flag=True, help="Fail on any warning of the site build and on broken links.")
@click.option("--no-cache", is_flag=True,
              help="Read and render every product again (ignore .pz/cache/; the next build uses the new one).")
@click.pass_context
def build(ctx: click.Context, out: Path, strict: bool, no_cache: bool) -> None:
    """Build the static website and its JSON API from the catalogue's metadata (no data needed).

    Only products that changed since the last build are read and rendered again; the new site
    replaces the old one only once it is complete.
    """
    from site_builder.site.build import build_site

    root = root_of(ctx)
    result = build_site(root, out if out.is_absolute() else Path.cwd() / out, strict=strict, cache=not no_cache)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"built {result.pages} pages ({result.products} products, {result.rendered} rendered, "
               f"{result.products - result.rendered} unchanged) and the JSON API ({result.api_files} files "
               f"under api/v1/) into {result.out} in {result.seconds:.1f} s", err=True)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Built site to serve (run `pz build` first).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
def serve(out: Path, host: str, port: int) -> None:
    """Serve a built site locally (Ctrl-C stops)."""
    from site_builder.site.build import serve_site

    serve_site(out, host=host, port=port)
