"""The OpenAPI document describes the API as it answers: one error body, its codes, and
Swagger UI served without a CDN."""

from __future__ import annotations

import json

from campaigns.errors import Code
from tests.agent_api.conftest import Api


async def test_one_error_model_documented_everywhere(api: Api) -> None:
    """Every operation documents its refusals with ErrorBody; FastAPI's own is gone."""
    doc = (await api.client.get("/openapi.json")).json()
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and "ValidationError" not in text
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "field"}
    for code in Code:
        assert f"`{code.value}`" in body["description"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status in ("422", "500"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (path, method, status)
            if operation.get("security"):
                assert "401" in responses, (path, method)
            if "{" in path:
                assert "404" in responses, (path, method)


async def test_roles_and_statuses_per_operation(api: Api) -> None:
    """Manager-only operations name the role and document 403; writes document 409/413."""
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    create_user = paths["/users"]["post"]
    assert create_user["security"] == [{"HTTPBearer": ["manager"]}]
    assert {"401", "403", "409", "413", "422"} <= set(create_user["responses"])
    me = paths["/users/me"]["get"]
    assert me["security"] == [{"HTTPBearer": []}] and "403" not in me["responses"]


async def test_no_internal_notes_in_schema_text(api: Api) -> None:
    """Descriptions are for API users: no seed or spec references."""
    text = (await api.client.get("/openapi.json")).text.lower()
    assert "seed" not in text and "spec section" not in text


async def test_malformed_json_names_the_body(api: Api) -> None:
    """A body that is not JSON is a 422 blaming `body`, not a character offset."""
    r = await api.client.post(
        "/users",
        content=b'{"username": ',
        headers={**api.manager, "content-type": "application/json"},
    )
    assert r.status_code == 422
    err = r.json()
    assert err["code"] == "invalid" and err["field"] == "body"
    assert err["message"].startswith("body: not valid JSON")


async def test_http_layer_errors_use_the_body(api: Api) -> None:
    """An unknown path and a wrong method answer the same body, with stable codes."""
    r = await api.client.get("/no/such/path")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await api.client.delete("/health")
    assert r.status_code == 405 and r.json() == {
        "code": "method_not_allowed",
        "message": "Method Not Allowed",
        "field": None,
    }


async def test_docs_served_without_a_cdn(api: Api) -> None:
    """/docs loads Swagger UI from this server; the assets are there."""
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body")[0]
    assert "/static-offline-docs/swagger-ui-bundle.js" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = await api.client.get(f"/static-offline-docs/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000
