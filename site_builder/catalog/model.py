"""Domain facts of the PZ Server: product types, column roles, file formats and the id rule.

This module is the one home of these facts. Everything else is derived from it:
the enums and the id pattern of the JSON Schema (filled in when the schema is
loaded, :func:`site_builder.catalog.schema.load_schema`), the CLI's choices, the
schema reference page and the type pages of the site, ``product-types.json`` of
the API, `pz add`'s proposals (name patterns, sentinels, units), the value
checks of `pz validate`, and the client's list of types
(``pzclient/product_types.json``, written by :func:`write_client_types`).

To add a product type or a column role, add one entry below (and say what it is
for in the docs); nothing else needs to change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COLUMN_ROLES", "FILE_FORMATS", "ID_MAX_LENGTH", "ID_PATTERN", "PRODUCT_TYPES", "ROLE_RANGES",
    "ROLE_UCDS", "ROLE_UCD_PREFIXES", "TABLE_FORMATS", "TEXT_FORMATS", "UNIQUE_ROLES", "ColumnRole",
    "FileFormat", "ProductType", "is_valid_id", "render_client_types",
]

#: A product id: a lowercase slug, stable forever (it names the page and the JSON file).
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ID_MAX_LENGTH = 80
_ID = re.compile(ID_PATTERN)


def is_valid_id(text: str) -> bool:
    """Whether ``text`` is a valid product id."""
    return len(text) <= ID_MAX_LENGTH and _ID.match(text) is not None


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
    #: Whether its redshift columns are photometric estimates (`pz add` proposes src.redshift.phot).
    photo_z: bool = False


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
            "training_results", "Training Results", tabular=False, validation_set_allowed=True, photo_z=True,
            description="Output of training, e.g. a trained estimator; free format.",
        ),
        ProductType(
            "validation_results", "Validation Results", tabular=False,
            pz_code_allowed=True, validation_set_allowed=True, photo_z=True,
            description="Metrics and plots comparing photo-z with reference redshifts; free format.",
        ),
        ProductType(
            "photoz_estimates", "Photo-z Estimates", tabular=False,
            pz_code_allowed=True, validation_set_allowed=True, photo_z=True,
            description="Point estimates and/or PDFs of photometric redshifts.",
        ),
        ProductType(
            "object_catalog", "Object Catalog", tabular=True, required_roles=("ra", "dec"),
            description="Objects with positions and photometry.",
        ),
        ProductType("other", "Other", tabular=False, description="Any other files."),
    )
}

#: Values that photo-z tables commonly use for "no value".
SENTINEL_CANDIDATES = (99.0, -99.0, 999.0, -999.0, -1.0)
_MAG_SENTINELS = (99.0, -99.0, 999.0, -999.0)
_POSITION_SENTINELS = (-99.0, 999.0, -999.0)
_ERROR_UCDS = ("stat.error", "stat.stdev")


@dataclass(frozen=True)
class ColumnRole:
    """What a column holds, and everything the catalogue knows about such columns."""

    name: str
    #: The standard UCD (None: no single standard UCD).
    ucd: str | None
    #: The first UCD words a column of this role may carry (empty: not checked).
    ucd_prefixes: tuple[str, ...] = ()
    #: At most one column of a product has this role.
    unique: bool = False
    #: Values must be numbers.
    numeric: bool = False
    #: Plausible range of the values, checked by `pz validate` (None: no range).
    value_range: tuple[float | None, float | None] | None = None
    #: Unit `pz add` proposes (None: none proposed; "": dimensionless).
    unit: str | None = None
    #: Values `pz add` looks for as "no value" markers.
    sentinels: tuple[float, ...] = ()
    #: Regular expression on the lower-case column name by which `pz add` recognises the role.
    name_pattern: str | None = None
    #: Order in which name patterns are tried (error and flag patterns before their quantity).
    pattern_order: int = 100
    description: str = ""


COLUMN_ROLES: dict[str, ColumnRole] = {
    r.name: r
    for r in (
        ColumnRole("id", "meta.id;meta.main", ("meta.id",), unique=True, pattern_order=3,
                   name_pattern=r"^(id|obj_?id|object_?id|target_?id|source_?id|galaxy_?id|spec_?obj_?id|gal_?id"
                                r"|\w+_id)$",
                   description="Identifier of the object."),
        ColumnRole("ra", "pos.eq.ra;meta.main", ("pos.eq.ra",), unique=True, numeric=True, value_range=(0.0, 360.0),
                   unit="deg", sentinels=_POSITION_SENTINELS, pattern_order=4,
                   name_pattern=r"^(ra|raj2000|ra_?j2000|ra_?deg|alpha(_?j2000)?|target_?ra|ra_?icrs"
                                r"|right_?ascension)$",
                   description="Right ascension (degrees)."),
        ColumnRole("dec", "pos.eq.dec;meta.main", ("pos.eq.dec",), unique=True, numeric=True,
                   value_range=(-90.0, 90.0), unit="deg", sentinels=_POSITION_SENTINELS, pattern_order=5,
                   name_pattern=r"^(dec|decl|dej2000|de_?j2000|dec_?j2000|dec_?deg|delta(_?j2000)?|target_?dec"
                                r"|dec_?icrs|declination)$",
                   description="Declination (degrees)."),
        ColumnRole("z", "src.redshift", ("src.redshift",), numeric=True, value_range=(-0.05, None), unit="",
                   sentinels=SENTINEL_CANDIDATES, pattern_order=6,
                   name_pattern=r"^(z|redshift|z_?spec|spec_?z|z_?best|z_?phot|photo_?z|z_?lambda|z_?mode|z_?mean"
                                r"|z_?median|z_?true|true_?z|z_?cosmo|z_?cgal)$",
                   description="Redshift."),
        ColumnRole("z_err", "stat.error;src.redshift", _ERROR_UCDS, numeric=True, value_range=(0.0, None), unit="",
                   sentinels=SENTINEL_CANDIDATES, pattern_order=1,
                   name_pattern=r"^(z_?err(or)?|err_?z|e_?z|z_?sigma|sigma_?z|zerr_\w+|z_?(spec|phot|lambda)_?e(rr)?"
                                r"|dz)$",
                   description="Uncertainty of the redshift."),
        ColumnRole("z_flag", "stat.rank", ("stat.rank", "meta.code"), pattern_order=2,
                   name_pattern=r"^(z_?warn(ing)?|z_?flag|flag_\w+|\w+_flag|qop|z_?q(ual(ity)?)?|z_?conf(idence)?"
                                r"|q_?z)$",
                   description="Quality flag of the redshift."),
        ColumnRole("survey", "meta.curation", ("meta.curation", "meta.bib", "meta.dataset"), pattern_order=12,
                   name_pattern=r"^(survey|source_?survey|origin)$",
                   description="Survey the value comes from."),
        ColumnRole("mag", "phot.mag", ("phot.mag",), numeric=True, unit="mag", sentinels=_MAG_SENTINELS,
                   pattern_order=8, name_pattern=r"^(mag|mag_\w+|\w+_mag)$",
                   description="Magnitude in one band."),
        ColumnRole("mag_err", "stat.error;phot.mag", _ERROR_UCDS, numeric=True, unit="mag",
                   sentinels=(*_MAG_SENTINELS, -1.0), pattern_order=7,
                   name_pattern=r"^(mag_?err\w*|\w+_mag_?err\w*|err_?mag\w*|magerr\w*|e_?mag_\w+)$",
                   description="Uncertainty of a magnitude."),
        ColumnRole("flux", "phot.flux", ("phot.flux", "phot.count"), numeric=True, pattern_order=10,
                   name_pattern=r"^(\w*flux\w*)$", description="Flux in one band."),
        ColumnRole("flux_err", "stat.error;phot.flux", _ERROR_UCDS, numeric=True, pattern_order=9,
                   name_pattern=r"^(\w*flux_?err\w*|err_?flux\w*)$", description="Uncertainty of a flux."),
        ColumnRole("pdf", "stat.probability", ("stat.probability", "stat.likelihood", "src.redshift"),
                   description="Probability density of the redshift (an array per row)."),
        ColumnRole("weight", "stat.weight", ("stat.weight",), numeric=True, pattern_order=11,
                   name_pattern=r"^(w|wei|weight|weights|\w+_weight)$", description="Statistical weight."),
        ColumnRole("other", None, description="Anything else."),
    )
}


@dataclass(frozen=True)
class FileFormat:
    """A format a product's file may declare."""

    name: str
    #: `pz validate` opens the file as a table (columns, dtypes, values).
    tabular: bool = False
    #: A delimited text table.
    text: bool = False
    description: str = ""


FILE_FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat("csv", tabular=True, text=True, description="comma-separated values"),
        FileFormat("tsv", tabular=True, text=True, description="tab-separated values"),
        FileFormat("text", tabular=True, text=True, description="whitespace-separated text table"),
        FileFormat("parquet", tabular=True, description="Apache Parquet"),
        FileFormat("fits", tabular=True, description="FITS binary or ASCII table"),
        FileFormat("hdf5", tabular=True, description="HDF5 table or group of 1-D datasets"),
        FileFormat("votable", tabular=True, description="IVOA VOTable"),
        *(FileFormat(name) for name in ("json", "yaml", "npy", "pickle", "pdf", "png", "markdown", "html", "zip",
                                        "tar", "gzip", "other")),
    )
}

# Views of the tables above, by the names the rest of the package uses.
#: Standard UCD of each column role (``None``: no single standard UCD).
ROLE_UCDS: dict[str, str | None] = {r.name: r.ucd for r in COLUMN_ROLES.values()}
#: The first UCD word a column of each role may carry (e.g. src.redshift.phot for photo-z).
ROLE_UCD_PREFIXES: dict[str, tuple[str, ...]] = {r.name: r.ucd_prefixes for r in COLUMN_ROLES.values()
                                                 if r.ucd_prefixes}
#: Roles that at most one column of a product may have.
UNIQUE_ROLES = tuple(r.name for r in COLUMN_ROLES.values() if r.unique)
#: Roles whose values must be numbers, and their plausible range (None: unbounded).
ROLE_RANGES: dict[str, tuple[float | None, float | None]] = {
    r.name: r.value_range for r in COLUMN_ROLES.values() if r.value_range is not None}
#: Roles whose values must be numbers.
NUMERIC_ROLES = frozenset(r.name for r in COLUMN_ROLES.values() if r.numeric)
#: File formats whose content `pz validate` opens as a table.
TABLE_FORMATS = tuple(f.name for f in FILE_FORMATS.values() if f.tabular)
#: Delimited text formats.
TEXT_FORMATS = tuple(f.name for f in FILE_FORMATS.values() if f.text)

#: The client's copy of the product types (it must not import the builder).
CLIENT_TYPES_FILE = Path(__file__).resolve().parents[2] / "pzclient" / "product_types.json"


def render_client_types() -> str:
    """``pzclient/product_types.json``: name, display name and whether tabular, per type."""
    types = [{"name": t.name, "display_name": t.display_name, "tabular": t.tabular}
             for t in PRODUCT_TYPES.values()]
    return json.dumps(types, indent=2) + "\n"


def write_client_types(path: Path = CLIENT_TYPES_FILE) -> bool:
    """Write :func:`render_client_types` to ``path`` if it differs; whether it was written."""
    text = render_client_types()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":  # python -m site_builder.catalog.model: refresh the client's copy
    print("written" if write_client_types() else "up to date", CLIENT_TYPES_FILE)
