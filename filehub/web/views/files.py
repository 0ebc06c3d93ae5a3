"""Files: list, read, and serve content (Range, ETag)."""

from __future__ import annotations

from aiohttp import web

from filehub.errors import BadRequest, NotFound
from filehub.services.files import MAX_PAGE, FileInfo
from filehub.tus.download import serve_content
from filehub.tus.protocol import metadata_text
from filehub.web import keys


def _json(info: FileInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "upload_id": info.upload_id,
        "size": info.size,
        "sha256": info.sha256,
        "filename": metadata_text(info.metadata, "filename"),
        "metadata": info.metadata,
        "created_at": info.created_at.isoformat(),
    }


async def list_files(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    after = request.query.get("after")
    page = await request.app[keys.FILES].list(keys.principal(request).user_id, limit=limit, after=after)
    return web.json_response(
        {"items": [_json(f) for f in page], "next": page[-1].id if len(page) == limit else None}
    )


async def get_file(request: web.Request) -> web.Response:
    info = await request.app[keys.FILES].get(keys.principal(request).user_id, request.match_info["file_id"])
    return web.json_response(_json(info))


async def file_content(request: web.Request) -> web.StreamResponse:
    info = await request.app[keys.FILES].get(keys.principal(request).user_id, request.match_info["file_id"])
    upload_info = await request.app[keys.REGISTRY].get(info.upload_id)
    if upload_info is None:
        raise NotFound("no such file")
    upload = await request.app[keys.STORE].get_upload(upload_info)
    return await serve_content(
        request,
        size=info.size,
        sha256=info.sha256,
        filename=metadata_text(info.metadata, "filename"),
        open_range=upload.reader,
    )
