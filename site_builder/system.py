"""Operating-system primitives shared by every layer: processes, atomic swaps, code identity.

The bottom layer of the package: it imports nothing of ``site_builder`` but the errors.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from functools import cache
from pathlib import Path

from site_builder.errors import PzError

__all__ = ["SwapError", "code_fingerprint", "exchange", "pid_alive"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
PACKAGE_DIR = Path(__file__).resolve().parent


class SwapError(PzError):
    """Two folders could not be exchanged atomically."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's counts; a zombie child of ours does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def exchange(a: Path, b: Path) -> None:
    """Swap two existing paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Raises
    ------
    SwapError
        The system cannot swap atomically (not Linux, or a filesystem without support);
        callers that can live with a short gap fall back to two renames.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise SwapError("atomic folder exchange (renameat2) is not available on this system")
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise SwapError(f"cannot swap {a} and {b} atomically: {os.strerror(err)}")


@cache
def code_fingerprint() -> str:
    """A hash of every source and template file of the package.

    Whatever decides what the builder writes (display names in the domain model, a reader,
    a plot, a template) is somewhere in the package, so any change to it changes this hash.
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}:
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()
