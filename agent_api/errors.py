"""Every refusal as one JSON body, ``{code, message, field}``: the domain errors' HTTP
statuses (the one mapping), the handlers that write the body, and the OpenAPI document's
description of it, with the catalogue of codes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from campaigns.errors import (
    MEANINGS,
    Code,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)

# Domain error classes (campaigns.errors, one tree) to HTTP statuses.
STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (DomainError, 400),
)

# Codes of the HTTP layer itself, beside the domain's catalogue.
HTTP_MEANINGS: dict[str, str] = {
    "too_large": "the request body is over the limit (64 KiB; contact lists 50 MiB)",
    "method_not_allowed": "the path exists, the method does not",
    "internal": "an unexpected error; it has been logged",
    "http_<status>": "any other refusal of the HTTP layer",
}


class ErrorBody(BaseModel):
    """Every error answer, whatever its status."""

    code: str = Field(description="stable, for programs to match on: see the catalogue")
    message: str = Field(description="for people; may change")
    field: str | None = Field(
        description="the request field to blame, when there is one; several joined by `,`"
    )


def _catalogue() -> str:
    lines = ["Every error answer is this body. Codes:", "", "| code | meaning |", "|---|---|"]
    lines += [f"| `{code.value}` | {MEANINGS.get(code, 'see the message')} |" for code in Code]
    lines += [f"| `{code}` | {text} |" for code, text in HTTP_MEANINGS.items()]
    return "\n".join(lines)


def install(app: FastAPI) -> None:
    """Add the handlers that turn every failure into an :class:`ErrorBody`, and document
    them in the app's OpenAPI document."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next(code for kind, code in STATUS if isinstance(exc, kind))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _answer(status, exc.code.value, str(exc), exc.field, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts, fields = [], []
    for err in exc.errors():
        if err["type"] == "json_invalid":
            # The location is the character offset: not a field.
            reason = (err.get("ctx") or {}).get("error", "")
            at = err["loc"][-1] if len(err["loc"]) > 1 else "?"
            parts.append(f"body: not valid JSON ({reason} at character {at})".replace(" ()", ""))
            fields.append("body")
            continue
        loc = [str(p) for p in err["loc"] if p not in ("body", "query", "path")]
        name = ".".join(loc) or "body"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{name}: {message}")
        fields.append(name)
    return _answer(422, "invalid", "; ".join(parts), ",".join(dict.fromkeys(fields)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = {413: "too_large", 405: "method_not_allowed", 404: "not_found"}.get(
        status, f"http_{status}"
    )
    return _answer(status, code, str(exc.detail), "body" if status == 413 else None, exc.headers)


def _answer(
    status: int, code: str, message: str, field: str | None, headers: Any = None
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "field": field}, status, headers=headers)


# What each documented status means; every one answers an ErrorBody.
_WHY = {
    "401": "No bearer token, or one that is not valid (`unauthorized`).",
    "403": "Your role may not do this (`forbidden`).",
    "404": "Not found, or not yours to see (`not_found`).",
    "409": "Clashes with the current state (`conflict` or a more specific code).",
    "413": "The body is over the limit (`too_large`).",
    "422": "A value cannot be used; `field` names it (`invalid` or a more specific code).",
    "500": "An unexpected error, logged (`internal`).",
}


def _document(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for plain in ("HTTPValidationError", "ValidationError"):
        components.pop(plain, None)
    body = ErrorBody.model_json_schema()
    body["description"] = _catalogue()
    components["ErrorBody"] = body
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path_item in schema["paths"].values():
        for method, operation in path_item.items():
            statuses = {"422", "500"}
            roles = [role for need in operation.get("security", []) for role in need.values()]
            if roles:
                statuses.add("401")
            if any("manager" in role for role in roles):
                statuses.add("403")
            if method in ("post", "put", "patch", "delete"):
                statuses |= {"409", "413"}
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                statuses.add("404")
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses[status] = {"description": _WHY[status], "content": ref}
    return schema
