"""The ``pz`` commands that talk to the DVC remote through the proxy, and render its configuration.

``pz token``, ``pz pull``, ``pz push`` and ``pz nginx-config``.
"""

from __future__ import annotations

from pathlib import Path

import click

from site_builder.catalog.settings import RemoteSettings
from site_builder.cli.base import root_of
from site_builder.errors import PzError


def _catalog_remote(root: Path) -> tuple[str, str]:
    """Name and URL of the catalogue's DVC remote from catalog.yaml (defaults for --remote/--url)."""
    from site_builder.catalog.catalog import load_catalog

    remote = load_catalog(root).settings.dvc_remote or RemoteSettings()
    return str(remote.name or "pz-server"), str(remote.url or "")


@click.command()
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

    from site_builder.dvc.auth import get_remote, store_token

    root = root_of(ctx)
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
    from site_builder.dvc.auth import run_dvc

    root = root_of(ctx)
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


@click.command()
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


@click.command()
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


@click.command("nginx-config")
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
    from site_builder.deploy.nginx import TEMPLATE, load_cluster_settings, render_nginx_config

    root = root_of(ctx)
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
