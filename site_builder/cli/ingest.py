"""``pz add``, ``pz update``, ``pz deprecate``, ``pz retract`` and ``pz summarize``: changing products."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from site_builder.catalog.model import PRODUCT_TYPES
from site_builder.cli.base import Progress, catalog_of, print_issues, reporting, root_of


def _column_option(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        role, sep, name = value.partition("=")
        if not sep or not role or not name:
            raise click.BadParameter(f"{value!r} is not ROLE=NAME (e.g. z=ZSPEC)", param_hint="--column")
        out[role.strip()] = name.strip()
    return out


def _show_proposals(proposals) -> None:
    if not proposals:
        return
    rows = [("column", "dtype", "role", "ucd", "unit", "sentinels", "note")]
    for p in proposals:
        dtype = p.dtype + (f"{list(p.shape)}" if p.shape else "")
        rows.append((p.name, dtype, p.role or "", p.ucd or "", p.unit if p.unit is not None else "",
                     ", ".join(f"{s:g}" for s in p.sentinels), p.note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for n, row in enumerate(rows):
        line = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]).rstrip()
        click.echo(click.style(line, bold=True) if n == 0 else line, err=True)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--type", "product_type", required=True,
              type=click.Choice(list(PRODUCT_TYPES)), help="Product type.")
@click.option("--title", required=True, help="Title of the product (the id is made from it unless --id).")
@click.option("--id", "pid", help="Product id (lowercase slug); default: from the title.")
@click.option("--release", help="Data release (one of catalog.yaml's releases).")
@click.option("--official", is_flag=True, help="An official product of the PZ Coordination Group.")
@click.option("--column", "columns", multiple=True, metavar="ROLE=NAME",
              help="Give a column its role, overriding the proposal (repeatable), e.g. --column z=ZSPEC.")
@click.option("--aux", multiple=True, type=click.Path(path_type=Path), help="An auxiliary file (repeatable).")
@click.option("--description", type=click.Path(path_type=Path), help="Markdown file with the long description.")
@click.option("--table", help="FITS HDU or HDF5 group holding the table, if not the first.")
@click.option("--owner", help="GitHub login of the owner (default: $GITHUB_ACTOR, git config github.user, $USER).")
@click.option("--license", "license_", default="CC-BY-4.0", show_default=True, help="SPDX licence identifier.")
@click.option("--summary", "summary_line", help="One-line summary (default: the title).")
@click.option("--move", is_flag=True, help="Move the file into the product instead of copying it.")
@click.option("--yes", "-y", is_flag=True, help="Accept the proposed columns without asking.")
@click.option("--dry-run", is_flag=True, help="Show the product.yaml that would be written; change nothing.")
@click.pass_context
def add(ctx: click.Context, file: Path, product_type: str, title: str, pid: str | None, release: str | None,
        official: bool, columns: tuple[str, ...], aux: tuple[Path, ...], description: Path | None,
        table: str | None, owner: str | None, license_: str, summary_line: str | None, move: bool, yes: bool,
        dry_run: bool) -> None:
    """Add FILE as a new product: inspect it, propose column roles, write
    products/<id>/product.yaml, track the data with DVC, summarise and validate.

    Nothing is changed unless every step succeeds (Ctrl-C included).
    """
    from site_builder.ingest.add import AddRequest, execute_add, plan_add

    catalog = catalog_of(ctx)
    root = catalog.root
    request = AddRequest(file=file, product_type=product_type, title=title, pid=pid, release=release,
                         official=official, columns=_column_option(columns), aux=aux, description=description,
                         table=table, owner=owner, license=license_, summary=summary_line, move=move)
    interactive = not yes and sys.stdin.isatty() and sys.stderr.isatty()
    progress = Progress()
    try:
        # Values of the first rows are read only when someone will look at the proposals
        # before anything is written; the whole file is read once, later, in any case.
        plan = plan_add(catalog, request, scan=interactive or dry_run)
    finally:
        progress.close()
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if plan.info is not None:
        click.echo(f"{plan.source.name}: {plan.format}, {plan.info.num_rows:,} rows, "
                   f"{len(plan.info.columns)} columns" + (f" (table {plan.info.table!r})" if plan.info.table else ""),
                   err=True)
    if interactive or dry_run:
        _show_proposals(plan.proposals)
    if dry_run:
        click.echo(f"# products/{plan.pid}/product.yaml (dry run: nothing written)", err=True)
        click.echo(plan.yaml_text, nl=False)
        return
    if interactive and not click.confirm(
            f"add product {plan.pid!r} with these columns? (use --column ROLE=NAME to change)",
            default=True, err=True):
        click.echo("nothing added", err=True)
        ctx.exit(1)
    with reporting(progress):
        result = execute_add(catalog, plan, progress=progress)
    if not (interactive or dry_run):
        _show_proposals(result.columns)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    rel = result.folder.relative_to(root)
    click.echo(f"added {rel}/ ({plan.pid})", err=True)
    click.echo("next steps:\n"
               f"  1. check {rel}/product.yaml (licence, summary, description, column roles)\n"
               f"  2. git add {rel} && git commit -m 'Add {plan.pid}'\n"
               "  3. dvc push                      # upload the data to the DVC remote\n"
               "  4. open a pull request; CI validates the product and checks the data was pushed", err=True)


@click.command()
@click.argument("product_id")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def update(ctx: click.Context, product_id: str, file: Path) -> None:
    """Replace the main file of PRODUCT_ID with a new version of FILE.

    The metadata is kept and the declared columns must still exist; the old
    version stays reachable through git history and DVC.
    """
    from site_builder.ingest.update import update_product

    root = root_of(ctx)
    progress = Progress()
    with reporting(progress):
        folder, old, new = update_product(root, product_id, file, progress=progress)
    rel = folder.relative_to(root)
    if old == new:
        click.echo(f"{rel}: the new file is identical to the current one (md5 {new}); nothing to commit", err=True)
        return
    click.echo(f"updated {rel}: md5 {old} -> {new}", err=True)
    click.echo(f"next steps: git add {rel} && git commit -m 'Update {product_id}' && dvc push, then open a "
               "pull request (the previous version stays reachable from git history)", err=True)


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--force", is_flag=True, help="Recompute even summaries that are up to date.")
@click.option("--check", is_flag=True, help="Only report stale summaries (exit 1 if any); write nothing.")
@click.pass_context
def summarize(ctx: click.Context, ids: tuple[str, ...], force: bool, check: bool) -> None:
    """Compute products/<id>/summary.json for products (all, or the IDS given).

    A summary is keyed by the md5 of its data and by the column metadata, so
    unchanged products are skipped; it needs the data in the workspace
    (`dvc pull`).
    """
    from site_builder.tables.summary import read_summary, write_summary
    from site_builder.validation.summaries import check_summary, summarize_product

    catalog = catalog_of(ctx)
    catalog.check_ids(ids)
    progress = Progress()
    updated = stale = skipped = 0
    for pid in ids or catalog.folders:
        source = catalog.get_product(pid)
        if source.doc is None:
            click.echo(f"{source.relpath}: skipped: {source.error} (run `pz validate {pid}`)", err=True)
            skipped += 1
            continue
        if check:
            problems = check_summary(source)
            print_issues(problems)
            stale += bool(problems)
            continue
        try:
            summary, missing = summarize_product(source.dir, source.data, progress=progress, force=force)
        finally:
            progress.close()
        for name in missing:
            click.echo(f"products/{pid}/{name}: data not in the workspace; run `dvc pull products/{pid}/{name}.dvc`",
                       err=True)
            skipped += 1
        if summary is not None and summary != read_summary(source.dir):
            write_summary(source.dir, summary)
            click.echo(f"products/{pid}/summary.json: updated", err=True)
            updated += 1
    if check:
        click.echo(f"{stale} stale summar{'ies' if stale != 1 else 'y'}", err=True)
        ctx.exit(1 if stale else 0)
    click.echo(f"{updated} summar{'ies' if updated != 1 else 'y'} updated"
               + (f", {skipped} skipped" if skipped else ""), err=True)
    ctx.exit(1 if skipped else 0)


def _status_command(status: str, verb: str):
    @click.argument("product_id")
    @click.option("--reason", required=True, help="Why, and what to use instead.")
    @click.pass_context
    def command(ctx: click.Context, product_id: str, reason: str) -> None:
        from site_builder.ingest.update import set_status

        root = root_of(ctx)
        path = set_status(root, product_id, status, reason)
        click.echo(f"{path.relative_to(root)}: status {status} ({reason.strip()}); nothing was deleted", err=True)
        click.echo(f"next step: git commit -am '{verb.capitalize()} {product_id}' and open a pull request", err=True)

    command.__doc__ = (f"Mark PRODUCT_ID as {status} with a reason. Products are never deleted: "
                       "the page stays, with a notice, and every version stays reachable.")
    return command


deprecate = click.command("deprecate")(_status_command("deprecated", "deprecate"))
retract = click.command("retract")(_status_command("retracted", "retract"))
