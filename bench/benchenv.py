"""Say what a benchmark runs from: which venv, which checkout, and whether the venv holds only
what the project declares.

The figures a benchmark prints are the project's promises only when they come from a venv made
by ``make install`` in a clean checkout: a package installed by hand (a faster parser, a
profiler) or an uncommitted change can make a figure that a fresh install does not deliver.
Every benchmark calls :func:`print_environment` first; it only reports (a loud warning for each
departure), it never stops the run.

"Declared" means in the requirement closure of ``pz-server-catalog[dev]``: its requirements
with the ``dev`` extra (and the extras that one names), then theirs, following environment
markers, as installed in this venv. ``pip`` and ``setuptools`` come with every venv.

    .venv/bin/python bench/benchenv.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PROJECT = "pz-server-catalog"
EXTRAS = ("dev",)
#: Put into every venv by ``python -m venv`` (ensurepip); ``make install`` upgrades pip.
VENV_BOOTSTRAP = frozenset({"pip", "setuptools"})
STAMP = ".installed-stamp"  # written by the Makefile's install target
#: Where the venv's distributions live. Only there: a checkout on sys.path holds the
#: project's own *.egg-info, which is not what was installed.
SITE_PACKAGES = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})


def _distribution(name: str) -> metadata.Distribution | None:
    return next(iter(metadata.distributions(name=name, path=SITE_PACKAGES)), None)


def requirement_closure(project: str = PROJECT, extras: tuple[str, ...] = EXTRAS
                        ) -> tuple[dict[str, list[Requirement]], list[str]]:
    """The distributions ``project[extras]`` needs, directly or transitively, as installed here.

    Returns ``({canonical name: [the requirements naming it]}, [declared but not installed])``.
    """
    wanted: dict[str, list[Requirement]] = {}
    done: dict[str, set[str]] = {}  # name: extras already followed
    missing: list[str] = []
    todo: list[tuple[str, frozenset[str]]] = [(canonicalize_name(project), frozenset(extras))]
    while todo:
        name, asked = todo.pop()
        if name in done and asked <= done[name]:
            continue
        done.setdefault(name, set()).update(asked)
        dist = _distribution(name)
        if dist is None:
            missing.append(name)
            continue
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not any(req.marker.evaluate({"extra": e})
                                                  for e in (done[name] or {""})):
                continue
            child = canonicalize_name(req.name)
            wanted.setdefault(child, []).append(req)
            todo.append((child, frozenset(req.extras)))
    return wanted, sorted(set(missing))


def installed() -> dict[str, str]:
    """``{canonical name: version}`` of every distribution installed in this interpreter's venv."""
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=SITE_PACKAGES):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def _install_origin() -> str | None:
    """Where the project is installed from (an editable install names its folder)."""
    dist = _distribution(PROJECT)
    text = dist.read_text("direct_url.json") if dist is not None else None
    try:
        url = json.loads(text).get("url", "") if text else ""
    except ValueError:
        return None
    return url.removeprefix("file://") or None


def environment_report() -> tuple[list[str], list[str]]:
    """``(facts, warnings)``: lines to print, and the departures from a fresh ``make install``."""
    facts, warnings = [], []
    venv = Path(sys.prefix)
    in_venv = sys.prefix != sys.base_prefix
    expected = REPO / ".venv"
    stamp = expected / STAMP
    made = in_venv and venv.resolve() == expected.resolve() and stamp.is_file() and \
        stamp.stat().st_mtime >= (REPO / "pyproject.toml").stat().st_mtime
    facts.append(f"python {platform.python_version()} at {sys.executable}; venv {venv if in_venv else 'none'}"
                 f" ({'made by `make install` in this checkout' if made else 'NOT made by `make install` here'})")
    if not in_venv:
        warnings.append("not running in a venv: run `make install`, then `.venv/bin/python bench/...`")
    elif not made:
        warnings.append(f"the venv is not {expected} made by `make install` (or pyproject.toml changed "
                        "since): run `make install` in this checkout and use its .venv/bin/python")
    origin = _install_origin()
    if origin is None or Path(origin).resolve() != REPO:
        warnings.append(f"{PROJECT} is installed from {origin or 'nowhere'}, not from this checkout ({REPO})")
    commit = _git("rev-parse", "--short=12", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=normal")
    clean = status == ""
    facts.append(f"checkout {REPO} at commit {commit or 'unknown'} "
                 f"({'clean' if clean else 'with uncommitted changes' if status else 'git status failed'})")
    if not clean:
        changed = (status or "").splitlines()
        warnings.append(f"the checkout has {len(changed)} uncommitted or untracked paths "
                        f"({', '.join(line[3:] for line in changed[:5])}{', ...' if len(changed) > 5 else ''}): "
                        "the figures are not those of the commit")
    wanted, missing = requirement_closure()
    have = installed()
    extra = sorted(set(have) - set(wanted) - VENV_BOOTSTRAP - {canonicalize_name(PROJECT)})
    unmet = sorted(f"{name} {have[name]} (wants {', '.join(str(r.specifier) for r in reqs)})"
                   for name, reqs in wanted.items()
                   if name in have and not all(r.specifier.contains(have[name], prereleases=True) for r in reqs))
    facts.append(f"packages: {len(have)} installed, {len(wanted)} in the closure of "
                 f"{PROJECT}[{','.join(EXTRAS)}]; jsonschema-rs {have.get('jsonschema-rs', 'MISSING')}, "
                 f"PyYAML with libyaml: {'yes' if _libyaml() else 'NO'}")
    if not _libyaml():
        warnings.append("PyYAML has no libyaml here: metadata is parsed by the pure-Python parser (slower)")
    if extra:
        warnings.append(f"installed by hand (not declared by {PROJECT}[{','.join(EXTRAS)}], directly or "
                        f"transitively): {', '.join(f'{n} {have[n]}' for n in extra)}")
    if missing:
        warnings.append(f"declared but not installed: {', '.join(missing)}: run `make install`")
    if unmet:
        warnings.append(f"installed versions outside the declared ranges: {', '.join(unmet)}")
    facts.append(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    return facts, warnings


def _libyaml() -> bool:
    try:
        import yaml
    except ImportError:
        return False
    return bool(getattr(yaml, "__with_libyaml__", False))


def print_environment(stream=None) -> bool:
    """Print what this benchmark runs from; True when it is a fresh ``make install`` of a clean checkout."""
    stream = stream or sys.stdout
    facts, warnings = environment_report()
    for line in facts:
        print(f"env: {line}", file=stream)
    for line in warnings:
        print(f"env: WARNING: {line}", file=stream)
    verdict = ("a venv made by `make install` in a clean checkout, holding only declared packages"
               if not warnings else f"NOT a fresh install ({len(warnings)} warnings above): "
               "these figures may not hold for `make install` in a fresh clone")
    print(f"env: {verdict}", file=stream, flush=True)
    return not warnings


if __name__ == "__main__":
    sys.exit(0 if print_environment() else 1)
