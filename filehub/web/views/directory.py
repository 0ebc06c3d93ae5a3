"""The caller, organisations, their users and groups. An organisation's admins manage its
users and groups; nobody manages another organisation's through the API (the CLI does)."""

from __future__ import annotations

from aiohttp import web

from filehub.errors import NotFound
from filehub.services.groups import MemberInfo, require_admin_of
from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import body, items, no_content, page, reply


async def me(request: web.Request) -> web.Response:
    return reply(s.Me, keys.principal(request))


async def list_orgs(request: web.Request) -> web.Response:
    return items(s.OrgPage, await request.app[keys.ACCOUNTS].list_orgs(page(request)))


async def list_org_users(request: web.Request) -> web.Response:
    accounts = request.app[keys.ACCOUNTS]
    org = await accounts.get_org(request.match_info["org_id"])
    require_admin_of(keys.principal(request), org.id)
    return items(s.UserPage, await accounts.list_users(org.id, page(request)))


async def create_org_user(request: web.Request) -> web.Response:
    accounts = request.app[keys.ACCOUNTS]
    org = await accounts.get_org(request.match_info["org_id"])
    actor = keys.principal(request)
    require_admin_of(actor, org.id)
    new = await body(request, s.UserCreate)
    return reply(s.UserOut, await accounts.create_user_in(org.id, new.email, new.role, actor.user_id), 201)


async def update_user(request: web.Request) -> web.Response:
    accounts = request.app[keys.ACCOUNTS]
    actor = keys.principal(request)
    user = await accounts.get_user(request.match_info["user_id"])
    if user.org_id != actor.org_id:
        raise NotFound("no such user")  # other organisations' users are not listed to admins
    require_admin_of(actor, user.org_id)
    change = await body(request, s.UserUpdate)
    if change.role is not None:
        user = await accounts.set_role(user.id, change.role, actor.user_id)
    if change.disabled:
        user = await accounts.disable_user(user.id)
    return reply(s.UserOut, user)


async def list_groups(request: web.Request) -> web.Response:
    actor = keys.principal(request)
    return items(s.GroupPage, await request.app[keys.GROUPS].list(actor.org_id, page(request)))


async def create_group(request: web.Request) -> web.Response:
    actor = keys.principal(request)
    require_admin_of(actor, actor.org_id)
    new = await body(request, s.GroupCreate)
    return reply(s.GroupOut, await request.app[keys.GROUPS].create(actor.org_id, new.name, actor.user_id), 201)


async def get_group(request: web.Request) -> web.Response:
    group = await request.app[keys.GROUPS].get(request.match_info["group_id"], seen_by=keys.principal(request))
    return reply(s.GroupOut, group)


async def list_members(request: web.Request) -> web.Response:
    groups = request.app[keys.GROUPS]
    group = await groups.get(request.match_info["group_id"], seen_by=keys.principal(request))
    return items(s.MemberPage, await groups.members(group.id, page(request)))


async def add_member(request: web.Request) -> web.Response:
    groups = request.app[keys.GROUPS]
    actor = keys.principal(request)
    group = await groups.get(request.match_info["group_id"], seen_by=actor)
    require_admin_of(actor, group.org_id)
    new = await body(request, s.GroupMemberAdd)
    member: MemberInfo = await groups.add_member(
        group.id, user_id=new.user_id, member_group_id=new.group_id, actor_id=actor.user_id
    )
    return reply(s.MemberOut, member, 201)


async def remove_member(request: web.Request) -> web.Response:
    groups = request.app[keys.GROUPS]
    actor = keys.principal(request)
    group = await groups.get(request.match_info["group_id"], seen_by=actor)
    require_admin_of(actor, group.org_id)
    await groups.remove_member(group.id, request.match_info["member_id"], actor.user_id)
    return no_content()
