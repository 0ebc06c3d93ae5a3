"""tus endpoints: thin glue between the authenticated request and the tus handler."""

from __future__ import annotations

from aiohttp import web

from filehub.web import keys


async def uploads(request: web.Request) -> web.StreamResponse:
    tus = request.app[keys.TUS]
    if request.method == "OPTIONS":
        return tus.options()
    return await tus.handle(request, keys.principal(request).user_id, None)


async def upload(request: web.Request) -> web.StreamResponse:
    tus = request.app[keys.TUS]
    if request.method == "OPTIONS":
        return tus.options()
    return await tus.handle(request, keys.principal(request).user_id, request.match_info["upload_id"])
