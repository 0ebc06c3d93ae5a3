"""Public keys, certificates, revocations and organisation root keys (docs/e2e.md)."""

from __future__ import annotations

from aiohttp import web

from filehub.errors import BadRequest
from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, items, page, reply


async def register_key(request: web.Request) -> web.Response:
    new = await body(request, s.KeyRegister)
    info, created = await request.app[keys.KEYS].register(keys.principal(request), new.signing_key, new.encryption_key)
    return reply(s.KeyOut, info, 201 if created else 200)


async def list_keys(request: web.Request) -> web.Response:
    query = request.query
    if query.get("mine"):
        if "user" in query or "org" in query:
            raise BadRequest("list keys by exactly one of ?user=, ?org= or ?mine=1")
        found = await request.app[keys.KEYS].list(page(request), user_id=keys.user_id(request))
    else:
        found = await request.app[keys.KEYS].list(page(request), user_id=query.get("user"), org_id=query.get("org"))
    return items(s.KeyPage, found)


async def get_key(request: web.Request) -> web.Response:
    return reply(s.KeyOut, await request.app[keys.KEYS].get(request.match_info["key_id"]))


async def certify_key(request: web.Request) -> web.Response:
    new = await body(request, s.CertificateIn)
    key_id = request.match_info["key_id"]
    info = await request.app[keys.KEYS].certify(keys.principal(request), key_id, new.certificate)
    # A member who joins later: ask holders of every file they may already download.
    await request.app[keys.ENVELOPES].request_missing(key_id)
    return reply(s.KeyOut, info)


async def revoke_key(request: web.Request) -> web.Response:
    new = await body(request, s.RevocationIn)
    info = await request.app[keys.KEYS].revoke(keys.principal(request), request.match_info["key_id"], new.revocation)
    return reply(s.KeyOut, info)


async def set_root_key(request: web.Request) -> web.Response:
    new = await body(request, s.OrgKeyIn)
    info = await request.app[keys.KEYS].set_root(keys.principal(request), request.match_info["org_id"], new.public_key)
    return reply(s.OrgKeyOut, info)


async def get_root_key(request: web.Request) -> web.Response:
    return reply(s.OrgKeyOut, await request.app[keys.KEYS].root(request.match_info["org_id"]))
