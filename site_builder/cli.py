"""The ``pz`` command. Only this module prints, and decides exit codes.

Exit codes: 0 success, 1 a data or validation problem, 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .catalog import find_root
from .errors import PzError
from .issue import count_summary, render_json, sort_issues


class _Group(click.Group):
    """Shows PzError as one line on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PzError as exc:
            click.echo(f"pz: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), envvar="PZ_REPO",
              help="Catalogue repository (default: the nearest folder upwards holding catalog.yaml).")
@click.version_option(__version__, prog_name="pz")
@click.pass_context
def cli(ctx: click.Context, repo: Path | None) -> None:
    """Validate, add and publish photo-z data products of the PZ Server catalogue."""
    ctx.obj = {"repo": repo}


def _root(ctx: click.Context) -> Path:
    repo = ctx.obj.get("repo")
    if repo is not None and not (repo / "catalog.yaml").is_file():
        raise click.UsageError(f"{str(repo)!r} holds no catalog.yaml; is it a PZ Server catalogue?")
    return find_root(repo)


@cli.command()
@click.argument("ids", nargs=-1)
@click.option("--no-data", is_flag=True, help="Check metadata only; do not open data files.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="Output: GNU-style lines, JSON, or GitHub workflow annotations.")
@click.pass_context
def validate(ctx: click.Context, ids: tuple[str, ...], no_data: bool, strict: bool, fmt: str) -> None:
    """Check products (all, or the IDS given) and the catalogue settings.

    Checks the schema, the rules of each product type, references between
    products, UCDs, and (unless --no-data) the data files: presence, md5
    against the DVC pointer, format, declared columns and plausible values.
    """
    from .validate import validate_catalog

    root = _root(ctx)
    show_bar = fmt == "text" and sys.stderr.isatty()
    report = validate_catalog(root, ids or None, data=not no_data, progress=_bar if show_bar else None)
    issues = sort_issues(report.issues)
    ok = report.ok(strict)
    summary = count_summary(issues, report.checked, strict)
    if fmt == "json":
        click.echo(render_json(issues, report.checked, ok))
    elif fmt == "github":
        for issue in issues:
            click.echo(issue.format_github())
        click.echo(summary, err=True)
    else:
        for issue in issues:
            click.echo(issue.format_text(), err=True)
        click.echo(summary, err=True)
    ctx.exit(0 if ok else 1)


def _bar(items, total: int):
    with click.progressbar(items, length=total, label="checking products", file=sys.stderr,
                           show_pos=True) as bar:
        yield from bar


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Folder to write the site into.")
@click.option("--strict", is_flag=True, help="Fail on any warning of the site build (e.g. a broken link).")
@click.pass_context
def build(ctx: click.Context, out: Path, strict: bool) -> None:
    """Build the static website from the catalogue's metadata (no data needed)."""
    from .site import build_site

    root = _root(ctx)
    result = build_site(root, out if out.is_absolute() else Path.cwd() / out, strict=strict)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"built {result.pages} pages ({result.products} products) into {result.out}", err=True)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Built site to serve (run `pz build` first).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
def serve(out: Path, host: str, port: int) -> None:
    """Serve a built site locally (Ctrl-C stops)."""
    from .site import serve_site

    serve_site(out, host=host, port=port)


@cli.command("list")
@click.option("--type", "ptype", help="Only products of this type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_(ctx: click.Context, ptype: str | None, as_json: bool) -> None:
    """List the products of the catalogue."""
    from .catalog import iter_product_folders, read_product

    root = _root(ctx)
    rows = []
    for folder in iter_product_folders(root):
        data = read_product(root, folder).data
        if ptype and data.get("product_type") != ptype:
            continue
        rows.append({
            "id": folder,
            "product_type": data.get("product_type"),
            "official": data.get("official"),
            "status": data.get("status"),
            "title": data.get("title"),
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no products", err=True)
        return
    width = max(len(r["id"]) for r in rows)
    twidth = max(len(str(r["product_type"])) for r in rows)
    for r in rows:
        flag = "official" if r["official"] else "user    "
        click.echo(f"{r['id']:<{width}}  {r['product_type']!s:<{twidth}}  {flag}  {r['status']!s:<10}  {r['title']}")


@cli.command()
@click.argument("product_id")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@click.pass_context
def show(ctx: click.Context, product_id: str, as_json: bool) -> None:
    """Print the metadata of one product."""
    from .catalog import iter_product_folders, read_product
    from .errors import ProductNotFoundError
    from .schema import did_you_mean

    root = _root(ctx)
    folders = iter_product_folders(root)
    if product_id not in folders:
        hint = did_you_mean(product_id, folders)
        raise ProductNotFoundError(f"no product {product_id!r}" + (f"; {hint}" if hint else ""))
    source = read_product(root, product_id)
    if as_json:
        click.echo(json.dumps(source.data, indent=2, ensure_ascii=False))
    else:
        click.echo(source.path.read_text(encoding="utf-8"), nl=False)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pz")

