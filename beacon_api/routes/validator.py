"""The `validator` namespace: duties, attestation data, aggregates and subscriptions.

Block production is in `beacon_api.routes.production`. Duties come from the head state
advanced as far as the requested epoch needs, the state the node's own validators use, so an
external validator client sees the same committees and proposers.
"""

import logging
from typing import Any

import trio
from fastapi import APIRouter, Request, Response

from beacon_api import duties
from beacon_api.chain import ChainReader, StateId
from beacon_api.ids import latest_block_root, parse_hex, parse_root, parse_uint
from beacon_api.responses import (
    data_response,
    encode_json_data,
    json_response,
    ssz_or_json_response,
    versioned_response,
)
from beacon_api.routes.common import chain_of, observe, state_of
from beacon_api.routes.pool import submit_each, version_header
from beacon_api.submission import (
    check_id_count,
    decode_json_list,
    json_body,
    parse_index_list,
    require_media,
)
from caplin.config.constants import SYNC_COMMITTEE_SUBNET_COUNT, TARGET_AGGREGATORS_PER_COMMITTEE
from caplin.config.forks import Fork
from caplin.errors import ApiError, SSZError
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_start_slot_at_epoch,
    get_committee_count_per_slot,
    get_current_epoch,
)
from caplin.types.basic import List
from caplin.types.ssz import decode

log = logging.getLogger("beacon_api.validator")

router = APIRouter()


# Sync state and the clock.


def require_synced(chain: ChainReader) -> None:
    """Raise the 503 ApiError the duty routes return while the node is syncing."""
    status = chain.sync_status()
    if status.is_syncing:
        raise ApiError(
            503,
            f"beacon node is syncing: head slot {status.head_slot}, "
            f"{status.sync_distance} slots behind; retry later",
        )


def current_slot(chain: ChainReader) -> int:
    """Return the wall-clock slot: the head slot plus the sync distance."""
    status = chain.sync_status()
    return status.head_slot + status.sync_distance


def _check_epoch_not_future(chain: ChainReader, epoch: int) -> None:
    current_epoch = compute_epoch_at_slot(chain.spec, current_slot(chain))
    if epoch > current_epoch + 1:
        raise ApiError(
            400,
            f"invalid epoch {epoch}: duties are known at most one epoch ahead of the "
            f"current epoch {current_epoch}",
        )


def genesis_root(chain: ChainReader) -> bytes:
    root = chain.canonical_block_root(0)
    if root is None:
        raise ApiError(500, "the genesis block is not stored")
    return root


class EpochState:
    """A state for an epoch's duties: `state` and the root of its latest block."""

    def __init__(self, state: Any, latest_root: bytes) -> None:
        self.state = state
        self.latest_root = latest_root


async def epoch_state(
    chain: ChainReader, epoch: int, lookahead: int, lookback: int = 0
) -> EpochState:
    """Return a state whose current epoch is between `epoch - lookahead` and
    `epoch + lookback`.

    The head state is used when it is in that range and advanced when it is older. For an
    epoch before the range the state at the epoch's first slot comes from the chain.

    Raises:
        ApiError: 400 when the node has no state for that epoch.
    """
    spec = chain.spec
    head_root, head_slot = chain.head()
    head_epoch = compute_epoch_at_slot(spec, head_slot)
    if epoch - lookahead <= head_epoch <= epoch + lookback:
        root, state = await chain.head_state_at(head_slot)
        return EpochState(state, root)
    if head_epoch < epoch - lookahead:
        root, state = await chain.head_state_at(
            compute_start_slot_at_epoch(spec, epoch - lookahead)
        )
        return EpochState(state, root)
    state = await chain.state(StateId("slot", compute_start_slot_at_epoch(spec, epoch)))
    if state is None:
        raise ApiError(400, f"invalid epoch {epoch}: the node keeps no state of that epoch")
    return EpochState(state, latest_block_root(state))


def dependent_root(chain: ChainReader, found: EpochState, slot: int) -> str:
    root = duties.block_root_at(
        found.state, chain.spec, slot, found.latest_root, genesis_root(chain)
    )
    return "0x" + root.hex()


async def _index_body(request: Request, what: str = "validator indices") -> list[int]:
    return parse_index_list(
        json_body(request.headers.get("content-type", ""), await request.body()), what
    )


# Duties.


@router.post("/eth/v1/validator/duties/attester/{epoch}")
async def post_attester_duties(request: Request, epoch: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    target = parse_uint(epoch, "epoch")
    indices = await _index_body(request)
    require_synced(chain)
    _check_epoch_not_future(chain, target)

    # A state has the shuffling of its previous, current and next epoch.
    found = await epoch_state(chain, target, lookahead=1, lookback=1)
    duties.check_indices(found.state, indices)
    data = await trio.to_thread.run_sync(duties.attester_duties, spec, found.state, target, indices)
    root = dependent_root(chain, found, (target - 1) * spec.SLOTS_PER_EPOCH - 1)
    return json_response(
        {
            "dependent_root": root,
            "execution_optimistic": chain.is_optimistic(found.latest_root),
            "data": data,
        }
    )


async def _proposer_duties(request: Request, epoch: str, dependent_epoch_offset: int) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    target = parse_uint(epoch, "epoch")
    require_synced(chain)
    _check_epoch_not_future(chain, target)

    # Fulu fixes the proposers one epoch ahead in `proposer_lookahead`, so a fulu state of the
    # previous epoch has them. Earlier forks sample them from the epoch's own state.
    previous_is_fulu = target > 0 and spec.fork_at_epoch(target - 1) >= Fork.FULU
    lookahead = 1 if previous_is_fulu else 0
    found = await epoch_state(chain, target, lookahead)
    data = await trio.to_thread.run_sync(duties.proposer_duties, spec, found.state, target)
    dependent_slot = (target - dependent_epoch_offset) * spec.SLOTS_PER_EPOCH - 1
    return json_response(
        {
            "dependent_root": dependent_root(chain, found, dependent_slot),
            "execution_optimistic": chain.is_optimistic(found.latest_root),
            "data": data,
        }
    )


@router.get("/eth/v1/validator/duties/proposer/{epoch}")
async def get_proposer_duties(request: Request, epoch: str) -> Response:
    # v1 keeps the pre-fulu dependent root: the last block before the epoch.
    return await _proposer_duties(request, epoch, dependent_epoch_offset=0)


@router.get("/eth/v2/validator/duties/proposer/{epoch}")
async def get_proposer_duties_v2(request: Request, epoch: str) -> Response:
    # v2 names the last block before the previous epoch, which fixes fulu's lookahead.
    return await _proposer_duties(request, epoch, dependent_epoch_offset=1)


@router.post("/eth/v1/validator/duties/sync/{epoch}")
async def post_sync_duties(request: Request, epoch: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    target = parse_uint(epoch, "epoch")
    indices = await _index_body(request)
    require_synced(chain)
    if spec.fork_at_epoch(target) < Fork.ALTAIR:
        raise ApiError(400, f"invalid epoch {target}: sync committees start at altair")
    head_root, head_slot = chain.head()
    root, state = await chain.head_state_at(head_slot)
    if spec.fork_of(state) < Fork.ALTAIR:
        # Before the fork the head state has no sync committees: use the fork's first state.
        root, state = await chain.head_state_at(
            compute_start_slot_at_epoch(spec, spec.ALTAIR_FORK_EPOCH)
        )
    duties.check_indices(state, indices)
    data = await trio.to_thread.run_sync(duties.sync_duties, spec, state, target, indices)
    return json_response({"execution_optimistic": chain.is_optimistic(root), "data": data})


# Attestation data and aggregates.


def _require_verified(chain: ChainReader, block_root: bytes, what: str) -> None:
    if chain.is_optimistic(block_root):
        raise ApiError(
            503,
            f"cannot produce {what}: block 0x{block_root.hex()} is optimistic (its execution "
            "payload is not verified yet)",
        )


def _query_uint(request: Request, name: str, required: bool = True) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        if required:
            raise ApiError(400, f"missing query parameter {name}")
        return None
    return parse_uint(text, name)


async def _state_for_slot(chain: ChainReader, slot: int) -> tuple[bytes, Any]:
    """Return (block root, state) of the chain at `slot`, the head advanced when later."""
    head_root, head_slot = chain.head()
    if slot >= head_slot:
        return await chain.head_state_at(slot)
    state = await chain.state(StateId("slot", slot))
    if state is None:
        raise ApiError(400, f"invalid slot {slot}: the node keeps no state of that slot")
    return latest_block_root(state), state


@router.get("/eth/v1/validator/attestation_data")
async def get_attestation_data(request: Request) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    slot = _query_uint(request, "slot")
    committee_index = _query_uint(request, "committee_index", required=False) or 0
    assert slot is not None
    require_synced(chain)
    now = current_slot(chain)
    if slot > now + 1:
        raise ApiError(400, f"invalid slot {slot}: later than the next slot {now + 1}")
    oldest = max(
        0,
        compute_start_slot_at_epoch(spec, compute_epoch_at_slot(spec, now)) - spec.SLOTS_PER_EPOCH,
    )
    if slot < oldest:
        raise ApiError(
            400, f"invalid slot {slot}: attestations older than slot {oldest} cannot be included"
        )

    block_root, state = await _state_for_slot(chain, slot)
    epoch = compute_epoch_at_slot(spec, slot)
    committees = get_committee_count_per_slot(spec, state, epoch)
    if committee_index >= committees:
        raise ApiError(
            400,
            f"invalid committee_index {committee_index}: slot {slot} has {committees} committees",
        )
    _require_verified(chain, block_root, "attestation data")
    data = duties.attestation_data(spec, state, block_root, slot, committee_index)
    return await ssz_or_json_response(request, data)


def _aggregate_query(request: Request, with_committee: bool) -> tuple[int, bytes, int | None]:
    root_text = request.query_params.get("attestation_data_root")
    if root_text is None:
        raise ApiError(400, "missing query parameter attestation_data_root")
    data_root = parse_root(root_text, "attestation_data_root")
    slot = _query_uint(request, "slot")
    assert slot is not None
    committee_index = _query_uint(request, "committee_index") if with_committee else None
    return slot, data_root, committee_index


def _found_aggregate(chain: ChainReader, slot: int, root: bytes, index: int | None) -> Any:
    aggregate = chain.aggregate_attestation(slot, root, index)
    if aggregate is None:
        raise ApiError(
            404, f"no attestation found for attestation_data_root 0x{root.hex()} at slot {slot}"
        )
    _require_verified(chain, bytes(aggregate.data.beacon_block_root), "an aggregate")
    return aggregate


@router.get("/eth/v2/validator/aggregate_attestation")
async def get_aggregate_attestation(request: Request) -> Response:
    chain = chain_of(request)
    slot, data_root, committee_index = _aggregate_query(request, with_committee=True)
    aggregate = _found_aggregate(chain, slot, data_root, committee_index)
    return await versioned_response(request, aggregate, chain.spec.fork_at_slot(slot))


@router.get("/eth/v1/validator/aggregate_attestation")
async def get_aggregate_attestation_v1(request: Request) -> Response:
    # Removed from the v4 specification; kept for validator clients built before electra.
    chain = chain_of(request)
    slot, data_root, _ = _aggregate_query(request, with_committee=False)
    if chain.spec.fork_at_slot(slot) >= Fork.ELECTRA:
        raise ApiError(
            400, f"slot {slot} is electra or later; use /eth/v2/validator/aggregate_attestation"
        )
    aggregate = _found_aggregate(chain, slot, data_root, None)
    return await ssz_or_json_response(request, aggregate)


def _decode_list(request: Request, body: bytes, cls: Any, what: str, limit: int) -> list[Any]:
    """Decode a JSON array, or an SSZ list of at most `limit` items, of `cls`."""
    media = require_media(
        request.headers.get("content-type", ""), ("application/json", "application/octet-stream")
    )
    if media == "application/json":
        if not body.strip():
            raise ApiError(400, f"missing request body: expected a JSON array of {what}")
        return decode_json_list(cls, body, what)
    try:
        return list(decode(List[cls, limit], body))
    except SSZError as error:
        raise ApiError(400, f"invalid SSZ list of {what}: {error}") from None


async def _post_aggregates(request: Request, fork: Fork) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    cls = spec.types(fork).SignedAggregateAndProof
    limit = spec.MAX_COMMITTEES_PER_SLOT * TARGET_AGGREGATORS_PER_COMMITTEE
    items = _decode_list(request, await request.body(), cls, "aggregate_and_proofs", limit)
    check_id_count(len(items), "aggregate_and_proofs")

    def accepted(item: Any) -> None:
        message = item.message
        observe(request, int(message.aggregate.data.slot), [int(message.aggregator_index)])

    return await submit_each(
        items, chain.submit_aggregate_and_proof, "aggregate_and_proofs", accepted
    )


@router.post("/eth/v2/validator/aggregate_and_proofs")
async def post_aggregate_and_proofs(request: Request) -> Response:
    return await _post_aggregates(request, version_header(request))


@router.post("/eth/v1/validator/aggregate_and_proofs")
async def post_aggregate_and_proofs_v1(request: Request) -> Response:
    # Removed from the v4 specification; kept for validator clients built before electra.
    chain = chain_of(request)
    fork = chain.spec.fork_at_slot(chain.head()[1])
    if fork >= Fork.ELECTRA:
        raise ApiError(
            400, "the head is electra or later; use /eth/v2/validator/aggregate_and_proofs"
        )
    return await _post_aggregates(request, fork)


# Sync committee contributions.


@router.get("/eth/v1/validator/sync_committee_contribution")
async def get_sync_committee_contribution(request: Request) -> Response:
    chain = chain_of(request)
    slot = _query_uint(request, "slot")
    subcommittee = _query_uint(request, "subcommittee_index")
    root_text = request.query_params.get("beacon_block_root")
    if root_text is None:
        raise ApiError(400, "missing query parameter beacon_block_root")
    block_root = parse_root(root_text, "beacon_block_root")
    assert slot is not None and subcommittee is not None
    if subcommittee >= SYNC_COMMITTEE_SUBNET_COUNT:
        raise ApiError(
            400,
            f"invalid subcommittee_index {subcommittee}: expected less than "
            f"{SYNC_COMMITTEE_SUBNET_COUNT}",
        )
    if chain.spec.fork_at_slot(slot) < Fork.ALTAIR:
        raise ApiError(400, f"invalid slot {slot}: sync committees start at altair")
    require_synced(chain)
    contribution = chain.sync_committee_contribution(slot, subcommittee, block_root)
    if contribution is None:
        raise ApiError(
            404,
            f"no sync committee contribution for block 0x{block_root.hex()} at slot {slot} "
            f"subcommittee {subcommittee}",
        )
    _require_verified(chain, block_root, "a sync committee contribution")
    return data_response(await encode_json_data(contribution))


@router.post("/eth/v1/validator/contribution_and_proofs")
async def post_contribution_and_proofs(request: Request) -> Response:
    chain = chain_of(request)
    fork = max(chain.spec.fork_at_slot(chain.head()[1]), Fork.ALTAIR)
    require_media(request.headers.get("content-type", ""))
    cls = chain.spec.types(fork).SignedContributionAndProof
    body = await request.body()
    if not body.strip():
        raise ApiError(
            400, "missing request body: expected a JSON array of contribution_and_proofs"
        )
    items = decode_json_list(cls, body, "contribution_and_proofs")
    check_id_count(len(items), "contribution_and_proofs")

    def accepted(item: Any) -> None:
        message = item.message
        observe(request, int(message.contribution.slot), [int(message.aggregator_index)])

    return await submit_each(
        items, chain.submit_contribution_and_proof, "contribution_and_proofs", accepted
    )


# Subscriptions and proposer preparation.
# NOTE: the node joins attestation and sync committee subnets for its own validators only.
# Subscriptions sent here are validated and recorded, but join no subnet yet.


def _object_list(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise ApiError(400, f"invalid body: expected a JSON array of {what}")
    check_id_count(len(data), what)
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise ApiError(400, f"invalid {what} at index {position}: expected an object")
    return data


def _field(item: dict[str, Any], name: str, position: int, what: str) -> Any:
    if name not in item:
        raise ApiError(400, f"invalid {what} at index {position}: missing {name}")
    return item[name]


def _uint_field(item: dict[str, Any], name: str, position: int, what: str) -> int:
    value = _field(item, name, position, what)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ApiError(400, f"invalid {what} at index {position}: {name} is not a uint64")
    return parse_uint(value, f"{name} of {what} at index {position}")


@router.post("/eth/v1/validator/beacon_committee_subscriptions")
async def post_beacon_committee_subscriptions(request: Request) -> Response:
    chain = chain_of(request)
    what = "beacon committee subscriptions"
    items = _object_list(
        json_body(request.headers.get("content-type", ""), await request.body()), what
    )
    subscriptions = []
    for position, item in enumerate(items):
        entry = {
            name: _uint_field(item, name, position, what)
            for name in ("validator_index", "committee_index", "committees_at_slot", "slot")
        }
        aggregator = _field(item, "is_aggregator", position, what)
        if not isinstance(aggregator, bool):
            raise ApiError(
                400, f"invalid {what} at index {position}: is_aggregator is not a boolean"
            )
        if entry["committee_index"] >= max(entry["committees_at_slot"], 1):
            raise ApiError(
                400,
                f"invalid {what} at index {position}: committee_index "
                f"{entry['committee_index']} is not below committees_at_slot "
                f"{entry['committees_at_slot']}",
            )
        subscriptions.append(entry)
    require_synced(chain)
    state_of(request).subscribed_validators.update(s["validator_index"] for s in subscriptions)
    log.debug("beacon committee subscriptions count=%d", len(subscriptions))
    return Response(status_code=200)


@router.post("/eth/v1/validator/sync_committee_subscriptions")
async def post_sync_committee_subscriptions(request: Request) -> Response:
    what = "sync committee subscriptions"
    items = _object_list(
        json_body(request.headers.get("content-type", ""), await request.body()), what
    )
    for position, item in enumerate(items):
        index = _uint_field(item, "validator_index", position, what)
        _uint_field(item, "until_epoch", position, what)
        positions = _field(item, "sync_committee_indices", position, what)
        if not isinstance(positions, list):
            raise ApiError(
                400, f"invalid {what} at index {position}: sync_committee_indices is not an array"
            )
        parse_index_list(
            positions or ["0"], f"sync_committee_indices of {what} at index {position}"
        )
        state_of(request).subscribed_validators.add(index)
    return Response(status_code=200)


@router.post("/eth/v1/validator/prepare_beacon_proposer")
async def post_prepare_beacon_proposer(request: Request) -> Response:
    chain = chain_of(request)
    what = "proposer preparations"
    items = _object_list(
        json_body(request.headers.get("content-type", ""), await request.body()), what
    )
    epoch = compute_epoch_at_slot(chain.spec, current_slot(chain))
    prepared = []
    for position, item in enumerate(items):
        index = _uint_field(item, "validator_index", position, what)
        address = _field(item, "fee_recipient", position, what)
        recipient = _hex20(address, f"fee_recipient of {what} at index {position}")
        prepared.append((index, recipient))
    preparations = state_of(request).preparations
    for index, recipient in prepared:
        # The Beacon API keeps a preparation for the epoch it arrives in and two more.
        preparations[index] = (recipient, epoch + 2)
    return Response(status_code=200)


def _hex20(value: Any, what: str) -> bytes:
    return parse_hex(value, what, 20)


# Liveness.


@router.post("/eth/v1/validator/liveness/{epoch}")
async def post_liveness(request: Request, epoch: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    target = parse_uint(epoch, "epoch")
    indices = await _index_body(request)
    current_epoch = compute_epoch_at_slot(spec, current_slot(chain))
    if target > current_epoch:
        raise ApiError(400, f"invalid epoch {target}: later than the current epoch {current_epoch}")
    require_synced(chain)
    head_root, head_slot = chain.head()
    _, state = await chain.head_state_at(head_slot)
    live = await trio.to_thread.run_sync(_live_indices, spec, state, target, indices)
    live |= state_of(request).observed.get(target, set())
    return json_response(
        {"data": [{"index": str(index), "is_live": index in live} for index in indices]}
    )


def _live_indices(spec: Any, state: Any, epoch: int, indices: list[int]) -> set[int]:
    """Return the indices with an attestation of `epoch` in the state (altair and later)."""
    state_epoch = get_current_epoch(spec, state)
    if spec.fork_of(state) < Fork.ALTAIR:
        return set()
    if epoch == state_epoch:
        flags = state.current_epoch_participation
    elif epoch + 1 == state_epoch:
        flags = state.previous_epoch_participation
    else:
        return set()
    count = len(flags)
    return {index for index in indices if index < count and int(flags[index]) != 0}


# Distributed validator selections: served by a distributed validator middleware sitting
# between the validator client and the beacon node, never by the beacon node itself.


@router.post("/eth/v1/validator/beacon_committee_selections")
async def post_beacon_committee_selections(request: Request) -> Response:
    raise ApiError(
        501, "beacon committee selections are served by distributed validator middleware"
    )


@router.post("/eth/v1/validator/sync_committee_selections")
async def post_sync_committee_selections(request: Request) -> Response:
    raise ApiError(501, "sync committee selections are served by distributed validator middleware")
