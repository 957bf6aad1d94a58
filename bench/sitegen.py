"""Synthetic catalogues for the site benchmark (and tests): N realistic products made from the samples.

Every product starts from one of the six sample products (``products/`` of this repository)
and keeps its ``summary.json`` and ``.dvc`` pointers, so product pages carry real plots,
previews and files. Its metadata is then made to look like a real catalogue's rather than
like copies (issue 12 measured the site build on such a catalogue):

* a description of 100 to 1,000 words of Markdown (paragraphs, a list, emphasis, code, a link);
* 15 to 40 columns (the sample's own, then fluxes, errors and other measured quantities);
* 10% of the products derived from one to three other products (``provenance.derived_from``);
* one of a few hundred owners (:data:`OWNERS`), and varied titles, summaries and tags.

Product ``n`` is ``<sample id>-g<n // 6>``; the same ``count`` always gives the same
catalogue. The catalogue is a git repository with one commit, and passes ``pz validate --no-data``.

    .venv/bin/python bench/sitegen.py DEST --products 1000
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from site_builder.validation.summaries import metadata_key  # noqa: E402

SAMPLES = sorted(p.name for p in (REPO / "products").iterdir() if (p / "product.yaml").is_file())
KEEP = (".dvc", "README.md")  # and summary.json, whose metadata keys follow the new columns
OWNERS = 300
DERIVED_SHARE = 0.10
DESCRIPTION_WORDS = (100, 1000)
COLUMNS = (15, 40)

_VOCABULARY = (
    "galaxy galaxies redshift redshifts photometric spectroscopic sample samples training validation "
    "template templates fit estimator estimators neural network forest posterior prior catalogue "
    "magnitude magnitudes colour colours band bands survey deep wide field depth completeness purity "
    "outlier outliers fraction bias scatter calibration selection cut cuts flux fluxes error errors "
    "aperture extinction dust stellar mass star formation rate cluster clustering cross-correlation "
    "tomographic bin bins weight weights healpix pixel footprint mask coverage release data the of a "
    "in and with for to from by on at is are was were this that these we our its their which using "
    "after before between within across per each all most some only also both than more less"
)
_WORDS = _VOCABULARY.split()
_TOPICS = ("DC2", "DP0.2", "DP1", "cosmoDC2", "HSC", "DES", "KiDS", "VIPERS", "DEEP2", "zCOSMOS", "GAMA",
           "SDSS", "2dFLenS", "VVDS", "COSMOS2020")
_BANDS = "ugrizy"
_EXTRA_COLUMNS = (
    [(f"flux_{b}_{ap}", "flux", f"phot.flux;em.opt.{b.upper() if b in 'ubvri' else 'I'}", "nJy",
      f"{b}-band {ap} flux") for ap in ("psf", "cmodel", "kron") for b in _BANDS]
    + [(f"flux_err_{b}_{ap}", "flux_err", "stat.error;phot.flux", "nJy", f"1-sigma error of flux_{b}_{ap}")
       for ap in ("psf", "cmodel", "kron") for b in _BANDS]
    + [(f"psf_fwhm_{b}", "other", "phys.angSize", "arcsec", f"PSF full width at half maximum in {b}")
       for b in _BANDS]
    + [("extendedness", "other", "src.class.starGalaxy", "", "0 for point sources, 1 for extended ones"),
       ("ebv", "other", "phys.absorption;em.opt.B", "mag", "Galactic reddening E(B-V) at the position"),
       ("stellar_mass", "other", "phys.mass", "solMass", "stellar mass from SED fitting"),
       ("sfr", "other", "phys.SFR", "solMass/yr", "star-formation rate from SED fitting"),
       ("weight", "weight", "stat.weight", "", "weight that corrects the selection")]
)


def make_site_catalog(dest: Path, count: int, *, git: bool = True) -> Path:
    """Write a catalogue of ``count`` realistic products into ``dest`` (created; must not exist)."""
    dest.mkdir(parents=True)
    for name in ("catalog.yaml", "mkdocs.yml"):
        shutil.copyfile(REPO / name, dest / name)
    shutil.copytree(REPO / "docs", dest / "docs")
    samples = {s: yaml.safe_load((REPO / "products" / s / "product.yaml").read_text(encoding="utf-8"))
               for s in SAMPLES}
    extras = {s: [p for p in (REPO / "products" / s).iterdir() if p.name.endswith(KEEP)] for s in SAMPLES}
    summaries = {s: json.loads(p.read_text(encoding="utf-8")) if (p := REPO / "products" / s / "summary.json").is_file()
                 else None for s in SAMPLES}
    rng = random.Random(count)
    ids = [f"{SAMPLES[n % len(SAMPLES)]}-g{n // len(SAMPLES):05d}" for n in range(count)]
    for n, pid in enumerate(ids):
        sample = SAMPLES[n % len(SAMPLES)]
        data = realistic_product(copy.deepcopy(samples[sample]), pid, n, rng, ids[:n])
        folder = dest / "products" / pid
        folder.mkdir(parents=True)
        (folder / "product.yaml").write_text(dump_yaml(data), encoding="utf-8")
        for extra in extras[sample]:
            shutil.copyfile(extra, folder / extra.name)
        if summaries[sample] is not None:
            summary = copy.deepcopy(summaries[sample])
            for entry in data.get("files") or []:
                if entry["path"] in summary["files"]:  # the summary stays current for `pz validate`
                    summary["files"][entry["path"]]["metadata_key"] = metadata_key(data, entry)
            (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    if git:
        env_commit(dest, "Synthetic catalogue", init=True)
    return dest


def realistic_product(data: dict, pid: str, n: int, rng: random.Random, earlier: list[str]) -> dict:
    """The sample's metadata ``data`` made into product ``n`` (see the module docstring)."""
    topic = rng.choice(_TOPICS)
    data["id"] = pid
    data["title"] = f"{data['title']}: {topic} {_phrase(rng, 2, 5)} {n}"
    data["summary"] = f"{_sentence(_phrase(rng, 15, 40))[:280].rstrip()}."
    data["description"] = _description(rng)
    owner = rng.randrange(OWNERS)
    data["owner"] = {"github": f"user{owner:03d}", "name": f"User {owner}"}
    data["tags"] = sorted({*data.get("tags", []), f"t{n % 53}", topic.lower().replace(".", "")})
    data["official"] = n % 50 == 0
    columns = list(data.get("columns") or [])
    names = {c["name"] for c in columns}
    wanted = rng.randint(*COLUMNS)
    for name, role, ucd, unit, text in _EXTRA_COLUMNS:
        if len(columns) >= wanted:
            break
        if name not in names:
            columns.append({"name": name, "role": role, "ucd": ucd, "unit": unit, "dtype": "float32",
                            "description": text})
    data["columns"] = columns
    provenance = data.setdefault("provenance", {})
    provenance["derived_from"] = (sorted(rng.sample(earlier, min(len(earlier), rng.randint(1, 3))))
                                  if earlier and rng.random() < DERIVED_SHARE else [])
    return data


def _phrase(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(low, high)))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _description(rng: random.Random) -> str:
    """Markdown of 100 to 1,000 words: paragraphs, one list, emphasis, inline code and a link."""
    total = rng.randint(*DESCRIPTION_WORDS)
    words = rng.choices(_WORDS, k=total)
    words[rng.randrange(total)] = f"**{rng.choice(_TOPICS)}**"
    words[rng.randrange(total)] = f"`mag_{rng.choice(_BANDS)}_lsst`"
    words[rng.randrange(total)] = "[the survey paper](https://doi.org/10.3847/1538-4365/ab510c)"
    blocks, at = [], 0
    while at < total:
        size = min(total - at, rng.randint(40, 120))
        chunk = words[at:at + size]
        if len(blocks) == 1 and size >= 20:  # the second block is a list
            blocks.append("\n".join(f"* {' '.join(chunk[i:i + 5])}." for i in range(0, len(chunk), 5)))
        else:
            blocks.append(_sentence(" ".join(chunk)) + ".")
        at += size
    return "\n\n".join(blocks) + "\n"


class _Dumper(yaml.CSafeDumper):
    """Block YAML as people write it: multi-line text as literal blocks."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                             style="|" if "\n" in s else None))


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)  # a field a line


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
