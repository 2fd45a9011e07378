"""The `beacon` namespace's `/states/{state_id}/...` routes."""

from typing import Any

import trio
from fastapi import APIRouter, Request, Response

from beacon_api.ids import ResolvedState, parse_uint, resolve_state
from beacon_api.responses import (
    data_response,
    encode_json_data,
    threaded_data_response,
    versioned_response,
    wants_ssz,
)
from beacon_api.routes.common import chain_of, query_list
from beacon_api.submission import check_id_count, json_body, parse_json_body, require_media
from beacon_api.validators import Registry, balances_json, identities_json, validators_json
from caplin.config import constants
from caplin.config.forks import Fork
from caplin.errors import ApiError
from caplin.transition.helpers import (
    compute_start_slot_at_epoch,
    get_beacon_committee,
    get_committee_count_per_slot,
    get_current_epoch,
    get_randao_mix,
)
from caplin.types.ssz import hash_tree_root

router = APIRouter()

PREFIX = "/eth/v1/beacon/states/{state_id}"


def _state_response(resolved: ResolvedState, data: Any) -> Response:
    return data_response(
        data, execution_optimistic=resolved.execution_optimistic, finalized=resolved.finalized
    )


async def _threaded(resolved: ResolvedState, compute: Any, *args: Any) -> Response:
    return await threaded_data_response(
        compute,
        *args,
        execution_optimistic=resolved.execution_optimistic,
        finalized=resolved.finalized,
    )


def _checkpoint_json(checkpoint: Any) -> dict[str, str]:
    return {"epoch": str(int(checkpoint.epoch)), "root": "0x" + bytes(checkpoint.root).hex()}


@router.get(PREFIX + "/root")
async def get_state_root(request: Request, state_id: str) -> Response:
    resolved = await resolve_state(chain_of(request), state_id)
    return _state_response(resolved, {"root": "0x" + hash_tree_root(resolved.state).hex()})


@router.get(PREFIX + "/fork")
async def get_state_fork(request: Request, state_id: str) -> Response:
    resolved = await resolve_state(chain_of(request), state_id)
    fork = resolved.state.fork
    data = {
        "previous_version": "0x" + bytes(fork.previous_version).hex(),
        "current_version": "0x" + bytes(fork.current_version).hex(),
        "epoch": str(int(fork.epoch)),
    }
    return _state_response(resolved, data)


@router.get(PREFIX + "/finality_checkpoints")
async def get_finality_checkpoints(request: Request, state_id: str) -> Response:
    resolved = await resolve_state(chain_of(request), state_id)
    state = resolved.state
    data = {
        "previous_justified": _checkpoint_json(state.previous_justified_checkpoint),
        "current_justified": _checkpoint_json(state.current_justified_checkpoint),
        "finalized": _checkpoint_json(state.finalized_checkpoint),
    }
    return _state_response(resolved, data)


# Validators and balances.


async def _validators(request: Request, state_id: str, ids: Any, statuses: Any) -> Response:
    chain = chain_of(request)
    resolved = await resolve_state(chain, state_id)
    epoch = get_current_epoch(chain.spec, resolved.state)
    return await _threaded(resolved, validators_json, resolved.state, epoch, ids, statuses)


# The specification caps the ids of a GET at 64 (URL length); POST takes any number.
MAX_QUERY_IDS = 64


def _query_ids(request: Request) -> list[str]:
    ids = query_list(request, "id")
    if len(ids) > MAX_QUERY_IDS:
        raise ApiError(
            414, f"too many validator ids ({len(ids)} > {MAX_QUERY_IDS}); use the POST route"
        )
    return ids


@router.get(PREFIX + "/validators")
async def get_validators(request: Request, state_id: str) -> Response:
    ids = _query_ids(request)
    statuses = query_list(request, "status")
    return await _validators(request, state_id, ids, statuses)


def _string_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, f"invalid {name}: expected an array of strings")
    check_id_count(len(value), f"{name} items")
    return value


@router.post(PREFIX + "/validators")
async def post_validators(request: Request, state_id: str) -> Response:
    # The body is required. `{}` (or null lists) selects every validator, and no body is a 400.
    data = json_body(request.headers.get("content-type", ""), await request.body())
    if not isinstance(data, dict):
        raise ApiError(400, "invalid body: expected an object with ids and statuses")
    ids = _string_list(data.get("ids"), "ids")
    statuses = _string_list(data.get("statuses"), "statuses")
    return await _validators(request, state_id, ids, statuses)


async def _optional_id_body(request: Request) -> list[str]:
    """Return the ids of an optional JSON array body; no body means every validator."""
    require_media(request.headers.get("content-type", ""))
    body = await request.body()
    return _string_list(parse_json_body(body), "body") if body.strip() else []


@router.get(PREFIX + "/validators/{validator_id}")
async def get_validator(request: Request, state_id: str, validator_id: str) -> Response:
    chain = chain_of(request)
    resolved = await resolve_state(chain, state_id)
    epoch = get_current_epoch(chain.spec, resolved.state)
    items = await trio.to_thread.run_sync(
        validators_json, resolved.state, epoch, [validator_id], None
    )
    if not items:
        raise ApiError(404, f"validator not found: {validator_id}")
    return _state_response(resolved, items[0])


async def _balances(request: Request, state_id: str, ids: list[str]) -> Response:
    resolved = await resolve_state(chain_of(request), state_id)
    return await _threaded(resolved, balances_json, resolved.state, ids)


@router.get(PREFIX + "/validator_balances")
async def get_validator_balances(request: Request, state_id: str) -> Response:
    return await _balances(request, state_id, _query_ids(request))


@router.post(PREFIX + "/validator_balances")
async def post_validator_balances(request: Request, state_id: str) -> Response:
    return await _balances(request, state_id, await _optional_id_body(request))


@router.post(PREFIX + "/validator_identities")
async def post_validator_identities(request: Request, state_id: str) -> Response:
    ids = await _optional_id_body(request)
    resolved = await resolve_state(chain_of(request), state_id)
    return await _threaded(resolved, identities_json, resolved.state, ids)


# Committees and randao.


def _epoch_param(request: Request, default: int) -> int:
    text = request.query_params.get("epoch")
    return default if text is None else parse_uint(text, "epoch")


def _committees(spec: Any, state: Any, epoch: int, index: int | None, slot: int | None) -> list:
    per_slot = get_committee_count_per_slot(spec, state, epoch)
    first_slot = compute_start_slot_at_epoch(spec, epoch)
    items = []
    for committee_slot in range(first_slot, first_slot + spec.SLOTS_PER_EPOCH):
        if slot is not None and committee_slot != slot:
            continue
        for committee_index in range(per_slot):
            if index is not None and committee_index != index:
                continue
            members = get_beacon_committee(spec, state, committee_slot, committee_index)
            items.append(
                {
                    "index": str(committee_index),
                    "slot": str(committee_slot),
                    "validators": [str(member) for member in members],
                }
            )
    return items


@router.get(PREFIX + "/committees")
async def get_committees(request: Request, state_id: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    resolved = await resolve_state(chain, state_id)
    current = get_current_epoch(spec, resolved.state)
    epoch = _epoch_param(request, current)
    # Shuffling is known for the previous, current and next epoch of a state only.
    if not max(current, 1) - 1 <= epoch <= current + 1:
        raise ApiError(
            400,
            f"epoch {epoch} is out of range: the state at epoch {current} has committees "
            f"for epochs {max(current, 1) - 1} to {current + 1}",
        )
    index_text = request.query_params.get("index")
    slot_text = request.query_params.get("slot")
    index = parse_uint(index_text, "index") if index_text is not None else None
    slot = parse_uint(slot_text, "slot") if slot_text is not None else None
    if slot is not None and slot // spec.SLOTS_PER_EPOCH != epoch:
        raise ApiError(400, f"slot {slot} is not in epoch {epoch}")
    items = await trio.to_thread.run_sync(_committees, spec, resolved.state, epoch, index, slot)
    return _state_response(resolved, items)


def _sync_committee(spec: Any, state: Any, epoch: int) -> dict[str, Any]:
    period_length = spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD
    state_period = get_current_epoch(spec, state) // period_length
    period = epoch // period_length
    if period == state_period:
        committee = state.current_sync_committee
    elif period == state_period + 1:
        committee = state.next_sync_committee
    else:
        raise ApiError(
            400, f"epoch {epoch} is outside the state's current and next sync committee periods"
        )
    registry = Registry(state)
    indices = []
    for pubkey in committee.pubkeys:
        index = registry.index_of(bytes(pubkey))
        if index is None:
            raise ApiError(500, f"sync committee pubkey 0x{bytes(pubkey).hex()} not in registry")
        indices.append(str(index))
    size = len(indices) // constants.SYNC_COMMITTEE_SUBNET_COUNT
    aggregates = [indices[start : start + size] for start in range(0, len(indices), size)]
    return {"validators": indices, "validator_aggregates": aggregates}


@router.get(PREFIX + "/sync_committees")
async def get_sync_committees(request: Request, state_id: str) -> Response:
    chain = chain_of(request)
    resolved = await resolve_state(chain, state_id)
    if resolved.fork < Fork.ALTAIR:
        raise ApiError(400, "sync committees start at altair; this state is phase0")
    epoch = _epoch_param(request, get_current_epoch(chain.spec, resolved.state))
    data = await trio.to_thread.run_sync(_sync_committee, chain.spec, resolved.state, epoch)
    return _state_response(resolved, data)


@router.get(PREFIX + "/randao")
async def get_randao(request: Request, state_id: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    resolved = await resolve_state(chain, state_id)
    current = get_current_epoch(spec, resolved.state)
    epoch = _epoch_param(request, current)
    # The state keeps the mixes of the last EPOCHS_PER_HISTORICAL_VECTOR epochs only.
    oldest = max(0, current - spec.EPOCHS_PER_HISTORICAL_VECTOR + 1)
    if not oldest <= epoch <= current:
        raise ApiError(
            400,
            f"epoch {epoch} is out of range: the state keeps randao mixes for epochs "
            f"{oldest} to {current}",
        )
    mix = get_randao_mix(spec, resolved.state, epoch)
    return _state_response(resolved, {"randao": "0x" + bytes(mix).hex()})


# Electra and fulu queues.


async def _state_list(request: Request, state_id: str, field: str, since: Fork) -> Response:
    resolved = await resolve_state(chain_of(request), state_id)
    if resolved.fork < since:
        raise ApiError(400, f"{field} start at {since.lower}; this state is {resolved.fork.lower}")
    value = getattr(resolved.state, field)
    if wants_ssz(request):
        return await versioned_response(request, value, resolved.fork)
    return data_response(
        await encode_json_data(value),
        execution_optimistic=resolved.execution_optimistic,
        finalized=resolved.finalized,
        version=resolved.fork,
    )


@router.get(PREFIX + "/pending_deposits")
async def get_pending_deposits(request: Request, state_id: str) -> Response:
    return await _state_list(request, state_id, "pending_deposits", Fork.ELECTRA)


@router.get(PREFIX + "/pending_partial_withdrawals")
async def get_pending_partial_withdrawals(request: Request, state_id: str) -> Response:
    return await _state_list(request, state_id, "pending_partial_withdrawals", Fork.ELECTRA)


@router.get(PREFIX + "/pending_consolidations")
async def get_pending_consolidations(request: Request, state_id: str) -> Response:
    return await _state_list(request, state_id, "pending_consolidations", Fork.ELECTRA)


@router.get(PREFIX + "/proposer_lookahead")
async def get_proposer_lookahead(request: Request, state_id: str) -> Response:
    return await _state_list(request, state_id, "proposer_lookahead", Fork.FULU)
