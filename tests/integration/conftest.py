"""Fixtures of the storage contract suite: every backend, behind one `backend` fixture."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from filehub.storage.local import LocalStore
from filehub.storage.s3 import S3Store
from filehub.storage.s3_client import ClientOptions, make_client
from scripts.seaweedfs import SeaweedFS
from tests.support.objectstores import TEST_PART_SIZE, shared_seaweedfs

MAX_UPLOAD_SIZE = 1 << 30  # bytes: deferred-length uploads get the smallest S3 part size


@dataclass
class Backend:
    name: str
    new_store: Callable[[], Any]  # a fresh store object over the same objects (a new process)
    objects: Callable[[], Awaitable[list[str]]]  # everything the backend holds, by name
    calls: Counter[str] = field(default_factory=Counter)  # S3 calls made (S3 only)

    def __post_init__(self) -> None:
        self.store = self.new_store()


class CountingClient:
    """Passes every S3 call through to boto3 and counts it by name."""

    def __init__(self, client: Any, calls: Counter[str]) -> None:
        self._client = client
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        @functools.wraps(method)
        def counted(**kwargs: Any) -> Any:
            self._calls[name] += 1
            return method(**kwargs)

        return counted


@pytest.fixture(scope="session")
def seaweedfs(request: pytest.FixtureRequest) -> SeaweedFS:
    return shared_seaweedfs(request.config)


def local_backend(root: Path) -> Backend:
    async def objects() -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    return Backend("local", lambda: LocalStore.from_url(root.as_uri()), objects)


def s3_backend(server: SeaweedFS) -> Backend:
    prefix = f"contract-{secrets.token_hex(6)}/"
    calls: Counter[str] = Counter()
    options = ClientOptions(server.endpoint_url, "us-east-1", 2.0, 10.0, 2, 8)
    inspector = server.client()

    def new_store() -> S3Store:
        client = CountingClient(make_client(options), calls)
        return S3Store(client, server.bucket, prefix, min_part_size=TEST_PART_SIZE,
                       max_upload_size=MAX_UPLOAD_SIZE, max_part_buffers=4)

    def list_all() -> list[str]:
        found = inspector.list_objects_v2(Bucket=server.bucket, Prefix=prefix).get("Contents", [])
        pending = inspector.list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
        return sorted([o["Key"] for o in found] + [f"mpu:{u['Key']}" for u in pending.get("Uploads", [])])

    async def objects() -> list[str]:
        return await asyncio.to_thread(list_all)

    return Backend("s3", new_store, objects, calls)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return local_backend(tmp_path / "objects")
    return s3_backend(request.getfixturevalue("seaweedfs"))
