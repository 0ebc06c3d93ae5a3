"""What every JSON view does: read a validated body, read paging, answer a model."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from filehub.errors import BadRequest, UnsupportedMediaType
from filehub.services.pages import DEFAULT_PAGE, PageRequest

M = TypeVar("M", bound=BaseModel)
MAX_ERRORS_SHOWN = 5


async def body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; 415 if not JSON, 400 (with the fields) if invalid."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = await request.read()  # bounded by the app's client_max_size
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """Field paths and pydantic's messages, never the submitted values."""
    parts = []
    for error in exc.errors(include_input=False)[:MAX_ERRORS_SHOWN]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid body: " + "; ".join(parts)


def page(request: web.Request) -> PageRequest:
    try:
        limit = int(request.query.get("limit", str(DEFAULT_PAGE)))
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    return PageRequest(limit=limit, after=request.query.get("after") or None)


def reply(model: type[BaseModel], value: Any, status: int = 200) -> web.Response:
    """``value`` (a dataclass or a dict) validated as ``model`` and sent as JSON."""
    validated = model.model_validate(value)  # Reply models read dataclasses by attribute
    return web.json_response(validated.model_dump(mode="json"), status=status)


def items(model: type[BaseModel], page_: Any, convert: Any = None) -> web.Response:
    """A page of items, each converted (e.g. a dataclass to a dict) then validated."""
    converted = [convert(item) if convert else item for item in page_.items]
    return reply(model, {"items": converted, "next": page_.next})


def no_content() -> web.Response:
    return web.Response(status=204)
