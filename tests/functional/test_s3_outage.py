"""Losing the object store mid-upload answers 503 with Retry-After, keeps the committed
offset, and the upload completes with the right bytes once S3 is back.

The outage is real: this test's own SeaweedFS process is stopped, then started again on
the same ports and data (the session's shared server is left alone).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from filehub.settings import Settings
from scripts.seaweedfs import SeaweedFS
from tests.support.objectstores import TEST_PART_SIZE, credentials_env, s3_settings
from tests.support.tusclient import OCTETS, Api

pytestmark = pytest.mark.slow

PS = TEST_PART_SIZE
OUTAGE_SURFACES_WITHIN = 15.0  # seconds: connect timeout x attempts, with backoff


@pytest.fixture
def outage_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeaweedFS]:
    with SeaweedFS(tmp_path / "seaweedfs", bucket="filehub-outage") as server:
        for name, value in credentials_env(server).items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def settings(make_settings: Callable[..., Settings], outage_s3: SeaweedFS) -> Settings:
    return make_settings(
        **s3_settings(outage_s3),
        s3_connect_timeout=timedelta(seconds=1),
        s3_read_timeout=timedelta(seconds=5),
        s3_max_attempts=2,
    )


async def expect_503(api: Api, response_status: int, headers: dict[str, str], started: float) -> None:
    assert response_status == 503
    assert int(headers["Retry-After"]) > 0
    assert time.monotonic() - started < OUTAGE_SURFACES_WITHIN


async def test_patch_while_s3_is_down_is_503_then_the_upload_resumes(api: Api, outage_s3: SeaweedFS) -> None:
    data = os.urandom(2 * PS + 100)
    url = await api.create_url(len(data))
    assert (await api.patch(url, 0, data[: PS + 10])).status == 204

    await asyncio.to_thread(outage_s3.stop)
    started = time.monotonic()
    response = await api.patch(url, PS + 10, data[PS + 10 :])
    await expect_503(api, response.status, dict(response.headers), started)
    assert (await response.json())["error"]["code"] == "storage_unavailable"
    assert (await api.head(url)).headers["Upload-Offset"] == str(PS + 10)
    ready = await api.client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["storage"] == "unavailable"

    await asyncio.to_thread(outage_s3.start)
    response = await api.patch(url, PS + 10, data[PS + 10 :])
    assert response.status == 204, await response.text()
    assert response.headers["Upload-Offset"] == str(len(data))
    assert await (await api.get(url)).read() == data


async def test_s3_lost_while_a_patch_body_streams_keeps_the_committed_offset(
    api: Api, outage_s3: SeaweedFS
) -> None:
    data = os.urandom(2 * PS + 100)
    url = await api.create_url(len(data))
    assert (await api.patch(url, 0, data[: PS + 10])).status == 204

    stopped = asyncio.get_running_loop().create_future()

    async def body_during_which_s3_dies() -> AsyncIterator[bytes]:
        yield data[PS + 10 : PS + 10 + (1 << 20)]
        await asyncio.sleep(0.3)  # the server has begun this write
        # In a task of its own: the client may cancel this body once the 503 arrives.
        stopped.set_result(asyncio.ensure_future(asyncio.to_thread(outage_s3.stop)))
        await stopped.result()
        yield data[PS + 10 + (1 << 20) : PS + 10 + (2 << 20)]

    started = time.monotonic()
    response = await api.client.patch(
        url, headers=api.headers(**{"Upload-Offset": str(PS + 10), **OCTETS}), data=body_during_which_s3_dies()
    )
    await expect_503(api, response.status, dict(response.headers), started)
    assert (await api.head(url)).headers["Upload-Offset"] == str(PS + 10)

    await (await stopped)
    await asyncio.to_thread(outage_s3.start)
    for start, end in ((PS + 10, 2 * PS + 1), (2 * PS + 1, len(data))):
        response = await api.patch(url, start, data[start:end])
        assert response.status == 204, await response.text()
    assert await (await api.get(url)).read() == data


async def test_a_large_patch_cut_by_an_outage_keeps_its_whole_parts(api: Api, outage_s3: SeaweedFS) -> None:
    data = os.urandom(2 * PS + 100)
    url = await api.create_url(len(data))
    stopped = asyncio.get_running_loop().create_future()

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, PS + (1 << 20), 1 << 20):  # a whole part and a bit
            yield data[start : min(start + (1 << 20), PS + (1 << 20))]
        await asyncio.sleep(0.5)  # part 1 and its state reach S3
        stopped.set_result(asyncio.ensure_future(asyncio.to_thread(outage_s3.stop)))
        await stopped.result()
        yield data[PS + (1 << 20) : PS + (2 << 20)]

    started = time.monotonic()
    response = await api.client.patch(url, headers=api.headers(**{"Upload-Offset": "0", **OCTETS}), data=body())
    await expect_503(api, response.status, dict(response.headers), started)
    assert (await api.head(url)).headers["Upload-Offset"] == str(PS)  # not 0: part 1 was kept

    await (await stopped)
    await asyncio.to_thread(outage_s3.start)
    response = await api.patch(url, PS, data[PS:])
    assert response.status == 204, await response.text()
    assert await (await api.get(url)).read() == data
