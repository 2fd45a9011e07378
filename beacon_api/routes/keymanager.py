"""The Keymanager API's local keystore routes: GET, POST and DELETE /eth/v1/keystores.

Every route needs `Authorization: Bearer <token>`, the token of
`<datadir>/validator/api-token.txt`: a request without one gets 401 and one with another
token 403. The app serves these routes only when it was created with a `KeyManager`
(`app.state.keymanager`). Work that derives keys or waits for a running duty goes to a
worker thread, so the trio loop keeps serving.
"""

import hmac
import logging
from typing import Any

import orjson
import trio
from fastapi import APIRouter, Request, Response

from beacon_api.responses import json_response
from caplin.errors import ApiError
from caplin.validator.interchange import InterchangeError
from caplin.validator.keymanager import KeyManager

log = logging.getLogger("beacon_api.keymanager")

router = APIRouter()

ROUTE = "/eth/v1/keystores"


def _authorized(request: Request) -> KeyManager:
    """Return the app's KeyManager once the request's bearer token matches it."""
    manager: KeyManager | None = getattr(request.app.state, "keymanager", None)
    if manager is None:
        raise ApiError(404, f"route not found: {request.method} {request.url.path}")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token: send Authorization: Bearer <api-token.txt>")
    if not hmac.compare_digest(token.strip().encode(), manager.token.encode()):
        log.warning("keymanager request with an invalid token path=%s", request.url.path)
        raise ApiError(403, "invalid bearer token")
    return manager


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"invalid JSON body: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _string_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, f"{name} must be a list of strings")
    return value


def _pubkey(text: str) -> bytes:
    body = text.removeprefix("0x")
    if not text.startswith("0x") or len(body) != 96:
        raise ApiError(400, f"invalid pubkey {text!r}: expected 0x and 96 hex digits")
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ApiError(400, f"invalid pubkey {text!r}: expected 0x and 96 hex digits") from None


@router.get(ROUTE)
async def list_keys(request: Request) -> Response:
    manager = _authorized(request)
    return json_response({"data": manager.list_keys()})


@router.post(ROUTE)
async def import_keystores(request: Request) -> Response:
    manager = _authorized(request)
    body = await _json_body(request)
    keystores = _string_list(body, "keystores")
    passwords = _string_list(body, "passwords")
    if len(keystores) != len(passwords):
        raise ApiError(
            400, f"{len(keystores)} keystores but {len(passwords)} passwords: give one each"
        )
    protection = body.get("slashing_protection")
    document = None
    if protection is not None:
        if not isinstance(protection, str):
            raise ApiError(400, "slashing_protection must be a JSON-encoded string")
        try:
            document = orjson.loads(protection)
        except orjson.JSONDecodeError as error:
            raise ApiError(400, f"slashing_protection is not valid JSON: {error}") from None
    try:
        statuses = await trio.to_thread.run_sync(
            manager.import_keystores, keystores, passwords, document
        )
    except InterchangeError as error:
        raise ApiError(400, f"invalid slashing_protection: {error}") from None
    return json_response({"data": [status.as_json() for status in statuses]})


@router.delete(ROUTE)
async def delete_keys(request: Request) -> Response:
    manager = _authorized(request)
    body = await _json_body(request)
    pubkeys = [_pubkey(text) for text in _string_list(body, "pubkeys")]
    statuses, document = await trio.to_thread.run_sync(manager.delete_keys, pubkeys)
    return json_response(
        {
            "data": [status.as_json() for status in statuses],
            "slashing_protection": orjson.dumps(document).decode(),
        }
    )
