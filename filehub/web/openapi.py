"""The route table's entry type, and the OpenAPI 3.1 document built from the table.

Each ``Route`` names its method, path, handler, request and reply models; ``routes.py``
registers exactly these with aiohttp and ``build_document`` describes exactly these, so the
document cannot drift from the router (a test checks every registered route is described).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from filehub.services.pages import DEFAULT_PAGE, MAX_PAGE
from filehub.web.schemas import ErrorOut

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["bearer", "link", "bearer_or_link", "none"]
_PARAM = re.compile(r"{([a-z_]+)}")
_REF = "#/components/schemas/{model}"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "bearer": [{"bearer": []}],
    "link": [{"link": []}],
    "bearer_or_link": [{"bearer": []}, {"link": []}],
    "none": [],
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    reply: type[BaseModel] | None = None
    status: int = 200
    paged: bool = False
    auth: Auth = "bearer"
    media: str | None = None  # the reply's media type when it is not a JSON model


def build_document(routes: Sequence[Route], *, title: str, version: str) -> dict[str, Any]:
    schemas, defs = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Errors are JSON {error: {code, message}, request_id}. An object the caller "
            "may not view answers 404, exactly like a missing one. Lists are paged with ?limit=&after=.",
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (fh_...)."},
                "link": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'Link <token>': an evidence request link (fhl_...), for uploads only.",
                },
            },
        },
    }


def _schemas(routes: Sequence[Route]) -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], Any], dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorOut, "serialization")]
    for route in routes:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        if route.reply is not None:
            wanted.append((route.reply, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=_REF)
    found: dict[tuple[type[BaseModel], JsonSchemaMode], Any] = dict(refs)  # type: ignore[arg-type]
    return found, top.get("$defs", {})


def _operation(route: Route, schemas: dict[tuple[type[BaseModel], JsonSchemaMode], Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [route.tag],
        "security": _SECURITY[route.auth],
        "responses": _responses(route, schemas),
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(route.path)
    ]
    if route.paged:
        parameters += [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                                        "default": DEFAULT_PAGE}},
            {"name": "after", "in": "query", "description": "The `next` of the previous page.",
             "schema": {"type": "string"}},
        ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[(route.body, "validation")]}},
        }
    return operation


def _responses(route: Route, schemas: dict[tuple[type[BaseModel], JsonSchemaMode], Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "success"}
    if route.reply is not None:
        success["content"] = {"application/json": {"schema": schemas[(route.reply, "serialization")]}}
    elif route.media is not None:
        success["content"] = {route.media: {}}
    error_schema = schemas[(ErrorOut, "serialization")]
    error = {"description": "an error", "content": {"application/json": {"schema": error_schema}}}
    responses = {str(route.status): success, "default": error}
    if route.auth != "none":
        responses["401"] = {**error, "description": "no valid credentials"}
    return responses


def _operation_id(route: Route) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", route.path.removeprefix("/api/v1").lower()).strip("_")
    return f"{route.method.lower()}_{words or 'root'}"
