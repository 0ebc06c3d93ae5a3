"""Files: list, read, and serve content (Range, ETag), authorised before every block."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from filehub.errors import NotFound
from filehub.events import AuditEvent
from filehub.services.files import FileInfo
from filehub.storage.base import ByteRange
from filehub.tus.download import redirect, serve_content
from filehub.tus.protocol import metadata_text
from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.views.common import items, page, reply


def file_json(info: FileInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "upload_id": info.upload_id,
        "case_id": info.case_id,
        "exhibit_ref": info.exhibit_ref,
        "size": info.size,
        "sha256": info.sha256,
        "filename": metadata_text(info.metadata, "filename"),
        "metadata": info.metadata,
        "created_at": info.created_at,
        "permissions": list(info.permissions),
        "encrypted": info.encrypted,
    }


async def list_files(request: web.Request) -> web.Response:
    found = await request.app[keys.FILES].list(keys.user_id(request), page(request))
    return items(s.FilePage, found, file_json)


async def get_file(request: web.Request) -> web.Response:
    user_id = keys.user_id(request)
    info = await request.app[keys.FILES].get(user_id, request.match_info["file_id"])
    await request.app[keys.AUDIT].record_alone(AuditEvent("file.viewed", user_id, f"file:{info.id}"))
    return reply(s.FileOut, file_json(info))


async def file_content(request: web.Request) -> web.StreamResponse:
    files = request.app[keys.FILES]
    user_id = keys.user_id(request)
    info = await files.get(user_id, request.match_info["file_id"], "can_download")
    upload_info = await request.app[keys.REGISTRY].get(info.upload_id)
    if upload_info is None:
        raise NotFound("no such file")
    upload = await request.app[keys.STORE].get_upload(upload_info)

    async def still_allowed() -> None:  # a revoke or an expiry stops the download here
        await files.still_downloadable(user_id, info)

    async def record_download(byte_range: ByteRange) -> None:  # before the first byte is sent
        detail = {"range": {"first": byte_range.start, "last": byte_range.end - 1}, "size": info.size}
        await request.app[keys.AUDIT].record_alone(AuditEvent("file.downloaded", user_id, f"file:{info.id}", detail))

    presigned = await request.app[keys.TUS].presigned_url(upload_info)
    if presigned is not None:  # the store serves the bytes (and Range) itself
        await record_download(ByteRange(0, info.size))
        return redirect(presigned)
    return await serve_content(
        request,
        size=info.size,
        sha256=info.sha256,
        filename=metadata_text(info.metadata, "filename"),
        open_range=upload.reader,
        before_each_block=still_allowed,
        on_start=record_download,
    )
