"""``pz check-pr``: the checks CI runs on a pull request."""

from __future__ import annotations

import json
from pathlib import Path

import click

from site_builder.catalog.issue import count_summary, render_json, sort_issues
from site_builder.cli.base import root_of


@click.command("check-pr")
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

    root = root_of(ctx)
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
