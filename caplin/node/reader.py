"""The node as the Beacon API's `ChainReader` (see `beacon_api.chain` for the contract).

Synchronous reads take no lock: they read the chain's immutable snapshot, fork choice's
dicts (single lookups are atomic under the GIL) or one database transaction. State lookups
that may replay blocks run in a worker thread.
"""

import logging
from collections.abc import Sequence
from typing import Any

import trio

from beacon_api.chain import (
    BlockImportResult,
    BlockImportStatus,
    ForkChoiceNode,
    NodeIdentity,
    PeerInfo,
    StateId,
    SyncStatus,
)
from beacon_api.event_bus import (
    BlockEvent,
    ChainReorgEvent,
    EventBus,
    FinalizedCheckpointEvent,
    HeadEvent,
)
from caplin.config.constants import DOMAIN_BEACON_ATTESTER
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import ApiError, CaplinError
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_signing_root,
    compute_start_slot_at_epoch,
    get_beacon_committee,
    get_block_root_at_slot,
    get_domain,
)
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import state_transition
from forkchoice.proto_array import ExecutionStatus
from forkchoice.store import Checkpoint

log = logging.getLogger("caplin.node.reader")

ZERO_ROOT = b"\x00" * 32


class NodeChainReader:
    """`ChainReader` over a running `Node`."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self._chain = node.chain
        self._events = EventBus()
        self._genesis_root = self._chain.db.canonical_root(0)
        self._chain.listeners.append(self._on_chain_event)

    # --- identity ----------------------------------------------------------------------

    @property
    def spec(self) -> Any:
        return self._chain.spec

    @property
    def genesis_time(self) -> int:
        return int(self._chain.snapshot.head_state.genesis_time)

    @property
    def genesis_validators_root(self) -> bytes:
        return bytes(self._chain.snapshot.head_state.genesis_validators_root)

    @property
    def events(self) -> EventBus:
        return self._events

    # --- head, checkpoints, blocks -----------------------------------------------------

    def head(self) -> tuple[bytes, int]:
        snapshot = self._chain.snapshot
        return snapshot.head_root, snapshot.head_slot

    def justified_checkpoint(self) -> Checkpoint:
        return self._chain.snapshot.justified

    def finalized_checkpoint(self) -> Checkpoint:
        return self._chain.snapshot.finalized

    def block_by_root(self, block_root: bytes) -> Any | None:
        return self._chain.block(block_root)

    def canonical_block_root(self, slot: int) -> bytes | None:
        return self._chain.canonical_root_at_slot(slot)

    def child_block_roots(self, parent_root: bytes) -> list[bytes]:
        blocks = self._chain.store.blocks
        return [
            root for root, block in list(blocks.items()) if bytes(block.parent_root) == parent_root
        ]

    def is_optimistic(self, block_root: bytes) -> bool:
        store = self._chain.store
        if block_root not in store.proto:
            return False
        return store.is_optimistic(block_root)

    # --- states ------------------------------------------------------------------------

    async def state(self, state_id: StateId) -> Any | None:
        return await trio.to_thread.run_sync(self._state, state_id)

    def _state(self, state_id: StateId) -> Any | None:
        chain = self._chain
        snapshot = chain.snapshot
        kind = state_id.kind
        if kind == "head":
            return snapshot.head_state.copy()
        if kind == "genesis":
            return None if self._genesis_root is None else chain.state_of(self._genesis_root)
        if kind in ("finalized", "justified"):
            checkpoint = snapshot.finalized if kind == "finalized" else snapshot.justified
            return self._checkpoint_state(checkpoint)
        if kind == "slot":
            return self._state_at_slot(int(state_id.value))
        if kind == "root":
            return self._state_by_root(bytes(state_id.value))
        return None

    def _checkpoint_state(self, checkpoint: Checkpoint) -> Any | None:
        state = self._chain.state_of(checkpoint.root)
        if state is None:
            return None
        start_slot = compute_start_slot_at_epoch(self.spec, checkpoint.epoch)
        if int(state.slot) < start_slot:
            state = process_slots(self.spec, state.copy(), start_slot)
        return state.copy()

    def _state_at_slot(self, slot: int) -> Any | None:
        """Return the canonical state at `slot`, replaying from the nearest kept state."""
        chain = self._chain
        if slot > chain.snapshot.head_slot:
            return None
        roots: list[bytes] = []
        probe = slot
        while probe >= 0:
            root = chain.canonical_root_at_slot(probe)
            if root is not None:
                roots.append(root)
                state = chain.state_of(root)
                if state is not None:
                    break
            probe -= 1
        else:
            return None
        state = state.copy()
        for root in reversed(roots[:-1]):
            signed_block = chain.block(root)
            state = state_transition(
                self.spec, state, signed_block, validate_result=False, verify_signatures=False
            )
        if int(state.slot) < slot:
            state = process_slots(self.spec, state, slot)
        return state

    def _state_by_root(self, state_root: bytes) -> Any | None:
        for root, block in list(self._chain.store.blocks.items()):
            if bytes(block.state_root) == state_root:
                state = self._chain.state_of(root)
                return None if state is None else state.copy()
        head_state = self._chain.snapshot.head_state
        if bytes(head_state.hash_tree_root()) == state_root:
            return head_state.copy()
        return None

    # --- fork choice -------------------------------------------------------------------

    def fork_choice_nodes(self) -> list[ForkChoiceNode]:
        store = self._chain.store
        proto = store.proto
        roots = list(proto.roots)
        weights = proto.weights
        nodes = []
        for index, root in enumerate(roots):
            parent = proto.parents[index]
            status = proto.statuses[index]
            validity = {
                ExecutionStatus.INVALID: "invalid",
                ExecutionStatus.OPTIMISTIC: "optimistic",
            }.get(status, "valid")
            state = store.block_states.get(root)
            finalized_epoch = int(state.finalized_checkpoint.epoch) if state is not None else 0
            nodes.append(
                ForkChoiceNode(
                    slot=proto.slots[index],
                    block_root=root,
                    parent_root=roots[parent] if parent >= 0 else None,
                    justified_epoch=proto.justified_epochs[index],
                    finalized_epoch=finalized_epoch,
                    weight=int(weights[index]) if index < len(weights) else 0,
                    validity=validity,
                    execution_block_hash=proto.block_hashes[index] or ZERO_ROOT,
                )
            )
        return nodes

    # --- node and network --------------------------------------------------------------

    def identity(self) -> NodeIdentity:
        network = self._node.network
        return NodeIdentity() if network is None else network.identity()

    def peers(self) -> list[PeerInfo]:
        network = self._node.network
        if network is None:
            return []
        # NOTE: the host does not record directions or addresses yet, so every peer is
        # reported as outbound without an address.
        return [
            PeerInfo(peer_id, None, "", "connected", "outbound")
            for peer_id in network.connected_peers()
        ]

    def sync_status(self) -> SyncStatus:
        snapshot = self._chain.snapshot
        current = self._node.current_slot()
        return SyncStatus(
            head_slot=snapshot.head_slot,
            sync_distance=max(0, current - snapshot.head_slot),
            is_syncing=self._node.network is not None and self._node.network.sync.is_syncing,
            is_optimistic=snapshot.optimistic,
        )

    # --- pools ---------------------------------------------------------------------------

    def pool_attestations(self) -> list[Any]:
        from caplin.node.pools import committee_attestation

        pool = self._node.validators.attestations
        fork = self.spec.fork_of(self._chain.snapshot.head_state)
        result = []
        for aggregate in list(pool._aggregates.values()):
            try:
                result.append(committee_attestation(self.spec, fork, aggregate))
            except (CaplinError, ValueError):
                continue
        return result

    def pool_attester_slashings(self) -> list[Any]:
        return []

    def pool_proposer_slashings(self) -> list[Any]:
        return []

    def pool_voluntary_exits(self) -> list[Any]:
        return []

    def pool_bls_to_execution_changes(self) -> list[Any]:
        return []

    # --- submissions -------------------------------------------------------------------

    async def submit_attestation(self, attestation: Any) -> None:
        await trio.to_thread.run_sync(self._submit_attestation, attestation)

    def _submit_attestation(self, attestation: Any) -> None:
        """Check a single attestation's committee and signature, then pool it."""
        spec = self.spec
        data = attestation.data
        slot = int(data.slot)
        head, state = self._node.validators.head_state_at(max(slot, self._chain.snapshot.head_slot))
        fork = spec.fork_of(state)
        if fork >= Fork.ELECTRA:
            committee_index = int(attestation.committee_index)
            committee = get_beacon_committee(spec, state, slot, committee_index)
            validator_index = int(attestation.attester_index)
            if validator_index not in committee:
                raise ApiError(
                    400,
                    "attester is not in the committee",
                    attester_index=validator_index,
                    committee_index=committee_index,
                )
            position = committee.index(validator_index)
        else:
            committee_index = int(data.index)
            committee = get_beacon_committee(spec, state, slot, committee_index)
            positions = [i for i, bit in enumerate(attestation.aggregation_bits) if bit]
            if len(positions) != 1 or len(attestation.aggregation_bits) != len(committee):
                raise ApiError(400, "attestation must have exactly one bit of its committee set")
            position = positions[0]
            validator_index = committee[position]
        domain = get_domain(spec, state, DOMAIN_BEACON_ATTESTER, int(data.target.epoch))
        pubkey = bytes(state.validators[validator_index].pubkey)
        if not bls.Verify(
            pubkey, compute_signing_root(spec, data, domain), bytes(attestation.signature)
        ):
            raise ApiError(400, "attestation signature is invalid", validator_index=validator_index)
        self._node.validators.attestations.add(
            data, committee_index, len(committee), [(position, bytes(attestation.signature))]
        )

    async def submit_attester_slashing(self, slashing: Any) -> None:
        raise ApiError(400, "this node does not pool attester slashings yet")

    async def submit_proposer_slashing(self, slashing: Any) -> None:
        raise ApiError(400, "this node does not pool proposer slashings yet")

    async def submit_voluntary_exit(self, exit: Any) -> None:
        raise ApiError(400, "this node does not pool voluntary exits yet")

    async def submit_bls_to_execution_change(self, change: Any) -> None:
        raise ApiError(400, "this node does not pool BLS to execution changes yet")

    async def submit_block(
        self,
        signed_block: Any,
        *,
        blobs: Sequence[bytes] = (),
        kzg_proofs: Sequence[bytes] = (),
        broadcast_validation: str = "gossip",
    ) -> BlockImportResult:
        root = bytes(signed_block.message.hash_tree_root())
        try:
            await trio.to_thread.run_sync(self._chain.import_block, signed_block)
        except CaplinError as error:
            return BlockImportResult(BlockImportStatus.INVALID, root, str(error))
        return BlockImportResult(BlockImportStatus.IMPORTED, root)

    # --- events ------------------------------------------------------------------------

    def _on_chain_event(self, kind: str, **fields: Any) -> None:
        chain = self._chain
        optimistic = chain.snapshot.optimistic
        if kind == "block":
            self._events.publish(BlockEvent(fields["slot"], fields["root"], optimistic))
        elif kind == "head":
            self._events.publish(self._head_event(fields["root"], fields["slot"]))
        elif kind == "finalized":
            state = chain.state_of(fields["root"])
            state_root = bytes(state.hash_tree_root()) if state is not None else ZERO_ROOT
            self._events.publish(
                FinalizedCheckpointEvent(fields["epoch"], fields["root"], state_root, optimistic)
            )
        elif kind == "reorg":
            old_state = chain.state_of(fields["old_root"])
            new_state = chain.snapshot.head_state
            old_slot = int(old_state.slot) if old_state is not None else fields["slot"]
            self._events.publish(
                ChainReorgEvent(
                    slot=fields["slot"],
                    depth=max(0, old_slot - fields["slot"]) + 1,
                    old_head_block=fields["old_root"],
                    new_head_block=fields["root"],
                    old_head_state=bytes(old_state.hash_tree_root()) if old_state else ZERO_ROOT,
                    new_head_state=bytes(new_state.hash_tree_root()),
                    epoch=compute_epoch_at_slot(self.spec, fields["slot"]),
                    execution_optimistic=optimistic,
                )
            )

    def _head_event(self, root: bytes, slot: int) -> HeadEvent:
        state = self._chain.snapshot.head_state
        epoch = compute_epoch_at_slot(self.spec, slot)
        return HeadEvent(
            slot=slot,
            block_root=root,
            state_root=bytes(state.hash_tree_root()),
            epoch_transition=slot == compute_start_slot_at_epoch(self.spec, epoch),
            previous_duty_dependent_root=self._dependent_root(state, epoch - 1, root),
            current_duty_dependent_root=self._dependent_root(state, epoch, root),
        )

    def _dependent_root(self, state: Any, epoch: int, head_root: bytes) -> bytes:
        """Return the block root at the last slot before `epoch` (genesis root before that)."""
        if epoch <= 0:
            return self._genesis_root or ZERO_ROOT
        slot = compute_start_slot_at_epoch(self.spec, epoch) - 1
        if slot >= int(state.slot):
            return head_root
        try:
            return get_block_root_at_slot(self.spec, state, slot)
        except CaplinError:
            return self._genesis_root or ZERO_ROOT
