"""The fork-choice store: LMD-GHOST with Casper FFG over a proto-array.

`Store` keeps the spec's store fields (time, checkpoints, unrealized
checkpoints, proposer boost, equivocating indices, blocks, states, block
timeliness, checkpoint states, unrealized justifications), and `get_head`
returns the spec's head. The block tree is kept in a `ProtoArray` and the
latest messages in a `VoteTracker`, so a head update costs a few vectorised
passes over the tree instead of one pass over all validators per block.

Every handler checks its input before it changes anything: a rejected block,
attestation or slashing raises a `ForkChoiceError` subclass and leaves the
store as it was.

Time is kept in milliseconds (`time_ms`), as the spec does since it moved to
millisecond slot timing. `time` is the same instant in whole seconds.
"""

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from caplin.config.constants import BASIS_POINTS
from caplin.config.forks import Fork
from caplin.errors import CaplinError, TransitionError
from caplin.transition.engine import ExecutionEngine
from caplin.transition.epoch.justification_and_finalization import (
    process_justification_and_finalization,
)
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_start_slot_at_epoch,
    get_current_epoch,
    get_indexed_attestation,
    is_merge_transition_complete,
    is_slashable_attestation_data,
    is_valid_indexed_attestation,
    saturating_sub,
    validator_table,
)
from caplin.transition.signatures import SignatureBatch
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import state_transition
from forkchoice.availability import AvailabilitySource, NoSidecars, is_data_available
from forkchoice.errors import (
    AttestationNotReadyError,
    BlockNotReadyError,
    InvalidAttestationError,
    InvalidAttesterSlashingError,
    InvalidBlockError,
)
from forkchoice.proto_array import ExecutionStatus, HeadRules, ProtoArray
from forkchoice.votes import LatestMessage, VoteTracker

log = logging.getLogger(__name__)

ZERO_ROOT = b"\x00" * 32
ZERO_HASH = b"\x00" * 32

# Prune the tree once this many nodes precede the finalized block (all of them are then
# either its ancestors or branches that conflict with finality).
DEFAULT_PRUNE_THRESHOLD = 256


class Checkpoint(NamedTuple):
    """An FFG checkpoint: epoch and block root."""

    epoch: int
    root: bytes


def to_checkpoint(value: Any) -> Checkpoint:
    return Checkpoint(int(value.epoch), bytes(value.root))


PowBlockLookup = Callable[[bytes], Any]


class Store:
    """The fork-choice store of one chain, from an anchor block and its post-state.

    Args:
        spec: the `ChainSpec` of the chain.
        anchor_state: the post-state of `anchor_block` (genesis or a finalized checkpoint).
        anchor_block: the `BeaconBlock` whose `state_root` is the root of `anchor_state`.
        engine: checks execution payloads in the state transition; None trusts them.
        verify_signatures: False skips every BLS check (replays of trusted history).
        availability: where blob and column sidecars come from; None has none.
        get_pow_block: PoW block lookup by hash for the merge transition block (bellatrix).
        prune_threshold: prune once this many nodes precede the finalized block.

    Raises:
        ForkChoiceError: the anchor block does not commit to the anchor state.
    """

    def __init__(
        self,
        spec: Any,
        anchor_state: Any,
        anchor_block: Any,
        *,
        engine: ExecutionEngine | None = None,
        verify_signatures: bool = True,
        availability: AvailabilitySource | None = None,
        get_pow_block: PowBlockLookup | None = None,
        prune_threshold: int = DEFAULT_PRUNE_THRESHOLD,
    ) -> None:
        state_root = bytes(anchor_state.hash_tree_root())
        if bytes(anchor_block.state_root) != state_root:
            raise InvalidBlockError(
                "anchor_state_root",
                "anchor block does not commit to the anchor state",
                block_state_root=bytes(anchor_block.state_root),
                state_root=state_root,
            )
        self.spec = spec
        self.engine = engine
        self.verify_signatures = verify_signatures
        self.availability: AvailabilitySource = availability or NoSidecars()
        self.get_pow_block = get_pow_block
        self.prune_threshold = prune_threshold

        anchor_root = bytes(anchor_block.hash_tree_root())
        anchor_epoch = get_current_epoch(spec, anchor_state)
        anchor = Checkpoint(anchor_epoch, anchor_root)
        self.genesis_time_ms = int(anchor_state.genesis_time) * 1000
        self.time_ms = self.genesis_time_ms + int(anchor_state.slot) * spec.SLOT_DURATION_MS
        self.justified_checkpoint = anchor
        self.finalized_checkpoint = anchor
        self.unrealized_justified_checkpoint = anchor
        self.unrealized_finalized_checkpoint = anchor
        self.proposer_boost_root = ZERO_ROOT
        self.equivocating_indices: set[int] = set()
        self.blocks: dict[bytes, Any] = {anchor_root: anchor_block}
        self.block_states: dict[bytes, Any] = {anchor_root: anchor_state}
        self.block_timeliness: dict[bytes, bool] = {}
        self.checkpoint_states: dict[Checkpoint, Any] = {anchor: anchor_state}
        self.unrealized_justifications: dict[bytes, Checkpoint] = {anchor_root: anchor}
        self.queued_attestations: list[Any] = []

        self.proto = ProtoArray(spec.SLOTS_PER_EPOCH)
        self.votes = VoteTracker()
        self._proposals: dict[tuple[int, int], int] = {}
        self._balances_checkpoint: Checkpoint | None = None
        self._boost_score: dict[Checkpoint, int] = {}
        self._add_node(anchor_root, anchor_block, anchor_state, anchor, optimistic=False)
        self._sync_finalized()

    # --- time ----------------------------------------------------------------------------

    @property
    def time(self) -> int:
        """Store time in whole seconds since the Unix epoch."""
        return self.time_ms // 1000

    @property
    def genesis_time(self) -> int:
        return self.genesis_time_ms // 1000

    def slot_at(self, time_ms: int) -> int:
        return (time_ms - self.genesis_time_ms) // self.spec.SLOT_DURATION_MS

    def slot_start_ms(self, slot: int) -> int:
        return self.genesis_time_ms + slot * self.spec.SLOT_DURATION_MS

    @property
    def current_slot(self) -> int:
        return self.slot_at(self.time_ms)

    @property
    def current_epoch(self) -> int:
        return compute_epoch_at_slot(self.spec, self.current_slot)

    def time_into_slot_ms(self) -> int:
        return self.time_ms - self.slot_start_ms(self.current_slot)

    def slot_component_ms(self, basis_points: int) -> int:
        return basis_points * self.spec.SLOT_DURATION_MS // BASIS_POINTS

    def on_tick(self, time_ms: int) -> None:
        """Advance the store clock to `time_ms`, running the per-slot updates of each new slot.

        Queued attestations whose slot has passed are then applied.
        """
        tick_slot = self.slot_at(time_ms)
        while self.current_slot < tick_slot:
            self._on_tick_per_slot(self.slot_start_ms(self.current_slot + 1))
        self._on_tick_per_slot(time_ms)
        self._apply_queued_attestations()

    def _on_tick_per_slot(self, time_ms: int) -> None:
        previous_slot = self.current_slot
        self.time_ms = time_ms
        current_slot = self.current_slot
        if current_slot <= previous_slot:
            return
        self.proposer_boost_root = ZERO_ROOT
        # At an epoch start the unrealized checkpoints of the last epoch become realized.
        if current_slot % self.spec.SLOTS_PER_EPOCH == 0:
            self._update_checkpoints(
                self.unrealized_justified_checkpoint, self.unrealized_finalized_checkpoint
            )

    # --- tree queries --------------------------------------------------------------------

    def get_ancestor(self, root: bytes, slot: int) -> bytes:
        """Return the root of the latest block at or before `slot` in the chain of `root`."""
        proto = self.proto
        return proto.roots[proto.get_ancestor(proto.index(root), slot)]

    def get_checkpoint_block(self, root: bytes, epoch: int) -> bytes:
        """Return the checkpoint block of `epoch` in the chain of `root`."""
        return self.get_ancestor(root, compute_start_slot_at_epoch(self.spec, epoch))

    def is_ancestor(self, root: bytes, ancestor: bytes) -> bool:
        """Return True when `ancestor` is `root` or one of its ancestors."""
        proto = self.proto
        return proto.is_ancestor(proto.index(root), proto.index(ancestor))

    def execution_status(self, root: bytes) -> ExecutionStatus:
        return self.proto.statuses[self.proto.index(root)]

    def is_optimistic(self, root: bytes) -> bool:
        """Return True when the block's payload has not been verified by the engine yet."""
        return self.execution_status(root) == ExecutionStatus.OPTIMISTIC

    def latest_message(self, validator_index: int) -> LatestMessage | None:
        """Return the latest message of a validator, if any; its root is empty once pruned."""
        epoch = self.votes.latest_message_epoch(validator_index)
        if epoch is None:
            return None
        node = int(self.votes.nodes[validator_index])
        return LatestMessage(epoch, self.proto.roots[node] if node >= 0 else b"")

    # --- head ----------------------------------------------------------------------------

    def get_head(self) -> bytes:
        """Return the root of the head block (the spec's `get_head`)."""
        proto = self.proto
        node_votes = self._apply_votes()
        rules = HeadRules(
            current_epoch=self.current_epoch,
            justified_epoch=self.justified_checkpoint.epoch,
            finalized_epoch=self.finalized_checkpoint.epoch,
        )
        boost_index, boost_score = -1, 0
        if self.proposer_boost_root != ZERO_ROOT:
            boost_index = proto.index(self.proposer_boost_root)
            boost_score = self.get_proposer_score()
        head = proto.find_head(
            proto.index(self.justified_checkpoint.root),
            node_votes,
            rules,
            boost_index,
            boost_score,
        )
        return proto.roots[head]

    def get_weight(self, root: bytes) -> int:
        """Return the spec's `get_weight`: attestation score plus proposer boost if it applies.

        Runs `get_head` first, so pending votes are applied and every block's weight is fresh.
        """
        self.get_head()
        return int(self.proto.weights[self.proto.index(root)])

    def get_attestation_score(self, root: bytes) -> int:
        """Return the balance of the latest messages for `root` or its descendants."""
        weight = self.get_weight(root)
        if self.proposer_boost_root != ZERO_ROOT and self.is_ancestor(
            self.proposer_boost_root, root
        ):
            weight -= self.get_proposer_score()
        return weight

    def get_proposer_score(self) -> int:
        """Return the proposer boost: a `PROPOSER_SCORE_BOOST` percent share of a committee."""
        checkpoint = self.justified_checkpoint
        score = self._boost_score.get(checkpoint)
        if score is None:
            state = self._checkpoint_state(checkpoint)
            score = self.calculate_committee_fraction(state, self.spec.PROPOSER_SCORE_BOOST)
            self._boost_score = {checkpoint: score}
        return score

    def calculate_committee_fraction(self, state: Any, committee_percent: int) -> int:
        """Return `committee_percent` percent of the balance of one slot's committees."""
        table = validator_table(state)
        counted = table.active_mask(get_current_epoch(self.spec, state)) & ~table.slashed
        total = max(
            self.spec.EFFECTIVE_BALANCE_INCREMENT,
            int(table.effective_balance[counted].sum(dtype=np.uint64)),
        )
        return (total // self.spec.SLOTS_PER_EPOCH) * committee_percent // 100

    def _apply_votes(self) -> np.ndarray:
        self._sync_finalized()
        checkpoint = self.justified_checkpoint
        if self._balances_checkpoint != checkpoint:
            self.votes.set_balances(self._justified_balances(self._checkpoint_state(checkpoint)))
            self._balances_checkpoint = checkpoint
        return self.votes.apply()

    def _justified_balances(self, state: Any) -> np.ndarray:
        table = validator_table(state)
        counted = table.active_mask(get_current_epoch(self.spec, state)) & ~table.slashed
        return np.where(counted, table.effective_balance, 0).astype(np.int64)

    def _sync_finalized(self) -> None:
        finalized = self.finalized_checkpoint
        start_slot = compute_start_slot_at_epoch(self.spec, finalized.epoch)
        self.proto.set_finalized(self.proto.index(finalized.root), start_slot)

    # --- checkpoints ---------------------------------------------------------------------

    def _update_checkpoints(self, justified: Checkpoint, finalized: Checkpoint) -> None:
        if justified.epoch > self.justified_checkpoint.epoch:
            self.justified_checkpoint = justified
        if finalized.epoch > self.finalized_checkpoint.epoch:
            self.finalized_checkpoint = finalized

    def _update_unrealized_checkpoints(self, justified: Checkpoint, finalized: Checkpoint) -> None:
        if justified.epoch > self.unrealized_justified_checkpoint.epoch:
            self.unrealized_justified_checkpoint = justified
        if finalized.epoch > self.unrealized_finalized_checkpoint.epoch:
            self.unrealized_finalized_checkpoint = finalized

    def _checkpoint_state(self, checkpoint: Checkpoint) -> Any:
        """Return the state of `checkpoint`: its block's post-state advanced to the epoch start."""
        state = self.checkpoint_states.get(checkpoint)
        if state is None:
            state = self.block_states[checkpoint.root].copy()
            start_slot = compute_start_slot_at_epoch(self.spec, checkpoint.epoch)
            if int(state.slot) < start_slot:
                state = process_slots(self.spec, state, start_slot)
            self.checkpoint_states[checkpoint] = state
        return state

    # --- blocks --------------------------------------------------------------------------

    def on_block(self, signed_block: Any, *, optimistic: bool = False) -> bytes:
        """Import a signed block (the spec's `on_block`) and return its root.

        `optimistic=True` records that the engine has not verified the payload yet
        (optimistic sync); `on_payload_valid` / `on_payload_invalid` settle it later.
        A block already in the store is accepted again without any change.

        Raises:
            BlockNotReadyError: unknown parent, a slot still in the future, blob data
                not available, or the PoW block of the merge transition not known.
            InvalidBlockError: the block conflicts with finality or fails the state
                transition or the merge-transition checks.
        """
        block = signed_block.message
        root = bytes(block.hash_tree_root())
        if root in self.blocks:
            return root
        self._check_block_placement(block, root)
        if not is_data_available(self.spec, self.availability, root, block):
            raise BlockNotReadyError(
                "data_available", "blob data of the block is not available", block_root=root
            )

        pre_state = self.block_states[bytes(block.parent_root)]
        state = self._run_state_transition(pre_state, signed_block, root)
        if self.spec.fork_of(block) == Fork.BELLATRIX and self._is_merge_transition_block(
            pre_state, block
        ):
            self._validate_merge_block(block)
        pulled_up = state.copy()
        process_justification_and_finalization(self.spec, pulled_up)
        unrealized_justified = to_checkpoint(pulled_up.current_justified_checkpoint)
        unrealized_finalized = to_checkpoint(pulled_up.finalized_checkpoint)

        # Every check passed: from here on the store changes.
        head = self.get_head()
        self.blocks[root] = block
        self.block_states[root] = state
        self._add_node(root, block, state, unrealized_justified, optimistic=optimistic)
        self._record_block_timeliness(root, int(block.slot))
        self._update_proposer_boost_root(head, root)
        self._update_checkpoints(
            to_checkpoint(state.current_justified_checkpoint),
            to_checkpoint(state.finalized_checkpoint),
        )
        self._pull_up_tip(root, int(block.slot), unrealized_justified, unrealized_finalized)
        self._maybe_prune()
        return root

    def _check_block_placement(self, block: Any, root: bytes) -> None:
        parent_root = bytes(block.parent_root)
        slot = int(block.slot)
        if parent_root not in self.block_states:
            raise BlockNotReadyError(
                "parent_known", "parent block is unknown", block_root=root, parent_root=parent_root
            )
        if self.current_slot < slot:
            raise BlockNotReadyError(
                "future_slot",
                "block slot is after the current slot",
                block_slot=slot,
                current_slot=self.current_slot,
            )
        finalized = self.finalized_checkpoint
        finalized_slot = compute_start_slot_at_epoch(self.spec, finalized.epoch)
        if slot <= finalized_slot:
            raise InvalidBlockError(
                "after_finalized",
                "block is not after the finalized epoch start slot",
                block_slot=slot,
                finalized_slot=finalized_slot,
            )
        self._sync_finalized()
        if not self.proto.finalized_descendant[self.proto.index(parent_root)]:
            raise InvalidBlockError(
                "finalized_descendant",
                "block does not descend from the finalized checkpoint block",
                block_root=root,
                finalized_root=finalized.root,
                finalized_epoch=finalized.epoch,
            )

    def _run_state_transition(self, pre_state: Any, signed_block: Any, root: bytes) -> Any:
        try:
            return state_transition(
                self.spec,
                pre_state,
                signed_block,
                validate_result=True,
                engine=self.engine,
                verify_signatures=self.verify_signatures,
            )
        except (TransitionError, CaplinError, ValueError, IndexError, OverflowError) as error:
            # ValueError and IndexError: an SSZ value out of range or a missing list entry.
            raise InvalidBlockError(
                "state_transition", str(error), block_root=root, slot=int(signed_block.message.slot)
            ) from error

    def _is_merge_transition_block(self, pre_state: Any, block: Any) -> bool:
        payload = block.body.execution_payload
        empty = payload.hash_tree_root() == type(payload)().hash_tree_root()
        return not is_merge_transition_complete(self.spec, pre_state) and not empty

    def _validate_merge_block(self, block: Any) -> None:
        """Check that the merge transition block builds on a terminal PoW block (bellatrix)."""
        spec = self.spec
        parent_hash = bytes(block.body.execution_payload.parent_hash)
        if bytes(spec.TERMINAL_BLOCK_HASH) != ZERO_HASH:
            epoch = compute_epoch_at_slot(spec, int(block.slot))
            if epoch < spec.TERMINAL_BLOCK_HASH_ACTIVATION_EPOCH:
                raise InvalidBlockError(
                    "terminal_block_hash_epoch",
                    "merge block is before TERMINAL_BLOCK_HASH_ACTIVATION_EPOCH",
                    epoch=epoch,
                )
            if parent_hash != bytes(spec.TERMINAL_BLOCK_HASH):
                raise InvalidBlockError(
                    "terminal_block_hash",
                    "merge block does not build on TERMINAL_BLOCK_HASH",
                    parent_hash=parent_hash,
                )
            return
        lookup = self.get_pow_block or (lambda block_hash: None)
        pow_block = lookup(parent_hash)
        if pow_block is None:
            raise BlockNotReadyError("pow_block", "PoW block is unknown", block_hash=parent_hash)
        pow_parent = lookup(bytes(pow_block.parent_hash))
        if pow_parent is None:
            raise BlockNotReadyError(
                "pow_block", "parent of the PoW block is unknown",
                block_hash=bytes(pow_block.parent_hash),
            )
        terminal = spec.TERMINAL_TOTAL_DIFFICULTY
        if not (int(pow_block.total_difficulty) >= terminal > int(pow_parent.total_difficulty)):
            raise InvalidBlockError(
                "terminal_pow_block",
                "PoW block is not a terminal block",
                total_difficulty=int(pow_block.total_difficulty),
                parent_total_difficulty=int(pow_parent.total_difficulty),
            )

    def _add_node(
        self,
        root: bytes,
        block: Any,
        state: Any,
        unrealized_justified: Checkpoint,
        *,
        optimistic: bool,
    ) -> None:
        parent_root = bytes(block.parent_root) if self.proto.roots else None
        status, block_hash = ExecutionStatus.IRRELEVANT, b""
        if self.spec.fork_of(block) >= Fork.BELLATRIX:
            block_hash = bytes(block.body.execution_payload.block_hash)
            if block_hash != ZERO_HASH:
                status = ExecutionStatus.OPTIMISTIC if optimistic else ExecutionStatus.VALID
        self.proto.add_node(
            root,
            parent_root,
            int(block.slot),
            int(state.current_justified_checkpoint.epoch),
            unrealized_justified.epoch,
            status,
            block_hash,
        )
        self.votes.add_node()
        key = (int(block.slot), int(block.proposer_index))
        self._proposals[key] = self._proposals.get(key, 0) + 1

    def _record_block_timeliness(self, root: bytes, slot: int) -> None:
        before_attesting = self.time_into_slot_ms() < self.slot_component_ms(
            self.spec.ATTESTATION_DUE_BPS
        )
        self.block_timeliness[root] = self.current_slot == slot and before_attesting

    def _update_proposer_boost_root(self, head: bytes, root: bytes) -> None:
        if self.proposer_boost_root != ZERO_ROOT or not self.block_timeliness[root]:
            return
        # The boost goes only to a block proposed under the same shuffling as the head.
        dependent_slot = self.shuffling_dependent_slot(self.current_epoch)
        if self.get_ancestor(head, dependent_slot) == self.get_ancestor(root, dependent_slot):
            self.proposer_boost_root = root

    def shuffling_dependent_slot(self, epoch: int) -> int:
        """Return the last slot whose block decides the proposer shuffling of `epoch`."""
        lookahead_epoch = saturating_sub(epoch, self.spec.MIN_SEED_LOOKAHEAD)
        return saturating_sub(compute_start_slot_at_epoch(self.spec, lookahead_epoch), 1)

    def _pull_up_tip(
        self, root: bytes, slot: int, justified: Checkpoint, finalized: Checkpoint
    ) -> None:
        self.unrealized_justifications[root] = justified
        self._update_unrealized_checkpoints(justified, finalized)
        # A block from an earlier epoch has its unrealized checkpoints realized at once.
        if compute_epoch_at_slot(self.spec, slot) < self.current_epoch:
            self._update_checkpoints(justified, finalized)

    # --- execution payload status (optimistic sync) --------------------------------------

    def on_payload_valid(self, root: bytes) -> None:
        """Record that the engine found the payload of `root` valid (and so its ancestors')."""
        self.proto.mark_valid(self.proto.index(root))

    def on_payload_invalid(self, root: bytes, latest_valid_hash: bytes | None) -> None:
        """Record that the payload of `root` is invalid, back to `latest_valid_hash`.

        `root` and each ancestor whose payload hash is not `latest_valid_hash` become
        INVALID, with all their descendants. The walk stops at the latest valid payload,
        at a block without payload, or at the tree root. With `latest_valid_hash=None`
        only `root` and its descendants are invalidated. Invalid blocks are never head.
        """
        proto = self.proto
        node = proto.index(root)
        if latest_valid_hash is None:
            proto.mark_invalid(node)
            return
        while node >= 0:
            block_hash = proto.block_hashes[node]
            if block_hash in (bytes(latest_valid_hash), b"", ZERO_HASH):
                break
            proto.mark_invalid(node)
            node = proto.parents[node]

    # --- attestations and slashings ------------------------------------------------------

    def on_attestation(
        self, attestation: Any, is_from_block: bool = False, *, queue_future: bool = False
    ) -> bool:
        """Apply an attestation's LMD vote (the spec's `on_attestation`).

        With `queue_future=True`, an attestation that is only too early (its slot or target
        epoch not reached yet) is queued, and the `on_tick` that reaches it applies it.
        Returns True when the vote was applied, False when it was queued.

        Raises:
            AttestationNotReadyError: unknown target or head block, or a slot or epoch
                not reached yet (when not queued).
            InvalidAttestationError: inconsistent with the store, or invalid indices or
                signature.
        """
        try:
            self._validate_on_attestation(attestation, is_from_block)
        except AttestationNotReadyError as error:
            if queue_future and error.rule in ("target_epoch_future", "slot_future"):
                self.queued_attestations.append(attestation)
                return False
            raise
        data = attestation.data
        target = to_checkpoint(data.target)
        target_state = self._checkpoint_state(target)
        try:
            indexed = get_indexed_attestation(self.spec, target_state, attestation)
        except (CaplinError, ValueError, IndexError) as error:
            raise InvalidAttestationError(
                "attesting_indices", str(error), slot=int(data.slot)
            ) from error
        self._check_indexed_attestation(target_state, indexed, InvalidAttestationError)
        indices = np.fromiter(
            (int(index) for index in indexed.attesting_indices), dtype=np.int64
        )
        node = self.proto.index(bytes(data.beacon_block_root))
        self.votes.process_attestation(indices, target.epoch, node)
        return True

    def _validate_on_attestation(self, attestation: Any, is_from_block: bool) -> None:
        spec = self.spec
        data = attestation.data
        target = to_checkpoint(data.target)
        slot = int(data.slot)
        if not is_from_block:
            current_epoch = self.current_epoch
            if target.epoch > current_epoch:
                raise AttestationNotReadyError(
                    "target_epoch_future", "target epoch is after the current epoch",
                    target_epoch=target.epoch, current_epoch=current_epoch,
                )
            if target.epoch < saturating_sub(current_epoch, 1):
                raise InvalidAttestationError(
                    "target_epoch_old", "target epoch is before the previous epoch",
                    target_epoch=target.epoch, current_epoch=current_epoch,
                )
        if target.epoch != compute_epoch_at_slot(spec, slot):
            raise InvalidAttestationError(
                "target_epoch_slot", "target epoch is not the epoch of the slot",
                target_epoch=target.epoch, slot=slot,
            )
        if target.root not in self.blocks:
            raise AttestationNotReadyError(
                "target_known", "target block is unknown", target_root=target.root
            )
        block_root = bytes(data.beacon_block_root)
        if block_root not in self.blocks:
            raise AttestationNotReadyError(
                "block_known", "attested block is unknown", beacon_block_root=block_root
            )
        block_slot = int(self.blocks[block_root].slot)
        if block_slot > slot:
            raise InvalidAttestationError(
                "block_slot", "attested block is after the attestation slot",
                block_slot=block_slot, slot=slot,
            )
        checkpoint_block = self.get_checkpoint_block(block_root, target.epoch)
        if target.root != checkpoint_block:
            raise InvalidAttestationError(
                "target_root", "target is not the checkpoint block of the attested block",
                target_root=target.root, expected_root=checkpoint_block,
            )
        if self.current_slot < slot + 1:
            raise AttestationNotReadyError(
                "slot_future", "attestation slot has not passed yet",
                slot=slot, current_slot=self.current_slot,
            )

    def _check_indexed_attestation(self, state: Any, indexed: Any, error: type) -> None:
        sigs = SignatureBatch(enabled=self.verify_signatures)
        if not is_valid_indexed_attestation(self.spec, state, indexed, sigs):
            raise error(
                "attesting_indices", "attesting indices are empty, unsorted or unknown",
                slot=int(indexed.data.slot),
            )
        try:
            sigs.verify()
        except CaplinError as failure:
            raise error("signature", str(failure), slot=int(indexed.data.slot)) from failure

    def _apply_queued_attestations(self) -> None:
        if not self.queued_attestations:
            return
        current_slot = self.current_slot
        queued, self.queued_attestations = self.queued_attestations, []
        for attestation in queued:
            if int(attestation.data.slot) + 1 > current_slot:
                self.queued_attestations.append(attestation)
                continue
            try:
                self.on_attestation(attestation, queue_future=True)
            except CaplinError as error:
                log.debug(
                    "dropped queued attestation slot=%s error=%s", int(attestation.data.slot), error
                )

    def on_attester_slashing(self, attester_slashing: Any) -> None:
        """Mark the validators of a valid attester slashing as equivocating.

        Their latest messages stop counting and are never updated again.

        Raises:
            InvalidAttesterSlashingError: the attestations are not slashable together,
                or either is invalid in the justified block's state.
        """
        attestation_1 = attester_slashing.attestation_1
        attestation_2 = attester_slashing.attestation_2
        if not is_slashable_attestation_data(self.spec, attestation_1.data, attestation_2.data):
            raise InvalidAttesterSlashingError(
                "slashable", "attestation data are neither a double vote nor a surround vote"
            )
        state = self.block_states[self.justified_checkpoint.root]
        for attestation in (attestation_1, attestation_2):
            self._check_indexed_attestation(state, attestation, InvalidAttesterSlashingError)
        indices = set(int(index) for index in attestation_1.attesting_indices)
        indices &= set(int(index) for index in attestation_2.attesting_indices)
        self.equivocating_indices |= indices
        self.votes.set_equivocating(np.fromiter(sorted(indices), dtype=np.int64))

    def import_block(self, signed_block: Any, *, optimistic: bool = False) -> bytes:
        """Import a block, then its attestations and attester slashings, as a node does.

        Attestations and slashings of the block that fork choice rejects are skipped
        (the block itself stays imported); `on_block` errors propagate.
        """
        root = self.on_block(signed_block, optimistic=optimistic)
        body = signed_block.message.body
        for attestation in body.attestations:
            try:
                self.on_attestation(attestation, is_from_block=True)
            except CaplinError as error:
                log.debug("skipped block attestation root=0x%s error=%s", root.hex(), error)
        for attester_slashing in body.attester_slashings:
            try:
                self.on_attester_slashing(attester_slashing)
            except CaplinError as error:
                log.debug("skipped block attester slashing root=0x%s error=%s", root.hex(), error)
        return root

    # --- pruning -------------------------------------------------------------------------

    def _maybe_prune(self) -> None:
        if self.proto.index(self.finalized_checkpoint.root) >= self.prune_threshold:
            self.prune()

    def prune(self) -> None:
        """Forget every block that is not the finalized block or one of its descendants.

        NOTE: the spec never forgets blocks. After pruning, an attestation for a forgotten
        block is rejected as unknown, where the spec would record its target epoch as the
        validator's latest message (which weighs nothing below the finalized block).
        """
        self._apply_votes()
        proto = self.proto
        finalized = self.finalized_checkpoint
        old_roots = proto.roots
        remap = proto.prune(proto.index(finalized.root))
        self.votes.remap_nodes(remap, len(proto))
        for index, root in enumerate(old_roots):
            if remap[index] >= 0:
                continue
            block = self.blocks.pop(root)
            self.block_states.pop(root, None)
            self.block_timeliness.pop(root, None)
            self.unrealized_justifications.pop(root, None)
            key = (int(block.slot), int(block.proposer_index))
            self._proposals[key] -= 1
            if not self._proposals[key]:
                del self._proposals[key]
        self.checkpoint_states = {
            checkpoint: state
            for checkpoint, state in self.checkpoint_states.items()
            if checkpoint.root in proto.indices and checkpoint.epoch >= finalized.epoch
        }

    def proposal_count(self, slot: int, proposer_index: int) -> int:
        """Return how many known blocks `proposer_index` proposed at `slot`."""
        return self._proposals.get((slot, proposer_index), 0)


def get_forkchoice_store(spec: Any, anchor_state: Any, anchor_block: Any, **options: Any) -> Store:
    """Return a store anchored at `anchor_block` and its post-state (see `Store`)."""
    return Store(spec, anchor_state, anchor_block, **options)
