"""Staging folders and the checks that come before any write, for `pz add` and `pz update`.

Every change is prepared in a staging folder under ``.pz/staging/`` (ignored
by git and DVC) and becomes visible by one ``rename`` — for a new product into
``products/<id>/``, for an update by exchanging the old and new folders with
``renameat2(RENAME_EXCHANGE)``. Whatever happens before that moment (an
error, Ctrl-C, a killed process), ``products/``, git and the user's file are
exactly as they were; a killed run leaves only a staging folder that the next
run removes. Objects added to the DVC cache beforehand are content-addressed
and change nothing that git or DVC pointers see.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import unicodedata
from collections.abc import Callable
from pathlib import Path

from site_builder.catalog.source import PRODUCTS_DIR
from site_builder.errors import PzError
from site_builder.system import pid_alive

STAGING = Path(".pz") / "staging"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class IngestError(PzError):
    """A product cannot be added or updated; nothing was changed."""


class ValidationFailed(IngestError):
    """The prepared product does not validate; ``issues`` says why."""

    def __init__(self, message: str, issues: list) -> None:
        super().__init__(message)
        self.issues = issues


def checkpoint(name: str) -> None:
    """Test hook for the atomicity tests: ``PZ_FAULT=<name>`` kills the process here
    (SIGKILL, as the OOM killer would); ``PZ_FAULT=<name>:int`` raises KeyboardInterrupt."""
    fault = os.environ.get("PZ_FAULT")
    if fault:
        where, _, how = fault.partition(":")
        if where == name:
            if how == "int":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGKILL)


def slugify(text: str) -> str:
    """``'DC2 training set, healpix 9816'`` -> ``'dc2-training-set-healpix-9816'``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-")


def safe_file_name(name: str) -> str:
    """A file name without spaces or non-ASCII characters (kept readable)."""
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    clean = _SAFE_NAME.sub("_", ascii_stem).strip("_.") or "data"
    return f"{clean}{dot}{_SAFE_NAME.sub('', ext)}"


def clean_stale_staging(root: Path) -> None:
    base = root / STAGING
    if not base.is_dir():
        return
    for entry in base.iterdir():
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def new_staging(root: Path, label: str) -> Path:
    clean_stale_staging(root)
    base = root / STAGING
    base.mkdir(parents=True, exist_ok=True)
    staged = base / f"{label}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    return staged


def check_source_file(root: Path, path: Path, what: str) -> Path:
    """The user's file, checked before anything is written."""
    if path.is_symlink():
        raise IngestError(f"{what} {str(path)!r} is a symlink (to {os.readlink(path)!r}); "
                          "give the path of the real file so that its content is what gets stored")
    if not path.exists():
        raise IngestError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise IngestError(f"{what} {str(path)!r} is not a regular file; archive a folder first (e.g. tar)")
    if path.stat().st_size == 0:
        raise IngestError(f"{what} {str(path)!r} is empty")
    if not os.access(path, os.R_OK):
        raise IngestError(f"{what} {str(path)!r} is not readable")
    resolved = path.resolve()
    products = (root / PRODUCTS_DIR).resolve()
    if products in resolved.parents:
        owner = resolved.relative_to(products).parts[0]
        raise IngestError(f"{what} {str(path)!r} is already inside product {owner!r}; "
                          f"to replace that product's data use `pz update {owner} FILE`")
    return resolved


def check_space(root: Path, needed: int) -> None:
    free = shutil.disk_usage(root).free
    if needed > free:
        raise IngestError(f"not enough free disk space: {needed / 1e9:.2f} GB needed (a copy in the product "
                          f"folder and one in the DVC cache), {free / 1e9:.2f} GB free; free some space or use "
                          "--move to avoid one copy")




def summarize_staged(staged: Path, pid: str, md5s: dict[str, str],
                      progress: Callable[[str, int, int], None] | None, known: dict[str, dict] | None = None
                      ) -> None:
    from site_builder.catalog.source import read_product_at
    from site_builder.tables.summary import write_summary
    from site_builder.validation.summaries import metadata_key, summarize_product

    data = read_product_at(staged / "product.yaml", pid).data
    summary, _ = summarize_product(staged, data, md5s, progress=progress, skip=set(known or ()))
    if summary is not None:
        for name, file_summary in (known or {}).items():
            entry = next(f for f in data["files"] if f.get("path") == name)
            summary["files"][name] = {**file_summary, "md5": md5s[name], "metadata_key": metadata_key(data, entry)}
        write_summary(staged, summary)
