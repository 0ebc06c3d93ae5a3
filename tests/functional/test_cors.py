"""CORS for browser tus clients: preflight, and the tus headers exposed to scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from filehub.settings import Settings
from filehub.web.app import create_app

ORIGIN = "https://portal.cps.example"


async def test_preflight_and_exposed_headers(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> None:
    client = await aiohttp_client(create_app(make_settings(cors_allowed_origins=[ORIGIN])))
    preflight = await client.options(
        "/api/v1/uploads",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,upload-length,tus-resumable"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "upload-length", "upload-offset", "tus-resumable", "upload-checksum"):
        assert header in allowed
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]

    # Even an error response (401 here) carries CORS headers so the browser can read it.
    response = await client.post("/api/v1/uploads", headers={"Origin": ORIGIN, "Tus-Resumable": "1.0.0"})
    assert response.status == 401
    exposed = response.headers["Access-Control-Expose-Headers"]
    for header in ("Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Upload-Expires"):
        assert header in exposed

    stranger = await client.options(
        "/api/v1/uploads", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in stranger.headers


async def test_no_cors_headers_unless_configured(client: Any) -> None:
    response = await client.options(
        "/api/v1/uploads", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers
