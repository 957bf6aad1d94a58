"""The ``pz`` command. Only this module prints, and decides exit codes.

Exit codes: 0 success, 1 a data or validation problem, 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
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
    from .ingest import ValidationFailed

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
    from .ingest import AddRequest, execute_add, plan_add

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
    from .ingest import update_product

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
    from .catalog import iter_product_folders, read_product
    from .errors import ProductNotFoundError
    from .productsummary import check_summary, summarize_product
    from .schema import did_you_mean
    from .summary import read_summary, write_summary

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
        from .ingest import set_status

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
@click.option("--strict", is_flag=True, help="Fail on any warning of the site build (e.g. a broken link).")
@click.pass_context
def build(ctx: click.Context, out: Path, strict: bool) -> None:
    """Build the static website from the catalogue's metadata (no data needed)."""
    from .api import build_api
    from .site import build_site

    root = _root(ctx)
    result = build_site(root, out if out.is_absolute() else Path.cwd() / out, strict=strict)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    written = build_api(root, result.out, list(result.records) or None)  # the records read by the site
    click.echo(f"built {result.pages} pages ({result.products} products) and the JSON API "
               f"({len(written)} files under api/v1/) into {result.out}", err=True)


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


def _catalog_remote(root: Path) -> tuple[str, str]:
    """Name and URL of the catalogue's DVC remote from catalog.yaml (defaults for --remote/--url)."""
    from .validate import load_settings

    remote = load_settings(root)[0].get("dvc_remote") or {}
    return str(remote.get("name") or "pz-server"), str(remote.get("url") or "")


@cli.command()
@click.option("--remote", "name", help="DVC remote to set (default: dvc_remote.name of catalog.yaml).")
@click.option("--url", help="URL of the remote (default: the remote's URL, else dvc_remote.url).")
@click.option("--token-env", default="ACCESS_TOKEN", show_default=True,
              help="Environment variable holding the token; asked for when it is unset.")
@click.option("--default/--no-default", default=True, show_default=True,
              help="Make this remote the default one (in .dvc/config.local).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Ask the remote first whether it accepts the token; store nothing if not.")
@click.pass_context
def token(ctx: click.Context, name: str | None, url: str | None, token_env: str, default: bool,
          check: bool) -> None:
    """Store an RSP token for the DVC remote in .dvc/config.local (never committed).

    Writes auth = custom, custom_auth_header = Authorization and
    password = "Bearer <token>" for the remote, so `dvc pull`, `dvc push`
    and `pz pull` send it. The token comes from $ACCESS_TOKEN (set in RSP
    notebooks) or is asked for without echo; it is never a command-line
    argument, which other users could see.
    """
    import os

    from .dvcauth import get_remote, store_token

    root = _root(ctx)
    default_name, default_url = _catalog_remote(root)
    name = name or default_name
    if url is None:
        try:
            url = get_remote(root, name)[1].get("url")
        except PzError:
            url = default_url
    secret = os.environ.get(token_env) or click.prompt("RSP token", hide_input=True, err=True)
    problem = store_token(root, secret, name=name, url=url, default=default, check=check)
    if problem is not None:
        click.echo(f"pz: error: {problem.message('use')}", err=True)
        click.echo("  nothing was stored", err=True)
        ctx.exit(1)
    click.echo(f"stored the token for DVC remote {name!r} ({url}) in .dvc/config.local"
               + ("; it is the default remote" if default else ""), err=True)


def _run_dvc(ctx: click.Context, verb: str, targets: tuple[str, ...], remote: str | None, jobs: int | None,
             write: bool) -> None:
    from .dvcauth import run_dvc

    root = _root(ctx)
    args = [verb, *(["-r", remote] if remote else []), *(["-j", str(jobs)] if jobs else []), *targets]
    run = run_dvc(root, args, remote=remote, write=write)
    if run.problem is None:
        click.echo(run.stdout, nl=False)
    if run.returncode == 0:
        click.echo(run.stderr, nl=False, err=True)
        return
    if run.problem is not None:
        # DVC's own lines ("cache files do not exist") only mislead here.
        click.echo(f"pz: error: {run.problem.message('upload to' if write else 'download from')}", err=True)
    else:
        click.echo(run.stderr, nl=False, err=True)
        click.echo(f"pz: error: dvc {verb} failed (exit {run.returncode})", err=True)
    ctx.exit(1)


@cli.command()
@click.argument("targets", nargs=-1)
@click.option("--remote", "-r", help="DVC remote (default: the default remote).")
@click.option("--jobs", "-j", type=int, help="Parallel downloads.")
@click.pass_context
def pull(ctx: click.Context, targets: tuple[str, ...], remote: str | None, jobs: int | None) -> None:
    """Download data with `dvc pull`, saying plainly when the token is the problem.

    DVC reports a refused token as "cache files do not exist"; pz pull
    asks the remote and says whether the token is missing, invalid, or
    lacks the read scope, and how to set it (`pz token`).
    """
    _run_dvc(ctx, "pull", targets, remote, jobs, write=False)


@cli.command()
@click.argument("targets", nargs=-1)
@click.option("--remote", "-r", help="DVC remote (default: the default remote).")
@click.option("--jobs", "-j", type=int, help="Parallel uploads.")
@click.pass_context
def push(ctx: click.Context, targets: tuple[str, ...], remote: str | None, jobs: int | None) -> None:
    """Upload data with `dvc push`, saying plainly when the token lacks the write scope.

    Uploads need a token with the catalogue's write scope (auth.write_scope
    in catalog.yaml); pz push names the missing scope instead of DVC's
    "failed to push data to the cloud".
    """
    _run_dvc(ctx, "push", targets, remote, jobs, write=True)


@cli.command("nginx-config")
@click.option("--site", "site_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("site"), show_default=True,
              help="Built site (its inline scripts and styles give the CSP hashes).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting, e.g. --set site_dir=/srv/site --set workers=4 (repeatable).")
@click.pass_context
def nginx_config(ctx: click.Context, site_dir: Path, out: Path | None, overrides: tuple[str, ...]) -> None:
    """Render the nginx configuration of the pod behind GafaelfawrIngress.

    Site URL, remote path and scopes come from catalog.yaml, the
    Content-Security-Policy from the built site; paths default to those of
    the image (deploy/kubernetes/README.md). The development stack renders
    its own (auth_request) variant: `make stack`.
    """
    from .deploy import TEMPLATE, load_cluster_settings, render_nginx_config

    root = _root(ctx)
    values: dict[str, object] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        values[key] = int(value) if key == "workers" else value
    try:
        settings = load_cluster_settings(root, site_dir, **values)
    except TypeError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from exc
    text = render_nginx_config(settings, root / TEMPLATE)
    if out is None:
        click.echo(text, nl=False)
    else:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
        click.echo(f"wrote {out}", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pz")

