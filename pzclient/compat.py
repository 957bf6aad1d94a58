"""``PzServer``: the read methods of the upstream ``pzserver`` client (0.3.7), on this catalogue.

A notebook written for LIneA's PZ Server ports by changing its import to
``from pzclient import PzServer``. Records keep the upstream keys (``internal_name``,
``display_name``, ``product_type_name``, ``release_name``, ``official_product``, ...);
``id`` and ``internal_name`` are both the product's id (a slug: there are no numeric ids).
The ``display_*`` methods show a pandas Styler as upstream does, with every value
HTML-escaped. Uploads and server-side processes do not exist here: products are added by pull
request, and those methods raise an error that says how.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from .catalog import DEFAULT_URL, Catalog, open_catalog
from .errors import (
    NotTabularError,
    ProductNotFoundError,
    ProductTooBigError,
    UploadNotSupportedError,
)

__all__ = ["MAX_IN_MEMORY_PRODUCT_SIZE_BYTES", "PzServer"]

#: Main files above this size need ``get_product(..., get_big_products=True)`` (as upstream).
MAX_IN_MEMORY_PRODUCT_SIZE_BYTES = 200 * 1024**2
_HOSTS = {"pz": None, "pz-dev": None}
_NOT_TABULAR_TYPES = ("training_results", "validation_results")
_FILTERS = ("id", "internal_name", "display_name", "product_type", "release", "uploaded_by",
            "official_product", "pz_code", "status", "description")
_UPLOAD_HELP = (
    "{method}() is not available: this PZ Server is a git repository, and products are added "
    "or changed by pull request, not uploaded through the client. In a clone of the catalogue "
    "run `pz add FILE --type TYPE --title '...'` (it writes products/<id>/product.yaml and "
    "tracks the data with DVC), then `dvc push`, commit, and open a pull request; see the "
    "Contributing page of the site."
)


class PzServer:
    """Read access to a PZ Server catalogue with the method names of upstream ``pzserver``.

    Parameters
    ----------
    token
        RSP access token; None takes ``$ACCESS_TOKEN`` (set in RSP notebooks) or the token file.
    host
        ``"pz"`` (the production site, or ``$PZCLIENT_URL``), a site URL, or the path of a
        clone of the catalogue.
    """

    def __init__(self, token: str | None = None, host: str = "pz", *, cache: str | Path | None = None,
                 progress: bool | None = None) -> None:
        source = (os.environ.get("PZCLIENT_URL") or DEFAULT_URL) if host in _HOSTS else host
        self.catalog: Catalog = open_catalog(source, token=token, cache=cache, progress=progress)

    def __repr__(self) -> str:
        return f"PzServer(host={self.catalog.source!r})"

    # ---- general information ----
    def get_product_types(self) -> list[dict]:
        """The product types: ``name``, ``display_name``, ``description`` (and counts)."""
        return self.catalog.product_types().to_dict("records")

    def display_product_types(self) -> None:
        """Show the product types as a table (names and descriptions)."""
        frame = pd.DataFrame(self.get_product_types(), columns=["display_name", "name", "description"])
        _display(frame.rename(columns={"display_name": "Product Type", "name": "product_type",
                                       "description": "Description"}))

    def get_users(self) -> list[dict]:
        """The owners of products: ``username`` (GitHub login), ``first_name``, ``last_name``."""
        users: dict[str, dict] = {}
        for product_id in self.catalog.ids:
            owner = self.catalog[product_id].metadata.get("owner") or {}
            login = owner.get("github")
            if login and login not in users:
                users[login] = {"username": login, "first_name": "", "last_name": owner.get("name") or ""}
        return sorted(users.values(), key=lambda u: u["username"].lower())

    def display_users(self) -> None:
        """Show the owners of products (GitHub login and name)."""
        frame = pd.DataFrame(self.get_users(), columns=["username", "last_name"])
        _display(frame.rename(columns={"username": "GitHub Username", "last_name": "Name"}))

    def get_releases(self) -> list[dict]:
        """The data releases: ``name``, ``display_name``, ``description``."""
        return self.catalog.releases().to_dict("records")

    def display_releases(self) -> None:
        """Show the data releases."""
        frame = pd.DataFrame(self.get_releases(), columns=["name", "display_name", "description"])
        _display(frame.rename(columns={"name": "Name", "display_name": "Release",
                                       "description": "Description"}))

    def get_products_list(self, filters: dict | None = None) -> list[dict]:
        """The products, as upstream records, filtered.

        ``filters`` maps a key (``product_type``, ``release``, ``internal_name``,
        ``display_name``, ``uploaded_by``, ``official_product``, ``pz_code``, ``status``,
        ``description``; a ``__or`` suffix is accepted) to a string or a list of strings.
        Product types and releases match their name or display name, in part and in any case
        (``"estimates"``, ``"Training Set"``, ``"DP0.2"``); other strings match in part.
        """
        types = {t["name"]: t["display_name"] for t in self.get_product_types()}
        releases = {r["name"]: r["display_name"] for r in self.get_releases()}
        records = [_record(p, types, releases) for p in self.catalog.products().to_dict("records")]
        for key, value in (filters or {}).items():
            field = key.removesuffix("__or")
            if field not in _FILTERS:
                raise ValueError(f"unknown filter {key!r}; the filters are {', '.join(_FILTERS)}")
            values = value if isinstance(value, list | tuple | set) else [value]
            records = [r for r in records if any(_matches(r, field, v) for v in values)]
        return records

    def display_products_list(self, filters: dict | None = None) -> None:
        """Show the products (optionally filtered, see :meth:`get_products_list`)."""
        columns = ["id", "internal_name", "display_name", "product_type_name", "release_name",
                   "uploaded_by", "official_product", "pz_code", "description", "created_at"]
        frame = pd.DataFrame(self.get_products_list(filters), columns=columns)
        _display(frame.rename(columns={"display_name": "product_name", "release_name": "release",
                                       "product_type_name": "product_type"}))

    # ---- one product ----
    def get_product_metadata(self, product_id: str, mainfile_info: bool = True) -> dict:
        """The product's record (upstream keys) plus ``metadata`` (its whole product.yaml).

        With ``mainfile_info`` it has ``main_file``: ``name``, ``size``, ``n_rows``,
        ``extension``, ``format``, ``md5``, ``columns`` and ``columns_association`` (roles).
        """
        product = self._product(product_id)
        types = {t["name"]: t["display_name"] for t in self.get_product_types()}
        releases = {r["name"]: r["display_name"] for r in self.get_releases()}
        entry = self.catalog.products(search=None)
        row = entry[entry["id"] == product.id].to_dict("records")[0]
        record = {**_record(row, types, releases), "metadata": product.metadata}
        if mainfile_info:
            main = product.main_file or {}
            columns = [c for c in product.metadata.get("columns") or [] if isinstance(c, dict)]
            record["main_file"] = {
                "name": main.get("path"), "size": main.get("size"), "n_rows": product.num_rows,
                "extension": Path(str(main.get("path") or "")).suffix, "format": main.get("format"),
                "md5": main.get("md5"), "columns": [c.get("name") for c in columns],
                "columns_association": [{"column_name": c.get("name"), "alias": c.get("role")}
                                        for c in columns if c.get("role") not in (None, "other")],
            }
        return record

    def display_product_metadata(self, product_id: str | None = None, show: bool = True) -> pd.DataFrame | None:
        """Show the product's metadata as a key/value table (``show=False`` returns it)."""
        record = self.get_product_metadata(product_id)
        rename = {"release_name": "release", "product_type_name": "product_type",
                  "display_name": "product_name"}
        rows = []
        for key in ("id", "internal_name", "display_name", "product_type_name", "release_name",
                    "uploaded_by", "official_product", "pz_code", "description", "created_at"):
            rows.append({"key": rename.get(key, key), "value": record.get(key)})
        main = record["main_file"]
        rows.append({"key": "n_rows", "value": main["n_rows"]})
        if main.get("size"):
            rows.append({"key": "size", "value": f"{float(main['size']) / 1_000_000:.2f} MB"})
        if main.get("columns_association"):
            rows.append({"key": "columns_association", "value": main["columns_association"]})
        if main.get("columns"):
            rows.append({"key": "columns", "value": main["columns"]})
            rows.append({"key": "n_columns", "value": len(main["columns"])})
        rows.append({"key": "main_file", "value": main["name"]})
        frame = pd.DataFrame(rows)
        if show:
            _display(frame)
            return None
        return frame

    def get_product(self, product_id: str | None = None, get_big_products: bool = False) -> Any:
        """The main file of a tabular product as an ``astropy.table.Table``.

        Refuses products that are not tables, and main files over 200 MB unless
        ``get_big_products=True`` (they may need several times that in memory).
        """
        print("Connecting to PZ Server...")
        product = self._product(product_id)
        main = product.main_file or {}
        size = main.get("size") or 0
        if size > MAX_IN_MEMORY_PRODUCT_SIZE_BYTES and not get_big_products:
            raise ProductTooBigError(
                f"Product {product.id!r} is larger than 200 MB ({size / 1e6:.0f} MB) and is not "
                "loaded into memory by default: it may take several times that in RAM. Download "
                f"it with download_product({product.id!r}, save_in=...) or read only some columns "
                f"with open_catalog(...)[{product.id!r}].load(columns=[...]); to load it anyway "
                f"call get_product({product.id!r}, get_big_products=True).")
        from .table import TABULAR_FORMATS

        if product.product_type in _NOT_TABULAR_TYPES or main.get("format") not in TABULAR_FORMATS:
            raise NotTabularError(
                f"get_product() does not support non-tabular data: {product.id!r} is a "
                f"{product.product_type} product whose main file is {main.get('format')!r}. "
                f"Use download_product({product.id!r}) instead.")
        return product.load(format="astropy")

    def download_product(self, product_id: str | None = None, save_in: str | Path = ".") -> None:
        """Save every file of the product, with its metadata, as ``<save_in>/<id>.zip``."""
        print("Connecting to PZ Server...")
        product = self._product(product_id)
        tracked = [f for f in product.files if f.get("md5")]
        paths = product._paths(tracked)
        folder = Path(save_in).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{product.id}.zip"
        tmp = folder / f".{product.id}.zip.{os.getpid()}.tmp"
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for entry, path in zip(tracked, paths, strict=True):
                    archive.write(path, f"{product.id}/{entry['path']}")
                archive.writestr(f"{product.id}/product.json",
                                 json.dumps(product.metadata, indent=2, ensure_ascii=False))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        print(f"File saved as: {target}")
        print("Done!")

    def _product(self, product_id: Any) -> Any:
        if product_id is None:
            raise ValueError("give a product id; list them with display_products_list()")
        try:
            return self.catalog[str(product_id)]
        except ProductNotFoundError as err:
            raise ProductNotFoundError(
                f"{err}. Please find the list of products available with display_products_list() "
                "or get_products_list()") from None

    # ---- what upstream can do and a git-backed catalogue does by pull request ----
    def upload(self, *args: Any, **kwargs: Any) -> Any:
        raise UploadNotSupportedError(_UPLOAD_HELP.format(method="upload"))

    def delete_product(self, *args: Any, **kwargs: Any) -> Any:
        raise UploadNotSupportedError(_UPLOAD_HELP.format(method="delete_product") + (
            " A product is never deleted: `pz deprecate` marks it deprecated or retracted."))

    def combine_redshift_catalogs(self, *args: Any, **kwargs: Any) -> Any:
        raise UploadNotSupportedError(_UPLOAD_HELP.format(method="combine_redshift_catalogs"))

    def training_set_maker(self, *args: Any, **kwargs: Any) -> Any:
        raise UploadNotSupportedError(_UPLOAD_HELP.format(method="training_set_maker"))

    def run_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        raise UploadNotSupportedError(_UPLOAD_HELP.format(method="run_and_wait"))


def _record(row: dict, types: dict[str, str], releases: dict[str, str]) -> dict:
    kind, release = row.get("product_type"), row.get("release")
    return {
        "id": row["id"], "internal_name": row["id"], "display_name": row.get("title"),
        "product_type_name": types.get(kind, kind), "product_type_internal_name": kind,
        "release_name": releases.get(release, release) if release else None,
        "release_internal_name": release,
        "uploaded_by": row.get("owner"), "official_product": bool(row.get("official")),
        "pz_code": row.get("pz_code"), "description": row.get("summary"),
        "created_at": row.get("created"), "updated_at": row.get("updated"),
        "status": row.get("status"), "num_rows": row.get("num_rows"), "size": row.get("size"),
    }


def _matches(record: dict, field: str, value: Any) -> bool:
    if field == "official_product":
        return bool(record["official_product"]) is (str(value).lower() in ("1", "true", "yes"))
    wanted = str(value).lower()
    if field == "product_type":
        candidates = [record["product_type_name"], record["product_type_internal_name"]]
    elif field == "release":
        candidates = [record["release_name"], record["release_internal_name"]]
    else:
        candidates = [record.get(field)]
    return any(wanted in str(c).lower().replace("_", " ") or wanted in str(c).lower()
               for c in candidates if c is not None)


def _display(frame: pd.DataFrame) -> None:
    """Show a table as upstream does (a Styler without index), every cell HTML-escaped.

    The Styler escapes only string cells: lists and dicts become strings first.
    """
    frame = frame.map(lambda v: str(v) if isinstance(v, list | tuple | dict) else v)
    try:
        from IPython.display import display
    except ImportError:
        print(frame.to_string(index=False))
        return
    display(frame.style.hide(axis="index").format(escape="html"))
