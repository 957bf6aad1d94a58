"""Write side of the development DVC HTTP remote (behind nginx, after the write-scope check).

nginx serves reads of the remote itself; it passes ``PUT`` and ``POST`` of
``files/md5/<2 hex>/<30 hex>[.dir]`` here (DVC uploads with POST unless the
remote sets ``method = PUT``). The object is written to a temporary file
and renamed into place only when its md5 matches its name, so a broken or
wrong upload never becomes a corrupt object.

Run: ``python deploy/dev/dvc_upload.py --listen 127.0.0.1:PORT --root DIR``.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

# nginx forwards the path after its internal /_dvc_write/ prefix is replaced by /.
OBJECT_RE = re.compile(r"^/files/md5/([0-9a-f]{2})/([0-9a-f]{30})(\.dir)?$")
MAX_BYTES = 2 * 1024**3


class Handler(BaseHTTPRequestHandler):
    server: UploadServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            sys.stderr.write(f"dvc-upload: {format % args}\n")

    def _send(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        match = OBJECT_RE.match(unquote(urlsplit(self.path).path))
        if not match:
            self._send(404, "not a DVC object path (files/md5/<2 hex>/<30 hex>)")
            return
        length = self.headers.get("Content-Length")
        if length is None:
            self._send(411, "Content-Length required")
            return
        size = int(length)
        if size > MAX_BYTES:
            self._send(413, "object too large")
            return
        dest = self.server.root / "files" / "md5" / match.group(1) / (match.group(2) + (match.group(3) or ""))
        dest.parent.mkdir(parents=True, exist_ok=True)
        status, text = self._store(dest, size, match.group(1) + match.group(2))
        self._send(status, text)

    def _store(self, dest: Path, size: int, md5: str) -> tuple[int, str]:
        """Write the body to a temporary file, rename it into place if its md5 is right.

        The temporary file is gone before the answer is sent.
        """
        digest = hashlib.md5()
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                left = size
                while left:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    left -= len(chunk)
            if left:
                return 400, "incomplete upload"
            if digest.hexdigest() != md5:
                return 422, f"content md5 {digest.hexdigest()} does not match the object name"
            os.chmod(tmp, 0o644)
            existed = dest.exists()
            os.replace(tmp, dest)
            tmp = ""
            return (200 if existed else 201), "stored"
        finally:
            if tmp:
                os.unlink(tmp)

    do_POST = do_PUT


class UploadServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path, verbose: bool):
        super().__init__(address, Handler)
        self.root = root
        self.verbose = verbose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8082", help="HOST:PORT (default %(default)s)")
    parser.add_argument("--root", type=Path, required=True, help="folder of the DVC remote")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = UploadServer((host, int(port)), args.root.resolve(), args.verbose)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
