"""The one reader and writer of DVC pointer files (``<file>.dvc``) in the builder.

A product's data file ``products/<id>/<name>`` is tracked by ``<name>.dvc`` beside it:
one output with its md5 and size. (The notebook client, which must not import the
builder, keeps a small reader of its own in ``pzclient/source.py``.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from site_builder.catalog.yamlio import YamlError, parse_yaml
from site_builder.errors import DataFileError

__all__ = ["Pointer", "PointerError", "find_pointer", "md5_of", "parse_pointer", "read_pointer", "write_pointer"]


class PointerError(DataFileError):
    """A ``.dvc`` pointer file is malformed (``line`` says where, when known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Pointer:
    """The part of a ``.dvc`` file we use."""

    md5: str
    size: int | None
    path: str


def md5_of(path: Path, block: int = 1 << 20) -> str:
    """md5 of a file, read in blocks (the hash DVC uses for single files)."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


_PLAIN_POINTER = re.compile(r"outs:\n- md5: (?P<md5>[0-9a-f]{32})\n  size: (?P<size>[0-9]{1,18})\n"
                            r"  hash: md5\n  path: (?P<path>[A-Za-z0-9][A-Za-z0-9._-]*)\n")


def read_pointer(path: Path) -> Pointer:
    """Parse a single-output ``.dvc`` file.

    Raises
    ------
    PointerError
        Unreadable, malformed YAML, or not exactly one output with an md5.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PointerError(f"DVC pointer cannot be read: {exc}") from None
    return parse_pointer(text)


def find_pointer(text: str | None) -> Pointer | None:
    """The pointer in ``text`` (e.g. a file at a git revision), or None when missing or malformed."""
    if text is None:
        return None
    try:
        return parse_pointer(text)
    except PointerError:
        return None


def parse_pointer(text: str) -> Pointer:
    """Parse the text of a single-output ``.dvc`` file (see :func:`read_pointer`)."""
    # What `dvc add` (and pz) write, parsed without YAML: a tenth of the time, for large builds.
    if (plain := _PLAIN_POINTER.fullmatch(text)) is not None:
        return Pointer(plain["md5"], int(plain["size"]), plain["path"])
    try:
        doc = parse_yaml(text)
    except YamlError as exc:
        raise PointerError(f"DVC pointer is not valid YAML: {exc.message}", exc.line) from None
    outs = doc.data.get("outs") if isinstance(doc.data, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise PointerError("DVC pointer must have exactly one entry under 'outs'", doc.line_of(("outs",)))
    out = outs[0]
    md5, rel = out.get("md5"), out.get("path")
    if not isinstance(md5, str) or not isinstance(rel, str):
        raise PointerError("DVC pointer entry needs 'md5' and 'path'", doc.line_of(("outs", 0)))
    size = out.get("size")
    return Pointer(md5, size if isinstance(size, int) else None, rel)


def write_pointer(folder: Path, name: str, md5: str, size: int) -> Path:
    """Write ``<name>.dvc`` in ``folder`` and list ``/<name>`` in the folder's .gitignore."""
    pointer = folder / f"{name}.dvc"
    pointer.write_text(f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {name}\n", encoding="utf-8")
    ignore = folder / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    if f"/{name}" not in lines:
        lines.append(f"/{name}")
    ignore.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pointer
