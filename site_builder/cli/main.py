"""The ``pz`` command. Only this module prints, and decides exit codes.

Exit codes: 0 success, 1 a data or validation problem, 2 a usage error.
"""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from site_builder import __version__
from site_builder.catalog.issue import count_summary, render_json, sort_issues
from site_builder.catalog.source import find_root
from site_builder.errors import PzError

#: A message that already names its place GNU-style ("products/x/product.yaml:3: error: ...").
_LOCATED = re.compile(r"^[^\s:][^:\n]*(:\d+)*: error: ")


class _Group(click.Group):
    """Shows PzError as one line on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PzError as exc:
            message = str(exc)
            click.echo(message if _LOCATED.match(message) else f"pz: error: {message}", err=True)
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
    from site_builder.validation.validate import validate_catalog

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


@cli.command("check-pr")
@click.option("--base", "base_ref", required=True, metavar="REF",
              help="Branch the pull request goes into, e.g. origin/main (compared from its merge base with HEAD).")
@click.option("--author", metavar="LOGIN",
              help="GitHub login of the pull request's author, for the permission rules (without it, "
                   "changes that need an admin are warnings).")
@click.option("--no-data", is_flag=True, help="Skip the data checks (and the `dvc pull` of changed products).")
@click.option("--no-remote", is_flag=True,
              help="Do not look up the change's DVC objects on the remote (where this run has no token and "
                   "another run checks them).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="Output: GNU-style lines, JSON, or GitHub workflow annotations.")
@click.option("--summary-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Append the change summary as Markdown to this file (with --format github, "
                   "default: $GITHUB_STEP_SUMMARY, the job summary).")
@click.pass_context
def check_pr(ctx: click.Context, base_ref: str, author: str | None, no_data: bool, no_remote: bool, strict: bool,
             fmt: str, summary_file: Path | None) -> None:
    """Check the change between REF and HEAD as CI does on a pull request.

    Validates the products the change touches (and references to them),
    applies the permission rules (only the admins of catalog.yaml may touch
    official products or catalog.yaml; no product is deleted or changes id),
    checks that every DVC object the change adds is in the remote (without
    downloading it), pulls and checks the data of the changed products, and
    summarises the change (new products, new versions, metadata changes).
    """
    import os

    from site_builder.pr.check import check_pr as run_check
    from site_builder.pr.summary import render_summary_markdown, render_summary_text

    root = _root(ctx)
    report = run_check(root, base_ref, author or None, data=not no_data, remote_check=not no_remote)
    issues = sort_issues(report.issues)
    ok = report.ok(strict)
    summary = count_summary(issues, report.checked, strict)
    if fmt == "json":
        document = json.loads(render_json(issues, report.checked, ok))
        document["summary"] = report.summary.to_dict()
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif fmt == "github":
        for issue in issues:
            click.echo(issue.format_github("pz check-pr"))
        click.echo(render_summary_text(report.summary), err=True)
        click.echo(summary, err=True)
    else:
        for issue in issues:
            click.echo(issue.format_text(), err=True)
        click.echo(render_summary_text(report.summary))
        click.echo(summary, err=True)
    if summary_file is None and fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        summary_file = Path(os.environ["GITHUB_STEP_SUMMARY"])
    if summary_file is not None:
        with summary_file.open("a", encoding="utf-8") as handle:
            handle.write(render_summary_markdown(report, strict) + "\n")
    ctx.exit(0 if ok else 1)


def _bar(items, total: int):
    with click.progressbar(items, length=total, label="checking products", file=sys.stderr,
                           show_pos=True) as bar:
        yield from bar


def _column_option(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        role, sep, name = value.partition("=")
        if not sep or not role or not name:
            raise click.BadParameter(f"{value!r} is not ROLE=NAME (e.g. z=ZSPEC)", param_hint="--column")
        out[role.strip()] = name.strip()
    return out


class _Progress:
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


def _print_issues(issues) -> None:
    for issue in sort_issues(issues):
        click.echo(issue.format_text(), err=True)


@contextmanager
def _reporting(progress: _Progress):
    """Close the progress bar, and print the validator's findings when a prepared product fails it."""
    from site_builder.ingest.add import ValidationFailed

    try:
        yield
    except ValidationFailed as exc:
        progress.close()
        _print_issues(exc.issues)
        raise
    finally:
        progress.close()


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


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--type", "product_type", required=True,
              type=click.Choice(["redshift_catalog", "training_set", "training_results", "validation_results",
                                 "photoz_estimates", "object_catalog", "other"]), help="Product type.")
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

    root = _root(ctx)
    request = AddRequest(file=file, product_type=product_type, title=title, pid=pid, release=release,
                         official=official, columns=_column_option(columns), aux=aux, description=description,
                         table=table, owner=owner, license=license_, summary=summary_line, move=move)
    interactive = not yes and sys.stdin.isatty() and sys.stderr.isatty()
    progress = _Progress()
    try:
        # Values of the first rows are read only when someone will look at the proposals
        # before anything is written; the whole file is read once, later, in any case.
        plan = plan_add(root, request, scan=interactive or dry_run)
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
    with _reporting(progress):
        result = execute_add(root, plan, progress=progress)
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


@cli.command()
@click.argument("product_id")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def update(ctx: click.Context, product_id: str, file: Path) -> None:
    """Replace the main file of PRODUCT_ID with a new version of FILE.

    The metadata is kept and the declared columns must still exist; the old
    version stays reachable through git history and DVC.
    """
    from site_builder.ingest.add import update_product

    root = _root(ctx)
    progress = _Progress()
    with _reporting(progress):
        folder, old, new = update_product(root, product_id, file, progress=progress)
    rel = folder.relative_to(root)
    if old == new:
        click.echo(f"{rel}: the new file is identical to the current one (md5 {new}); nothing to commit", err=True)
        return
    click.echo(f"updated {rel}: md5 {old} -> {new}", err=True)
    click.echo(f"next steps: git add {rel} && git commit -m 'Update {product_id}' && dvc push, then open a "
               "pull request (the previous version stays reachable from git history)", err=True)


@cli.command()
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
    from site_builder.catalog.schema import did_you_mean
    from site_builder.catalog.source import iter_product_folders, read_product
    from site_builder.errors import ProductNotFoundError
    from site_builder.tables.summary import read_summary, write_summary
    from site_builder.validation.summaries import check_summary, summarize_product

    root = _root(ctx)
    folders = iter_product_folders(root)
    for pid in ids:
        if pid not in folders:
            hint = did_you_mean(pid, folders)
            raise ProductNotFoundError(f"no product {pid!r}" + (f"; {hint}" if hint else ""))
    progress = _Progress()
    updated = stale = skipped = 0
    for pid in ids or folders:
        source = read_product(root, pid)
        if source.doc is None:
            click.echo(f"{source.relpath}: skipped: {source.error} (run `pz validate {pid}`)", err=True)
            skipped += 1
            continue
        if check:
            problems = check_summary(source)
            _print_issues(problems)
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
        from site_builder.ingest.add import set_status

        root = _root(ctx)
        path = set_status(root, product_id, status, reason)
        click.echo(f"{path.relative_to(root)}: status {status} ({reason.strip()}); nothing was deleted", err=True)
        click.echo(f"next step: git commit -am '{verb.capitalize()} {product_id}' and open a pull request", err=True)

    command.__doc__ = (f"Mark PRODUCT_ID as {status} with a reason. Products are never deleted: "
                       "the page stays, with a notice, and every version stays reachable.")
    return command


cli.command("deprecate")(_status_command("deprecated", "deprecate"))
cli.command("retract")(_status_command("retracted", "retract"))


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Folder to write the site into.")
@click.option("--strict", is_flag=True, help="Fail on any warning of the site build and on broken links.")
@click.option("--no-cache", is_flag=True, help="Read and render every product again (ignore .pz/cache/).")
@click.pass_context
def build(ctx: click.Context, out: Path, strict: bool, no_cache: bool) -> None:
    """Build the static website and its JSON API from the catalogue's metadata (no data needed).

    Only products that changed since the last build are read and rendered again; the new site
    replaces the old one only once it is complete.
    """
    from site_builder.site.build import build_site

    root = _root(ctx)
    result = build_site(root, out if out.is_absolute() else Path.cwd() / out, strict=strict, cache=not no_cache)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"built {result.pages} pages ({result.products} products, {result.rendered} rendered, "
               f"{result.products - result.rendered} unchanged) and the JSON API ({result.api_files} files "
               f"under api/v1/) into {result.out} in {result.seconds:.1f} s", err=True)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("site"),
              show_default=True, help="Built site to serve (run `pz build` first).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
def serve(out: Path, host: str, port: int) -> None:
    """Serve a built site locally (Ctrl-C stops)."""
    from site_builder.site.build import serve_site

    serve_site(out, host=host, port=port)


@cli.command("list")
@click.option("--type", "ptype", help="Only products of this type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_(ctx: click.Context, ptype: str | None, as_json: bool) -> None:
    """List the products of the catalogue."""
    from site_builder.catalog.source import iter_product_folders, read_product

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
    from site_builder.catalog.schema import did_you_mean
    from site_builder.catalog.source import iter_product_folders, read_product
    from site_builder.errors import ProductNotFoundError

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


# The commands that talk to the DVC remote and the proxy live in their own module.


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pz")

