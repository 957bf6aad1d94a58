"""Synthetic catalogues for the site benchmark (and tests): N products made from the samples.

Every product is a copy of one of the six sample products (``products/`` of this repository)
with its ids rewritten: product ``k`` of group ``g`` is ``<sample id>-g<g>``, and references
between samples (``provenance.derived_from``, ``superseded_by``, ``validation_set``) stay inside
the group. Each copy keeps its sample's ``summary.json`` and ``.dvc`` pointers, so product
pages carry real plots, previews and files; owners and tags vary so that owner pages and
facets have many values. The catalogue is a git repository with one commit.

    .venv/bin/python bench/sitegen.py DEST --products 1000
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.name for p in (REPO / "products").iterdir() if (p / "product.yaml").is_file())
KEEP = (".dvc", "summary.json", "README.md")


def make_site_catalog(dest: Path, count: int, *, git: bool = True) -> Path:
    """Write a catalogue of ``count`` products into ``dest`` (created; must not exist)."""
    dest.mkdir(parents=True)
    for name in ("catalog.yaml", "mkdocs.yml"):
        shutil.copyfile(REPO / name, dest / name)
    shutil.copytree(REPO / "docs", dest / "docs")
    ids = re.compile("|".join(re.escape(s) for s in sorted(SAMPLES, key=len, reverse=True)))
    templates = {s: (REPO / "products" / s / "product.yaml").read_text(encoding="utf-8") for s in SAMPLES}
    extras = {s: [p for p in (REPO / "products" / s).iterdir() if p.name.endswith(KEEP)] for s in SAMPLES}
    for n in range(count):
        sample, group = SAMPLES[n % len(SAMPLES)], n // len(SAMPLES)
        pid = f"{sample}-g{group:05d}"
        folder = dest / "products" / pid
        folder.mkdir(parents=True)
        text = ids.sub(lambda m: f"{m.group(0)}-g{group:05d}", templates[sample])  # noqa: B023
        # Vary the owner and add tags so facets and owner pages have many values.
        text = re.sub(r"(?m)^owner: .*$", f"owner: {{github: user{n % 97}, name: User {n % 97}}}", text)
        text = re.sub(r"(?m)^tags: \[", f"tags: [t{n % 53}, ", text)
        text = re.sub(r"(?m)^official: true$", f"official: {str(n % 50 == 0).lower()}", text)
        (folder / "product.yaml").write_text(text, encoding="utf-8")
        for extra in extras[sample]:
            shutil.copyfile(extra, folder / extra.name)
    if git:
        env_commit(dest, "Synthetic catalogue", init=True)
    return dest


def env_commit(root: Path, message: str, *, init: bool = False) -> None:
    """Commit every change in ``root`` (``git init`` first when asked)."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.org", *args],
                       cwd=root, check=True, capture_output=True)
    if init:
        git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--products", type=int, default=1000)
    args = parser.parse_args()
    make_site_catalog(args.dest, args.products)
    print(f"{args.products} products in {args.dest}")


if __name__ == "__main__":
    main()
