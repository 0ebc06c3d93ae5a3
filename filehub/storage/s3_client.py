"""The narrow seam between the S3 backend and boto3.

:class:`S3Client` lists exactly the S3 calls the backend makes (a boto3 client satisfies it;
a test double may too). :class:`S3Calls` runs them on threads (boto3 is synchronous) and is
the one place where botocore and S3 errors become filehub errors.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from filehub.errors import FilehubError, InsufficientStorage, StorageUnavailable, UploadNotFound

log = logging.getLogger("filehub.storage.s3")

Response = dict[str, Any]

_NOT_FOUND = {"NoSuchKey", "NoSuchUpload", "404", "NotFound"}
_FULL = {"XMinioStorageFull", "StorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded"}
DELETE_BATCH = 1000  # keys per DeleteObjects request (the S3 maximum)


class S3Client(Protocol):
    """The S3 API calls this backend makes, with boto3's keyword arguments."""

    def create_multipart_upload(self, **kwargs: Any) -> Response: ...
    def upload_part(self, **kwargs: Any) -> Response: ...
    def upload_part_copy(self, **kwargs: Any) -> Response: ...
    def complete_multipart_upload(self, **kwargs: Any) -> Response: ...
    def abort_multipart_upload(self, **kwargs: Any) -> Response: ...
    def put_object(self, **kwargs: Any) -> Response: ...
    def get_object(self, **kwargs: Any) -> Response: ...
    def head_object(self, **kwargs: Any) -> Response: ...
    def delete_objects(self, **kwargs: Any) -> Response: ...
    def list_objects_v2(self, **kwargs: Any) -> Response: ...
    def head_bucket(self, **kwargs: Any) -> Response: ...
    def generate_presigned_url(self, ClientMethod: str, Params: Response, ExpiresIn: int) -> str: ...  # noqa: N803
    def close(self) -> None: ...


@dataclass(frozen=True)
class ClientOptions:
    endpoint_url: str | None
    region: str
    connect_timeout: float  # seconds
    read_timeout: float  # seconds
    max_attempts: int  # per request, the first try included
    max_connections: int


def make_client(options: ClientOptions) -> S3Client:
    """A boto3 S3 client; credentials come from boto3's default chain (AWS_* variables,
    shared files, instance roles). Modest timeouts and few retries, so an outage
    surfaces as a 503 within seconds rather than hanging a PATCH."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"total_max_attempts": options.max_attempts, "mode": "standard"},
        max_pool_connections=options.max_connections,
        tcp_keepalive=True,
        signature_version="s3v4",  # also for presigned URLs (botocore's default there is SigV2)
        # Custom endpoints (SeaweedFS, MinIO, Ceph) rarely have wildcard DNS for buckets.
        s3={"addressing_style": "path" if options.endpoint_url else "auto"},
    )
    session = boto3.session.Session(botocore_session=_botocore_session())
    client: S3Client = session.client(
        "s3", endpoint_url=options.endpoint_url, region_name=options.region, config=config
    )
    return client


@functools.cache
def _model_loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


def _botocore_session() -> Any:
    """A fresh session (credentials are resolved anew) sharing the parsed API models, which
    would otherwise be loaded again for every client (~0.1 s each)."""
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", _model_loader())
    return session


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: BotoCoreError | ClientError, operation: str) -> FilehubError:
    """A botocore/S3 error as the filehub error a client should see."""
    if isinstance(exc, BotoCoreError):  # connection refused/reset, timeouts, credentials
        log.warning("S3 %s failed: %s", operation, exc)
        return StorageUnavailable()
    code = error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _NOT_FOUND:
        return UploadNotFound()
    if code in _FULL or status == 507:
        return InsufficientStorage()
    log.warning("S3 %s refused: %s (HTTP %s)", operation, code, status)
    if status >= 500 or status in (0, 403, 429) or code in ("NoSuchBucket", "SlowDown"):
        # Outage, throttling, or a store we may not use (bad credentials, no bucket).
        return StorageUnavailable()
    return FilehubError("the object store refused a request")  # our bug: a logged 500


class S3Calls:
    """Runs S3 calls on worker threads; every failure comes out as a FilehubError."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def __call__(self, call: Callable[..., Response], **params: Any) -> Response:
        try:
            return await asyncio.to_thread(call, Bucket=self.bucket, **params)
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, call.__name__) from exc

    async def read_body(self, body: Any, size: int) -> bytes:
        """Up to ``size`` bytes from a GetObject body (b"" at its end)."""
        try:
            data: bytes = await asyncio.to_thread(body.read, size)
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc, "GetObject") from exc
        except OSError as exc:  # a connection that broke mid-body
            log.warning("S3 GetObject body failed: %s", exc)
            raise StorageUnavailable() from exc
        return data

    async def get_bytes(self, key: str) -> bytearray:
        """A whole (small) object; UploadNotFound if it does not exist."""
        response = await self(self.client.get_object, Key=key)
        body = response["Body"]
        try:
            data = bytearray()
            while block := await self.read_body(body, 1 << 20):
                data += block
            return data
        finally:
            body.close()

    async def size_of(self, key: str) -> int | None:
        try:
            response = await self(self.client.head_object, Key=key)
        except UploadNotFound:
            return None
        return int(response["ContentLength"])

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            response = await self(self.client.list_objects_v2, **params)
            keys.extend(item["Key"] for item in response.get("Contents", []))
            if not response.get("IsTruncated"):
                return keys
            params["ContinuationToken"] = response["NextContinuationToken"]

    async def delete_keys(self, keys: Iterable[str]) -> None:
        pending = list(keys)
        for start in range(0, len(pending), DELETE_BATCH):
            batch = [{"Key": key} for key in pending[start : start + DELETE_BATCH]]
            response = await self(
                self.client.delete_objects, Delete={"Objects": batch, "Quiet": True}
            )
            failed = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if failed:
                log.warning("S3 DeleteObjects left %d keys: %s", len(failed), failed[0].get("Code"))
                raise StorageUnavailable()
