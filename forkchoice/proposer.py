"""Proposer re-org helpers: `get_proposer_head` and `should_override_forkchoice_update`.

A proposer may build on the parent of a head block that arrived late and has
little support, so that the late block is orphaned ("proposer boost re-org").
These functions decide when the spec allows it. From fulu the proposer
shuffling of an epoch is known one epoch ahead (proposer lookahead), so the
rule against re-orgs at an epoch boundary is gone.
"""

from collections.abc import Callable

from caplin.config.forks import Fork
from caplin.errors import ForkChoiceError
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    get_beacon_committee,
    get_beacon_proposer_index,
    get_committee_count_per_slot,
    validator_table,
)
from caplin.transition.slot import process_slots
from forkchoice.proto_array import HeadRules
from forkchoice.store import Store


def is_head_late(store: Store, head_root: bytes) -> bool:
    return not store.block_timeliness.get(head_root, False)


def is_shuffling_stable(store: Store, slot: int) -> bool:
    return slot % store.spec.SLOTS_PER_EPOCH != 0


def is_ffg_competitive(store: Store, head_root: bytes, parent_root: bytes) -> bool:
    justifications = store.unrealized_justifications
    return justifications[head_root] == justifications[parent_root]


def is_finalization_ok(store: Store, slot: int) -> bool:
    epochs_since_finalization = (
        compute_epoch_at_slot(store.spec, slot) - store.finalized_checkpoint.epoch
    )
    return epochs_since_finalization <= store.spec.REORG_MAX_EPOCHS_SINCE_FINALIZATION


def is_proposing_on_time(store: Store) -> bool:
    return store.time_into_slot_ms() <= store.slot_component_ms(
        store.spec.PROPOSER_REORG_CUTOFF_BPS
    )


def is_head_weak(store: Store, head_root: bytes) -> bool:
    """Return True when the head's support, counting equivocators of its slot, is below
    `REORG_HEAD_WEIGHT_THRESHOLD` percent of a committee."""
    spec = store.spec
    justified_state = store._checkpoint_state(store.justified_checkpoint)
    threshold = store.calculate_committee_fraction(
        justified_state, spec.REORG_HEAD_WEIGHT_THRESHOLD
    )
    head_weight = store.get_attestation_score(head_root)
    if store.equivocating_indices:
        head_state = store.block_states[head_root]
        slot = int(store.blocks[head_root].slot)
        epoch = compute_epoch_at_slot(spec, slot)
        balances = validator_table(justified_state).effective_balance
        for index in range(get_committee_count_per_slot(spec, head_state, epoch)):
            for validator in get_beacon_committee(spec, head_state, slot, index):
                if validator in store.equivocating_indices and validator < len(balances):
                    head_weight += int(balances[validator])
    return head_weight < threshold


def is_parent_strong(store: Store, root: bytes) -> bool:
    """Return True when the parent of `root` has more than `REORG_PARENT_WEIGHT_THRESHOLD`
    percent of a committee behind it."""
    justified_state = store._checkpoint_state(store.justified_checkpoint)
    threshold = store.calculate_committee_fraction(
        justified_state, store.spec.REORG_PARENT_WEIGHT_THRESHOLD
    )
    parent_root = bytes(store.blocks[root].parent_root)
    return store.get_attestation_score(parent_root) > threshold


def is_proposer_equivocation(store: Store, root: bytes) -> bool:
    block = store.blocks[root]
    return store.proposal_count(int(block.slot), int(block.proposer_index)) > 1


def get_proposer_head(store: Store, head_root: bytes, slot: int) -> bytes:
    """Return the block a proposer at `slot` builds on: the head or, to re-org it, its parent.

    Raises:
        ForkChoiceError: the head still has the proposer boost. Call again after the
            boost is reset at the start of the next slot.
    """
    spec = store.spec
    head_block = store.blocks[head_root]
    parent_root = bytes(head_block.parent_root)
    parent_block = store.blocks[parent_root]
    if store.proposer_boost_root == head_root:
        raise ForkChoiceError(
            "get_proposer_head: the head still has the proposer boost; retry at the next slot",
            head_root=head_root,
        )

    head_slot = int(head_block.slot)
    current_time_ok = head_slot + 1 == slot
    single_slot_reorg = int(parent_block.slot) + 1 == head_slot and current_time_ok
    head_weak = is_head_weak(store, head_root)
    conditions = [
        is_head_late(store, head_root),
        is_ffg_competitive(store, head_root, parent_root),
        is_finalization_ok(store, slot),
        is_proposing_on_time(store),
        single_slot_reorg,
        head_weak,
        is_parent_strong(store, head_root),
    ]
    # Before fulu the proposer shuffling may change at an epoch boundary.
    if spec.fork_of(head_block) < Fork.FULU:
        conditions.append(is_shuffling_stable(store, slot))
    if all(conditions):
        return parent_root
    # A proposer that equivocated in the previous slot is re-orged more readily.
    if head_weak and current_time_ok and is_proposer_equivocation(store, head_root):
        return parent_root
    return head_root


def should_override_forkchoice_update(
    store: Store,
    head_root: bytes,
    is_validator_connected: Callable[[int], bool] = lambda index: True,
) -> bool:
    """Return True when the node should keep building on the parent of a late, weak head.

    The execution client is then not sent `head_root` yet, because the node's own
    proposer at the next slot is expected to re-org it. `is_validator_connected` returns
    whether the node runs a given validator (by default: every validator).

    NOTE: the spec release of the test vectors (1.7.0b4) no longer defines this function
    and has no vectors for it. The conditions follow its earlier bellatrix fork-choice
    text, with `is_parent_strong` in its current form (given the head root).
    """
    spec = store.spec
    head_block = store.blocks[head_root]
    parent_root = bytes(head_block.parent_root)
    parent_block = store.blocks[parent_root]
    current_slot = store.current_slot
    head_slot = int(head_block.slot)
    proposal_slot = head_slot + 1

    parent_state = store.block_states[parent_root].copy()
    if int(parent_state.slot) < proposal_slot:
        parent_state = process_slots(spec, parent_state, proposal_slot)
    proposer_index = get_beacon_proposer_index(spec, parent_state)

    current_time_ok = head_slot == current_slot or (
        proposal_slot == current_slot and is_proposing_on_time(store)
    )
    conditions = [
        is_head_late(store, head_root),
        is_ffg_competitive(store, head_root, parent_root),
        is_finalization_ok(store, proposal_slot),
        is_validator_connected(proposer_index),
        int(parent_block.slot) + 1 == head_slot and current_time_ok,
    ]
    if spec.fork_of(head_block) < Fork.FULU:
        conditions.append(is_shuffling_stable(store, proposal_slot))
    # The head's own-slot attestations count only once that slot is over.
    if current_slot > head_slot:
        conditions.append(is_head_weak(store, head_root))
        conditions.append(is_parent_strong(store, head_root))
    return all(conditions)


def viable_leaves(store: Store) -> list[bytes]:
    """Return the leaves below the justified block that are viable for head."""
    store.get_head()
    proto = store.proto
    rules = HeadRules(
        current_epoch=store.current_epoch,
        justified_epoch=store.justified_checkpoint.epoch,
        finalized_epoch=store.finalized_checkpoint.epoch,
    )
    justified = proto.index(store.justified_checkpoint.root)
    viable = proto.viable_leaves(rules)
    return [
        proto.roots[node]
        for node in range(justified, len(proto))
        if viable[node] and proto.is_ancestor(node, justified)
    ]
