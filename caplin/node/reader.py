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
from caplin.blobs import build_sidecars, verify_sidecar_proofs
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

    def sidecars(self, block_root: bytes) -> list[Any]:
        return self._chain.sidecars(block_root)

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
        """Return the canonical state at `slot`, replaying from the nearest kept state.

        Slots before the last finalized block come from the archive, or raise ApiError 404
        on a pruning node (except genesis).
        """
        chain = self._chain
        if slot > chain.snapshot.head_slot:
            return None
        history = chain.history
        finalized_slot = history.finalized_slot()
        if slot < finalized_slot:
            if history.archive:
                return history.state_at_slot(slot)
            if slot == 0:
                return self._state(StateId("genesis"))
            raise ApiError(
                404,
                f"state at slot {slot} was pruned: this node is not an archive node and keeps "
                f"states from slot {finalized_slot} on (and genesis); run a node with "
                "--caplin.archive=true on a new datadir to query every state",
            )
        roots: list[bytes] = []
        probe = slot
        # States before the finalized block may be pruned meanwhile: never replay from genesis.
        while probe >= finalized_slot:
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
        # Finalized history is the archive's (or pruned), even while fork choice still has it.
        finalized_slot = self._chain.history.finalized_slot()
        for root, block in list(self._chain.store.blocks.items()):
            if int(block.slot) >= finalized_slot and bytes(block.state_root) == state_root:
                state = self._chain.state_of(root)
                return None if state is None else state.copy()
        head_state = self._chain.snapshot.head_state
        if bytes(head_state.hash_tree_root()) == state_root:
            return head_state.copy()
        chain = self._chain
        history = chain.history
        if history.archive:
            return history.state_by_root(state_root)
        genesis_block = None if self._genesis_root is None else chain.block(self._genesis_root)
        if genesis_block is not None and bytes(genesis_block.message.state_root) == state_root:
            return self._state(StateId("genesis"))
        raise ApiError(
            404,
            f"state not found: 0x{state_root.hex()}; this node is not an archive node and "
            f"finds states by root from slot {history.finalized_slot()} on (and genesis); "
            "run a node with --caplin.archive=true to query every state",
        )

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
        peers = []
        for peer_id in network.connected_peers():
            address, direction = network.peer_connection(peer_id)
            peers.append(PeerInfo(peer_id, None, address, "connected", direction))
        return peers

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
        sidecars: list[Any] = []
        if blobs:
            spec = self._chain.spec
            fulu = spec.fork_of(signed_block) >= Fork.FULU
            try:
                sidecars = await trio.to_thread.run_sync(
                    lambda: build_sidecars(
                        spec,
                        signed_block,
                        blobs,
                        () if fulu else kzg_proofs,
                        kzg_proofs if fulu else (),
                    )
                )
                # Every sidecar is checked, not only the custody columns fork choice
                # samples, because all of them are stored and published.
                valid = await trio.to_thread.run_sync(verify_sidecar_proofs, sidecars)
            except (ValueError, CaplinError) as error:
                return BlockImportResult(
                    BlockImportStatus.INVALID, root, f"blob sidecars not built: {error}"
                )
            if not valid:
                return BlockImportResult(
                    BlockImportStatus.INVALID, root, "KZG proofs of the blobs do not verify"
                )
            self._chain.availability.offer(root, sidecars, own=True)
        try:
            await trio.to_thread.run_sync(self._chain.import_block, signed_block)
        except CaplinError as error:
            return BlockImportResult(BlockImportStatus.INVALID, root, str(error))
        # A block from an external validator reaches peers only through this broadcast,
        # its sidecars first.
        if self._node.network is not None:
            await self._node.network.publish_sidecars(sidecars)
            await self._node.network.publish_block(signed_block)
        return BlockImportResult(BlockImportStatus.IMPORTED, root)

    # --- validator namespace (the work is in caplin.node.validator_api) ------------------

    async def head_state_at(self, slot: int) -> tuple[bytes, Any]:
        head, state = await trio.to_thread.run_sync(self._node.validators.head_state_at, slot)
        return head, state.copy()

    async def produce_block(
        self, slot: int, randao_reveal: bytes, graffiti: bytes, fee_recipient: bytes | None
    ) -> Any:
        from caplin.node.validator_api import produce_unsigned_block

        return await trio.to_thread.run_sync(
            produce_unsigned_block, self._node, slot, randao_reveal, graffiti, fee_recipient
        )

    def aggregate_attestation(
        self, slot: int, data_root: bytes, committee_index: int | None
    ) -> Any | None:
        from caplin.node.validator_api import best_aggregate

        return best_aggregate(self._node, slot, data_root, committee_index)

    def sync_committee_contribution(
        self, slot: int, subcommittee_index: int, block_root: bytes
    ) -> Any | None:
        from caplin.node.validator_api import pooled_contribution

        return pooled_contribution(self._node, slot, subcommittee_index, block_root)

    async def submit_sync_committee_message(self, message: Any) -> None:
        from caplin.node.validator_api import check_and_pool_sync_message

        subnets = await trio.to_thread.run_sync(check_and_pool_sync_message, self._node, message)
        for subnet_id in subnets:
            await self._broadcast("sync_committee", message, subnet_id)

    async def submit_aggregate_and_proof(self, signed_aggregate: Any) -> None:
        from caplin.node.validator_api import check_and_pool_aggregate

        aggregate = await trio.to_thread.run_sync(
            check_and_pool_aggregate, self._node, signed_aggregate
        )
        try:
            await trio.to_thread.run_sync(self._chain.on_attestation, aggregate)
        except CaplinError as error:
            log.debug("submitted aggregate not applied to fork choice error=%s", error)
        await self._broadcast("beacon_aggregate_and_proof", signed_aggregate)

    async def submit_contribution_and_proof(self, signed_contribution: Any) -> None:
        from caplin.node.validator_api import check_and_pool_contribution

        await trio.to_thread.run_sync(check_and_pool_contribution, self._node, signed_contribution)
        await self._broadcast("sync_committee_contribution_and_proof", signed_contribution)

    async def _broadcast(self, topic: str, value: Any, subnet_id: int | None = None) -> None:
        """Publish an accepted API submission on gossip; a failure is logged by the network."""
        if self._node.network is not None:
            await self._node.network.publish(topic, value.encode_bytes(), subnet_id)

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
