"""Request id, metrics, CORS, errors -> responses (the one place), and authentication."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from filehub import errors
from filehub.events import REQUEST_CONTEXT, AuditEvent, RequestContext
from filehub.ids import new_id
from filehub.tus.protocol import ALLOWED_REQUEST_HEADERS, EXPOSED_HEADERS, TUS_VERSION
from filehub.web import keys

log = logging.getLogger("filehub.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_UPLOADS_PATH = "/api/v1/uploads"
MAX_USER_AGENT = 256  # characters kept in audit events
_CORS_METHODS = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-Id", "")
    request[keys.REQUEST_ID] = supplied if _CLIENT_REQUEST_ID.match(supplied) else new_id()
    # Where the request came from, for the audit events it causes (this task only).
    REQUEST_CONTEXT.set(
        RequestContext(
            request_id=request[keys.REQUEST_ID],
            client_ip=request.remote,
            user_agent=request.headers.get("User-Agent", "")[:MAX_USER_AGENT] or None,
        )
    )
    response = await handler(request)
    response.headers["X-Request-Id"] = request[keys.REQUEST_ID]
    return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[keys.METRICS]
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)


def cors_middleware(allowed_origins: list[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    any_origin = "*" in allowed_origins

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and (any_origin or origin in allowed_origins)
        if not allowed:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin or "",
                    "Access-Control-Allow-Methods": _CORS_METHODS,
                    "Access-Control-Allow-Headers": ", ".join(ALLOWED_REQUEST_HEADERS),
                    "Access-Control-Max-Age": "86400",
                    "Vary": "Origin",
                },
            )
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS + ("X-Request-Id",))
        response.headers["Vary"] = "Origin"
        return response

    return middleware


def error_response(request: web.Request, status: int, code: str, message: str) -> web.Response:
    response = web.json_response(
        {"error": {"code": code, "message": message}, "request_id": request.get(keys.REQUEST_ID)},
        status=status,
    )
    if request.path.startswith(_UPLOADS_PATH):
        response.headers["Tus-Resumable"] = TUS_VERSION
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.FilehubError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %s (%s)", request.method, request.path, exc.status, exc.code, exc_info=exc.__cause__)
        response = error_response(request, exc.status, exc.code, exc.message)
        response.headers.update(exc.headers)
        return response
    except web.HTTPException as exc:  # aiohttp's own: unknown route, wrong method
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status, "http_error")
        return error_response(request, exc.status, code, exc.reason)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(request, 500, "internal_error", "internal server error")


_OPEN_PATHS = frozenset({"/api/v1/openapi.json", "/api/v1/audit/key"})  # not secrets
_LINK_PATH = "/api/v1/link"  # what a request link's holder may read: its note


def _link_may_use(path: str) -> bool:
    """The note, the tus collection and upload URLs; not their sub-resources (e.g. envelope)."""
    upload_url = path.startswith(_UPLOADS_PATH + "/") and "/" not in path[len(_UPLOADS_PATH) + 1 :]
    return path == _LINK_PATH or path == _UPLOADS_PATH or upload_url


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api/ route needs a bearer token, checked on every request; OPTIONS only
    describes capabilities. Uploads also take ``Authorization: Link <token>``, the credential
    of an evidence request link, which is worth nothing anywhere else."""
    if request.path.startswith("/api/") and request.method != "OPTIONS" and request.path not in _OPEN_PATHS:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        scheme, token = scheme.lower(), token.strip()
        try:
            if scheme == "bearer" and token:
                request[keys.PRINCIPAL] = await request.app[keys.ACCOUNTS].authenticate(token)
            elif scheme == "link" and token and _link_may_use(request.path):
                request[keys.LINK] = await request.app[keys.LINKS].authenticate(token)
            else:
                raise errors.Unauthenticated()
        except errors.Unauthenticated:
            if token:  # a credential was presented and refused: an audit event of its own
                detail = {"scheme": scheme[:16], "method": request.method, "path": request.path[:200]}
                await request.app[keys.AUDIT].record_alone(AuditEvent("auth.failure", None, "", detail, "denied"))
            raise
    return await handler(request)
