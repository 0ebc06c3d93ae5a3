"""tus 1.0.0 core protocol over real HTTP: creation, HEAD, PATCH and their error codes."""

from __future__ import annotations

import asyncio
import hashlib

from tests.support.tusclient import OCTETS, Api, b64


async def test_options_advertises_version_extensions_and_limits(api: Api) -> None:
    response = await api.client.options("/api/v1/uploads")
    assert response.status == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert {
        "creation", "creation-with-upload", "creation-defer-length", "expiration", "checksum",
        "termination", "concatenation", "concatenation-unfinished",
    } <= extensions
    assert int(response.headers["Tus-Max-Size"]) == 1 << 40
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256", "md5", "crc32"}


async def test_create_head_patch_complete_round_trip(api: Api) -> None:
    data = b"0123456789" * 1000
    url = await api.create_url(len(data), **{"Upload-Metadata": f"filename {b64('cctv.mp4')},empty"})
    head = await api.head(url)
    assert head.status == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Metadata"] == f"filename {b64('cctv.mp4')},empty"
    assert head.headers["Tus-Resumable"] == "1.0.0"

    first = await api.patch(url, 0, data[:4000])
    assert first.status == 204
    assert first.headers["Upload-Offset"] == "4000"
    assert "Upload-Expires" in first.headers
    second = await api.patch(url, 4000, data[4000:])
    assert second.status == 204
    assert second.headers["Upload-Offset"] == str(len(data))
    file_id = second.headers["Filehub-File-Id"]

    body = await (await api.get(url)).read()
    assert body == data
    meta = await (await api.get(f"/api/v1/files/{file_id}")).json()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["size"] == len(data)
    assert meta["filename"] == "cctv.mp4"


async def test_tus_resumable_missing_or_wrong_is_412(api: Api) -> None:
    for version in (None, "0.2.2"):
        headers = {"Authorization": f"Bearer {api.token}", "Upload-Length": "5"}
        if version:
            headers["Tus-Resumable"] = version
        response = await api.client.post("/api/v1/uploads", headers=headers)
        assert response.status == 412
        assert response.headers["Tus-Version"] == "1.0.0"
        assert (await response.json())["error"]["code"] == "unsupported_tus_version"


async def test_patch_with_wrong_content_type_is_415(api: Api) -> None:
    url = await api.create_url(5)
    response = await api.client.patch(
        url, headers=api.headers(**{"Upload-Offset": "0", "Content-Type": "text/plain"}), data=b"hello"
    )
    assert response.status == 415
    assert (await api.head(url)).headers["Upload-Offset"] == "0"


async def test_patch_at_wrong_offset_is_409_and_changes_nothing(api: Api) -> None:
    url = await api.create_url(10)
    assert (await api.patch(url, 0, b"abc")).status == 204
    response = await api.patch(url, 1, b"xyz")
    assert response.status == 409
    assert response.headers["Upload-Offset"] == "3"
    assert (await api.head(url)).headers["Upload-Offset"] == "3"


async def test_patch_without_or_with_bad_offset_is_400(api: Api) -> None:
    url = await api.create_url(10)
    response = await api.client.patch(url, headers=api.headers(**OCTETS), data=b"abc")
    assert response.status == 400
    for bad in ("-1", "abc", "1e3", "99999999999999999999999"):
        assert (await api.patch(url, bad, b"abc")).status == 400  # type: ignore[arg-type]


async def test_body_longer_than_upload_is_413_and_nothing_is_written(api: Api) -> None:
    url = await api.create_url(5)
    response = await api.patch(url, 0, b"123456")
    assert response.status == 413
    assert (await api.head(url)).headers["Upload-Offset"] == "0"

    async def chunked():  # no Content-Length: the bound is enforced while reading
        yield b"1234"
        yield b"5678"

    response = await api.client.patch(
        url, headers=api.headers(**{"Upload-Offset": "0", **OCTETS}), data=chunked()
    )
    assert response.status == 413
    assert (await api.head(url)).headers["Upload-Offset"] == "0"
    assert (await api.patch(url, 0, b"12345")).status == 204


async def test_creation_errors(api: Api) -> None:
    assert (await api.create()).status == 400  # neither length nor defer
    assert (await api.create(5, **{"Upload-Defer-Length": "1"})).status == 400  # both
    assert (await api.create(**{"Upload-Defer-Length": "2"})).status == 400
    assert (await api.create(-1)).status == 400
    too_big = await api.create((1 << 40) + 1)
    assert too_big.status == 413
    assert (await too_big.json())["error"]["code"] == "payload_too_large"
    assert (await api.create(5, **{"Upload-Metadata": "filename not*base64"})).status == 400
    assert (await api.create(5, **{"Upload-Metadata": "a " + "QUFB" * 4000})).status == 400


async def test_ids_are_unguessable_and_invalid_ids_are_404(api: Api) -> None:
    urls = {await api.create_url(1) for _ in range(5)}
    assert len(urls) == 5
    for url in urls:
        upload_id = url.rsplit("/", 1)[1]
        assert len(upload_id) == 32 and int(upload_id, 16) >= 0
    assert (await api.head("/api/v1/uploads/..%2F..%2Fetc%2Fpasswd")).status == 404
    assert (await api.head("/api/v1/uploads/" + "0" * 32)).status == 404


async def test_method_override_turns_post_into_patch_and_head(api: Api) -> None:
    url = await api.create_url(3)
    response = await api.client.post(
        url,
        headers=api.headers(**{"X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0", **OCTETS}),
        data=b"abc",
    )
    assert response.status == 204
    assert response.headers["Upload-Offset"] == "3"
    head = await api.client.post(url, headers=api.headers(**{"X-HTTP-Method-Override": "DELETE"}))
    assert head.status == 403  # complete uploads are evidence files, never terminated


async def test_concurrent_patches_on_one_upload_never_interleave(api: Api) -> None:
    size = 64 * (64 << 10)
    url = await api.create_url(size)

    async def slow_body(fill: bytes):
        for _ in range(64):
            yield fill * (64 << 10)
            await asyncio.sleep(0.005)

    async def patch(fill: bytes):
        return await api.client.patch(
            url, headers=api.headers(**{"Upload-Offset": "0", **OCTETS}), data=slow_body(fill)
        )

    first, second = await asyncio.gather(patch(b"a"), patch(b"b"))
    statuses = sorted([first.status, second.status])
    assert statuses[0] == 204 and statuses[1] in (409, 423), statuses
    body = await (await api.get(url)).read()
    assert len(body) == size
    assert body in (b"a" * size, b"b" * size)


async def test_an_empty_upload_is_a_file_at_creation(api: Api) -> None:
    response = await api.create(0)
    assert response.status == 201
    file_id = response.headers["Filehub-File-Id"]
    assert "Upload-Expires" not in response.headers
    listed = await (await api.get("/api/v1/files")).json()
    assert [f["id"] for f in listed["items"]] == [file_id]
    assert listed["items"][0]["sha256"] == hashlib.sha256(b"").hexdigest()


async def test_an_empty_final_patch_that_declares_the_length_completes(api: Api) -> None:
    url = await api.create_url(**{"Upload-Defer-Length": "1"})
    assert (await api.patch(url, 0, b"x" * 1000)).status == 204
    done = await api.patch(url, 1000, b"", **{"Upload-Length": "1000"})
    assert done.status == 204
    assert "Filehub-File-Id" in done.headers
