"""tus endpoints: thin glue between the authenticated request and the tus handler.

The caller is a user (bearer token) or the holder of a request link. A link's uploads are
owned, for the record, by the investigator who created the link; the upload policy keeps
them to the link's holder (services/upload_policy.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from filehub.web import keys


def _caller(request: web.Request) -> tuple[str, Any]:
    """(owner id for the tus handler, principal for the upload policy)."""
    holder = request.get(keys.LINK)
    if holder is not None:
        return holder.created_by, holder
    principal = keys.principal(request)
    return principal.user_id, principal


async def uploads(request: web.Request) -> web.StreamResponse:
    tus = request.app[keys.TUS]
    if request.method == "OPTIONS":
        return tus.options()
    owner_id, principal = _caller(request)
    return await tus.handle(request, owner_id, None, principal)


async def upload(request: web.Request) -> web.StreamResponse:
    tus = request.app[keys.TUS]
    if request.method == "OPTIONS":
        return tus.options()
    owner_id, principal = _caller(request)
    return await tus.handle(request, owner_id, request.match_info["upload_id"], principal)
