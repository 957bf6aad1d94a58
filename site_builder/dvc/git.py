"""The one git runner of the builder, and the plumbing built on it.

`pz check-pr` needs the merge base, the changed paths and file contents at a
revision; the site needs each product's history. Every call is one ``git``
subprocess; file contents of many revisions come from a single
``git cat-file --batch``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from site_builder.errors import PzError, UsageError


class GitError(PzError):
    """A git command failed (the message carries git's own)."""


def git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run ``git ARGS`` in ``root``; its standard output.

    Raises
    ------
    GitError
        git is missing or the command failed.
    """
    try:
        done = subprocess.run(["git", "-c", "core.quotePath=off", *args], cwd=root, input=stdin,
                              capture_output=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def find_git_output(root: Path, *args: str) -> bytes | None:
    """Output of ``git ARGS`` in ``root``, or None when it fails (not a repository, no commit,
    git missing): for callers to which "no history" is an answer."""
    try:
        return git(root, *args)
    except GitError:
        return None


def resolve_base(root: Path, ref: str) -> tuple[str, str]:
    """``(merge-base of ref and HEAD, HEAD)`` as commit ids.

    Raises
    ------
    UsageError
        ``ref`` is unknown, or has no common history with HEAD (a shallow clone).
    """
    try:
        head = git(root, "rev-parse", "--verify", "HEAD^{commit}").decode().strip()
    except GitError:
        raise UsageError(f"{str(root)!r} is not a git repository with a commit; check-pr compares commits") from None
    try:
        target = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except GitError:
        raise UsageError(f"unknown revision {ref!r}: fetch it first (e.g. `git fetch origin`); "
                         "in CI check out with `fetch-depth: 0`") from None
    try:
        base = git(root, "merge-base", target, head).decode().strip()
    except GitError:
        raise UsageError(f"{ref!r} and HEAD share no history (a shallow clone?); fetch the whole history "
                         "(`git fetch --unshallow`, or `fetch-depth: 0` in CI)") from None
    return base, head


def changed_paths(root: Path, base: str, head: str) -> list[tuple[str, str]]:
    """``(status letter, path)`` of every file that differs between two commits (renames as delete + add)."""
    raw = git(root, "diff", "--name-status", "-z", "--no-renames", "--relative", base, head, "--")
    parts = raw.decode("utf-8", "surrogateescape").split("\0")
    return [(parts[i][:1], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]


def read_blobs(root: Path, specs: Iterable[str]) -> dict[str, str | None]:
    """Contents of ``rev:path`` specs (paths relative to ``root``), None for those that do not exist."""
    specs = list(dict.fromkeys(specs))
    if not specs:
        return {}
    out = git(root, "cat-file", "--batch", stdin="".join(f"{s.split(':', 1)[0]}:./{s.split(':', 1)[1]}\n"
                                                        for s in specs).encode("utf-8"))
    result: dict[str, str | None] = {}
    pos = 0
    for spec in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) == 3 and header[2].isdigit():
            size = int(header[2])
            is_blob = header[1] == b"blob"
            result[spec] = out[pos:pos + size].decode("utf-8", "replace") if is_blob else None
            pos += size + 1
        else:  # "<spec> missing"
            result[spec] = None
    return result
