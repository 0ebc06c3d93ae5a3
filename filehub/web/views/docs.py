"""The OpenAPI 3.1 description of this API, built at start-up from the route table."""

from __future__ import annotations

from aiohttp import web

from filehub.web import keys


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.OPENAPI])
