"""Block production for external validators: GET /eth/v3/validator/blocks/{slot}.

The node builds the block on its head with its own payload builder (`produce_block`). The
route checks the request, the randao reveal and the slot, then encodes the block as JSON or
SSZ. The blocks are never blinded, because the node has no builder (MEV relay) connection.
"""

import logging

import orjson
from fastapi import APIRouter, Request, Response

from beacon_api.chain import BlockProposal
from beacon_api.duties import uint64_root
from beacon_api.ids import parse_hex, parse_uint
from beacon_api.responses import (
    SSZ,
    VERSION_HEADER,
    encode_json_data,
    encode_ssz,
    json_response,
    versioned_response,
    wants_ssz,
)
from beacon_api.routes.common import chain_of, state_of
from beacon_api.routes.validator import current_slot, require_synced
from beacon_api.submission import block_contents_type
from caplin.config.constants import DOMAIN_RANDAO, G2_POINT_AT_INFINITY
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import ApiError, CaplinError
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_signing_root,
    get_beacon_proposer_index,
    get_domain,
)

log = logging.getLogger("beacon_api.validator")

router = APIRouter()

BLINDED_HEADER = "Eth-Execution-Payload-Blinded"
PAYLOAD_VALUE_HEADER = "Eth-Execution-Payload-Value"
BLOCK_VALUE_HEADER = "Eth-Consensus-Block-Value"
GWEI_IN_WEI = 10**9


def check_randao_reveal(spec: object, state: object, slot: int, reveal: bytes) -> int:
    """Return the proposer of `slot` after checking that it signed `reveal` for the epoch.

    `state` is the head state advanced to `slot`.

    Raises:
        ApiError: 400 naming the proposer when the signature does not verify.
    """
    proposer = get_beacon_proposer_index(spec, state)
    epoch = compute_epoch_at_slot(spec, slot)
    domain = get_domain(spec, state, DOMAIN_RANDAO, epoch)
    pubkey = bytes(state.validators[proposer].pubkey)  # type: ignore[attr-defined]
    if not bls.Verify(pubkey, compute_signing_root(spec, uint64_root(epoch), domain), reveal):
        raise ApiError(
            400,
            f"invalid randao_reveal: not the signature of proposer {proposer} over epoch "
            f"{epoch} for slot {slot}",
        )
    return proposer


def _reveal_param(request: Request) -> tuple[bytes, bool]:
    text = request.query_params.get("randao_reveal")
    if text is None:
        raise ApiError(400, "missing query parameter randao_reveal")
    reveal = parse_hex(text, "randao_reveal", 96)
    # The flag has no value: its presence skips the check, and then the reveal must be the
    # point at infinity.
    skip = "skip_randao_verification" in request.query_params
    if skip and reveal != G2_POINT_AT_INFINITY:
        raise ApiError(
            400,
            "invalid randao_reveal: with skip_randao_verification it must be the point at "
            "infinity (0xc0 and 95 zero bytes)",
        )
    return reveal, skip


def _graffiti_param(request: Request) -> bytes:
    """Return the 32-byte graffiti: 0x hex as the specification has it, or plain text.

    Older validator clients (Lodestar 1.5.1) send the text itself; it is UTF-8 encoded and
    padded with zero bytes.
    """
    text = request.query_params.get("graffiti")
    if text is None:
        return b"\x00" * 32
    if text.startswith("0x"):
        return parse_hex(text, "graffiti", 32)
    raw = text.encode()
    if len(raw) > 32:
        raise ApiError(400, f"invalid graffiti {text[:80]!r}: longer than 32 bytes as UTF-8 text")
    return raw.ljust(32, b"\x00")


async def _produce(request: Request, slot: str) -> tuple[BlockProposal, int]:
    """Check a block production request, then return the node's proposal and its proposer."""
    chain = chain_of(request)
    spec = chain.spec
    block_slot = parse_uint(slot, "slot")
    reveal, skip = _reveal_param(request)
    graffiti = _graffiti_param(request)
    boost = request.query_params.get("builder_boost_factor")
    if boost is not None:
        # Only matters with a builder connection, which the node does not have.
        parse_uint(boost, "builder_boost_factor")
    wants_ssz(request)
    require_synced(chain)

    head_root, head_slot = chain.head()
    if block_slot <= head_slot:
        raise ApiError(400, f"invalid slot {block_slot}: not after the head slot {head_slot}")
    now = current_slot(chain)
    if block_slot > now + 1:
        raise ApiError(400, f"invalid slot {block_slot}: later than the next slot {now + 1}")

    _, state = await chain.head_state_at(block_slot)
    if skip:
        proposer = get_beacon_proposer_index(spec, state)
    else:
        proposer = check_randao_reveal(spec, state, block_slot, reveal)
    epoch = compute_epoch_at_slot(spec, block_slot)
    fee_recipient = state_of(request).fee_recipient(proposer, epoch)
    try:
        proposal = await chain.produce_block(block_slot, reveal, graffiti, fee_recipient)
    except CaplinError as error:
        log.warning("block production failed slot=%d error=%s", block_slot, error)
        raise ApiError(500, f"block production failed at slot {block_slot}: {error}") from None
    log.info(
        "produced block for an external validator slot=%d proposer=%d fork=%s",
        block_slot,
        proposer,
        spec.fork_of(proposal.block).lower,
    )
    return proposal, proposer


@router.get("/eth/v3/validator/blocks/{slot}")
async def get_block_v3(request: Request, slot: str) -> Response:
    spec = chain_of(request).spec
    proposal, _ = await _produce(request, slot)
    fork = spec.fork_of(proposal.block)
    payload_value = str(proposal.execution_payload_value)
    block_value = str(proposal.consensus_block_value * GWEI_IN_WEI)
    headers = {
        VERSION_HEADER: fork.lower,
        BLINDED_HEADER: "false",
        PAYLOAD_VALUE_HEADER: payload_value,
        BLOCK_VALUE_HEADER: block_value,
    }
    if fork >= Fork.DENEB:
        value = block_contents_type(spec, fork)(
            block=proposal.block,
            kzg_proofs=list(proposal.kzg_proofs),
            blobs=list(proposal.blobs),
        )
    else:
        value = proposal.block
    if wants_ssz(request):
        return Response(await encode_ssz(value), media_type=SSZ, headers=headers)
    body = {
        "version": fork.lower,
        "execution_payload_blinded": False,
        "execution_payload_value": payload_value,
        "consensus_block_value": block_value,
        "data": await encode_json_data(value),
    }
    return json_response(body, headers=headers)


@router.get("/eth/v2/validator/blocks/{slot}")
async def get_block_v2(request: Request, slot: str) -> Response:
    # Removed from the v4 specification; kept for validator clients built before deneb,
    # such as Lodestar 1.5.1. It returns `{version, data}` with the block, or with the
    # `BlockContents` from deneb on.
    spec = chain_of(request).spec
    proposal, _ = await _produce(request, slot)
    fork = spec.fork_of(proposal.block)
    value = proposal.block
    if fork >= Fork.DENEB:
        value = block_contents_type(spec, fork)(
            block=proposal.block,
            kzg_proofs=list(proposal.kzg_proofs),
            blobs=list(proposal.blobs),
        )
    response = await versioned_response(request, value, fork)
    if wants_ssz(request):
        return response
    # Lodestar 1.5.1 reads the payload value (Wei) from a `block_value` field of this route,
    # which the later v3 route replaced with `execution_payload_value`.
    body = orjson.loads(response.body)
    body["block_value"] = str(proposal.execution_payload_value)
    return json_response(body, headers={VERSION_HEADER: fork.lower})
