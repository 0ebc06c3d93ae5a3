"""What only the S3 backend has: crash windows of completion, the part-buffer budget, the
part size chosen at creation, keys, readiness. Against a real SeaweedFS."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator

import pytest

from filehub.errors import ServiceUnavailable, StorageUnavailable, UploadNotFound
from filehub.ids import new_id
from filehub.storage import s3 as s3_module
from filehub.storage.base import UploadInfo
from filehub.storage.s3 import S3Store
from filehub.storage.s3_client import ClientOptions, make_client
from scripts.seaweedfs import SeaweedFS, free_ports
from tests.integration.conftest import MAX_UPLOAD_SIZE, Backend, s3_backend
from tests.integration.test_storage_contract import blocks, created, read_all, write
from tests.support.objectstores import TEST_PART_SIZE

PS = TEST_PART_SIZE


@pytest.fixture
def s3(seaweedfs: SeaweedFS) -> Backend:
    return s3_backend(seaweedfs)


def store_at(endpoint: str, bucket: str) -> S3Store:
    client = make_client(ClientOptions(endpoint, "us-east-1", 1.0, 5.0, 2, 4))
    return S3Store(client, bucket, "x/", min_part_size=PS, max_upload_size=MAX_UPLOAD_SIZE,
                   max_part_buffers=2)


@pytest.mark.parametrize("deferred", [False, True])
async def test_finish_after_a_crash_between_completion_and_cleanup(s3: Backend, deferred: bool) -> None:
    data = os.urandom(PS + 3)
    info = await write(s3, await created(s3, None if deferred else len(data)), data)
    info = info.with_(length=len(data))  # declared after the last byte, if deferred
    store: S3Store = s3.store
    upload = await store.get_upload(info)
    await upload.finish(info)
    # Put back what the cleanup removed, as if the process had died right after completing.
    meta = {"format": 1, "upload_id": "completed-and-gone", "part_size": PS}
    inspector = s3.store.s3
    await inspector(inspector.client.put_object, Key=f"{store.key(info.id)}.info", Body=json.dumps(meta).encode())
    await inspector(inspector.client.put_object, Key=store.tail_key(info.id, len(data)), Body=b"stale")
    await upload.finish(info)
    assert await read_all(s3, info) == data
    assert await s3.objects() == [store.key(info.id)]


async def test_new_upload_sizes_parts_for_its_length(s3: Backend) -> None:
    store: S3Store = s3.store
    for length, expected in ((1, PS), (MAX_UPLOAD_SIZE, PS), (60 << 30, 7 << 20), (None, PS)):
        info = await created(s3, length)
        assert (await store.meta(info.id)).part_size == expected
        await store.terminate(info)


async def test_keys_come_from_ids_only(s3: Backend) -> None:
    store: S3Store = s3.store
    info = await created(s3, 3, metadata={"filename": "../../escape", "key": "/etc/passwd"})
    await write(s3, info, b"abc")
    keys = [key.removeprefix("mpu:") for key in await s3.objects()]
    assert keys and all(key.startswith(store.key(info.id)) for key in keys)
    with pytest.raises(UploadNotFound):
        await store.get_upload(info.with_(id="../" + new_id()))
    with pytest.raises(UploadNotFound):
        store.key(new_id() + "/../x")


async def test_writes_wait_for_a_part_buffer_then_answer_503(
    s3: Backend, seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "BUFFER_WAIT", 0.3)
    store = store_at(seaweedfs.endpoint_url, seaweedfs.bucket)
    release = asyncio.Event()

    async def slow_client() -> AsyncIterator[bytes]:
        yield b"x" * 10
        await release.wait()

    holders = []
    for _ in range(2):  # max_part_buffers=2: both buffers held by slow PATCHes
        info = UploadInfo(id=new_id(), owner_id="o", offset=0, length=100)
        await store.new_upload(info)
        upload = await store.get_upload(info)
        holders.append(asyncio.ensure_future(upload.write_chunk(0, slow_client())))
    await asyncio.sleep(0.2)
    info = UploadInfo(id=new_id(), owner_id="o", offset=0, length=100)
    await store.new_upload(info)
    with pytest.raises(ServiceUnavailable):
        await (await store.get_upload(info)).write_chunk(0, blocks(b"y"))
    release.set()
    assert await asyncio.gather(*holders) == [10, 10]
    assert await (await store.get_upload(info)).write_chunk(0, blocks(b"y")) == 1  # a slot is free


async def test_ping(seaweedfs: SeaweedFS) -> None:
    await store_at(seaweedfs.endpoint_url, seaweedfs.bucket).ping()
    with pytest.raises(StorageUnavailable):
        await store_at(seaweedfs.endpoint_url, "no-such-bucket").ping()
    (closed,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await store_at(f"http://127.0.0.1:{closed}", seaweedfs.bucket).ping()
    assert time.monotonic() - started < 5


async def test_store_url_gives_bucket_and_prefix(seaweedfs: SeaweedFS) -> None:
    options = ClientOptions(seaweedfs.endpoint_url, "us-east-1", 1.0, 5.0, 2, 4)
    store = S3Store.from_url(f"s3://{seaweedfs.bucket}/a/b/", options, min_part_size=PS,
                             max_upload_size=MAX_UPLOAD_SIZE, max_part_buffers=1)
    assert (store.s3.bucket, store.prefix) == (seaweedfs.bucket, "a/b/")
    assert S3Store.from_url(f"s3://{seaweedfs.bucket}", options, min_part_size=PS,
                            max_upload_size=MAX_UPLOAD_SIZE, max_part_buffers=1).prefix == ""
    with pytest.raises(ValueError):
        S3Store.from_url("s3:///prefix", options, min_part_size=PS, max_upload_size=1, max_part_buffers=1)
    with pytest.raises(ValueError):
        S3Store.from_url("s3://b/p", options, min_part_size=PS, max_upload_size=6 << 40, max_part_buffers=1)
    store.close()
