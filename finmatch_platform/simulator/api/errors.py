"""What both simulated vendor APIs answer on error: a JSON :class:`ErrorBody`, bad input as a 400
naming the parameter (never FastAPI's 422), and the API-key check."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from finmatch_platform.simulator.pagination import PAGE_SIZE_RULE

JSON = "application/json"

# What each documented error status means; 400 and 401 are each API's own.
_FAULT_STATUSES = {
    429: "Rate limited (fault injection): honour the Retry-After header (seconds or an HTTP date).",
    500: "Server error (fault injection).",
    502: "Bad gateway (fault injection).",
    503: "Unavailable (fault injection).",
    504: "Gateway timeout (fault injection).",
}


class ErrorBody(BaseModel):
    """Every error the API returns, 4xx and 5xx alike."""

    error: str = Field(
        description="Machine-readable code: unauthorized, invalid_parameter, invalid_cursor, not_found, "
        "method_not_allowed, rate_limited, upstream_unavailable, internal_error.",
        examples=["invalid_parameter"],
    )
    detail: str = Field(description="What is wrong and how to fix it.", examples=[PAGE_SIZE_RULE])
    parameter: str | None = Field(default=None, description="The offending parameter, if one is to blame.")


class ApiError(Exception):
    """An error answered as an :class:`ErrorBody` with the given status."""

    def __init__(self, status: int, error: str, detail: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.parameter = status, error, detail, parameter


def error_response(
    status: int,
    error: str,
    detail: str,
    parameter: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = orjson.dumps({"error": error, "detail": detail, "parameter": parameter})
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def error_responses(codes: tuple[int, ...], bad_input: str, unauthorized: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an operation answering the given error statuses."""
    described = {400: bad_input, 401: unauthorized, **_FAULT_STATUSES}
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": described[code]} for code in codes
    }
    if 429 in codes:
        responses[429]["headers"] = {
            "Retry-After": {"description": "Seconds to wait, or an HTTP date.", "schema": {"type": "string"}}
        }
    return responses


def check_key(given: str | None, expected: bytes, missing: str) -> None:
    """ApiError 401 unless ``given`` is the key (``missing``: what to say when none was sent)."""
    if not given:
        raise ApiError(401, "unauthorized", missing)
    # Starlette decoded the header as latin-1, so this recovers the bytes the client sent.
    if not hmac.compare_digest(given.encode("latin-1", errors="replace"), expected):
        raise ApiError(401, "unauthorized", "invalid API key")


def describe_validation_error(err: Mapping[str, Any], rules: Mapping[str, str]) -> tuple[str | None, str]:
    """(parameter, message) of one validation error: the parameter's rule when it has one."""
    loc = [str(part) for part in err.get("loc", ())]
    name = loc[-1] if len(loc) > 1 else None
    return name, rules.get(name or "", f"{name or 'request'}: {err.get('msg', 'invalid value')}")


def install_error_handlers(
    app: FastAPI,
    rules: Mapping[str, str],
    log: logging.Logger,
    unauthorized_headers: Mapping[str, str] | None = None,
) -> None:
    """Answer every error as JSON: ApiError as raised, validation errors as a 400 with the
    parameters' ``rules``, routing errors by status, and anything else as a logged 500."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        headers = unauthorized_headers if exc.status == 401 else None
        return error_response(exc.status, exc.error, exc.detail, exc.parameter, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        described = [describe_validation_error(err, rules) for err in exc.errors()]
        detail = "; ".join(dict.fromkeys(text for _, text in described))
        return error_response(400, "invalid_parameter", detail, described[0][0] if described else None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "internal error; it has been logged")


def drop_unused_422(app: FastAPI) -> None:
    """FastAPI documents a 422 on every operation with parameters; these APIs answer 400 instead."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI after the first call; the edits below are idempotent
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
