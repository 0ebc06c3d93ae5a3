"""Open probes: liveness, readiness (database and store reachable), Prometheus metrics."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import text

from filehub.errors import FilehubError
from filehub.web import keys

log = logging.getLogger("filehub.web")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with request.app[keys.ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason goes to the log only
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        await request.app[keys.STORE].ping()
        checks["storage"] = "ok"
    except (FilehubError, OSError) as exc:
        log.warning("readiness: store unreachable: %s", type(exc).__name__)
        checks["storage"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[keys.METRICS].render(), content_type="text/plain", charset="utf-8")
