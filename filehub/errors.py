"""The one error family of filehub.

Every error a client can see is a :class:`FilehubError` subclass carrying a stable
``code``, an HTTP ``status`` and a message that is safe to show (never a secret, a path
or a library's text). ``web.middlewares`` is the one place that turns them into
responses; anything else becomes a logged 500.
"""

from __future__ import annotations

from collections.abc import Mapping


class FilehubError(Exception):
    """Base of every error a client may see."""

    status: int = 500
    code: str = "internal_error"
    message: str = "internal server error"

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None):
        self.message = message or self.message
        self.headers = dict(headers or {})
        super().__init__(self.message)


# --- request problems (client's fault) ---------------------------------------------------


class BadRequest(FilehubError):
    status, code, message = 400, "bad_request", "the request is malformed"


class Unauthenticated(FilehubError):
    status, code, message = 401, "unauthenticated", "a valid bearer token is required"

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="filehub"'})


class Forbidden(FilehubError):
    status, code, message = 403, "forbidden", "this action is not allowed"


class NotFound(FilehubError):
    status, code, message = 404, "not_found", "no such resource"


class MethodNotAllowed(FilehubError):
    status, code, message = 405, "method_not_allowed", "method not allowed"


class Conflict(FilehubError):
    status, code, message = 409, "conflict", "the request conflicts with the resource's state"


class Gone(FilehubError):
    status, code, message = 410, "gone", "the resource has expired"


class PreconditionFailed(FilehubError):
    status, code, message = 412, "precondition_failed", "a precondition failed"


class PayloadTooLarge(FilehubError):
    status, code, message = 413, "payload_too_large", "the request body is too large"


class UnsupportedMediaType(FilehubError):
    status, code, message = 415, "unsupported_media_type", "unsupported content type"


class RangeNotSatisfiable(FilehubError):
    status, code, message = 416, "range_not_satisfiable", "the requested range is not satisfiable"


class Unprocessable(FilehubError):
    status, code, message = 422, "unprocessable", "the request is well formed but its content is refused"


class EncryptionRequired(Conflict):
    code = "encryption_required"
    message = "this case accepts end-to-end-encrypted files only: send the signed header (filehub upload does)"


class NoCertifiedKey(Conflict):
    code = "no_certified_key"
    message = "you have no certified key: run `filehub keys init` and ask an admin of your organisation to certify it"


class KeyAlreadyHeld(Conflict):
    code, message = "key_already_held", "you already hold this file's key"


class Locked(FilehubError):
    status, code, message = 423, "locked", "another request is writing to this upload; retry later"


# --- tus-specific --------------------------------------------------------------------------


class UnsupportedTusVersion(PreconditionFailed):
    code, message = "unsupported_tus_version", "this server speaks tus 1.0.0 only"


class OffsetMismatch(Conflict):
    code, message = "offset_mismatch", "Upload-Offset does not match the upload's current offset"


class UploadNotFound(NotFound):
    code, message = "upload_not_found", "no such upload"


class UploadExpired(Gone):
    code, message = "upload_expired", "the upload has expired"


class ChecksumMismatch(FilehubError):
    # tus checksum extension: 460 is tus-specific, not an IANA status.
    status, code, message = 460, "checksum_mismatch", "the chunk does not match Upload-Checksum; it was discarded"


class UnsupportedChecksumAlgorithm(BadRequest):
    code, message = "unsupported_checksum_algorithm", "unsupported checksum algorithm"


# --- infrastructure (not the client's fault) -----------------------------------------------


class ServiceUnavailable(FilehubError):
    status, code, message = 503, "service_unavailable", "a backing service is unavailable; retry later"

    def __init__(self, message: str | None = None, *, retry_after: int = 5):
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class StorageUnavailable(ServiceUnavailable):
    code, message = "storage_unavailable", "the object store is unavailable; retry later"

    def __init__(self, message: str | None = None, *, retry_after: int = 5, durable: int = 0):
        super().__init__(message, retry_after=retry_after)
        # Bytes of the failed write that the store had made durable before it failed: the
        # tus handler commits them, so a client resumes after them rather than before.
        self.durable = durable


class DatabaseUnavailable(ServiceUnavailable):
    code, message = "database_unavailable", "the database is unavailable; retry later"


class InsufficientStorage(FilehubError):
    status, code, message = 507, "insufficient_storage", "the server has no room for this data"
