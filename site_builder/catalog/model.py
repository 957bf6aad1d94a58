"""Domain facts of the PZ Server: product types and column roles.

These tables are the one place where the rules of DESIGN.md live in code; the
JSON Schema lists the same names (a test keeps them in step) and the schema
reference page is generated from both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """A kind of product and the rules that come with it."""

    name: str
    display_name: str
    tabular: bool
    required_roles: tuple[str, ...] = ()
    release_allowed: bool = True
    pz_code_allowed: bool = False
    validation_set_allowed: bool = False
    description: str = ""


PRODUCT_TYPES: dict[str, ProductType] = {
    t.name: t
    for t in (
        ProductType(
            "redshift_catalog", "Reference Redshift Catalog", tabular=True,
            required_roles=("ra", "dec", "z"), release_allowed=False,
            description="Spectroscopic (or other reference) redshifts with positions; not tied to a release.",
        ),
        ProductType(
            "training_set", "Training Set", tabular=True, required_roles=("z",),
            description="Objects with photometry and reference redshifts used to train or validate estimators.",
        ),
        ProductType(
            "training_results", "Training Results", tabular=False, validation_set_allowed=True,
            description="Output of training, e.g. a trained estimator; free format.",
        ),
        ProductType(
            "validation_results", "Validation Results", tabular=False,
            pz_code_allowed=True, validation_set_allowed=True,
            description="Metrics and plots comparing photo-z with reference redshifts; free format.",
        ),
        ProductType(
            "photoz_estimates", "Photo-z Estimates", tabular=False,
            pz_code_allowed=True, validation_set_allowed=True,
            description="Point estimates and/or PDFs of photometric redshifts.",
        ),
        ProductType(
            "object_catalog", "Object Catalog", tabular=True, required_roles=("ra", "dec"),
            description="Objects with positions and photometry.",
        ),
        ProductType("other", "Other", tabular=False, description="Any other files."),
    )
}

#: Standard UCD of each column role (``None``: no single standard UCD).
ROLE_UCDS: dict[str, str | None] = {
    "id": "meta.id;meta.main",
    "ra": "pos.eq.ra;meta.main",
    "dec": "pos.eq.dec;meta.main",
    "z": "src.redshift",
    "z_err": "stat.error;src.redshift",
    "z_flag": "stat.rank",
    "survey": "meta.curation",
    "mag": "phot.mag",
    "mag_err": "stat.error;phot.mag",
    "flux": "phot.flux",
    "flux_err": "stat.error;phot.flux",
    "pdf": "stat.probability",
    "weight": "stat.weight",
    "other": None,
}

#: The first UCD word a column of each role may carry (e.g. src.redshift.phot for photo-z).
ROLE_UCD_PREFIXES: dict[str, tuple[str, ...]] = {
    "id": ("meta.id",),
    "ra": ("pos.eq.ra",),
    "dec": ("pos.eq.dec",),
    "z": ("src.redshift",),
    "z_err": ("stat.error", "stat.stdev"),
    "z_flag": ("stat.rank", "meta.code"),
    "survey": ("meta.curation", "meta.bib", "meta.dataset"),
    "mag": ("phot.mag",),
    "mag_err": ("stat.error", "stat.stdev"),
    "flux": ("phot.flux", "phot.count"),
    "flux_err": ("stat.error", "stat.stdev"),
    "pdf": ("stat.probability", "stat.likelihood", "src.redshift"),
    "weight": ("stat.weight",),
}

#: Roles that at most one column of a product may have.
UNIQUE_ROLES = ("id", "ra", "dec")

#: Roles whose values must be numbers, and their plausible range (None: unbounded).
ROLE_RANGES: dict[str, tuple[float | None, float | None]] = {
    "ra": (0.0, 360.0),
    "dec": (-90.0, 90.0),
    "z": (-0.05, None),
    "z_err": (0.0, None),
}

#: File formats whose content `pz validate` opens as a table.
TABLE_FORMATS = ("csv", "tsv", "text", "parquet", "fits", "hdf5", "votable")
