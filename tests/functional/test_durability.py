"""A PATCH cut off mid-body keeps every byte that arrived; metadata never reaches a path."""

from __future__ import annotations

import asyncio
import os

from aiohttp.test_utils import TestClient

from filehub.settings import Settings
from tests.support.tusclient import Api, b64


async def send_truncated_patch(client: TestClient, url: str, token: str, offset: int, declared: int, sent: bytes) -> None:
    """Sends PATCH headers announcing ``declared`` bytes, then ``sent``, then drops the connection."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: {client.host}\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    )
    writer.write(head.encode() + sent)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()  # a dropped link, not a clean close


async def wait_for_offset(api: Api, url: str, expected: int) -> int:
    offset = -1
    for _ in range(50):
        offset = int((await api.head(url)).headers["Upload-Offset"])
        if offset == expected:
            break
        await asyncio.sleep(0.1)
    return offset


async def test_interrupted_patch_keeps_what_arrived_and_resumes(client: TestClient, api: Api) -> None:
    data = os.urandom(3 << 20)
    url = await api.create_url(len(data))
    sent = 1_300_000  # more than one write block and not on a block boundary
    await send_truncated_patch(client, url, api.token, 0, len(data), data[:sent])
    assert await wait_for_offset(api, url, sent) == sent
    response = await api.patch(url, sent, data[sent:])
    assert response.status == 204
    assert await (await api.get(url)).read() == data


async def test_interrupted_patch_with_checksum_discards_the_partial_chunk(client: TestClient, api: Api) -> None:
    url = await api.create_url(100)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        (
            f"PATCH {url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token}\r\nTus-Resumable: 1.0.0\r\n"
            "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100\r\n"
            "Upload-Checksum: sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
        ).encode()
        + b"x" * 40
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    await asyncio.sleep(0.3)
    assert (await api.head(url)).headers["Upload-Offset"] == "0"


async def test_metadata_never_touches_a_storage_path(api: Api, settings: Settings) -> None:
    hostile = {"filename": "../../../../tmp/filehub-escape", "path": "/etc/passwd"}
    metadata = ",".join(f"{k} {b64(v)}" for k, v in hostile.items())
    url = await api.create_url(4, **{"Upload-Metadata": metadata})
    await api.patch(url, 0, b"evil")
    assert not os.path.exists("/tmp/filehub-escape")
    if settings.storage_url and settings.storage_url.startswith("file://"):
        root = settings.storage_url.removeprefix("file://")
        names = [name for _, _, files in os.walk(root) for name in files]
        assert names and all(len(n) == 32 and int(n, 16) >= 0 for n in names)
