"""The `beacon` namespace's operation pool routes: read the pools and submit operations."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from beacon_api.ids import parse_uint
from beacon_api.responses import VERSION_HEADER, data_response, json_response
from beacon_api.routes.common import chain_of, observe
from beacon_api.submission import decode_json_list, media_type_of, parse_json_body
from caplin.config.forks import Fork
from caplin.errors import ApiError, CaplinError, SSZError
from caplin.types.json import from_json, to_json

log = logging.getLogger("beacon_api.pool")

router = APIRouter()


def _head_fork(request: Request) -> Fork:
    chain = chain_of(request)
    return chain.spec.fork_at_slot(chain.head()[1])


def version_header(request: Request) -> Fork:
    version = request.headers.get(VERSION_HEADER)
    if version is None:
        raise ApiError(400, f"missing {VERSION_HEADER} header")
    try:
        return Fork.from_name(version)
    except ValueError:
        raise ApiError(400, f"invalid {VERSION_HEADER} header {version!r}") from None


def _require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if media_type_of(content_type) != "application/json":
        raise ApiError(415, f"unsupported Content-Type {content_type!r}; use application/json")


async def submit_each(
    items: list[Any],
    submit: Callable[[Any], Awaitable[None]],
    what: str,
    accepted: Callable[[Any], None] | None = None,
) -> Response:
    """Submit every item, then return 200 or a 400 listing each rejected item by index.

    `accepted` is called with each item the node accepted.
    """
    failures = []
    for index, item in enumerate(items):
        try:
            await submit(item)
        except CaplinError as error:
            log.info("rejected submitted %s index=%d error=%s", what, index, error)
            failures.append({"index": index, "message": str(error)})
            continue
        if accepted is not None:
            accepted(item)
    if failures:
        return json_response(
            {"code": 400, "message": f"some {what} failed validation", "failures": failures},
            status=400,
        )
    return Response(status_code=200)


async def _submit_one(request: Request, cls: Any, submit: Callable, what: str) -> Response:
    _require_json(request)
    try:
        item = from_json(cls, parse_json_body(await request.body()), what)
    except SSZError as error:
        raise ApiError(400, f"invalid {what}: {error}") from None
    try:
        await submit(item)
    except CaplinError as error:
        log.info("rejected submitted %s error=%s", what, error)
        raise ApiError(400, f"invalid {what}: {error}") from None
    return Response(status_code=200)


# Attestations.


def _committee_indices(attestation: Any, fork: Fork) -> list[int]:
    if fork >= Fork.ELECTRA:
        return [index for index, bit in enumerate(attestation.committee_bits) if bit]
    return [int(attestation.data.index)]


@router.get("/eth/v2/beacon/pool/attestations")
async def get_pool_attestations(request: Request) -> Response:
    slot_text = request.query_params.get("slot")
    index_text = request.query_params.get("committee_index")
    slot = parse_uint(slot_text, "slot") if slot_text is not None else None
    committee = parse_uint(index_text, "committee_index") if index_text is not None else None
    fork = _head_fork(request)

    matching = []
    for attestation in chain_of(request).pool_attestations():
        if slot is not None and int(attestation.data.slot) != slot:
            continue
        if committee is not None and committee not in _committee_indices(attestation, fork):
            continue
        matching.append(to_json(attestation))
    return data_response(matching, version=fork)


@router.post("/eth/v2/beacon/pool/attestations")
async def post_pool_attestations(request: Request) -> Response:
    chain = chain_of(request)
    fork = version_header(request)
    _require_json(request)
    types = chain.spec.types(fork)
    cls = types.SingleAttestation if fork >= Fork.ELECTRA else types.Attestation
    items = decode_json_list(cls, await request.body(), "attestations")

    def accepted(item: Any) -> None:
        # Only electra's single attestations name their attester without a committee lookup.
        if fork >= Fork.ELECTRA:
            observe(request, int(item.data.slot), [int(item.attester_index)])

    return await submit_each(items, chain.submit_attestation, "attestations", accepted)


@router.post("/eth/v1/beacon/pool/attestations")
async def post_pool_attestations_v1(request: Request) -> Response:
    # Removed from the v4 specification; kept for validator clients built before electra,
    # such as Lodestar 1.5.1. The body is a JSON array of the head fork's `Attestation`.
    chain = chain_of(request)
    _require_json(request)
    fork = _head_fork(request)
    if fork >= Fork.ELECTRA:
        raise ApiError(400, "the head is electra or later; use /eth/v2/beacon/pool/attestations")
    cls = chain.spec.types(fork).Attestation
    items = decode_json_list(cls, await request.body(), "attestations")
    return await submit_each(items, chain.submit_attestation, "attestations")


# Slashings, exits and BLS changes.


@router.get("/eth/v2/beacon/pool/attester_slashings")
async def get_pool_attester_slashings(request: Request) -> Response:
    slashings = chain_of(request).pool_attester_slashings()
    return data_response([to_json(item) for item in slashings], version=_head_fork(request))


@router.post("/eth/v2/beacon/pool/attester_slashings")
async def post_pool_attester_slashing(request: Request) -> Response:
    chain = chain_of(request)
    fork = version_header(request)
    cls = chain.spec.types(fork).AttesterSlashing
    return await _submit_one(request, cls, chain.submit_attester_slashing, "attester slashing")


@router.get("/eth/v1/beacon/pool/proposer_slashings")
async def get_pool_proposer_slashings(request: Request) -> Response:
    slashings = chain_of(request).pool_proposer_slashings()
    return data_response([to_json(item) for item in slashings])


@router.post("/eth/v1/beacon/pool/proposer_slashings")
async def post_pool_proposer_slashing(request: Request) -> Response:
    chain = chain_of(request)
    cls = chain.spec.types(_head_fork(request)).ProposerSlashing
    return await _submit_one(request, cls, chain.submit_proposer_slashing, "proposer slashing")


@router.get("/eth/v1/beacon/pool/voluntary_exits")
async def get_pool_voluntary_exits(request: Request) -> Response:
    exits = chain_of(request).pool_voluntary_exits()
    return data_response([to_json(item) for item in exits])


@router.post("/eth/v1/beacon/pool/voluntary_exits")
async def post_pool_voluntary_exit(request: Request) -> Response:
    chain = chain_of(request)
    cls = chain.spec.types(_head_fork(request)).SignedVoluntaryExit
    return await _submit_one(request, cls, chain.submit_voluntary_exit, "voluntary exit")


@router.get("/eth/v1/beacon/pool/bls_to_execution_changes")
async def get_pool_bls_changes(request: Request) -> Response:
    changes = chain_of(request).pool_bls_to_execution_changes()
    return data_response([to_json(item) for item in changes])


@router.post("/eth/v1/beacon/pool/bls_to_execution_changes")
async def post_pool_bls_changes(request: Request) -> Response:
    chain = chain_of(request)
    _require_json(request)
    fork = max(_head_fork(request), Fork.CAPELLA)
    cls = chain.spec.types(fork).SignedBLSToExecutionChange
    items = decode_json_list(cls, await request.body(), "bls_to_execution_changes")
    return await submit_each(items, chain.submit_bls_to_execution_change, "BLS changes")


# Sync committee messages.


@router.post("/eth/v1/beacon/pool/sync_committees")
async def post_pool_sync_committees(request: Request) -> Response:
    chain = chain_of(request)
    _require_json(request)
    fork = max(_head_fork(request), Fork.ALTAIR)
    cls = chain.spec.types(fork).SyncCommitteeMessage
    items = decode_json_list(cls, await request.body(), "sync committee messages")

    def accepted(item: Any) -> None:
        observe(request, int(item.slot), [int(item.validator_index)])

    return await submit_each(
        items, chain.submit_sync_committee_message, "sync committee messages", accepted
    )
