"""Cases and bundles, and the files in them. What the caller may not view answers 404."""

from __future__ import annotations

from aiohttp import web

from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, items, no_content, page, reply
from filehub.web.views.files import file_json


async def list_cases(request: web.Request) -> web.Response:
    return items(s.CasePage, await request.app[keys.CASES].list_cases(keys.user_id(request), page(request)))


async def create_case(request: web.Request) -> web.Response:
    new = await body(request, s.CaseCreate)
    cases = request.app[keys.CASES]
    case = await cases.create_case(keys.principal(request), new.reference, new.title, new.require_encryption)
    return reply(s.CaseOut, case, 201)


async def get_case(request: web.Request) -> web.Response:
    case = await request.app[keys.CASES].get_case(keys.user_id(request), request.match_info["case_id"])
    return reply(s.CaseOut, case)


async def list_case_files(request: web.Request) -> web.Response:
    files = request.app[keys.FILES]
    found = await files.list(keys.user_id(request), page(request), case_id=request.match_info["case_id"])
    return items(s.FilePage, found, file_json)


async def list_case_bundles(request: web.Request) -> web.Response:
    cases = request.app[keys.CASES]
    found = await cases.list_bundles(keys.user_id(request), request.match_info["case_id"], page(request))
    return items(s.BundlePage, found)


async def create_bundle(request: web.Request) -> web.Response:
    new = await body(request, s.BundleCreate)
    cases = request.app[keys.CASES]
    bundle = await cases.create_bundle(keys.user_id(request), request.match_info["case_id"], new.name)
    return reply(s.BundleOut, bundle, 201)


async def list_bundles(request: web.Request) -> web.Response:
    found = await request.app[keys.CASES].list_bundles(keys.user_id(request), None, page(request))
    return items(s.BundlePage, found)


async def get_bundle(request: web.Request) -> web.Response:
    bundle = await request.app[keys.CASES].get_bundle(keys.user_id(request), request.match_info["bundle_id"])
    return reply(s.BundleOut, bundle)


async def list_bundle_files(request: web.Request) -> web.Response:
    user_id = keys.user_id(request)
    decision, ids = await request.app[keys.CASES].bundle_file_ids(user_id, request.match_info["bundle_id"])
    found = await request.app[keys.FILES].list_among(user_id, decision, ids, page(request))
    return items(s.FilePage, found, file_json)


async def add_bundle_file(request: web.Request) -> web.Response:
    new = await body(request, s.BundleFileAdd)
    cases = request.app[keys.CASES]
    await cases.add_file(keys.user_id(request), request.match_info["bundle_id"], new.file_id)
    return no_content()


async def remove_bundle_file(request: web.Request) -> web.Response:
    cases = request.app[keys.CASES]
    await cases.remove_file(keys.user_id(request), request.match_info["bundle_id"], request.match_info["file_id"])
    return no_content()
