"""The small part of DVC's on-disk format that `pz` writes itself.

`pz add` and `pz update` must be atomic: the new product folder is prepared
in a git-ignored staging area and appears under ``products/`` by one rename.
`dvc add` refuses to write pointers into a git-ignored folder, so `pz` writes
the two things `dvc add` would write for a single file — the ``.dvc`` pointer
(``outs: [{md5, size, hash: md5, path}]``) and the object in the cache at
``files/md5/<2 hex>/<30 hex>`` — in exactly DVC 3's format; the tests check
the result with real `dvc status`, `dvc push` and `dvc pull`.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

BLOCK = 1 << 20


def copy_with_md5(src: Path, dest: Path, progress: Callable[[int], None] | None = None) -> str:
    """Copy ``src`` to ``dest`` (a new file) while hashing it: one read of the source."""
    digest = hashlib.md5()
    with src.open("rb") as fin, dest.open("xb") as fout:
        while chunk := fin.read(BLOCK * 8):
            digest.update(chunk)
            fout.write(chunk)
            if progress:
                progress(len(chunk))
    # No fsync: atomicity here is about interrupted processes (the staging folder is
    # renamed into place only after this returns), like `dvc add`, which does not sync either.
    return digest.hexdigest()


def cache_dir(root: Path) -> Path:
    """The DVC cache folder of the repository (``[cache] dir`` of .dvc/config(.local), else .dvc/cache)."""
    directory = None
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if path.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(path, encoding="utf-8")
            except configparser.Error:
                continue
            if parser.has_option("cache", "dir"):
                directory = parser.get("cache", "dir")
    if directory is None:
        return root / ".dvc" / "cache"
    path = Path(directory)
    return path if path.is_absolute() else (root / ".dvc" / path).resolve()


def object_path(root: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object with this md5."""
    return cache_dir(root) / "files" / "md5" / md5[:2] / md5[2:]


def add_to_cache(root: Path, src: Path, md5: str) -> Path:
    """Put a copy of ``src`` into the DVC cache (atomically; read-only like DVC's own objects)."""
    target = object_path(root, md5)
    if target.is_file() and target.stat().st_size == src.stat().st_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(src, partial)
        os.chmod(partial, 0o444)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def remove_from_gitignore(folder: Path, name: str) -> None:
    """Drop ``/<name>`` from the folder's .gitignore (when a file is replaced under another name)."""
    ignore = folder / ".gitignore"
    if ignore.is_file():
        lines = [line for line in ignore.read_text(encoding="utf-8").splitlines() if line != f"/{name}"]
        ignore.write_text("\n".join(lines) + "\n" if lines else "", encoding="utf-8")
