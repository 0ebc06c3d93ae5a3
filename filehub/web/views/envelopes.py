"""Encrypted files: headers, wrapped keys and key requests (docs/e2e.md)."""

from __future__ import annotations

from aiohttp import web

from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, items, no_content, page, reply


async def put_envelope(request: web.Request) -> web.Response:
    new = await body(request, s.EnvelopeIn)
    await request.app[keys.ENVELOPES].put(
        keys.principal(request), request.match_info["upload_id"], new.header, new.wrapped_key
    )
    return no_content()


async def get_envelope(request: web.Request) -> web.Response:
    info = await request.app[keys.ENVELOPES].get(keys.user_id(request), request.match_info["file_id"])
    return reply(s.EnvelopeOut, info)


async def my_keys(request: web.Request) -> web.Response:
    held = await request.app[keys.ENVELOPES].mine(keys.user_id(request), request.match_info["file_id"])
    return reply(s.HeldKeyList, {"items": held})


async def add_keys(request: web.Request) -> web.Response:
    new = await body(request, s.WrappedKeysIn)
    added, skipped = await request.app[keys.ENVELOPES].add(
        keys.principal(request), request.match_info["file_id"], new.wrapped_keys
    )
    return reply(s.WrappedKeysAdded, {"added": added, "skipped": skipped})


async def request_key(request: web.Request) -> web.Response:
    info = await request.app[keys.ENVELOPES].request(keys.principal(request), request.match_info["file_id"])
    return reply(s.KeyRequestOut, info, 201)


async def pending_requests(request: web.Request) -> web.Response:
    found = await request.app[keys.ENVELOPES].pending(keys.principal(request), page(request))
    return items(s.KeyRequestPage, found)
