"""Downloads redirected to short-lived presigned S3 URLs (bytes bypass filehub)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from filehub.settings import Settings
from filehub.web import keys
from filehub.web.app import create_app
from tests.support.objectstores import storage_backend
from tests.support.tusclient import Api, b64

pytestmark = pytest.mark.skipif(storage_backend() != "s3", reason="presigned URLs are an S3 feature")


async def test_content_redirects_to_a_presigned_url_that_serves_ranges(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(s3_presigned_downloads=True)))
    accounts = client.app[keys.ACCOUNTS]
    await accounts.create_org("Force", "police")
    await accounts.create_user("pc@force.example", "Force")
    await accounts.create_user("other@force.example", "Force")
    api = Api(client, (await accounts.create_token("pc@force.example", timedelta(hours=1)))[0])
    stranger = Api(client, (await accounts.create_token("other@force.example", timedelta(hours=1)))[0])

    data = os.urandom(300_000)
    url = await api.create_url(len(data), **{"Upload-Metadata": f"filename {b64('cam 1.mp4')}"})
    file_id = (await api.patch(url, 0, data)).headers["Filehub-File-Id"]
    content = f"/api/v1/files/{file_id}/content"

    for path in (content, url):
        response = await api.client.get(path, headers={"Authorization": f"Bearer {api.token}"}, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Cache-Control"] == "no-store"
        location = response.headers["Location"]
        assert "X-Amz-Signature=" in location and "X-Amz-Expires=60" in location
        async with aiohttp.ClientSession() as plain:  # no token: the URL itself is the grant
            whole = await plain.get(location)
            assert whole.status == 200
            assert await whole.read() == data
            assert "cam 1.mp4" in whole.headers["Content-Disposition"]
            part = await plain.get(location, headers={"Range": "bytes=1000-1999"})
            assert part.status == 206
            assert await part.read() == data[1000:2000]

    # No redirect for someone who may not download it: the same 404 as a missing file.
    refused = await stranger.client.get(content, headers={"Authorization": f"Bearer {stranger.token}"}, allow_redirects=False)
    assert refused.status == 404
