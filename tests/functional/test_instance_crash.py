"""An instance killed with SIGKILL mid-PATCH: the client resumes on another instance."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.databases import backend
from tests.support.server import FilehubServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(backend() != "postgresql", reason="several instances share PostgreSQL"),
]


@pytest.fixture
def instances(
    tmp_path: Path, database_url: str, server_env: dict[str, str]
) -> Iterator[tuple[FilehubServer, FilehubServer]]:
    first = FilehubServer(tmp_path / "shared", database_url, **server_env).start()
    second = FilehubServer(tmp_path / "shared", database_url, **server_env).start()  # same data, own port
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_sigkill_mid_patch_then_resume_on_the_other_instance(
    instances: tuple[FilehubServer, FilehubServer],
) -> None:
    first, second = instances
    token = first.create_user()
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    data = os.urandom(6 << 20)
    committed = 2 << 20
    async with aiohttp.ClientSession(headers=headers) as client:
        created = await client.post(first.uploads_url, headers={"Upload-Length": str(len(data))})
        url_path = created.headers["Location"].split("/api/", 1)[1]
        on_first, on_second = f"{first.url}/api/{url_path}", f"{second.url}/api/{url_path}"
        patch_headers = {"Content-Type": "application/offset+octet-stream"}
        done = await client.patch(on_first, data=io.BytesIO(data[:committed]), headers={**patch_headers, "Upload-Offset": "0"})
        assert done.status == 204

        sent = asyncio.Event()

        async def slow_rest() -> AsyncIterator[bytes]:
            for start in range(committed, committed + (2 << 20), 64 << 10):
                yield data[start : start + (64 << 10)]
                await asyncio.sleep(0.01)
            sent.set()
            await asyncio.sleep(30)  # the server dies while this body is still open

        in_flight = asyncio.ensure_future(
            client.patch(on_first, data=slow_rest(), headers={**patch_headers, "Upload-Offset": str(committed)})
        )
        await asyncio.wait_for(sent.wait(), 20)
        first.kill()
        with pytest.raises(aiohttp.ClientError):
            await in_flight

        offset = -1
        for _ in range(50):  # PostgreSQL drops the dead instance's lock with its session
            head = await client.head(on_second)
            offset = int(head.headers["Upload-Offset"])
            resumed = await client.patch(
                on_second, data=io.BytesIO(data[offset:]), headers={**patch_headers, "Upload-Offset": str(offset)}
            )
            if resumed.status != 423:
                break
            await asyncio.sleep(0.1)
        assert offset == committed
        assert resumed.status == 204, await resumed.text()
        body = await (await client.get(on_second)).read()
        assert body == data
