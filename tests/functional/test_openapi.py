"""The OpenAPI 3.1 document: served openly, valid, and describing every route the app has."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from filehub.web.routes import ROUTES


async def document(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")  # no token: the description is public
    assert response.status == 200
    return await response.json()


async def test_the_document_is_valid_openapi_3_1(client: TestClient) -> None:
    doc = await document(client)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator, against the OpenAPI 3.1 schema


async def test_every_route_of_the_router_is_in_the_document(client: TestClient) -> None:
    paths = (await document(client))["paths"]
    missing = [
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.method.lower() not in paths.get(route.resource.canonical, {})
    ]
    assert missing == []
    described = sum(len(methods) for methods in paths.values())
    assert described == len(ROUTES) == len(list(client.app.router.routes()))


async def test_every_reference_resolves_and_bodies_name_their_models(client: TestClient) -> None:
    doc = await document(client)
    schemas = doc["components"]["schemas"]
    refs = {ref.rsplit("/", 1)[1] for ref in _refs(doc)}
    assert refs and refs <= set(schemas)
    create_case = doc["paths"]["/api/v1/cases"]["post"]
    assert create_case["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CaseCreate"}
    assert set(schemas["CaseCreate"]["required"]) == {"reference", "title"}
    assert create_case["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/CaseOut")
    assert {p["name"] for p in doc["paths"]["/api/v1/files"]["get"]["parameters"]} == {"limit", "after"}
    assert doc["paths"]["/api/v1/uploads"]["post"]["security"] == [{"bearer": []}, {"link": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_the_document_is_deterministic() -> None:
    from filehub.web.openapi import build_document

    first = build_document(ROUTES, title="filehub", version="1")
    assert json.dumps(first, sort_keys=True) == json.dumps(build_document(ROUTES, title="filehub", version="1"), sort_keys=True)
