"""``pz validate``, ``pz list`` and ``pz show``: reading and checking the catalogue."""

from __future__ import annotations

import json
import sys

import click

from site_builder.catalog.issue import count_summary, render_json, sort_issues
from site_builder.cli.base import bar, catalog_of


@click.command()
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
    from site_builder.validation.validate import validate_catalog

    show_bar = fmt == "text" and sys.stderr.isatty()
    report = validate_catalog(catalog_of(ctx), ids or None, data=not no_data, progress=bar if show_bar else None)
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


@click.command("list")
@click.option("--type", "ptype", help="Only products of this type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_(ctx: click.Context, ptype: str | None, as_json: bool) -> None:
    """List the products of the catalogue."""
    catalog = catalog_of(ctx)
    rows = []
    for folder in catalog.folders:
        data = catalog.get_product(folder).data
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


@click.command()
@click.argument("product_id")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@click.pass_context
def show(ctx: click.Context, product_id: str, as_json: bool) -> None:
    """Print the metadata of one product."""
    source = catalog_of(ctx).get_product(product_id)
    if as_json:
        click.echo(json.dumps(source.data, indent=2, ensure_ascii=False))
    else:
        click.echo(source.path.read_text(encoding="utf-8"), nl=False)
