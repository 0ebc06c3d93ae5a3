"""A tiny raw tus helper for protocol tests (the interop tests use real tus clients)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from aiohttp import ClientResponse

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Api:
    """Wraps the aiohttp test client with one user's token."""

    client: object  # aiohttp.test_utils.TestClient
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **TUS, **extra}

    async def create(self, length: int | None = None, **headers: str) -> ClientResponse:
        h = self.headers(**headers)
        if length is not None:
            h["Upload-Length"] = str(length)
        return await self.client.post("/api/v1/uploads", headers=h)  # type: ignore[attr-defined]

    async def create_url(self, length: int | None = None, **headers: str) -> str:
        response = await self.create(length, **headers)
        assert response.status == 201, await response.text()
        return path_of(response.headers["Location"])

    async def patch(self, url: str, offset: int, data: bytes, **headers: str) -> ClientResponse:
        h = self.headers(**{"Upload-Offset": str(offset), **OCTETS, **headers})
        body = io.BytesIO(data) if len(data) > 1 << 16 else data  # aiohttp warns on large raw bytes
        return await self.client.patch(url, headers=h, data=body)  # type: ignore[attr-defined]

    async def head(self, url: str) -> ClientResponse:
        return await self.client.head(url, headers=self.headers())  # type: ignore[attr-defined]

    async def get(self, url: str, **headers: str) -> ClientResponse:
        return await self.client.get(url, headers={"Authorization": f"Bearer {self.token}", **headers})  # type: ignore[attr-defined]


def path_of(location: str) -> str:
    return "/" + location.split("://", 1)[-1].split("/", 1)[1]
