"""The `debug` namespace: whole states, fork-choice leaves and the fork-choice tree."""

from fastapi import APIRouter, Request, Response

from beacon_api.chain import ChainReader, ForkChoiceNode
from beacon_api.ids import resolve_state
from beacon_api.responses import json_response, versioned_response
from beacon_api.routes.common import chain_of

router = APIRouter()

ZERO_ROOT = b"\x00" * 32


@router.get("/eth/v2/debug/beacon/states/{state_id}")
async def get_debug_state(request: Request, state_id: str) -> Response:
    resolved = await resolve_state(chain_of(request), state_id)
    return await versioned_response(
        request,
        resolved.state,
        resolved.fork,
        execution_optimistic=resolved.execution_optimistic,
        finalized=resolved.finalized,
    )


def leaves(nodes: list[ForkChoiceNode]) -> list[ForkChoiceNode]:
    """Return the nodes that no other node has as parent, the fork-choice heads."""
    parents = {node.parent_root for node in nodes}
    return [node for node in nodes if node.block_root not in parents]


@router.get("/eth/v2/debug/beacon/heads")
async def get_debug_heads(request: Request) -> Response:
    data = [
        {
            "root": "0x" + node.block_root.hex(),
            "slot": str(node.slot),
            "execution_optimistic": node.validity == "optimistic",
        }
        for node in leaves(chain_of(request).fork_choice_nodes())
    ]
    return json_response({"data": data})


def _parent_root(chain: ChainReader, node: ForkChoiceNode) -> bytes:
    if node.parent_root is not None:
        return node.parent_root
    # The anchor's parent is outside fork choice; its block still names it.
    block = chain.block_by_root(node.block_root)
    return bytes(block.message.parent_root) if block is not None else ZERO_ROOT


@router.get("/eth/v1/debug/fork_choice")
async def get_fork_choice(request: Request) -> Response:
    chain = chain_of(request)
    justified = chain.justified_checkpoint()
    finalized = chain.finalized_checkpoint()
    nodes = [
        {
            "slot": str(node.slot),
            "block_root": "0x" + node.block_root.hex(),
            "parent_root": "0x" + _parent_root(chain, node).hex(),
            "justified_epoch": str(node.justified_epoch),
            "finalized_epoch": str(node.finalized_epoch),
            "weight": str(node.weight),
            "validity": node.validity,
            "execution_block_hash": "0x" + node.execution_block_hash.hex(),
            "extra_data": dict(node.extra_data),
        }
        for node in sorted(chain.fork_choice_nodes(), key=lambda node: node.slot)
    ]
    body = {
        "justified_checkpoint": {
            "epoch": str(justified.epoch),
            "root": "0x" + justified.root.hex(),
        },
        "finalized_checkpoint": {
            "epoch": str(finalized.epoch),
            "root": "0x" + finalized.root.hex(),
        },
        "fork_choice_nodes": nodes,
        "extra_data": {},
    }
    return json_response(body)
