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
import random
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


def synthetic_products(n: int) -> dict:
    """A products.json of ``n`` random entries (random words: it compresses like real metadata)."""
    rng = random.Random(0)
    words = ["galaxy", "redshift", "photometric", "deep", "wide", "field", "spectroscopic", "sample",
             "training", "validation", "template", "fit", "neural", "forest", "posterior", "catalog"]
    columns = ["ra", "dec", "z", "z_err", "mag_u", "mag_g", "mag_r", "mag_i", "mag_z", "mag_y", "flag",
               "objectid", "pdf", "odds", "chi_sq", "weight"]
    types = ["training_set", "validation_set", "redshift_catalog", "photoz_estimates", "object_catalog",
             "other"]
    tags = [f"tag{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(200)]
    products = [{
        "id": f"synthetic-{i:05d}", "title": " ".join(rng.choices(words, k=5)).capitalize(),
        "summary": " ".join(rng.choices(words, k=16)), "product_type": rng.choice(types),
        "official": rng.random() < 0.05, "status": rng.choice(["active", "deprecated"]),
        "release": rng.choice([None, "dp0.2", "dp1", "dr1"]), "owner": f"owner-{chr(97 + rng.randrange(26))}",
        "survey": rng.sample(["LSST", "DES", "KiDS", "HSC", "cosmoDC2"], k=rng.randint(1, 2)),
        "tags": rng.sample(tags, k=rng.randint(0, 4)), "created": f"20{rng.randint(20, 26)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "updated": None, "num_rows": rng.randint(10, 10**9), "size": rng.randint(10**3, 10**11),
        "columns": rng.sample(columns, k=rng.randint(3, 16)), "pz_code": None,
    } for i in range(n)]
    return {"api_version": "v1", "count": n, "products": products}


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
