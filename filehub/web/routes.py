"""The whole route table."""

from __future__ import annotations

from aiohttp import web

from filehub.web.views import files, health, uploads

TUS_METHODS = ("POST", "HEAD", "PATCH", "DELETE", "GET", "OPTIONS")


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/healthz", health.healthz, allow_head=False)
    router.add_get("/readyz", health.readyz, allow_head=False)
    router.add_get("/metrics", health.metrics, allow_head=False)

    collection = router.add_resource("/api/v1/uploads", name="uploads")
    for method in ("POST", "OPTIONS"):
        collection.add_route(method, uploads.uploads)
    # X-HTTP-Method-Override arrives as POST: the handler dispatches on the effective method.
    resource = router.add_resource("/api/v1/uploads/{upload_id}", name="upload")
    for method in TUS_METHODS:
        resource.add_route(method, uploads.upload)

    router.add_get("/api/v1/files", files.list_files, name="files", allow_head=False)
    router.add_get("/api/v1/files/{file_id}", files.get_file, name="file", allow_head=False)
    router.add_get("/api/v1/files/{file_id}/content", files.file_content, name="file-content")
