"""tus extensions over real HTTP: creation-with-upload, defer-length, checksum, termination,
concatenation (+ unfinished) and expiration with its reaper."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from filehub.settings import Settings
from filehub.web.app import create_app
from tests.conftest import UserFactory
from tests.support.tusclient import OCTETS, Api, path_of


def checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        digest = zlib.crc32(data).to_bytes(4, "big")
    else:
        digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {base64.b64encode(digest).decode()}"


# --- creation-with-upload ---------------------------------------------------------------


async def test_creation_with_upload_stores_the_first_chunk(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/uploads", headers=api.headers(**{"Upload-Length": "10", **OCTETS}), data=b"hello"
    )
    assert response.status == 201
    assert response.headers["Upload-Offset"] == "5"
    url = path_of(response.headers["Location"])
    assert (await api.head(url)).headers["Upload-Offset"] == "5"
    done = await api.patch(url, 5, b"world")
    assert done.status == 204 and "Filehub-File-Id" in done.headers
    assert await (await api.get(url)).read() == b"helloworld"


async def test_creation_with_a_body_of_the_wrong_type_is_415(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/uploads",
        headers=api.headers(**{"Upload-Length": "5", "Content-Type": "text/plain"}),
        data=b"hello",
    )
    assert response.status == 415


# --- creation-defer-length ------------------------------------------------------------


async def test_deferred_length_is_declared_by_a_later_patch(api: Api) -> None:
    url = await api.create_url(**{"Upload-Defer-Length": "1"})
    head = await api.head(url)
    assert head.headers["Upload-Defer-Length"] == "1"
    assert "Upload-Length" not in head.headers
    assert (await api.patch(url, 0, b"abc")).status == 204
    done = await api.patch(url, 3, b"def", **{"Upload-Length": "6"})
    assert done.status == 204
    assert done.headers["Upload-Length"] == "6"
    assert "Filehub-File-Id" in done.headers
    assert await (await api.get(url)).read() == b"abcdef"


async def test_length_cannot_change_once_known(api: Api) -> None:
    url = await api.create_url(6)
    response = await api.patch(url, 0, b"abc", **{"Upload-Length": "7"})
    assert response.status == 400
    assert (await api.head(url)).headers["Upload-Length"] == "6"


# --- checksum ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5", "crc32"])
async def test_matching_checksum_is_accepted(api: Api, algorithm: str) -> None:
    url = await api.create_url(11)
    response = await api.patch(url, 0, b"hello world", **{"Upload-Checksum": checksum(algorithm, b"hello world")})
    assert response.status == 204
    assert response.headers["Upload-Offset"] == "11"


async def test_mismatched_checksum_is_460_and_the_chunk_is_discarded(api: Api) -> None:
    url = await api.create_url(10)
    assert (await api.patch(url, 0, b"12345", **{"Upload-Checksum": checksum("sha1", b"12345")})).status == 204
    bad = await api.patch(url, 5, b"67890", **{"Upload-Checksum": checksum("sha1", b"XXXXX")})
    assert bad.status == 460
    assert (await bad.json())["error"]["code"] == "checksum_mismatch"
    assert (await api.head(url)).headers["Upload-Offset"] == "5"
    good = await api.patch(url, 5, b"67890", **{"Upload-Checksum": checksum("sha1", b"67890")})
    assert good.status == 204
    assert await (await api.get(url)).read() == b"1234567890"


async def test_unknown_checksum_algorithm_is_400(api: Api) -> None:
    url = await api.create_url(5)
    response = await api.patch(url, 0, b"hello", **{"Upload-Checksum": "whirlpool AAAA"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "unsupported_checksum_algorithm"
    assert (await api.head(url)).headers["Upload-Offset"] == "0"


# --- termination ------------------------------------------------------------------------


async def test_termination_frees_the_upload(api: Api) -> None:
    url = await api.create_url(10)
    await api.patch(url, 0, b"12345")
    response = await api.client.delete(url, headers=api.headers())
    assert response.status == 204
    assert (await api.head(url)).status == 404
    assert (await api.patch(url, 5, b"67890")).status == 404


async def test_a_completed_upload_cannot_be_terminated(api: Api) -> None:
    url = await api.create_url(3)
    await api.patch(url, 0, b"abc")
    response = await api.client.delete(url, headers=api.headers())
    assert response.status == 403
    assert await (await api.get(url)).read() == b"abc"


# --- concatenation ----------------------------------------------------------------------


async def test_final_upload_concatenates_finished_partials(api: Api) -> None:
    parts = [b"alpha-", b"beta-", b"gamma"]
    urls = []
    for part in parts:
        url = await api.create_url(len(part), **{"Upload-Concat": "partial"})
        assert (await api.head(url)).headers["Upload-Concat"] == "partial"
        assert (await api.patch(url, 0, part)).status == 204
        urls.append(url)
    response = await api.create(**{"Upload-Concat": "final;" + " ".join(urls)})
    assert response.status == 201
    final = path_of(response.headers["Location"])
    head = await api.head(final)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(b"".join(parts)))
    assert head.headers["Upload-Concat"].startswith("final;")
    assert await (await api.get(final)).read() == b"".join(parts)
    assert (await api.patch(final, 16, b"x")).status == 403


async def test_final_upload_may_be_created_before_partials_finish(api: Api) -> None:
    first = await api.create_url(4, **{"Upload-Concat": "partial"})
    second = await api.create_url(4, **{"Upload-Concat": "partial"})
    await api.patch(first, 0, b"1234")
    final = await api.create_url(**{"Upload-Concat": f"final;{first} {second}"})
    head = await api.head(final)
    assert head.status == 200
    assert "Upload-Offset" not in head.headers  # not assembled yet
    assert head.headers["Upload-Length"] == "8"
    assert (await api.get(final)).status == 409
    await api.patch(second, 0, b"5678")
    head = await api.head(final)
    assert head.headers["Upload-Offset"] == "8"
    assert "Filehub-File-Id" in head.headers
    assert await (await api.get(final)).read() == b"12345678"


async def test_final_upload_rejects_bad_partials(api: Api, make_user: UserFactory) -> None:
    plain = await api.create_url(3)
    assert (await api.create(**{"Upload-Concat": f"final;{plain}"})).status == 400
    other = await make_user(org="Other Force")
    theirs = await other.create_url(3, **{"Upload-Concat": "partial"})
    assert (await api.create(**{"Upload-Concat": f"final;{theirs}"})).status == 400
    assert (await api.create(**{"Upload-Concat": "final;"})).status == 400
    mine = await api.create_url(3, **{"Upload-Concat": "partial"})
    assert (await api.create(3, **{"Upload-Concat": f"final;{mine}"})).status == 400


# --- expiration -------------------------------------------------------------------------


@pytest.fixture
async def expiring(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[TestClient, Settings]:
    settings = make_settings(upload_expiry=timedelta(seconds=1), reaper_interval=timedelta(milliseconds=200))
    return await aiohttp_client(create_app(settings)), settings


async def test_expired_upload_is_410_and_its_storage_is_freed(expiring: tuple[TestClient, Settings]) -> None:
    client, settings = expiring
    from filehub.web import keys

    accounts = client.app[keys.ACCOUNTS]
    await accounts.create_org("Force", "police")
    await accounts.create_user("officer@force.example", "Force")
    api = Api(client, (await accounts.create_token("officer@force.example", timedelta(hours=1)))[0])

    url = await api.create_url(10)
    response = await api.patch(url, 0, b"12345")
    assert "Upload-Expires" in response.headers
    done = await api.create_url(2)
    await api.patch(done, 0, b"ok")  # complete uploads never expire
    await asyncio.sleep(1.6)
    assert (await api.head(url)).status == 410
    assert (await api.patch(url, 5, b"67890")).status == 410
    assert (await api.head(done)).status == 200
    assert await (await api.get(done)).read() == b"ok"
    metrics = await (await client.get("/metrics")).text()
    reaped = [line for line in metrics.splitlines() if line.startswith("filehub_uploads_reaped_total")]
    assert reaped and float(reaped[0].split()[-1]) >= 1
    if settings.storage_url and settings.storage_url.startswith("file://"):
        upload_id = url.rsplit("/", 1)[1]
        stored = list((settings.data_dir.parent / "objects").rglob(upload_id))
        assert stored == []
