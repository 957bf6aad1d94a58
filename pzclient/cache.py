"""Content-addressed object cache: ``<cache>/files/md5/<2 hex>/<30 hex>``, like DVC's.

An object is stored once, whatever product or version names it, so a second load costs
nothing. Objects are checked when they enter the cache (md5 computed during the download)
and made read-only. A stamp beside each object records the size and modification time it
had when it was verified; an object whose stat no longer matches its stamp (edited,
truncated, overwritten) is hashed again, and deleted and refetched if its md5 is wrong.
Hashing only on a changed stat keeps a warm load as fast as reading the local file; damage
that leaves the stat alone (a failing disk) is found by ``verify=True``, which hashes every
object on every use, or by :meth:`ObjectCache.verify_all`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

__all__ = ["DEFAULT_CACHE", "ObjectCache", "md5_of"]

#: Default cache folder; ``$PZCLIENT_CACHE`` overrides it.
DEFAULT_CACHE = Path("~/.cache/pzclient")
_BLOCK = 4 << 20


def md5_of(path: Path) -> str:
    """The md5 of a file, read in large blocks."""
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class ObjectCache:
    """Verified objects keyed by md5, under ``root`` (created on first use)."""

    def __init__(self, root: str | Path | None = None, *, verify: bool = False) -> None:
        root = root or os.environ.get("PZCLIENT_CACHE") or DEFAULT_CACHE
        self.root = Path(root).expanduser()
        self.verify = verify

    def __repr__(self) -> str:
        return f"ObjectCache({str(self.root)!r})"

    def path(self, md5: str) -> Path:
        """Where the object with this md5 lives (whether or not it is there yet)."""
        _check_md5(md5)
        return self.root / "files" / "md5" / md5[:2] / md5[2:]

    def part(self, md5: str) -> Path:
        """The partial download of an object (kept between attempts to resume it)."""
        _check_md5(md5)
        return self.root / "partial" / f"{md5}.part"

    def _stamp(self, md5: str) -> Path:
        return self.root / "stamps" / md5[:2] / md5[2:]

    def find(self, md5: str, path: Path | None = None) -> Path | None:
        """The verified object, or None if it is absent or was found corrupt (and deleted).

        ``path`` checks a file outside the cache (a DVC cache object) with a stamp kept here;
        such a file is never deleted: None means it is corrupt.
        """
        own = path is None
        path = self.path(md5) if own else path
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if not self.verify and self._stamp_ok(md5, path, st):
            return path
        if md5_of(path) == md5:
            self._write_stamp(md5, path, os.stat(path))
            return path
        warnings.warn(f"{path}: corrupted object (its md5 is not {md5})"
                      + ("; deleting it and fetching it again" if own else ""), stacklevel=3)
        if own:
            path.chmod(0o644)
            path.unlink()
        self._stamp(md5).unlink(missing_ok=True)
        return None

    def verify_all(self) -> list[str]:
        """Hash every cached object; delete those whose md5 is wrong and return their md5s."""
        bad = []
        for path in sorted((self.root / "files" / "md5").glob("??/*")):
            md5 = path.parent.name + path.name
            if len(md5) == 32 and md5_of(path) != md5:
                path.chmod(0o644)
                path.unlink()
                self._stamp(md5).unlink(missing_ok=True)
                bad.append(md5)
        return bad

    def add(self, md5: str, part: Path) -> Path:
        """Move a verified partial download into place, read-only, and stamp it."""
        dest = self.path(md5)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part.chmod(0o444)
        os.replace(part, dest)
        self._write_stamp(md5, dest, dest.stat())
        return dest

    def _stamp_ok(self, md5: str, path: Path, st: os.stat_result) -> bool:
        try:
            return self._stamp(md5).read_text() == _stamp_text(path, st)
        except OSError:
            return False

    def _write_stamp(self, md5: str, path: Path, st: os.stat_result) -> None:
        stamp = self._stamp(md5)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        tmp.write_text(_stamp_text(path, st))
        os.replace(tmp, stamp)


def _stamp_text(path: Path, st: os.stat_result) -> str:
    # ctime changes with any write, chmod or utime, so a restored mtime does not hide an edit
    return f"{path.resolve()}\n{st.st_size}\n{st.st_mtime_ns}\n{st.st_ctime_ns}\n{st.st_ino}\n"


def _check_md5(md5: str) -> None:
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise ValueError(f"not an md5 hex digest: {md5!r}")
