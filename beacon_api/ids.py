"""Parse and resolve the block ids and state ids of the Beacon API routes.

Both id kinds are "head", "genesis", "finalized", "justified", a decimal slot, or a 0x-prefixed
32-byte root (a block root for block ids, a state root for state ids). A malformed id is a 400;
a well-formed id that names nothing the node has is a 404.
"""

from dataclasses import dataclass
from typing import Any

import trio

from beacon_api.chain import ChainReader, StateId
from caplin.config.forks import Fork
from caplin.errors import ApiError
from caplin.types.ssz import hash_tree_root

NAMED_IDS = ("head", "genesis", "finalized", "justified")
MAX_UINT64 = 2**64 - 1
MAX_UINT64_DIGITS = len(str(MAX_UINT64))


def parse_uint(text: str, what: str) -> int:
    """Return `text` as a uint64, raising a 400 ApiError naming `what` otherwise."""
    if not text.isdigit() or not text.isascii():
        raise ApiError(400, f"invalid {what} {text[:80]!r}: expected a decimal unsigned integer")

    # Checking the length first keeps int() away from strings of more than 4,300 digits,
    # which it rejects with a ValueError.
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_UINT64_DIGITS or int(digits) > MAX_UINT64:
        raise ApiError(400, f"invalid {what} {text[:80]!r}: larger than uint64")
    return int(digits)


def parse_root(text: str, what: str) -> bytes:
    """Return the 32 bytes of a 0x-prefixed hex root, raising a 400 ApiError otherwise."""
    if not text.startswith("0x") or len(text) != 66:
        raise ApiError(400, f"invalid {what} {text!r}: expected 0x and 64 hex digits")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise ApiError(400, f"invalid {what} {text!r}: not hex") from None


def parse_hex(text: str, what: str, size: int | None = None) -> bytes:
    """Return the bytes of 0x-prefixed hex, of exactly `size` bytes when given."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ApiError(400, f"invalid {what} {text!r}: expected 0x-prefixed hex")
    try:
        value = bytes.fromhex(text[2:])
    except ValueError:
        raise ApiError(400, f"invalid {what} {text!r}: not hex") from None
    if size is not None and len(value) != size:
        raise ApiError(400, f"invalid {what} {text!r}: expected {size} bytes, got {len(value)}")
    return value


def parse_state_id(text: str) -> StateId:
    """Parse a state id path segment.

    Raises:
        ApiError: 400 when it is none of the accepted forms.
    """
    if text in NAMED_IDS:
        return StateId(text)  # type: ignore[arg-type]
    if text.startswith("0x"):
        return StateId("root", parse_root(text, "state id"))
    if text.isdigit():
        return StateId("slot", parse_uint(text, "state id"))
    raise ApiError(
        400,
        f"invalid state id {text!r}: expected head, genesis, finalized, "
        "justified, a slot or a 0x state root",
    )


@dataclass(frozen=True)
class ResolvedBlock:
    """A stored block and the response flags that go with it."""

    root: bytes
    signed_block: Any
    fork: Fork
    canonical: bool
    execution_optimistic: bool
    finalized: bool

    @property
    def slot(self) -> int:
        return int(self.signed_block.message.slot)


def finalized_slot(chain: ChainReader) -> int:
    """Return the first slot of the finalized checkpoint epoch."""
    return chain.finalized_checkpoint().epoch * chain.spec.SLOTS_PER_EPOCH


def block_root_of_id(chain: ChainReader, text: str) -> bytes | None:
    """Return the block root a block id names, or None when the node has no such block.

    Raises:
        ApiError: 400 for a malformed id.
    """
    if text == "head":
        return chain.head()[0]
    if text == "genesis":
        return chain.canonical_block_root(0)
    if text == "finalized":
        return chain.finalized_checkpoint().root
    if text == "justified":
        return chain.justified_checkpoint().root
    if text.startswith("0x"):
        return parse_root(text, "block id")
    if text.isdigit():
        return chain.canonical_block_root(parse_uint(text, "block id"))
    raise ApiError(
        400,
        f"invalid block id {text!r}: expected head, genesis, finalized, "
        "justified, a slot or a 0x block root",
    )


def resolve_block(chain: ChainReader, text: str) -> ResolvedBlock:
    """Return the block a block id names, with its canonical and finality flags.

    Raises:
        ApiError: 400 for a malformed id, 404 when the block is not found.
    """
    root = block_root_of_id(chain, text)
    signed_block = chain.block_by_root(root) if root is not None else None
    if signed_block is None:
        raise ApiError(404, f"block not found: {text}")
    return describe_block(chain, root, signed_block)


def describe_block(chain: ChainReader, root: bytes, signed_block: Any) -> ResolvedBlock:
    """Return the flags of a stored block: canonical, optimistic, finalized."""
    slot = int(signed_block.message.slot)
    canonical = chain.canonical_block_root(slot) == root
    return ResolvedBlock(
        root=root,
        signed_block=signed_block,
        fork=chain.spec.fork_of(signed_block),
        canonical=canonical,
        execution_optimistic=chain.is_optimistic(root),
        finalized=canonical and slot <= finalized_slot(chain),
    )


@dataclass(frozen=True)
class ResolvedState:
    """A state and the response flags that go with it."""

    state: Any
    fork: Fork
    execution_optimistic: bool
    finalized: bool

    @property
    def slot(self) -> int:
        return int(self.state.slot)


def latest_block_root(state: Any) -> bytes:
    """Return the root of the state's latest block header, with its state root filled in."""
    header = state.latest_block_header.copy()
    if bytes(header.state_root) == b"\x00" * 32:
        header.state_root = hash_tree_root(state)
    return hash_tree_root(header)


async def resolve_state(chain: ChainReader, text: str) -> ResolvedState:
    """Return the state a state id names, with its optimistic and finalized flags.

    Raises:
        ApiError: 400 for a malformed id, 404 when the state is not available.
    """
    state_id = parse_state_id(text)
    state = await chain.state(state_id)
    if state is None:
        raise ApiError(404, f"state not found: {text}")

    slot = int(state.slot)
    # Hashing a state that was just read from storage takes long, so it runs off the loop.
    block_root = await trio.to_thread.run_sync(latest_block_root, state)
    header_slot = int(state.latest_block_header.slot)
    canonical = chain.canonical_block_root(header_slot) == block_root
    return ResolvedState(
        state=state,
        fork=chain.spec.fork_of(state),
        execution_optimistic=chain.is_optimistic(block_root),
        finalized=canonical and slot <= finalized_slot(chain),
    )
