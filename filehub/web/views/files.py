"""Files: list, read, and serve content (Range, ETag), authorised before every block."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from filehub.errors import NotFound
from filehub.services.files import FileInfo
from filehub.tus.download import serve_content
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
    }


async def list_files(request: web.Request) -> web.Response:
    found = await request.app[keys.FILES].list(keys.user_id(request), page(request))
    return items(s.FilePage, found, file_json)


async def get_file(request: web.Request) -> web.Response:
    info = await request.app[keys.FILES].get(keys.user_id(request), request.match_info["file_id"])
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

    return await serve_content(
        request,
        size=info.size,
        sha256=info.sha256,
        filename=metadata_text(info.metadata, "filename"),
        open_range=upload.reader,
        before_each_block=still_allowed,
    )
