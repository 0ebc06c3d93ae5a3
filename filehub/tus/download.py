"""Serving stored bytes over HTTP: Range (206/416), ETag, If-Range, If-None-Match, and a
Content-Disposition built safely from an untrusted filename."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from urllib.parse import quote

from aiohttp import web

from filehub.errors import FilehubError, RangeNotSatisfiable
from filehub.storage.base import ByteRange

log = logging.getLogger("filehub.download")

_UNSAFE_FILENAME = re.compile(r'[^A-Za-z0-9._ ()+-]')


def content_disposition(filename: str | None) -> str:
    """``attachment`` with an ASCII fallback and the RFC 8187 UTF-8 form; no path parts,
    quotes, control characters or header-splitting survive."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    name = name[:200] or "download"
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = _UNSAFE_FILENAME.sub("_", folded).strip() or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def redirect(url: str) -> web.Response:
    """302 to a short-lived URL of the object store (presigned downloads)."""
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


def requested_range(request: web.Request, size: int, etag: str) -> ByteRange | None:
    """The single byte range asked for, or None for the whole entity (RFC 9110 §14)."""
    if "Range" not in request.headers:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None  # the client's copy is stale: send it all
    try:
        wanted = request.http_range
    except ValueError:
        return None  # malformed or multi-range: a server may ignore Range
    start, stop = wanted.start, wanted.stop
    if start is None and stop is None:
        return None
    if start is not None and start < 0:  # suffix range: the last -start bytes
        start, stop = max(size + start, 0), size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        raise RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return ByteRange(start, stop)


async def serve_content(
    request: web.Request,
    *,
    size: int,
    sha256: str,
    filename: str | None,
    open_range: Callable[[ByteRange], AsyncIterator[bytes]],
    before_each_block: Callable[[], Awaitable[None]] | None = None,
    on_start: Callable[[ByteRange], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Serve ``size`` bytes with Range support. ``before_each_block`` runs before every block
    is sent and raises a FilehubError to stop (access revoked): the connection is then cut.
    ``on_start`` runs once before the first byte of a GET is sent (the audit event)."""
    etag = f'"{sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition(filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    wanted = requested_range(request, size, etag)
    byte_range = wanted or ByteRange(0, size)
    if on_start is not None and request.method == "GET":
        await on_start(byte_range)
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    if wanted:
        response.headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end - 1}/{size}"
    response.content_length = byte_range.length
    await response.prepare(request)
    if request.method == "HEAD" or byte_range.length == 0:
        await response.write_eof()
        return response
    try:
        async with aclosing(open_range(byte_range)) as blocks:
            async for block in blocks:
                if before_each_block is not None:
                    await before_each_block()
                await response.write(block)
        await response.write_eof()
    except ConnectionError:
        log.debug("client went away during a download")  # it resumes with a Range request
    except FilehubError as exc:
        # The status line is sent: the only way left to say "stop" is to cut the connection,
        # so the client sees a body shorter than Content-Length, never a complete-looking one.
        log.info("download stopped: %s", exc.code)
        response.force_close()
        if request.transport is not None:
            request.transport.close()
    return response
