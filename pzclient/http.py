"""HTTP transport: JSON documents of the API and resumable, md5-checked object downloads.

The token goes only to the origins the caller trusts (the site and the DVC remote it names),
never into a message, a log line or a URL. Statuses become errors that say what to do:
401 (token missing or refused), 403 (a scope is missing), 404 (not in the catalogue or not
pushed to the remote), and a redirect to a login page is reported as such, never read as data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3

from .errors import AuthError, ObjectNotFoundError, RemoteError

__all__ = ["CHUNK", "PROBE_SECONDS", "SLOW_RATE", "SPLIT_SIZE", "HttpClient", "origin"]

#: Bytes read from the socket at a time, into one reused buffer (larger blocks made the
#: occasional slow write to the page cache slower still in bench/client.py).
CHUNK = 256 << 10
#: An object of this size or more gets a second connection for its second half when the first
#: connection turns out slow: under :data:`SLOW_RATE` bytes/s after :data:`PROBE_SECONDS`.
#: On a fast link one connection is cheaper: a second one costs CPU that the md5 check and
#: the read need more (bench/client.py: 1.4x instead of 1.1x the time of curl + read_parquet).
SPLIT_SIZE = 32 << 20
SLOW_RATE = 64 << 20
PROBE_SECONDS = 0.5
_SCOPE = re.compile(r'scope="([^"]*)"')
_TOKEN_HELP = ("set it with `export ACCESS_TOKEN=gt-...` (in an RSP notebook it is already set), "
               "or pass token=... (or token_file=...) to open_catalog() or PzServer()")


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` (the unit a token is trusted to)."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class HttpClient:
    """A connection pool that sends the token to trusted origins only.

    Parameters
    ----------
    token
        RSP access token (``gt-...``), or None to send no credentials.
    trusted
        URLs whose origin may receive the token.
    retries
        How many times an interrupted download is resumed before giving up.
    """

    def __init__(self, token: str | None, trusted: list[str], *, retries: int = 5,
                 timeout: float = 60.0, read_scope: str | None = None) -> None:
        self._token = token
        self._trusted = {origin(u) for u in trusted}
        self.retries = retries
        self.read_scope = read_scope
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=8,
            # a kept-alive connection the server has closed, or a refused connect, is retried
            # here; a body cut half-way is resumed by fetch() with Range instead
            retries=urllib3.Retry(total=3, connect=3, read=1, status=0, other=0, redirect=False,
                                  backoff_factor=0.2, raise_on_status=False),
            timeout=urllib3.Timeout(connect=min(timeout, 15.0), read=timeout))

    def __repr__(self) -> str:  # never show the token
        return f"HttpClient(token={'set' if self._token else 'none'})"

    def trust(self, url: str) -> None:
        """Allow the token to be sent to the origin of ``url`` too."""
        self._trusted.add(origin(url))

    def _headers(self, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": "pzclient", **(extra or {})}
        if self._token and origin(url) in self._trusted:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _request(self, url: str, headers: dict[str, str], raw: bool = False) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request("GET", url, headers=headers, preload_content=False,
                                      redirect=False, decode_content=True)
        except urllib3.exceptions.HTTPError as err:
            if raw:
                raise
            raise RemoteError(f"cannot reach {url}: {_reason(err)}; check the address and "
                              "your network") from None

    def get_json(self, url: str, what: str) -> Any:
        """GET a JSON document; ``what`` names it in error messages ("product 'x'")."""
        response = self._request(url, self._headers(url, {"Accept-Encoding": "gzip"}))
        try:
            self.check(response, url, what)
            body = response.read()
        except urllib3.exceptions.HTTPError as err:
            raise RemoteError(f"{url}: connection lost while reading {what}: {_reason(err)}; "
                              "try again") from None
        finally:
            response.release_conn()
        try:
            return json.loads(body)
        except ValueError:
            kind = response.headers.get("Content-Type", "unknown")
            raise RemoteError(f"{url}: expected JSON for {what}, got {kind!s}; is this the "
                              "address of a PZ Server site (the folder that holds api/v1/)?") from None

    def check(self, response: urllib3.BaseHTTPResponse, url: str, what: str) -> None:
        """Raise the error that explains a non-success status."""
        status = response.status
        if status < 300:
            return
        scope = self.read_scope or "read:image"
        if status == 401:
            if not self._token:
                raise AuthError(f"{url}: 401 Unauthorized: your token is missing; {_TOKEN_HELP}")
            raise AuthError(f"{url}: 401 Unauthorized: your token is invalid or expired; create "
                            f"a new one with scope {scope!r} on the RSP Security tokens page and "
                            f"{_TOKEN_HELP}")
        if status == 403:
            found = _SCOPE.search(response.headers.get("WWW-Authenticate", ""))
            needed = found.group(1) if found else scope
            raise AuthError(f"{url}: 403 Forbidden: your token lacks scope {needed!r}; create a "
                            f"token with scope {needed!r} on the RSP Security tokens page and "
                            f"{_TOKEN_HELP}")
        if status == 404:
            raise ObjectNotFoundError(f"{url}: 404 Not Found: {what} is not there")
        if 300 <= status < 400:
            where = response.headers.get("Location", "?")
            raise AuthError(f"{url}: the server redirected to {where!r} (a login page?) instead "
                            f"of sending {what}: your token is missing or invalid; {_TOKEN_HELP}")
        raise RemoteError(f"{url}: HTTP {status} while fetching {what}; try again later")

    def fetch(self, url: str, part: Path, *, size: int | None, what: str,
              progress: Callable[[int], None] | None = None) -> Callable[[], str]:
        """Download ``url`` into ``part``, resuming with HTTP Range; return the md5 to come.

        ``part`` may already hold the beginning of the object (an earlier, interrupted run):
        the download continues after it. A dropped connection is resumed from the last byte
        written, up to ``retries`` times. When an object of :data:`SPLIT_SIZE` or more comes
        slowly, a second connection fetches its second half into ``<part>.tail`` (resumable the
        same way), appended at the end. Another thread hashes ``part`` as it grows; the function
        returned waits for it and gives the md5 of the whole file, so the caller can start
        reading the file before the hash is done (and must not trust it before).
        """
        part.touch()
        tail = part.with_name(part.name + ".tail")
        offset = part.stat().st_size
        if size is not None and offset > size:
            _truncate(part)
            offset = 0
        mid = _split_point(size)
        if mid is not None and offset >= mid and not tail.exists():
            mid = None  # an earlier run fetched it in one piece: go on that way
        if mid is None:
            tail.unlink(missing_ok=True)
        hasher = _FileHasher(part)
        hasher.advance(offset)
        if progress and offset:
            progress(offset)
        try:
            if mid is None:
                self._download(url, part, hasher, 0, offset, size, size, what, progress)
            else:
                assert size is not None
                with _Split(self, url, tail, mid, size, what, progress) as split:
                    if tail.exists():  # an earlier run had split it: resume both halves
                        split.start()
                    reached = self._download(url, part, hasher, 0, offset, size, size, what, progress,
                                             split)
                    split.join(part, hasher, reached)
        except BaseException:
            hasher.result()  # stop the thread; the bytes stay in part for the next attempt
            raise
        return hasher.result

    def _download(self, url: str, path: Path, hasher: _FileHasher | None, base: int, offset: int,
                  end: int | None, size: int | None, what: str,
                  progress: Callable[[int], None] | None, split: _Split | None = None) -> int:
        """Fill ``path`` (bytes ``base`` onwards of the object) up to ``end``; the end reached.

        ``offset`` and the return value count from the start of the object. Without Range
        support the first half (``base`` 0) takes the whole body; another piece raises
        :class:`_NoRange` without writing. With ``split``, the end becomes the second half's
        start once ``split`` has started a connection for it.
        """
        failures = 0
        while True:
            if split is not None and split.started:
                end = split.mid
            if end is not None and offset >= end:
                return offset
            ranged = offset > 0 or (end is not None and size is not None and end < size)
            last = "" if end is None or end == size else str(end - 1)
            headers = self._headers(url, {"Range": f"bytes={offset}-{last}"} if ranged else {})
            response = None
            try:
                response = self._request(url, headers, raw=True)
                whole = ranged and 200 <= response.status < 300 and response.status != 206
                if (whole or response.status == 416) and base > 0:
                    raise _NoRange
                if whole or (response.status == 416 and offset):
                    # the server ignores Range (or the part is longer than the object): restart
                    _truncate(path)
                    if hasher is not None:
                        hasher.restart()
                    if progress:
                        progress(-offset)
                    offset = 0
                    if split is None:
                        end = size
                    if response.status == 416:
                        continue
                self.check(response, url, what)
                offset = _stream(response, path, hasher, offset, progress, split)
                if split is not None and split.started and offset == split.mid:
                    if offset < split.size:
                        response.close()  # the rest of this body is the second connection's
                    return offset
                if end is None or offset == end or (base == 0 and offset == size):
                    return offset
                raise urllib3.exceptions.ProtocolError(f"got {offset - base} of {end - base} bytes")
            except urllib3.exceptions.HTTPError as err:
                failures += 1
                if failures > self.retries:
                    raise RemoteError(f"{url}: download of {what} failed {failures} times "
                                      f"({_reason(err)}); the bytes received are kept in {path} and "
                                      "the next attempt resumes from there") from None
                time.sleep(min(0.2 * 2 ** failures, 5.0))
                offset = base + path.stat().st_size
            finally:
                if response is not None:
                    response.release_conn()


class _Split:
    """The second half of a large object, over a second connection into ``<part>.tail``.

    The first connection calls :meth:`check` after every block; once it has run for
    :data:`PROBE_SECONDS` below :data:`SLOW_RATE`, the second connection starts from ``mid``
    and the first stops there. (A resumed split starts it at once with :meth:`start`.)
    """

    def __init__(self, client: HttpClient, url: str, tail: Path, mid: int, size: int, what: str,
                 progress: Callable[[int], None] | None) -> None:
        self.client, self.url, self.tail, self.mid, self.size = client, url, tail, mid, size
        self.what, self.progress = what, progress
        self.started = False
        self._decided = False
        self._clock: tuple[float, int] | None = None  # (time, offset) of the first check
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pzclient-tail")
        self._future: Any = None

    def __enter__(self) -> _Split:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)  # on error too: no thread left writing the tail

    def check(self, offset: int) -> None:
        """Start the second connection if the first one is slow and far from ``mid``."""
        if self._decided:
            return
        now = time.monotonic()
        if self._clock is None:  # before the first block
            self._clock = (now, offset)
            return
        start, first = self._clock
        elapsed = now - start
        if elapsed < PROBE_SECONDS:
            return
        self._decided = True
        if offset < self.mid and offset - first < SLOW_RATE * elapsed:
            self.start()

    def start(self) -> None:
        self._decided = self.started = True
        tail_offset = self.tail.stat().st_size if self.tail.exists() else 0
        if tail_offset > self.size - self.mid:
            self.tail.unlink()
            tail_offset = 0
        self.tail.touch()
        if self.progress and tail_offset:
            self.progress(tail_offset)
        self._future = self._pool.submit(self.client._download, self.url, self.tail, None, self.mid,
                                         self.mid + tail_offset, self.size, self.size, self.what,
                                         self.progress)

    def join(self, part: Path, hasher: _FileHasher, reached: int) -> None:
        """Wait for the second half and append it to ``part`` (the first half up to ``reached``)."""
        if not self.started:
            self.tail.unlink(missing_ok=True)
            return
        client = self.client
        try:
            self._future.result()
        except _NoRange:
            self.tail.unlink(missing_ok=True)
            if reached != self.size:  # odd server: Range for one half only; fetch the rest in line
                client._download(self.url, part, hasher, 0, reached, self.size, self.size, self.what,
                                 self.progress)
            return
        if reached == self.size:  # the server ignored Range and sent everything to the first half
            self.tail.unlink(missing_ok=True)
            return
        _append(self.tail, part, self.mid, self.size - self.mid)
        hasher.advance(self.size - self.mid)
        self.tail.unlink()


def _append(src_path: Path, dst_path: Path, at: int, count: int) -> None:
    """Write the first ``count`` bytes of ``src_path`` at offset ``at`` of ``dst_path``."""
    with src_path.open("rb") as src, dst_path.open("r+b") as dst:
        done = 0
        try:
            while done < count:  # in the kernel (no copy through Python), on Linux
                n = os.copy_file_range(src.fileno(), dst.fileno(), count - done, done, at + done)
                if n == 0:
                    raise RemoteError(f"{src_path}: shorter than expected; download again")
                done += n
        except (AttributeError, OSError):  # another OS or file system: copy by hand
            src.seek(done)
            dst.seek(at + done)
            shutil.copyfileobj(src, dst, CHUNK)


class _NoRange(Exception):
    """The server answered a request for a later piece with the whole object."""


def _split_point(size: int | None) -> int | None:
    """Where the second connection starts (64 KiB-aligned), or None to use one connection."""
    if size is None or size < SPLIT_SIZE:
        return None
    mid = (size // 2) // (64 << 10) * (64 << 10)
    return mid or None


def _truncate(part: Path) -> None:
    with part.open("r+b") as fh:  # the same file (not a new one): the hasher keeps reading it
        fh.truncate(0)


def _stream(response: urllib3.BaseHTTPResponse, part: Path, hasher: _FileHasher | None, offset: int,
            progress: Callable[[int], None] | None, split: _Split | None = None) -> int:
    """Append the body to ``part`` (up to ``split.mid`` once split); return its new length.

    Bytes received stay on error, but for those of the block being read (at most :data:`CHUNK`).
    """
    # One buffer for the whole body: a fresh bytes object per read costs an mmap, a page fault
    # per page and an munmap with a TLB shootdown across threads: more CPU than the copy itself.
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    raw = getattr(response, "_fp", None)  # http.client's response: it counts the body's length
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    readinto = response.readinto if encoded or not hasattr(raw, "readinto") else raw.readinto
    with part.open("ab") as fh:  # buffered: it writes a short write's rest too
        while True:
            want = CHUNK
            if split is not None:
                split.check(offset)
                if split.started:
                    want = min(CHUNK, split.mid - offset)
            if want <= 0 or not (n := readinto(view[:want])):
                return offset
            fh.write(view[:n])  # a block larger than the writer's buffer goes straight through
            fh.flush()
            if hasher is not None:
                hasher.advance(n)
            offset += n
            if progress:
                progress(n)


class _FileHasher:
    """md5 of a file computed by a thread that follows it while another thread appends to it.

    Reading back what was just written hits the page cache, so memory stays bounded whatever
    the speeds of the network and of md5; md5 releases the GIL, so both threads run at once.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._cond = threading.Condition()
        self._written = 0  # bytes the writer has flushed
        self._generation = 0  # bumped when the writer truncates the file
        self._done = False
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pzclient-md5", daemon=True)
        self._thread.start()

    def advance(self, n: int) -> None:
        with self._cond:
            self._written += n
            self._cond.notify()

    def restart(self) -> None:
        with self._cond:
            self._generation += 1
            self._written = 0
            self._cond.notify()

    def result(self) -> str:
        """Wait for the hash of everything written; the md5 hex digest."""
        with self._cond:
            self._done = True
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest

    def _run(self) -> None:
        try:
            self._digest = self._hash()
        except BaseException as err:  # reported by result()
            self._error = err

    def _hash(self) -> str:
        digest, position, generation = hashlib.md5(), 0, 0
        buffer = bytearray(CHUNK)  # reused: see _stream
        view = memoryview(buffer)
        with self._path.open("rb", buffering=0) as fh:
            while True:
                with self._cond:
                    while not (self._written > position or self._done or self._generation != generation):
                        self._cond.wait()
                    if self._generation != generation:
                        digest, position, generation = hashlib.md5(), 0, self._generation
                        fh.seek(0)
                        continue
                    limit, done = self._written, self._done
                while position < limit:
                    n = fh.readinto(view[:min(CHUNK, limit - position)])
                    if not n:  # shorter than written: truncated under us; the md5 will not match
                        if done:
                            return digest.hexdigest()
                        break
                    digest.update(view[:n])
                    position += n
                if done and position >= limit:
                    return digest.hexdigest()


def _reason(err: BaseException) -> str:
    while err.__context__ is not None and isinstance(err, urllib3.exceptions.MaxRetryError):
        err = err.__context__
    reason = getattr(err, "reason", None)
    return str(reason or err) or type(err).__name__
