"""The view of the chain that gossip validation needs, and an in-memory implementation.

Validation needs to know whether a block was seen, whether it passed the
state transition (has a post-state), its execution payload status, the head
state, the finalized checkpoint, and the checkpoint block of an epoch on a
branch. `ChainView` names those queries so the node can serve them from its
fork-choice store. `BlockTree` serves them from blocks and states handed to
it, as the spec tests and the node's tests do.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol


class PayloadStatus(Enum):
    """The execution engine's verdict on a block's payload."""

    VALID = "VALID"
    INVALIDATED = "INVALIDATED"
    NOT_VALIDATED = "NOT_VALIDATED"


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    root: bytes


class ChainView(Protocol):
    """The chain queries gossip validation makes."""

    @property
    def genesis_time(self) -> int:
        """Genesis time in seconds since the Unix epoch."""
        ...

    @property
    def finalized_checkpoint(self) -> Checkpoint: ...

    def has_block(self, root: bytes) -> bool:
        """Tell whether the block was seen, imported or not (it may have failed or be queued)."""
        ...

    def get_block(self, root: bytes) -> Any | None:
        """Return a seen `BeaconBlock` (the message, not the signed block), or None."""
        ...

    def get_block_state(self, root: bytes) -> Any | None:
        """Return the post-state of an imported block, or None if it failed or is queued."""
        ...

    def payload_status(self, root: bytes) -> PayloadStatus: ...

    def head_state(self) -> Any:
        """Return the post-state of the current head block."""
        ...

    def justified_state(self) -> Any:
        """Return the post-state of the justified checkpoint block."""
        ...

    def get_checkpoint_block(self, root: bytes, epoch: int) -> bytes | None:
        """Return the root of the last block at or before `epoch`'s start on `root`'s branch.

        Returns None when the branch leaves the known blocks before reaching that slot.
        """
        ...


class BlockTree:
    """A `ChainView` over blocks and post-states given to it, without attestation weights.

    The head is found from the anchor as LMD-GHOST finds it when no votes are
    known: at each block, the imported child with the highest root.
    """

    def __init__(self, spec: Any, anchor_state: Any, anchor_block: Any) -> None:
        self.spec = spec
        self._blocks: dict[bytes, Any] = {}
        self._states: dict[bytes, Any] = {}
        self._children: dict[bytes, list[bytes]] = {}
        self._payload_statuses: dict[bytes, PayloadStatus] = {}
        self.anchor_root = bytes(anchor_block.hash_tree_root())
        self._blocks[self.anchor_root] = anchor_block
        self._states[self.anchor_root] = anchor_state
        self._genesis_time = int(anchor_state.genesis_time)
        # An anchor is its own justified and finalized checkpoint.
        anchor_epoch = int(anchor_state.slot) // int(spec.SLOTS_PER_EPOCH)
        self._finalized = Checkpoint(anchor_epoch, self.anchor_root)
        self.justified_checkpoint = Checkpoint(anchor_epoch, self.anchor_root)

    # --- updates ---------------------------------------------------------------------------

    def add_block(
        self, block: Any, post_state: Any | None, payload_status: PayloadStatus | None = None
    ) -> bytes:
        """Record a seen block with its post-state (None when it failed or is not imported)."""
        root = bytes(block.hash_tree_root())
        self._blocks[root] = block
        if post_state is not None:
            self._states[root] = post_state
        self._children.setdefault(bytes(block.parent_root), []).append(root)
        if payload_status is not None:
            self._payload_statuses[root] = payload_status
        return root

    def set_finalized_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._finalized = checkpoint

    # --- ChainView -------------------------------------------------------------------------

    @property
    def genesis_time(self) -> int:
        return self._genesis_time

    @property
    def finalized_checkpoint(self) -> Checkpoint:
        return self._finalized

    def has_block(self, root: bytes) -> bool:
        return bytes(root) in self._blocks

    def get_block(self, root: bytes) -> Any | None:
        return self._blocks.get(bytes(root))

    def get_block_state(self, root: bytes) -> Any | None:
        return self._states.get(bytes(root))

    def payload_status(self, root: bytes) -> PayloadStatus:
        return self._payload_statuses.get(bytes(root), PayloadStatus.NOT_VALIDATED)

    def head_root(self) -> bytes:
        root = self.justified_checkpoint.root
        while True:
            children = [child for child in self._children.get(root, ()) if child in self._states]
            if not children:
                return root
            root = max(children)

    def head_state(self) -> Any:
        return self._states[self.head_root()]

    def justified_state(self) -> Any:
        return self._states[self.justified_checkpoint.root]

    def get_checkpoint_block(self, root: bytes, epoch: int) -> bytes | None:
        slot = int(epoch) * int(self.spec.SLOTS_PER_EPOCH)
        current = bytes(root)
        while True:
            block = self._blocks.get(current)
            if block is None:
                return None
            if int(block.slot) <= slot:
                return current
            current = bytes(block.parent_root)


class ForkChoiceView:
    """A `ChainView` over a fork-choice `Store`, plus the blocks the store did not import.

    The store holds only imported blocks, but gossip rules also distinguish a
    parent that was seen and failed (or is still queued) from one never seen.
    The node reports such blocks with `note_unimported_block`.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self._unimported: dict[bytes, Any] = {}
        self._unimported_statuses: dict[bytes, PayloadStatus] = {}

    def note_unimported_block(
        self, block: Any, payload_status: PayloadStatus = PayloadStatus.NOT_VALIDATED
    ) -> bytes:
        """Record a seen block that failed the state transition or waits for import."""
        root = bytes(block.hash_tree_root())
        self._unimported[root] = block
        self._unimported_statuses[root] = payload_status
        return root

    def forget_unimported_before(self, slot: int) -> None:
        """Drop recorded unimported blocks older than `slot` (e.g. the finalized slot)."""
        stale = [root for root, block in self._unimported.items() if int(block.slot) < slot]
        for root in stale:
            del self._unimported[root]
            del self._unimported_statuses[root]

    @property
    def genesis_time(self) -> int:
        return int(self.store.genesis_time)

    @property
    def finalized_checkpoint(self) -> Checkpoint:
        finalized = self.store.finalized_checkpoint
        return Checkpoint(int(finalized.epoch), bytes(finalized.root))

    def has_block(self, root: bytes) -> bool:
        root = bytes(root)
        return root in self.store.blocks or root in self._unimported

    def get_block(self, root: bytes) -> Any | None:
        root = bytes(root)
        block = self.store.blocks.get(root)
        return block if block is not None else self._unimported.get(root)

    def get_block_state(self, root: bytes) -> Any | None:
        return self.store.block_states.get(bytes(root))

    def payload_status(self, root: bytes) -> PayloadStatus:
        from forkchoice.proto_array import ExecutionStatus

        root = bytes(root)
        if root not in self.store.blocks:
            return self._unimported_statuses.get(root, PayloadStatus.NOT_VALIDATED)
        status = self.store.execution_status(root)
        if status == ExecutionStatus.INVALID:
            return PayloadStatus.INVALIDATED
        if status == ExecutionStatus.OPTIMISTIC:
            return PayloadStatus.NOT_VALIDATED
        return PayloadStatus.VALID

    def head_state(self) -> Any:
        return self.store.block_states[self.store.get_head()]

    def justified_state(self) -> Any:
        return self.store.block_states[bytes(self.store.justified_checkpoint.root)]

    def get_checkpoint_block(self, root: bytes, epoch: int) -> bytes | None:
        root = bytes(root)
        slot = int(epoch) * int(self.store.spec.SLOTS_PER_EPOCH)
        # Walk unimported blocks down to the first block the store contains.
        while root not in self.store.blocks:
            block = self._unimported.get(root)
            if block is None:
                return None
            if int(block.slot) <= slot:
                return root
            root = bytes(block.parent_root)
        try:
            return bytes(self.store.get_checkpoint_block(root, epoch))
        except KeyError:
            return None
