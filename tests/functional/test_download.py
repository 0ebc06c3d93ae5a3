"""Serving completed uploads: Range (206/416), ETag, conditional requests, safe filenames."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.tusclient import Api, b64

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
async def stored(api: Api) -> tuple[str, str]:
    url = await api.create_url(len(DATA), **{"Upload-Metadata": f"filename {b64('interview.mp4')}"})
    file_id = (await api.patch(url, 0, DATA)).headers["Filehub-File-Id"]
    return url, f"/api/v1/files/{file_id}/content"


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=0-0", 0, 1), ("bytes=100-199", 100, 200), ("bytes=10000-", 10000, 10240),
     ("bytes=-40", 10200, 10240), ("bytes=10000-999999", 10000, 10240)],
)
async def test_single_ranges_are_206(api: Api, stored: tuple[str, str], range_header: str, start: int, end: int) -> None:
    for url in stored:
        response = await api.get(url, Range=range_header)
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
        assert await response.read() == DATA[start:end]


async def test_whole_content_with_etag_and_safe_headers(api: Api, stored: tuple[str, str]) -> None:
    for url in stored:
        response = await api.get(url)
        assert response.status == 200
        assert await response.read() == DATA
        assert response.headers["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith('attachment; filename="interview.mp4"')


async def test_unsatisfiable_range_is_416(api: Api, stored: tuple[str, str]) -> None:
    response = await api.get(stored[1], Range="bytes=20000-30000")
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"


async def test_conditional_requests(api: Api, stored: tuple[str, str]) -> None:
    etag = (await api.get(stored[1])).headers["ETag"]
    assert (await api.get(stored[1], **{"If-None-Match": etag})).status == 304
    stale = await api.get(stored[1], Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert stale.status == 200 and len(await stale.read()) == len(DATA)
    fresh = await api.get(stored[1], Range="bytes=0-9", **{"If-Range": etag})
    assert fresh.status == 206 and await fresh.read() == DATA[:10]


async def test_malformed_or_multiple_ranges_get_the_whole_entity(api: Api, stored: tuple[str, str]) -> None:
    for header in ("bytes=abc", "bytes=0-1,5-6", "items=0-5"):
        response = await api.get(stored[1], Range=header)
        assert response.status == 200, header
        assert len(await response.read()) == len(DATA)


@pytest.mark.parametrize(
    ("filename", "ascii_name"),
    [("../../etc/passwd", "passwd"), ("C:\\evidence\\cam 1.mp4", "cam 1.mp4"),
     ('evil"\r\nSet-Cookie: a=b.mp4', "evil_Set-Cookie_ a_b.mp4"), ("Überwachung 📹.mp4", "Uberwachung .mp4")],
)
async def test_metadata_filenames_never_escape(api: Api, filename: str, ascii_name: str) -> None:
    url = await api.create_url(3, **{"Upload-Metadata": f"filename {b64(filename)}"})
    await api.patch(url, 0, b"abc")
    disposition = (await api.get(url)).headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith(f'attachment; filename="{ascii_name}"')
    assert "filename*=UTF-8''" in disposition
