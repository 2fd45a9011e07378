"""The `beacon` namespace's genesis, header, block and blob routes, including block publication.

The `debug` namespace's data column sidecar route is here too, in `debug_router`, because it
shares the blob routes' helpers.
"""

from collections import OrderedDict
from typing import Any

import orjson
import trio
from fastapi import APIRouter, Request, Response

from beacon_api.chain import ChainReader
from beacon_api.ids import (
    ResolvedBlock,
    describe_block,
    parse_hex,
    parse_root,
    parse_uint,
    resolve_block,
)
from beacon_api.responses import (
    JSON,
    SSZ,
    VERSION_HEADER,
    data_response,
    encode_json_data,
    error_response,
    json_response,
    versioned_response,
    wants_ssz,
)
from beacon_api.routes.common import chain_of, query_list
from beacon_api.submission import decode_block_submission
from caplin.blobs import blobs_of
from caplin.config.forks import Fork
from caplin.crypto.kzg import kzg_commitment_to_versioned_hash
from caplin.errors import ApiError
from caplin.types.basic import List
from caplin.types.json import to_json
from caplin.types.ssz import encode, hash_tree_root

router = APIRouter()

BROADCAST_VALIDATIONS = ("gossip", "consensus", "consensus_and_equivocation")


@router.get("/eth/v1/beacon/genesis")
async def get_genesis(request: Request) -> Response:
    chain = chain_of(request)
    data = {
        "genesis_time": str(chain.genesis_time),
        "genesis_validators_root": "0x" + chain.genesis_validators_root.hex(),
        "genesis_fork_version": "0x" + chain.spec.fork_version(Fork.PHASE0).hex(),
    }
    return json_response({"data": data})


class HeaderCache:
    """Signed header JSON by block root, least recently used first out.

    Stored blocks never change, and reading the header fields out of a remerkleable block costs
    more than the rest of a header request. A block root fixes the whole signed header: the
    root covers every header field, and BLS signatures are deterministic, so one proposer key
    has one signature for it.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, dict[str, Any]] = OrderedDict()

    def signed_header(self, root: bytes, signed_block: Any) -> dict[str, Any]:
        """Return the `SignedBeaconBlockHeader` JSON of the block with root `root`."""
        cached = self._entries.get(root)
        if cached is not None:
            self._entries.move_to_end(root)
            return cached
        message = signed_block.message
        header = {
            "slot": str(int(message.slot)),
            "proposer_index": str(int(message.proposer_index)),
            "parent_root": "0x" + bytes(message.parent_root).hex(),
            "state_root": "0x" + bytes(message.state_root).hex(),
            "body_root": "0x" + hash_tree_root(message.body).hex(),
        }
        signed = {"message": header, "signature": "0x" + bytes(signed_block.signature).hex()}
        self._entries[root] = signed
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return signed


def _header_cache(request: Request) -> HeaderCache:
    cache = getattr(request.app.state, "header_cache", None)
    if cache is None:
        cache = request.app.state.header_cache = HeaderCache()
    return cache


def header_json(cache: HeaderCache, block: ResolvedBlock) -> dict[str, Any]:
    """Return the `{root, canonical, header}` item of the header routes."""
    return {
        "root": "0x" + block.root.hex(),
        "canonical": block.canonical,
        "header": cache.signed_header(block.root, block.signed_block),
    }


@router.get("/eth/v1/beacon/headers")
async def get_headers(request: Request) -> Response:
    chain = chain_of(request)
    slot_text = request.query_params.get("slot")
    parent_text = request.query_params.get("parent_root")
    slot = parse_uint(slot_text, "slot") if slot_text is not None else None
    parent_root = parse_root(parent_text, "parent_root") if parent_text is not None else None

    roots: list[bytes]
    if parent_root is not None:
        roots = chain.child_block_roots(parent_root)
    elif slot is not None:
        canonical = chain.canonical_block_root(slot)
        roots = [canonical] if canonical is not None else []
    else:
        roots = [chain.head()[0]]

    blocks = []
    for root in roots:
        signed_block = chain.block_by_root(root)
        if signed_block is None:
            continue
        block = describe_block(chain, root, signed_block)
        if slot is None or block.slot == slot:
            blocks.append(block)
    return data_response(
        [header_json(_header_cache(request), block) for block in blocks],
        execution_optimistic=any(block.execution_optimistic for block in blocks),
        finalized=bool(blocks) and all(block.finalized for block in blocks),
    )


@router.get("/eth/v1/beacon/headers/{block_id}")
async def get_header(request: Request, block_id: str) -> Response:
    block = resolve_block(chain_of(request), block_id)
    return data_response(
        header_json(_header_cache(request), block),
        execution_optimistic=block.execution_optimistic,
        finalized=block.finalized,
    )


@router.get("/eth/v2/beacon/blocks/{block_id}")
async def get_block(request: Request, block_id: str) -> Response:
    block = resolve_block(chain_of(request), block_id)
    return await versioned_response(
        request,
        block.signed_block,
        block.fork,
        execution_optimistic=block.execution_optimistic,
        finalized=block.finalized,
    )


@router.get("/eth/v1/beacon/blocks/{block_id}/root")
async def get_block_root(request: Request, block_id: str) -> Response:
    block = resolve_block(chain_of(request), block_id)
    return data_response(
        {"root": "0x" + block.root.hex()},
        execution_optimistic=block.execution_optimistic,
        finalized=block.finalized,
    )


@router.get("/eth/v2/beacon/blocks/{block_id}/attestations")
async def get_block_attestations(request: Request, block_id: str) -> Response:
    block = resolve_block(chain_of(request), block_id)
    attestations = block.signed_block.message.body.attestations
    return data_response(
        await encode_json_data(attestations),
        execution_optimistic=block.execution_optimistic,
        finalized=block.finalized,
        version=block.fork,
    )


def blind_block(spec: Any, signed_block: Any) -> Any:
    """Return the `SignedBlindedBeaconBlock` of a block: its payload replaced by the header.

    Blocks before bellatrix have no payload, so they are returned unchanged.
    """
    fork = spec.fork_of(signed_block)
    if fork < Fork.BELLATRIX:
        return signed_block
    types = spec.types(fork)
    block = signed_block.message
    body = block.body
    payload = body.execution_payload

    header_fields = {}
    for name in types.ExecutionPayloadHeader.fields():
        if name == "transactions_root":
            header_fields[name] = hash_tree_root(payload.transactions)
        elif name == "withdrawals_root":
            header_fields[name] = hash_tree_root(payload.withdrawals)
        else:
            header_fields[name] = getattr(payload, name)

    body_fields = {}
    for name in types.BlindedBeaconBlockBody.fields():
        if name == "execution_payload_header":
            body_fields[name] = types.ExecutionPayloadHeader(**header_fields)
        else:
            body_fields[name] = getattr(body, name)

    blinded = types.BlindedBeaconBlock(
        slot=block.slot,
        proposer_index=block.proposer_index,
        parent_root=block.parent_root,
        state_root=block.state_root,
        body=types.BlindedBeaconBlockBody(**body_fields),
    )
    return types.SignedBlindedBeaconBlock(message=blinded, signature=signed_block.signature)


@router.get("/eth/v1/beacon/blinded_blocks/{block_id}")
async def get_blinded_block(request: Request, block_id: str) -> Response:
    chain = chain_of(request)
    block = resolve_block(chain, block_id)
    return await versioned_response(
        request,
        blind_block(chain.spec, block.signed_block),
        block.fork,
        execution_optimistic=block.execution_optimistic,
        finalized=block.finalized,
    )


@router.post("/eth/v2/beacon/blocks")
async def post_block(request: Request) -> Response:
    validation = request.query_params.get("broadcast_validation", "gossip")
    if validation not in BROADCAST_VALIDATIONS:
        raise ApiError(
            400, f"invalid broadcast_validation {validation!r}: expected {BROADCAST_VALIDATIONS}"
        )
    version = request.headers.get(VERSION_HEADER)
    if version is None:
        raise ApiError(400, f"missing {VERSION_HEADER} header")
    return await _publish(request, _fork_of_header(version), validation)


@router.post("/eth/v1/beacon/blocks")
async def post_block_v1(request: Request) -> Response:
    # Removed from the v4 specification; kept for validator clients built before it. The
    # consensus version header is optional here: without it the head's fork is assumed.
    chain = chain_of(request)
    version = request.headers.get(VERSION_HEADER)
    if version is None:
        fork = chain.spec.fork_at_slot(chain.head()[1])
    else:
        fork = _fork_of_header(version)
    return await _publish(request, fork, "gossip")


def _fork_of_header(version: str) -> Fork:
    try:
        return Fork.from_name(version)
    except ValueError:
        raise ApiError(400, f"invalid {VERSION_HEADER} header {version!r}") from None


def check_equivocation(chain: ChainReader, signed_block: Any) -> None:
    """Raise a 400 ApiError when fork choice has another block of the same proposer and slot.

    That is the equivocation check of `broadcast_validation=consensus_and_equivocation`.
    """
    block = signed_block.message
    slot, proposer = int(block.slot), int(block.proposer_index)
    root = hash_tree_root(block)
    for node in chain.fork_choice_nodes():
        if node.slot != slot or node.block_root == root:
            continue
        other = chain.block_by_root(node.block_root)
        if other is not None and int(other.message.proposer_index) == proposer:
            raise ApiError(
                400,
                f"block is an equivocation: proposer {proposer} already proposed block "
                f"0x{node.block_root.hex()} at slot {slot}",
            )


async def _publish(request: Request, fork: Fork, validation: str) -> Response:
    chain = chain_of(request)
    submission = decode_block_submission(
        chain.spec, fork, request.headers.get("content-type", ""), await request.body()
    )
    if validation == "consensus_and_equivocation":
        check_equivocation(chain, submission.signed_block)
    result = await chain.submit_block(
        submission.signed_block,
        blobs=submission.blobs,
        kzg_proofs=submission.kzg_proofs,
        broadcast_validation=validation,  # type: ignore[arg-type]
    )
    status = result.status.value
    if status == 200:
        return Response(status_code=200)
    if status == 202:
        return error_response(202, result.message or "block broadcast but not imported")
    return error_response(status, result.message or "invalid block")


# Blob data: the blob sidecars of deneb and electra blocks, the data column sidecars of fulu
# blocks, and the blobs of either.

# Router of the `debug` namespace's data column route, which `beacon_api.server` registers.
debug_router = APIRouter()


def stored_sidecars(chain: ChainReader, block_root: bytes) -> list[Any]:
    """Return the stored sidecars of a block. A reader without a `sidecars` method has none."""
    read = getattr(chain, "sidecars", None)
    return [] if read is None else list(read(block_root))


async def read_sidecars(chain: ChainReader, block_root: bytes) -> list[Any]:
    """Return `stored_sidecars`, read in a worker thread because decoding them takes long."""
    return await trio.to_thread.run_sync(stored_sidecars, chain, block_root)


def parse_indices(request: Request, what: str, limit: int | None) -> set[int] | None:
    """Return the `indices` query values, or None when the query has none.

    Raises:
        ApiError: 400 for a value that is not a uint64, or is `limit` or more.
    """
    texts = query_list(request, "indices")
    if not texts:
        return None
    indices = set()
    for text in texts:
        index = parse_uint(text, what)
        if limit is not None and index >= limit:
            raise ApiError(400, f"invalid {what} {index}: expected 0 to {limit - 1}")
        indices.add(index)
    return indices


async def sidecars_response(request: Request, value: Any, block: ResolvedBlock) -> Response:
    """Return an SSZ list of sidecars as versioned JSON, or as SSZ bytes on request.

    Both forms are built in a worker thread: a list of blob or column sidecars takes several
    megabytes.
    """
    headers = {VERSION_HEADER: block.fork.lower}
    if wants_ssz(request):
        return Response(
            await trio.to_thread.run_sync(encode, value), media_type=SSZ, headers=headers
        )

    def build() -> bytes:
        body = {
            "version": block.fork.lower,
            "execution_optimistic": block.execution_optimistic,
            "finalized": block.finalized,
            "data": to_json(value),
        }
        return orjson.dumps(body)

    return Response(await trio.to_thread.run_sync(build), media_type=JSON, headers=headers)


@router.get("/eth/v1/beacon/blob_sidecars/{block_id}")
async def get_blob_sidecars(request: Request, block_id: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    block = resolve_block(chain, block_id)
    if block.fork >= Fork.FULU:
        raise ApiError(
            400,
            f"block {block_id} is a {block.fork.lower} block, and blob sidecars do not exist "
            f"from fulu on: request its blobs from /eth/v1/beacon/blobs/{block_id}",
        )
    if block.fork < Fork.DENEB:
        # The response's `version` can only be a fork with blob sidecars.
        raise ApiError(
            400,
            f"block {block_id} is a {block.fork.lower} block, and blob sidecars exist from "
            "deneb on",
        )
    # A block's blob indices are below its fork's blob limit.
    limit = spec.max_blobs_per_block(block.slot // spec.SLOTS_PER_EPOCH)
    indices = parse_indices(request, "blob index", limit)

    count = len(block.signed_block.message.body.blob_kzg_commitments)
    requested = [index for index in range(count) if indices is None or index in indices]
    stored = {int(sidecar.index): sidecar for sidecar in await read_sidecars(chain, block.root)}
    missing = [index for index in requested if index not in stored]
    if missing:
        raise ApiError(
            404,
            f"blob sidecars {missing} of block 0x{block.root.hex()} not found: the node "
            "never received them or has pruned them",
        )
    sidecars = [stored[index] for index in requested]

    types = spec.types(block.fork)
    value = List[types.BlobSidecar, spec.MAX_BLOB_COMMITMENTS_PER_BLOCK](*sidecars)
    return await sidecars_response(request, value, block)


@router.get("/eth/v1/beacon/blobs/{block_id}")
async def get_blobs(request: Request, block_id: str) -> Response:
    chain = chain_of(request)
    block = resolve_block(chain, block_id)
    hashes = {
        parse_hex(text, "versioned hash", 32) for text in query_list(request, "versioned_hashes")
    }

    requested: list[int] = []
    if block.fork >= Fork.DENEB:
        commitments = block.signed_block.message.body.blob_kzg_commitments
        for position, commitment in enumerate(commitments):
            if not hashes or kzg_commitment_to_versioned_hash(bytes(commitment)) in hashes:
                requested.append(position)
    blobs: list[bytes] = []
    if requested:
        sidecars = await read_sidecars(chain, block.root)
        all_blobs = blobs_of(chain.spec, block.signed_block.message, sidecars)
        if all_blobs is None:
            raise ApiError(404, _missing_blobs_message(chain.spec, block, sidecars))
        blobs = [all_blobs[position] for position in requested]

    if wants_ssz(request):
        # A list of fixed-size items such as `Blob` encodes as their concatenation.
        return Response(b"".join(blobs), media_type=SSZ)
    return data_response(
        ["0x" + blob.hex() for blob in blobs],
        execution_optimistic=block.execution_optimistic,
        finalized=block.finalized,
    )


def _missing_blobs_message(spec: Any, block: ResolvedBlock, sidecars: list[Any]) -> str:
    root = "0x" + block.root.hex()
    if block.fork < Fork.FULU:
        count = len(block.signed_block.message.body.blob_kzg_commitments)
        return (
            f"blobs of block {root} not found: the node stores {len(sidecars)} of its {count} "
            "blob sidecars"
        )
    half = int(spec.CELLS_PER_EXT_BLOB) // 2
    present = sum(1 for sidecar in sidecars if int(sidecar.index) < half)
    return (
        f"blobs of block {root} not found: the node stores {present} of the data columns 0 to "
        f"{half - 1} that contain them, and rebuilding blobs from other columns is not "
        "implemented"
    )


@debug_router.get("/eth/v1/debug/beacon/data_column_sidecars/{block_id}")
async def get_data_column_sidecars(request: Request, block_id: str) -> Response:
    chain = chain_of(request)
    spec = chain.spec
    block = resolve_block(chain, block_id)
    if block.fork < Fork.FULU:
        advice = ""
        if block.fork >= Fork.DENEB:
            advice = f": request its blob sidecars from /eth/v1/beacon/blob_sidecars/{block_id}"
        raise ApiError(
            400,
            f"block {block_id} is a {block.fork.lower} block, and data column sidecars exist "
            f"from fulu on{advice}",
        )
    indices = parse_indices(request, "data column index", int(spec.NUMBER_OF_COLUMNS))

    # Only the columns the node custodies are stored, so this may be a subset of the columns.
    sidecars = [
        sidecar
        for sidecar in await read_sidecars(chain, block.root)
        if indices is None or int(sidecar.index) in indices
    ]
    types = spec.types(block.fork)
    value = List[types.DataColumnSidecar, spec.NUMBER_OF_COLUMNS](*sidecars)
    return await sidecars_response(request, value, block)
