"""The one composition root: picks database, storage backend and locker from settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from filehub.audit.log import AuditLog, load_log_key
from filehub.authz.service import AuthzService
from filehub.db.migrate import migrate
from filehub.db.session import Database, make_engine
from filehub.errors import FilehubError
from filehub.events import AuditEvent
from filehub.services.accounts import Accounts
from filehub.services.cases import Cases
from filehub.services.e2e_files import Envelopes
from filehub.services.e2e_keys import KeyDirectory
from filehub.services.files import Files
from filehub.services.grant_expiry import GrantExpiry
from filehub.services.groups import Groups
from filehub.services.links import RequestLinks
from filehub.services.sharing import Sharing
from filehub.services.upload_policy import CaseUploadPolicy
from filehub.services.uploads import DbUploadRegistry
from filehub.settings import Settings
from filehub.storage.base import ByteRange, DataStore, Locker, StoreComposer, UploadInfo
from filehub.storage.local import LocalStore
from filehub.storage.locks import MemoryLocker, PostgresLocker
from filehub.storage.s3 import S3Store
from filehub.storage.s3_client import ClientOptions
from filehub.tus.handler import TusConfig, TusHandler
from filehub.web import keys
from filehub.web.metrics import Metrics
from filehub.web.middlewares import (
    auth_middleware,
    cors_middleware,
    error_middleware,
    metrics_middleware,
    request_id_middleware,
)
from filehub.web.routes import add_routes

log = logging.getLogger("filehub")
LOCK_CONNECTIONS = 100  # writes in flight per instance on PostgreSQL (one connection each)
# Seconds between checkpoint rounds while the log grows (fixed rate): an event waits at most
# one interval plus the signing for its first checkpoint, which must stay under 1 s.
CHECKPOINT_INTERVAL = 0.5
GC_FREEZE_TUPLES = 10_000  # freeze the heap after loading a replica at least this large


def make_store(settings: Settings) -> DataStore:
    url = settings.effective_storage_url
    if url.startswith("file://"):
        return LocalStore.from_url(url, int(settings.write_block_size))
    if url.startswith("s3://"):
        options = ClientOptions(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            connect_timeout=settings.s3_connect_timeout.total_seconds(),
            read_timeout=settings.s3_read_timeout.total_seconds(),
            max_attempts=settings.s3_max_attempts,
            # one connection per part buffer, plus reads (downloads, readiness) beside them
            max_connections=settings.s3_max_part_buffers + 10,
        )
        return S3Store.from_url(
            url,
            options,
            min_part_size=int(settings.s3_min_part_size),
            max_upload_size=int(settings.max_upload_size),
            max_part_buffers=settings.s3_max_part_buffers,
        )
    raise ValueError(f"unsupported storage URL scheme: {url.split(':', 1)[0]}")


def make_locker(settings: Settings) -> tuple[Locker, AsyncEngine | None]:
    """PostgreSQL means possibly several instances: locks must be shared through it."""
    url = settings.effective_database_url
    if not url.startswith("postgresql"):
        return MemoryLocker(), None
    # Each write in progress holds one connection of this pool for its duration.
    engine = make_engine(url, pool_size=4, max_overflow=LOCK_CONNECTIONS - 4)
    return PostgresLocker(engine), engine


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[
            metrics_middleware,
            request_id_middleware,
            cors_middleware(settings.cors_allowed_origins),
            error_middleware,
            auth_middleware,
        ]
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_uploads)
    app.cleanup_ctx.append(_reaper)
    app.cleanup_ctx.append(_checkpointer)
    add_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    await migrate(db.engine)
    app[keys.ENGINE] = db.engine
    # The audit trail (issue 5): every service records through it, in its own transaction.
    audit = AuditLog(db)
    app[keys.AUDIT] = audit
    app[keys.LOG_KEY] = await load_log_key(db, settings.audit_log_key, default_log_name(settings))
    authz = AuthzService(db, audit)
    await authz.start()  # load the replica of the tuples before the first request
    freeze_long_lived(authz)
    app[keys.AUTHZ] = authz
    app[keys.ACCOUNTS] = Accounts(db, authz.writer, audit)
    app[keys.FILES] = Files(db, authz)
    app[keys.REGISTRY] = DbUploadRegistry(db, authz.writer, audit)
    app[keys.CASES] = Cases(db, authz, audit)
    app[keys.SHARING] = Sharing(db, authz)
    app[keys.GROUPS] = Groups(db, authz.writer, audit)
    app[keys.LINKS] = RequestLinks(db, authz, audit)
    app[keys.KEYS] = KeyDirectory(db, audit)
    app[keys.ENVELOPES] = Envelopes(db, authz, app[keys.FILES], audit)
    yield
    await db.dispose()


def default_log_name(settings: Settings) -> str:
    """The log's origin (its key's name) when no key is supplied: ``<host>/audit``."""
    host = urlparse(settings.public_url).hostname if settings.public_url else None
    return f"{host or 'filehub'}/audit"


def freeze_long_lived(authz: AuthzService) -> None:
    """A large replica is millions of long-lived objects that the cyclic garbage collector
    would walk on every full pass (about 300 ms at 100,000 tuples: a stall of every request
    in flight). Frozen objects are skipped; they are still freed by reference counting."""
    if authz.replica_size >= GC_FREEZE_TUPLES:
        gc.collect()
        gc.freeze()


async def _uploads(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = make_store(settings)
    app[keys.STORE] = store
    locker, lock_engine = make_locker(settings)
    app[keys.TUS] = TusHandler(
        StoreComposer.of(store),
        app[keys.REGISTRY],
        locker,
        TusConfig(
            max_size=int(settings.max_upload_size),
            expiry=settings.upload_expiry,
            max_metadata_size=int(settings.max_metadata_size),
            public_url=settings.public_url,
            presign_expiry=(
                int(settings.s3_presign_expiry.total_seconds()) if settings.s3_presigned_downloads else None
            ),
        ),
        on_durable=app[keys.METRICS].upload_bytes.inc,
        policy=CaseUploadPolicy(app[keys.AUTHZ], app[keys.LINKS], app[keys.CASES].requires_encryption),
        on_download=_downloads_audited_by(app[keys.AUDIT]),
    )
    yield
    if lock_engine is not None:
        await lock_engine.dispose()
    store.close()


def _downloads_audited_by(audit: AuditLog) -> Callable[[UploadInfo, str, ByteRange], Awaitable[None]]:
    """Reading a finished upload's bytes through the tus URL is a download like any other."""

    async def record(info: UploadInfo, reader_id: str, byte_range: ByteRange) -> None:
        detail = {"range": {"first": byte_range.start, "last": byte_range.end - 1}, "size": info.length, "via": "upload"}
        await audit.record_alone(AuditEvent("file.downloaded", reader_id, f"file:{info.file_id}", detail))

    return record


async def _reaper(app: web.Application) -> AsyncIterator[None]:
    """Frees the storage of expired uploads and records expired grants, every reaper_interval."""
    interval = app[keys.SETTINGS].reaper_interval.total_seconds()
    grants = GrantExpiry(app[keys.AUDIT].db, app[keys.AUDIT])

    async def reap() -> None:
        app[keys.METRICS].reaped.inc(await app[keys.TUS].reap_expired())

    async def loop() -> None:
        while True:
            for name, work in (("reaper", reap), ("grant expiry", grants.sweep)):
                try:
                    await work()
                except FilehubError as exc:  # database or store away: try again next round
                    log.warning("%s: %s", name, exc.code)
                except Exception:
                    log.exception("%s failed", name)
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop(), name="filehub-reaper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _checkpointer(app: web.Application) -> AsyncIterator[None]:
    """Signs a checkpoint every CHECKPOINT_INTERVAL while the log grows (docs/audit.md §7)."""
    audit, key = app[keys.AUDIT], app[keys.LOG_KEY]
    clock = asyncio.get_running_loop().time

    async def loop() -> None:
        while True:
            started = clock()
            try:
                await audit.sign_checkpoint(key)
            except FilehubError as exc:
                log.warning("checkpoint: %s", exc.code)
            except Exception:  # includes an inconsistent tree: never signed, shouted about
                log.exception("checkpoint signing failed")
            await asyncio.sleep(max(0.0, CHECKPOINT_INTERVAL - (clock() - started)))

    task = asyncio.create_task(loop(), name="filehub-checkpointer")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
