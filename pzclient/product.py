"""One product of a catalogue: its metadata, column list, summary, versions and data."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import FormatError, PzClientError
from .html import escape, html_table
from .table import TABULAR_FORMATS, guess_format, read_table

if TYPE_CHECKING:
    from .catalog import Catalog

__all__ = ["Product"]


class Product:
    """A product of the catalogue (``catalog[id]``).

    Attributes
    ----------
    id
        The product's id (stable forever).
    metadata
        Every field of its ``product.yaml``, as written.
    files
        Its files: ``path``, ``role``, ``format``, ``table``, ``size``, ``md5``, ...
    """

    def __init__(self, catalog: Catalog, doc: dict) -> None:
        self._catalog = catalog
        self._doc = doc
        self.id: str = doc["id"]
        self.metadata: dict[str, Any] = doc.get("metadata") or {}
        self.files: list[dict[str, Any]] = list(doc.get("files") or [])
        self._history: list[dict] | None = None

    def __repr__(self) -> str:
        return f"<Product {self.id!r}: {self.title}>"

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or self.id)

    @property
    def product_type(self) -> str | None:
        return self.metadata.get("product_type")

    @property
    def main_file(self) -> dict[str, Any] | None:
        """The file with role ``main`` (the first file if none says so)."""
        return next((f for f in self.files if f.get("role") == "main"),
                    self.files[0] if self.files else None)

    @property
    def columns(self) -> pd.DataFrame:
        """The columns declared in the metadata: name, role, dtype, unit, ucd, description."""
        keys = ["name", "role", "dtype", "unit", "ucd", "description"]
        rows = [{k: c.get(k) for k in keys} for c in self.metadata.get("columns") or []
                if isinstance(c, dict)]
        return pd.DataFrame(rows, columns=keys)

    @property
    def summary(self) -> dict[str, Any] | None:
        """Summary of the main file (``num_rows``, per-column statistics, histograms, preview)."""
        main = self.main_file
        files = (self._doc.get("summary") or {}).get("files") or {}
        entry = files.get(main["path"]) if main else None
        return entry if isinstance(entry, dict) else None

    @property
    def num_rows(self) -> int | None:
        return (self.summary or {}).get("num_rows")

    def versions(self) -> pd.DataFrame:
        """Commits that changed the product, newest first (``commit`` is what ``rev=`` takes)."""
        rows = [{"commit": h["commit"], "date": h.get("date"), "author": h.get("author"),
                 "message": h.get("message"), "md5s": h.get("md5s") or {}}
                for h in self._versions()]
        return pd.DataFrame(rows, columns=["commit", "date", "author", "message", "md5s"])

    def _versions(self) -> list[dict]:
        if self._history is None:
            self._history = self._catalog._source.history(self.id, self._doc)
        return self._history

    def _file(self, file: str | None) -> dict[str, Any]:
        if file is None:
            found = self.main_file
            if found is None:
                raise PzClientError(f"product {self.id!r} has no files")
            return found
        for entry in self.files:
            if entry.get("path") == file:
                return entry
        names = ", ".join(repr(f.get("path")) for f in self.files)
        raise PzClientError(f"product {self.id!r} has no file {file!r}; its files are {names}")

    def _md5(self, entry: dict, rev: str | None) -> tuple[str, int | None, str]:
        """md5, size and a label of one file, now or as of commit ``rev``."""
        label = f"{self.id}/{entry['path']}"
        if rev is None:
            if not entry.get("md5"):
                raise PzClientError(f"{label} is not tracked by DVC: there is no data to fetch")
            return entry["md5"], entry.get("size"), label
        matches = [h for h in self._versions() if h["commit"].startswith(rev)]
        if len(matches) != 1:
            known = ", ".join(h["commit"][:10] for h in self._versions())
            what = "is ambiguous" if matches else "is not a version of this product"
            raise PzClientError(f"rev {rev!r} {what}; versions: {known} (see .versions())")
        md5s = matches[0].get("md5s") or {}
        if entry["path"] not in md5s:
            raise PzClientError(f"{label} did not exist at {rev!r}; files then: "
                                f"{', '.join(map(repr, md5s)) or 'none'}")
        size = entry.get("size") if md5s[entry["path"]] == entry.get("md5") else None
        return md5s[entry["path"]], size, f"{label}@{matches[0]['commit'][:10]}"

    def path(self, file: str | None = None, rev: str | None = None) -> Path:
        """Local path of a verified copy of a file (fetched into the cache if needed).

        The copy is shared by every product and version with the same content: read it, do
        not modify it (it is read-only; an edited copy is detected and fetched again).
        """
        return self._paths([self._file(file)], rev)[0]

    def _paths(self, entries: list[dict], rev: str | None = None) -> list[Path]:
        return self._catalog._fetch([self._md5(e, rev) for e in entries])

    def load(self, format: str = "pandas", columns: Sequence[str] | None = None,
             rev: str | None = None, file: str | None = None, table: str | None = None) -> Any:
        """Load the main file (or ``file``) as a table.

        Parameters
        ----------
        format
            ``"pandas"`` for a DataFrame, ``"astropy"`` for a Table (with units and
            descriptions from the metadata).
        columns
            Only these columns (Parquet reads only them from disk).
        rev
            A commit from :meth:`versions` (or its prefix): load the file as it was then.
        file
            Another file of the product (its ``path``); the main file by default.
        table
            HDU or HDF5 group, when not the one the metadata declares.
        """
        if format not in ("pandas", "astropy"):
            raise ValueError(f"format={format!r}: use 'pandas' or 'astropy'")
        entry = self._file(file)
        fmt = entry.get("format") or guess_format(Path(entry["path"]))
        if fmt not in TABULAR_FORMATS:
            raise FormatError(f"{self.id}/{entry['path']} is {fmt!r}, not a table; use "
                              f"catalog[{self.id!r}].download(dest) and open it yourself")
        names = [c.get("name") for c in self.metadata.get("columns") or [] if isinstance(c, dict)]

        def read(path: Path) -> Any:
            return read_table(path, fmt, table=table or entry.get("table"), columns=columns,
                              kind=format, names=names, label=f"{self.id}/{entry['path']}")

        result = self._catalog._read(self._md5(entry, rev), read)
        have = list(result.columns if format == "pandas" else result.colnames)
        if columns is None and file is None and sorted(names) == sorted(have) and names != have:
            result = result[names]  # the order of product.yaml (HDF5 groups list them sorted)
        if format == "astropy":
            self._describe(result)
        return result

    def _describe(self, table: Any) -> None:
        for column in self.metadata.get("columns") or []:
            if not isinstance(column, dict) or column.get("name") not in table.colnames:
                continue
            target = table[column["name"]]
            if column.get("unit"):
                # a free-text unit astropy does not know stays in the metadata only
                with contextlib.suppress(ValueError):
                    target.unit = column["unit"]
            if column.get("description"):
                target.description = column["description"]
            if column.get("ucd"):
                target.meta["ucd"] = column["ucd"]
        table.meta["product"] = self.id

    def download(self, dest: str | Path = ".", rev: str | None = None,
                 files: Sequence[str] | None = None) -> list[Path]:
        """Copy the product's files into ``dest/<id>/`` (all in parallel, each md5-verified).

        With ``rev``, the files as of that version go to ``dest/<id>@<commit>/``. Returns the
        paths written. Each file is written under a temporary name and renamed, so an
        interrupted download never leaves a half-written file under its real name.
        """
        entries = [self._file(f) for f in files] if files else [f for f in self.files if f.get("md5")]
        wanted = [self._md5(e, rev) for e in entries]
        paths = self._catalog._fetch(wanted)
        version = wanted[0][2].rpartition("@")[2] if rev is not None and wanted else None
        folder = Path(dest).expanduser() / (f"{self.id}@{version}" if version else self.id)
        written = []
        for entry, src in zip(entries, paths, strict=True):
            target = (folder / entry["path"]).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise PzClientError(f"{self.id}: file path {entry['path']!r} leaves the product "
                                    "folder; not written")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, target)
            written.append(target)
        return written

    def _repr_html_(self) -> str:
        d = self.metadata
        rows = [("id", self.id), ("type", d.get("product_type")), ("release", d.get("release")),
                ("official", d.get("official")), ("status", d.get("status")),
                ("owner", (d.get("owner") or {}).get("github")), ("summary", d.get("summary")),
                ("rows", self.num_rows),
                ("files", [f"{f.get('path')} ({f.get('role')}, {_size(f.get('size'))})"
                           for f in self.files]),
                ("columns", [c.get("name") for c in d.get("columns") or [] if isinstance(c, dict)])]
        return html_table(rows, title=self.title) + (
            f"<p>Load it with <code>catalog[{escape(repr(self.id))}].load()</code></p>")


def _size(size: int | None) -> str:
    if size is None:
        return "not tracked"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(size)
