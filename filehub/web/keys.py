"""Every piece of application state, typed, in one place."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from filehub.audit.checkpoint import SignerKey
from filehub.audit.log import AuditLog
from filehub.authz.service import AuthzService
from filehub.services.accounts import Accounts, Principal
from filehub.services.cases import Cases
from filehub.services.e2e_files import Envelopes
from filehub.services.e2e_keys import KeyDirectory
from filehub.services.files import Files
from filehub.services.groups import Groups
from filehub.services.links import LinkPrincipal, RequestLinks
from filehub.services.sharing import Sharing
from filehub.services.uploads import DbUploadRegistry
from filehub.settings import Settings
from filehub.storage.base import DataStore
from filehub.tus.handler import TusHandler
from filehub.web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
ACCOUNTS = web.AppKey("accounts", Accounts)
FILES = web.AppKey("files", Files)
REGISTRY = web.AppKey("registry", DbUploadRegistry)
STORE = web.AppKey("store", DataStore)
TUS = web.AppKey("tus", TusHandler)
METRICS = web.AppKey("metrics", Metrics)
AUTHZ = web.AppKey("authz", AuthzService)
CASES = web.AppKey("cases", Cases)
SHARING = web.AppKey("sharing", Sharing)
GROUPS = web.AppKey("groups", Groups)
LINKS = web.AppKey("links", RequestLinks)
OPENAPI = web.AppKey("openapi", dict)
AUDIT = web.AppKey("audit", AuditLog)
LOG_KEY = web.AppKey("log_key", SignerKey)
KEYS = web.AppKey("keys", KeyDirectory)
ENVELOPES = web.AppKey("envelopes", Envelopes)

# Per-request values (request[...]).
PRINCIPAL = web.RequestKey("principal", Principal)  # a user with a bearer token
LINK = web.RequestKey("link", LinkPrincipal)  # the holder of a request link (uploads only)
REQUEST_ID = web.RequestKey("request_id", str)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]  # set by the authentication middleware on every /api/ route


def user_id(request: web.Request) -> str:
    return request[PRINCIPAL].user_id
