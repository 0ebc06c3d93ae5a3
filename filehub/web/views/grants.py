"""Grants on cases and bundles: list, add, revoke (rules in services/sharing.py)."""

from __future__ import annotations

from aiohttp import web

from filehub.authz.model import ObjectRef
from filehub.services.cases import bundle_ref, case_ref
from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, items, no_content, page, reply


def _target(request: web.Request) -> ObjectRef:
    if "case_id" in request.match_info:
        return case_ref(request.match_info["case_id"])
    return bundle_ref(request.match_info["bundle_id"])


async def list_grants(request: web.Request) -> web.Response:
    found = await request.app[keys.SHARING].list(keys.user_id(request), _target(request), page(request))
    return items(s.GrantPage, found)


async def create_grant(request: web.Request) -> web.Response:
    new = await body(request, s.GrantCreate)
    grant = await request.app[keys.SHARING].grant(
        keys.user_id(request),
        _target(request),
        new.relation,
        new.subject.type,
        new.subject.id,
        new.not_before,
        new.expires_at,
    )
    return reply(s.GrantOut, grant, 201)


async def revoke_grant(request: web.Request) -> web.Response:
    sharing = request.app[keys.SHARING]
    await sharing.revoke(keys.user_id(request), _target(request), request.match_info["grant_id"])
    return no_content()
