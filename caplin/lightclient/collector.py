"""Collection of the light client data a full node serves, as blocks arrive and the head moves.

For every imported block the collector caches the Merkle branches of its
post-state and the best `LightClientUpdate` of the block's sync committee
period seen along its branch. When the head changes, the best updates of the
non-finalized periods on the new head's branch are committed, and the latest
finality and optimistic updates are rebuilt. When finality advances,
bootstraps are kept for the newly finalized epoch boundary blocks and cached
data below the finalized slot is dropped.

The caller imports blocks (the collector never runs the state transition,
except to advance a finalized state to the start of a sync committee period)
and reports the post-state of each block.
"""

from dataclasses import dataclass
from typing import Any

from caplin.config import constants
from caplin.lightclient.full_node import state_block_root
from caplin.lightclient.headers import (
    block_to_light_client_header,
    compute_epoch_at_slot,
    compute_start_slot_at_sync_committee_period,
    compute_sync_committee_period_at_slot,
    current_sync_committee_gindex_at_slot,
    finalized_root_gindex_at_slot,
    lc_object_kind,
    light_client_fork,
    next_sync_committee_gindex_at_slot,
    upgrade_container,
    upgrade_lc_object,
)
from caplin.lightclient.sync import is_better_update
from caplin.merkle import compute_merkle_proof


@dataclass(frozen=True)
class BlockId:
    """A block by slot and root."""

    slot: int
    root: bytes


@dataclass
class _CachedData:
    # Branches into the post-state of one block, and the best update and the
    # latest well-signed slot on the branch ending at that block.
    current_sync_committee_branch: list[bytes]
    next_sync_committee_branch: list[bytes]
    finalized_slot: int
    finality_branch: list[bytes]
    current_period_best_update: Any | None
    latest_signature_slot: int


def _bit_count(bits: Any) -> int:
    return sum(1 for bit in bits if bit)


def _block_id(signed_block: Any) -> BlockId:
    return BlockId(int(signed_block.message.slot), bytes(signed_block.message.hash_tree_root()))


class LightClientDataCollector:
    """Light client data of one chain, built from its blocks and post-states.

    `anchor_state` and `anchor_block` are where the node's history starts (a
    genesis or checkpoint state at an epoch boundary and its block).
    """

    def __init__(self, spec: Any, anchor_state: Any, anchor_block: Any) -> None:
        self.spec = spec
        altair_start = int(spec.ALTAIR_FORK_EPOCH) * int(spec.SLOTS_PER_EPOCH)
        self.tail_slot = max(int(anchor_state.slot), altair_start)
        self.historical_tail_slot = int(anchor_state.slot)

        self.blocks: dict[bytes, Any] = {}
        self.post_states: dict[bytes, Any] = {}
        self.finalized_block_roots: dict[int, bytes] = {}
        self.finalized_checkpoint_states: dict[bytes, Any] = {}
        finalized = anchor_state.finalized_checkpoint
        self.latest_finalized_epoch = int(finalized.epoch)
        self.latest_finalized = BlockId(
            int(finalized.epoch) * int(spec.SLOTS_PER_EPOCH), bytes(finalized.root)
        )

        self._cache: dict[BlockId, _CachedData] = {}
        self._latest: Any | None = None
        self._headers: dict[bytes, Any] = {}
        self._current_branches: dict[int, list[bytes]] = {}
        self._sync_committees: dict[int, Any | None] = {}
        self._best_updates: dict[int, Any] = {}

        anchor = BlockId(int(anchor_state.slot), state_block_root(anchor_state))
        self.blocks[anchor.root] = anchor_block
        self.post_states[anchor.root] = anchor_state
        self.finalized_block_roots[anchor.slot] = anchor.root
        self.finalized_checkpoint_states[anchor.root] = anchor_state
        self._cache_data(anchor_state, anchor, None, constants.GENESIS_SLOT)
        self._create_bootstrap(anchor)

    # --- served data ---------------------------------------------------------------------

    def get_light_client_bootstrap(self, block_root: bytes) -> Any | None:
        """Return the bootstrap of a finalized epoch boundary block, or None."""
        header = self._headers.get(bytes(block_root))
        if header is None:
            return None
        _, fork = lc_object_kind(self.spec, header)
        slot = int(header.beacon.slot)
        period = compute_sync_committee_period_at_slot(self.spec, slot)
        committee = self._sync_committees.get(period)
        if committee is None:
            return None
        types = self.spec.types(fork)
        return types.LightClientBootstrap(
            header=header,
            current_sync_committee=upgrade_container(committee, types.SyncCommittee),
            current_sync_committee_branch=self._current_branches[slot],
        )

    def get_light_client_update_for_period(self, period: int) -> Any | None:
        """Return the best update of sync committee `period` on the canonical chain, or None."""
        return self._best_updates.get(int(period))

    def get_light_client_updates_by_range(self, start_period: int, count: int) -> list[Any]:
        """Return the best updates of up to `count` periods from `start_period`, in order.

        The list stops at the first period without an update, and never contains
        more than `MAX_REQUEST_LIGHT_CLIENT_UPDATES` entries.
        """
        updates = []
        limit = min(int(count), constants.MAX_REQUEST_LIGHT_CLIENT_UPDATES)
        for period in range(int(start_period), int(start_period) + limit):
            update = self._best_updates.get(period)
            if update is None:
                break
            updates.append(update)
        return updates

    def get_light_client_finality_update(self) -> Any | None:
        """Return the latest `LightClientFinalityUpdate`, or None."""
        return self._latest

    def get_light_client_optimistic_update(self) -> Any | None:
        """Return the latest `LightClientOptimisticUpdate`, or None."""
        if self._latest is None:
            return None
        _, fork = lc_object_kind(self.spec, self._latest)
        return self.spec.types(fork).LightClientOptimisticUpdate(
            attested_header=self._latest.attested_header,
            sync_aggregate=self._latest.sync_aggregate,
            signature_slot=self._latest.signature_slot,
        )

    # --- events from the node ------------------------------------------------------------

    def on_block(self, signed_block: Any, post_state: Any) -> None:
        """Record an imported block and its post-state; the block does not become head yet.

        A block whose parent is unknown or finalized away yields no update, but
        its branches are still cached for updates signed by its children.
        """
        block = signed_block.message
        parent = self.blocks.get(bytes(block.parent_root))
        bid = _block_id(signed_block)
        self.blocks[bid.root] = signed_block
        self.post_states[bid.root] = post_state
        if bid.slot < self.tail_slot:
            return
        if parent is None:
            self._cache_data(post_state, bid, None, constants.GENESIS_SLOT)
            return
        parent_bid = BlockId(int(parent.message.slot), bytes(block.parent_root))
        self._create_update(post_state, signed_block, bid, parent_bid)

    def on_head(self, head_root: bytes) -> None:
        """Make the block `head_root` the head, then follow its finalized checkpoint."""
        head_block = self.blocks[bytes(head_root)]
        head = _block_id(head_block)
        old_finalized = self.latest_finalized
        self._process_head_change(head, old_finalized)

        state = self.post_states[head.root]
        checkpoint = state.finalized_checkpoint
        if int(checkpoint.epoch) == constants.GENESIS_EPOCH:
            return
        finalized_block = self.blocks[bytes(checkpoint.root)]
        new_finalized = _block_id(finalized_block)
        if new_finalized.slot <= old_finalized.slot:
            return
        self._record_finalized_chain(finalized_block)
        self.latest_finalized_epoch = int(checkpoint.epoch)
        self.latest_finalized = new_finalized
        self._process_finalization(new_finalized, old_finalized)
        self._prune(new_finalized.slot)

    # --- internals -----------------------------------------------------------------------

    def _record_finalized_chain(self, finalized_block: Any) -> None:
        # Walk back to the previous finalized block, keeping the post-state of the
        # last block of each epoch: bootstraps and sync committees come from those.
        spec = self.spec
        block = finalized_block
        bid = _block_id(block)
        previous_epoch: int | None = None
        while bid.slot > self.latest_finalized.slot:
            self.finalized_block_roots[bid.slot] = bid.root
            epoch = compute_epoch_at_slot(spec, bid.slot + int(spec.SLOTS_PER_EPOCH) - 1)
            if previous_epoch is None or epoch != previous_epoch:
                self.finalized_checkpoint_states[bid.root] = self.post_states[bid.root]
                previous_epoch = epoch
            block = self.blocks.get(bytes(block.message.parent_root))
            if block is None:
                break  # the anchor: history starts here
            bid = _block_id(block)

    def _prune(self, finalized_slot: int) -> None:
        for root in [
            root for root, b in self.blocks.items() if int(b.message.slot) < finalized_slot
        ]:
            del self.blocks[root]
        for root in [root for root, s in self.post_states.items() if int(s.slot) < finalized_slot]:
            del self.post_states[root]

    def _cache_data(
        self, state: Any, bid: BlockId, best_update: Any | None, latest_signature_slot: int
    ) -> None:
        spec = self.spec
        fork = light_client_fork(spec.fork_of(state))
        slot = int(state.slot)
        self._cache[bid] = _CachedData(
            current_sync_committee_branch=compute_merkle_proof(
                state, current_sync_committee_gindex_at_slot(spec, fork, slot)
            ),
            next_sync_committee_branch=compute_merkle_proof(
                state, next_sync_committee_gindex_at_slot(spec, fork, slot)
            ),
            finalized_slot=int(state.finalized_checkpoint.epoch) * int(spec.SLOTS_PER_EPOCH),
            finality_branch=compute_merkle_proof(
                state, finalized_root_gindex_at_slot(spec, fork, slot)
            ),
            current_period_best_update=best_update,
            latest_signature_slot=latest_signature_slot,
        )

    def _ancestor(self, bid: BlockId, slot: int) -> BlockId | None:
        block = self.blocks.get(bid.root)
        while block is not None:
            if int(block.message.slot) <= slot:
                return _block_id(block)
            block = self.blocks.get(bytes(block.message.parent_root))
        return None

    def _block_id_at_finalized_slot(self, slot: int) -> BlockId | None:
        while slot >= self.historical_tail_slot:
            root = self.finalized_block_roots.get(slot)
            if root is not None:
                return BlockId(slot, root)
            slot -= 1
        return None

    def _header_for(self, bid: BlockId) -> Any:
        return block_to_light_client_header(self.spec, self.blocks[bid.root])

    def _finality_update_from_cache(
        self, attested: BlockId, signature_slot: int, sync_aggregate: Any
    ) -> Any:
        spec = self.spec
        attested_header = self._header_for(attested)
        _, fork = lc_object_kind(spec, attested_header)
        types = spec.types(fork)
        data = self._cache[attested]
        update = types.LightClientFinalityUpdate(
            attested_header=attested_header,
            sync_aggregate=sync_aggregate,
            signature_slot=signature_slot,
        )
        finalized = self._block_id_at_finalized_slot(data.finalized_slot)
        if finalized is not None:
            # Empty slots at the end of the epoch: the checkpoint block is earlier.
            data.finalized_slot = finalized.slot
            if finalized.slot != constants.GENESIS_SLOT:
                header = self._header_for(finalized)
                update.finalized_header = upgrade_lc_object(spec, header, fork)
            update.finality_branch = data.finality_branch
        return update

    def _update_from_cache(
        self, attested: BlockId, signature_slot: int, sync_aggregate: Any, next_committee: Any
    ) -> Any:
        finality = self._finality_update_from_cache(attested, signature_slot, sync_aggregate)
        _, fork = lc_object_kind(self.spec, finality)
        types = self.spec.types(fork)
        return types.LightClientUpdate(
            attested_header=finality.attested_header,
            next_sync_committee=upgrade_container(next_committee, types.SyncCommittee),
            next_sync_committee_branch=self._cache[attested].next_sync_committee_branch,
            finalized_header=finality.finalized_header,
            finality_branch=finality.finality_branch,
            sync_aggregate=finality.sync_aggregate,
            signature_slot=finality.signature_slot,
        )

    def _create_update(
        self, state: Any, signed_block: Any, bid: BlockId, attested: BlockId
    ) -> None:
        spec = self.spec
        if attested.slot < self.tail_slot or attested not in self._cache:
            self._cache_data(state, bid, None, constants.GENESIS_SLOT)
            return

        attested_period = compute_sync_committee_period_at_slot(spec, attested.slot)
        signature_slot = bid.slot
        signature_period = compute_sync_committee_period_at_slot(spec, signature_slot)
        attested_data = self._cache[attested]
        best = (
            attested_data.current_period_best_update
            if attested_period == signature_period
            else None
        )

        sync_aggregate = signed_block.message.body.sync_aggregate
        participants = _bit_count(sync_aggregate.sync_committee_bits)
        enough = participants >= int(spec.MIN_SYNC_COMMITTEE_PARTICIPANTS)
        latest_signature_slot = signature_slot if enough else attested_data.latest_signature_slot

        # Only a well-signed update from within the attested period can become best.
        if not enough or attested_period != signature_period:
            self._cache_data(state, bid, best, latest_signature_slot)
            return

        update = self._update_from_cache(
            attested, signature_slot, sync_aggregate, state.next_sync_committee
        )
        if best is None or is_better_update(spec, update, best):
            best = update
        self._cache_data(state, bid, best, latest_signature_slot)

    def _sync_committee_for_finalized_period(self, period: int) -> Any | None:
        spec = self.spec
        altair_start = int(spec.ALTAIR_FORK_EPOCH) * int(spec.SLOTS_PER_EPOCH)
        low_slot = max(self.historical_tail_slot, altair_start)
        if period < compute_sync_committee_period_at_slot(spec, low_slot):
            return None
        committee_slot = max(compute_start_slot_at_sync_committee_period(spec, period), low_slot)
        bid = self._block_id_at_finalized_slot(committee_slot)
        if bid is None:
            return None
        state = self.finalized_checkpoint_states.get(bid.root)
        if state is None:
            return None
        if committee_slot > int(state.slot):
            from caplin.transition.slot import process_slots

            state = state.copy()
            state = process_slots(spec, state, committee_slot) or state
        return state.current_sync_committee

    def _create_bootstrap(self, bid: BlockId) -> None:
        period = compute_sync_committee_period_at_slot(self.spec, bid.slot)
        if period not in self._sync_committees:
            self._sync_committees[period] = self._sync_committee_for_finalized_period(period)
        self._headers[bid.root] = self._header_for(bid)
        self._current_branches[bid.slot] = self._cache[bid].current_sync_committee_branch

    def _process_head_change(self, head: BlockId, old_finalized: BlockId) -> None:
        spec = self.spec
        if head.slot < self.tail_slot:
            return

        # Commit the best update of each non-finalized period on the head's branch.
        head_period = compute_sync_committee_period_at_slot(spec, head.slot)
        low_slot = max(self.tail_slot, old_finalized.slot)
        low_period = compute_sync_committee_period_at_slot(spec, low_slot)
        bid: BlockId | None = head
        for period in reversed(range(low_period, head_period + 1)):
            period_end_slot = compute_start_slot_at_sync_committee_period(spec, period + 1) - 1
            bid = self._ancestor(bid, period_end_slot) if bid is not None else None
            if bid is None or bid.slot < low_slot:
                break
            best = self._cache[bid].current_period_best_update
            if best is None or _bit_count(best.sync_aggregate.sync_committee_bits) < int(
                spec.MIN_SYNC_COMMITTEE_PARTICIPANTS
            ):
                self._best_updates.pop(period, None)
            else:
                self._best_updates[period] = best

        self._latest = self._latest_finality_update(head, low_slot)

    def _latest_finality_update(self, head: BlockId, low_slot: int) -> Any | None:
        signature_slot = self._cache[head].latest_signature_slot
        if signature_slot <= low_slot:
            return None
        signature_bid = self._ancestor(head, signature_slot)
        if signature_bid is None or signature_bid.slot <= low_slot:
            return None
        attested = self._ancestor(signature_bid, signature_bid.slot - 1)
        if attested is None or attested.slot < low_slot:
            return None
        sync_aggregate = self.blocks[signature_bid.root].message.body.sync_aggregate
        return self._finality_update_from_cache(attested, signature_slot, sync_aggregate)

    def _process_finalization(self, finalized: BlockId, old_finalized: BlockId) -> None:
        spec = self.spec
        slots_per_epoch = int(spec.SLOTS_PER_EPOCH)
        if finalized.slot < self.tail_slot:
            return

        # Keep bootstraps for the newly finalized epoch boundary blocks.
        low_slot = max(old_finalized.slot + 1, self.tail_slot)
        boundary_slot = finalized.slot
        while boundary_slot >= low_slot:
            bid = self._block_id_at_finalized_slot(boundary_slot)
            if bid is None:
                break
            if bid.slot >= low_slot:
                self._create_bootstrap(bid)
            next_epoch = compute_epoch_at_slot(spec, bid.slot + slots_per_epoch - 1)
            boundary_slot = next_epoch * slots_per_epoch
            if boundary_slot < slots_per_epoch:
                break
            boundary_slot -= slots_per_epoch

        for bid in [bid for bid in self._cache if bid.slot < finalized.slot]:
            del self._cache[bid]
