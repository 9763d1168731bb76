"""A small, bounded HTTP GET for the network news sources, and the on-disk cache they share.

``http_get(url)`` fetches one URL with a per-request timeout, a bounded number of tries with exponential
backoff and a total deadline for the whole call:

- retried: connection errors (refused, reset, DNS), timeouts, HTTP 5xx and HTTP 429 (``Retry-After`` is
  honoured up to ``max_backoff``);
- not retried: any other HTTP 4xx (the address is wrong or refused; asking again will not help);
- every failure ends in ``FetchError`` (exit code 5) naming the URL, what went wrong and the fix; its
  ``status`` (HTTP status or None) and ``transient`` (True when a later try could succeed) let callers
  decide whether a cached copy may stand in.

Why the standard library's ``urllib.request`` rather than ``requests``: nothing to install or pin, the
socket timeout covers both the connect and every blocking read, HTTP errors arrive as exceptions carrying
the status, and the body is read here in chunks so the total deadline and a size limit are enforced
between chunks (``requests`` would give the same per-operation timeouts and nothing more for this use).
Proxies from the environment (``https_proxy``...) are honoured as ``urllib`` does by default.

The cache (``cache_path``, ``write_atomic``, ``read_cached``) lives under ``paths.cache_dir() / "news"``;
every path is checked to stay inside that folder and every write goes to a temporary file in the same
folder first and is then moved into place with ``os.replace`` (a crash never leaves half a file).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ..errors import FetchError, UsageError
from ..paths import cache_dir

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_BACKOFF = 8.0
DEFAULT_DEADLINE = 60.0
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
USER_AGENT = "llmos-quant/0.1 (+news ingestion; python-urllib)"
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


class HTTPFetchError(FetchError):
    """``FetchError`` with the URL, the HTTP status (None for network errors) and whether it is transient."""

    def __init__(self, message: str, url: str, status: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.url, self.status, self.transient = url, status, transient


@dataclass(frozen=True)
class Fetched:
    """One successful GET: final URL (after redirects), status, body, content type and tries used."""

    url: str
    status: int
    body: bytes
    content_type: str
    attempts: int


def check_fetch_options(timeout: float, retries: int, deadline: float | None = None) -> None:
    """``UsageError`` for a non-positive timeout or deadline, or fewer than one try."""
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 1:
        raise UsageError(f"retries={retries!r} is not a number of tries; expected an integer >= 1 (e.g. 3)")
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise UsageError(f"timeout={timeout!r} is not a number of seconds; expected a number > 0 (e.g. 10)")
    if deadline is not None and not (isinstance(deadline, int | float) and deadline > 0):
        raise UsageError(f"deadline={deadline!r} is not a number of seconds; expected a number > 0 or None")


def is_http_url(source: object) -> bool:
    return isinstance(source, str) and source.strip().lower().startswith(("http://", "https://"))


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def http_get(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
             backoff: float = DEFAULT_BACKOFF, max_backoff: float = DEFAULT_MAX_BACKOFF,
             deadline: float | None = DEFAULT_DEADLINE, max_bytes: int = DEFAULT_MAX_BYTES,
             headers: dict[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> Fetched:
    """GET ``url`` (http or https) -> ``Fetched``; see the module docstring for what is retried.

    ``timeout``: seconds for the connect and for each blocking read of one try. ``retries``: the number of
    tries in all (>= 1). Waits between tries are ``backoff * 2**(k-1)`` capped at ``max_backoff`` (or the
    server's ``Retry-After`` for 429/503, capped the same way). ``deadline``: seconds for the whole call,
    tries and waits included (None: only the tries bound it); no try starts and no wait is begun that
    would end past it. ``sleep`` is injectable so tests do not wait.
    """
    if not is_http_url(url):
        raise UsageError(f"{url!r} is not an http(s) URL; expected http://... or https://...")
    check_fetch_options(timeout, retries, deadline)
    url = url.strip()
    start = time.monotonic()
    end = start + deadline if deadline is not None else float("inf")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT, **(headers or {})})
    last = "no try made"
    last_status: int | None = None
    tried = 0
    for attempt in range(1, retries + 1):
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        tried = attempt
        wait = min(backoff * 2 ** (attempt - 1), max_backoff)
        try:
            with urllib.request.urlopen(request, timeout=min(timeout, remaining)) as resp:  # noqa: S310 (scheme checked)
                chunks, size = [], 0
                while chunk := resp.read(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise HTTPFetchError(
                            f"GET {url}: the body is larger than {max_bytes} bytes; this is not a news feed "
                            "(check the URL) or raise max_bytes", url, resp.status, transient=False)
                    if time.monotonic() > end:
                        raise TimeoutError(f"deadline of {deadline}s reached while reading the body")
                    chunks.append(chunk)
                body = b"".join(chunks)
                log.info("GET %s -> HTTP %d, %d bytes (try %d/%d, %.2fs)", url, resp.status, len(body), attempt,
                         retries, time.monotonic() - start)
                return Fetched(resp.geturl(), resp.status, body, resp.headers.get("Content-Type", ""), attempt)
        except HTTPFetchError:
            raise
        except urllib.error.HTTPError as exc:
            last_status = exc.code
            last = f"HTTP {exc.code} {exc.reason}"
            exc.close()
            if exc.code != 429 and exc.code < 500:
                raise HTTPFetchError(
                    f"GET {url} failed: {last} (not retried: this answer does not change on a retry); "
                    "check the URL in your source" + (" and its credentials" if exc.code in (401, 403) else ""),
                    url, exc.code, transient=False) from exc
            hint = _retry_after(exc.headers) if exc.code in (429, 503) else None
            if hint is not None:
                wait = max(wait, min(hint, max_backoff))
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, refused/reset connections
            last_status = None
            last = _describe(exc)
        if attempt == retries:
            break
        if time.monotonic() + wait >= end:
            log.warning("GET %s failed (%s); no time left for another try within the %.1fs deadline", url, last, deadline)
            break
        log.warning("GET %s failed (%s); try %d/%d, next in %.1fs", url, last, attempt, retries, wait)
        sleep(wait)
    elapsed = time.monotonic() - start
    raise HTTPFetchError(
        f"GET {url} failed after {tried} of {retries} tries in {elapsed:.1f}s (last: {last}); check the network "
        "and that the server is up, then retry", url, last_status)


# ---------------------------------------------------------------------------------------------- cache
def news_cache_root() -> Path:
    """``paths.cache_dir() / "news"`` (created)."""
    root = cache_dir() / "news"
    root.mkdir(parents=True, exist_ok=True)
    return root


def url_key(url: str) -> str:
    """A file-name-safe key for a URL: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(url.strip().encode("utf-8")).hexdigest()[:32]


def cache_path(*parts: str) -> Path:
    """A path inside the news cache; ``UsageError`` for any part that would leave it (``..``, ``/``, absolute)."""
    root = news_cache_root().resolve()
    for p in parts:
        if not p or p in (".", "..") or "/" in p or "\\" in p or "\0" in p or os.path.isabs(p):
            raise UsageError(f"cache key part {p!r} is not a plain file name; the news cache keeps files in {root} only")
    path = root.joinpath(*parts).resolve()
    if not path.is_relative_to(root) or path == root:
        raise UsageError(f"cache path {path} would be outside the news cache {root}; refusing to use it")
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cached(path: Path, body: bytes, meta: dict[str, Any]) -> None:
    """Store ``body`` at ``path`` and ``meta`` (plus ``fetched_at``) beside it as ``<name>.meta.json``; a cache
    that cannot be written is logged, never fatal."""
    meta = {**meta, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        write_atomic(path, body)
        write_atomic(path.with_name(path.name + ".meta.json"), json.dumps(meta, indent=1).encode())
    except OSError as exc:
        log.warning("could not write the news cache %s (%s); continuing without caching", path, exc)


def read_cached(path: Path) -> tuple[bytes, dict[str, Any]] | None:
    """(body, meta) of a cached entry, or None when there is none (or it cannot be read)."""
    if not path.is_file():
        return None
    try:
        body = path.read_bytes()
    except OSError as exc:
        log.warning("could not read the news cache %s (%s)", path, exc)
        return None
    meta_path = path.with_name(path.name + ".meta.json")
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except (OSError, ValueError):
        meta = {}
    return body, meta
