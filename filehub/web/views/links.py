"""Evidence request links: investigators create, list and revoke them; holders read the note."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from filehub.errors import NotFound
from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, items, no_content, page, reply


async def list_links(request: web.Request) -> web.Response:
    links = request.app[keys.LINKS]
    return items(s.LinkPage, await links.list(keys.user_id(request), request.match_info["case_id"], page(request)))


async def create_link(request: web.Request) -> web.Response:
    new = await body(request, s.LinkCreate)
    link, token = await request.app[keys.LINKS].create(
        keys.user_id(request), request.match_info["case_id"], new.note, new.expires_at, new.max_files, new.max_bytes
    )
    return reply(s.LinkCreated, {**asdict(link), "token": token}, 201)


async def revoke_link(request: web.Request) -> web.Response:
    links = request.app[keys.LINKS]
    await links.revoke(keys.user_id(request), request.match_info["case_id"], request.match_info["link_id"])
    return no_content()


async def holder_view(request: web.Request) -> web.Response:
    """GET /api/v1/link with ``Authorization: Link <token>``: the note, and what is left."""
    holder = request.get(keys.LINK)
    if holder is None:
        raise NotFound("this route is for the holder of a request link")
    link = await request.app[keys.LINKS].describe(holder)
    left = {
        "note": link.note,
        "expires_at": link.expires_at,
        "files_left": max(0, link.max_files - link.files_used),
        "bytes_left": max(0, link.max_bytes - link.bytes_used),
    }
    return reply(s.LinkHolderView, left)
