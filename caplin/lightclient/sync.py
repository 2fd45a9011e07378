"""The light client sync protocol: a store that follows the chain through sync committee updates.

The store trusts one block root (checked against a `LightClientBootstrap`),
then accepts `LightClientUpdate`s signed by the current or next sync
committee. An update that at least 2/3 of the committee signed and that proves
a newer finalized header is applied at once. Otherwise the store keeps the
best update seen, and `process_light_client_store_force_update` applies it
once `UPDATE_TIMEOUT` slots pass without finality.
"""

from dataclasses import dataclass
from typing import Any

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import CaplinError
from caplin.lightclient.gloas import compute_fork_version, light_client_types
from caplin.lightclient.headers import (
    ZERO_ROOT,
    compute_epoch_at_slot,
    compute_sync_committee_period_at_slot,
    current_sync_committee_gindex_at_slot,
    finalized_root_gindex_at_slot,
    is_valid_light_client_header,
    lc_object_kind,
    next_sync_committee_gindex_at_slot,
    upgrade_container,
    upgrade_lc_object,
)
from caplin.merkle import is_valid_normalized_merkle_branch
from caplin.transition.helpers import compute_domain, compute_signing_root


class LightClientError(CaplinError):
    """A light client bootstrap or update is invalid for the store it was offered to."""


@dataclass
class LightClientStore:
    """The light client's state: the headers it trusts and the sync committees that sign them.

    `fork` is the fork of the light client types the store's objects use
    (a `Fork`, or `gloas.GLOAS`).
    """

    fork: int
    finalized_header: Any
    current_sync_committee: Any
    next_sync_committee: Any
    best_valid_update: Any | None
    optimistic_header: Any
    previous_max_active_participants: int
    current_max_active_participants: int


def _bit_count(bits: Any) -> int:
    return sum(1 for bit in bits if bit)


def _require(condition: object, message: str, **fields: Any) -> None:
    if not condition:
        raise LightClientError(message, **fields)


def _empty(value: Any) -> Any:
    return type(value)()


def _is_empty(value: Any) -> bool:
    return value.hash_tree_root() == type(value)().hash_tree_root()


def is_sync_committee_update(update: Any) -> bool:
    """Tell whether the update carries a next sync committee (a non-zero branch)."""
    return any(bytes(node) != ZERO_ROOT for node in update.next_sync_committee_branch)


def is_finality_update(update: Any) -> bool:
    """Tell whether the update carries a finalized header (a non-zero branch)."""
    return any(bytes(node) != ZERO_ROOT for node in update.finality_branch)


def is_next_sync_committee_known(store: LightClientStore) -> bool:
    return not _is_empty(store.next_sync_committee)


def get_safety_threshold(store: LightClientStore) -> int:
    """Return the participation an update needs to move the optimistic header."""
    return max(store.previous_max_active_participants, store.current_max_active_participants) // 2


def _has_relevant_sync_committee(spec: Any, update: Any) -> bool:
    attested_period = compute_sync_committee_period_at_slot(
        spec, update.attested_header.beacon.slot
    )
    signature_period = compute_sync_committee_period_at_slot(spec, update.signature_slot)
    return is_sync_committee_update(update) and attested_period == signature_period


def _has_sync_committee_finality(spec: Any, update: Any) -> bool:
    finalized_period = compute_sync_committee_period_at_slot(
        spec, update.finalized_header.beacon.slot
    )
    attested_period = compute_sync_committee_period_at_slot(
        spec, update.attested_header.beacon.slot
    )
    return finalized_period == attested_period


def is_better_update(spec: Any, new_update: Any, old_update: Any) -> bool:
    """Tell whether `new_update` ranks above `old_update` as the period's best update.

    The order: supermajority participation, then a relevant next sync committee,
    then finality, then finality within the attested period, then participation,
    then the older attested slot, then the earlier signature slot.
    """
    max_participants = len(new_update.sync_aggregate.sync_committee_bits)
    new_participants = _bit_count(new_update.sync_aggregate.sync_committee_bits)
    old_participants = _bit_count(old_update.sync_aggregate.sync_committee_bits)
    new_supermajority = new_participants * 3 >= max_participants * 2
    old_supermajority = old_participants * 3 >= max_participants * 2
    if new_supermajority != old_supermajority:
        return new_supermajority
    if not new_supermajority and new_participants != old_participants:
        return new_participants > old_participants

    new_relevant = _has_relevant_sync_committee(spec, new_update)
    old_relevant = _has_relevant_sync_committee(spec, old_update)
    if new_relevant != old_relevant:
        return new_relevant

    new_finality = is_finality_update(new_update)
    old_finality = is_finality_update(old_update)
    if new_finality != old_finality:
        return new_finality

    if new_finality:
        new_committee_finality = _has_sync_committee_finality(spec, new_update)
        old_committee_finality = _has_sync_committee_finality(spec, old_update)
        if new_committee_finality != old_committee_finality:
            return new_committee_finality

    if new_participants != old_participants:
        return new_participants > old_participants

    new_attested_slot = int(new_update.attested_header.beacon.slot)
    old_attested_slot = int(old_update.attested_header.beacon.slot)
    if new_attested_slot != old_attested_slot:
        return new_attested_slot < old_attested_slot
    return int(new_update.signature_slot) < int(old_update.signature_slot)


def initialize_light_client_store(
    spec: Any, trusted_block_root: bytes, bootstrap: Any, fork: Fork | None = None
) -> LightClientStore:
    """Create a store from `bootstrap`, whose header must have root `trusted_block_root`.

    `fork` selects the store's light client types (default: the bootstrap's);
    the bootstrap is upgraded to it first. Raises `LightClientError` when the
    header or the current sync committee proof is invalid.
    """
    _, bootstrap_fork = lc_object_kind(spec, bootstrap)
    fork = bootstrap_fork if fork is None else fork
    bootstrap = upgrade_lc_object(spec, bootstrap, fork)
    header = bootstrap.header

    _require(is_valid_light_client_header(spec, header), "invalid bootstrap header")
    header_root = bytes(header.beacon.hash_tree_root())
    _require(
        header_root == bytes(trusted_block_root),
        "bootstrap header is not the trusted block",
        expected=bytes(trusted_block_root),
        actual=header_root,
    )
    slot = int(header.beacon.slot)
    _require(
        is_valid_normalized_merkle_branch(
            bytes(bootstrap.current_sync_committee.hash_tree_root()),
            [bytes(node) for node in bootstrap.current_sync_committee_branch],
            current_sync_committee_gindex_at_slot(spec, fork, slot),
            bytes(header.beacon.state_root),
        ),
        "invalid current sync committee branch",
        slot=slot,
    )

    return LightClientStore(
        fork=fork,
        finalized_header=header,
        current_sync_committee=bootstrap.current_sync_committee,
        next_sync_committee=_empty(bootstrap.current_sync_committee),
        best_valid_update=None,
        optimistic_header=header.copy(),
        previous_max_active_participants=0,
        current_max_active_participants=0,
    )


def validate_light_client_update(
    spec: Any,
    store: LightClientStore,
    update: Any,
    current_slot: int,
    genesis_validators_root: bytes,
) -> None:
    """Check `update` (already in the store's types) against the store.

    Raises `LightClientError` naming the first rule the update breaks.
    """
    sync_aggregate = update.sync_aggregate
    participants = _bit_count(sync_aggregate.sync_committee_bits)
    _require(
        participants >= int(spec.MIN_SYNC_COMMITTEE_PARTICIPANTS),
        "too few sync committee participants",
        participants=participants,
    )

    _require(is_valid_light_client_header(spec, update.attested_header), "invalid attested header")
    attested_slot = int(update.attested_header.beacon.slot)
    finalized_slot = int(update.finalized_header.beacon.slot)
    signature_slot = int(update.signature_slot)
    _require(
        current_slot >= signature_slot > attested_slot >= finalized_slot,
        "update slots are out of order",
        current_slot=current_slot,
        signature_slot=signature_slot,
        attested_slot=attested_slot,
        finalized_slot=finalized_slot,
    )
    store_period = compute_sync_committee_period_at_slot(spec, store.finalized_header.beacon.slot)
    signature_period = compute_sync_committee_period_at_slot(spec, signature_slot)
    if is_next_sync_committee_known(store):
        allowed_periods: tuple[int, ...] = (store_period, store_period + 1)
    else:
        allowed_periods = (store_period,)
    _require(
        signature_period in allowed_periods,
        "update skips a sync committee period",
        store_period=store_period,
        signature_period=signature_period,
    )

    attested_period = compute_sync_committee_period_at_slot(spec, attested_slot)
    has_next_sync_committee = (
        not is_next_sync_committee_known(store)
        and is_sync_committee_update(update)
        and attested_period == store_period
    )
    _require(
        attested_slot > int(store.finalized_header.beacon.slot) or has_next_sync_committee,
        "update is not relevant to the store",
        attested_slot=attested_slot,
    )

    _validate_finality(spec, store, update)
    _validate_next_sync_committee(spec, store, update, attested_period, store_period)

    if signature_period == store_period:
        sync_committee = store.current_sync_committee
    else:
        sync_committee = store.next_sync_committee
    pubkeys = [
        bytes(pubkey)
        for bit, pubkey in zip(
            sync_aggregate.sync_committee_bits, sync_committee.pubkeys, strict=True
        )
        if bit
    ]
    fork_version_slot = max(signature_slot, 1) - 1
    fork_version = compute_fork_version(spec, compute_epoch_at_slot(spec, fork_version_slot))
    domain = compute_domain(
        spec, constants.DOMAIN_SYNC_COMMITTEE, fork_version, bytes(genesis_validators_root)
    )
    signing_root = compute_signing_root(spec, update.attested_header.beacon, domain)
    _require(
        bls.FastAggregateVerify(
            pubkeys, signing_root, bytes(sync_aggregate.sync_committee_signature)
        ),
        "invalid sync committee signature",
        signature_slot=signature_slot,
    )


def _validate_finality(spec: Any, store: LightClientStore, update: Any) -> None:
    # The finalized header must be the block the attested state records as its
    # finalized checkpoint. Before any finality that root is zero.
    if not is_finality_update(update):
        _require(_is_empty(update.finalized_header), "finalized header without finality branch")
        return
    if int(update.finalized_header.beacon.slot) == constants.GENESIS_SLOT:
        _require(_is_empty(update.finalized_header), "genesis finalized header is not empty")
        finalized_root = ZERO_ROOT
    else:
        _require(
            is_valid_light_client_header(spec, update.finalized_header),
            "invalid finalized header",
        )
        finalized_root = bytes(update.finalized_header.beacon.hash_tree_root())
    attested_slot = int(update.attested_header.beacon.slot)
    _require(
        is_valid_normalized_merkle_branch(
            finalized_root,
            [bytes(node) for node in update.finality_branch],
            finalized_root_gindex_at_slot(spec, store.fork, attested_slot),
            bytes(update.attested_header.beacon.state_root),
        ),
        "invalid finality branch",
        attested_slot=attested_slot,
    )


def _validate_next_sync_committee(
    spec: Any, store: LightClientStore, update: Any, attested_period: int, store_period: int
) -> None:
    if not is_sync_committee_update(update):
        _require(_is_empty(update.next_sync_committee), "next sync committee without its branch")
        return
    if attested_period == store_period and is_next_sync_committee_known(store):
        _require(
            update.next_sync_committee.hash_tree_root()
            == store.next_sync_committee.hash_tree_root(),
            "next sync committee differs from the known one",
        )
    attested_slot = int(update.attested_header.beacon.slot)
    _require(
        is_valid_normalized_merkle_branch(
            bytes(update.next_sync_committee.hash_tree_root()),
            [bytes(node) for node in update.next_sync_committee_branch],
            next_sync_committee_gindex_at_slot(spec, store.fork, attested_slot),
            bytes(update.attested_header.beacon.state_root),
        ),
        "invalid next sync committee branch",
        attested_slot=attested_slot,
    )


def apply_light_client_update(spec: Any, store: LightClientStore, update: Any) -> None:
    """Move the store to the update's finalized header, rotating sync committees as needed."""
    store_period = compute_sync_committee_period_at_slot(spec, store.finalized_header.beacon.slot)
    finalized_period = compute_sync_committee_period_at_slot(
        spec, update.finalized_header.beacon.slot
    )
    if not is_next_sync_committee_known(store):
        _require(
            finalized_period == store_period,
            "update finalizes another period before the next committee is known",
            store_period=store_period,
            finalized_period=finalized_period,
        )
        store.next_sync_committee = update.next_sync_committee
    elif finalized_period == store_period + 1:
        store.current_sync_committee = store.next_sync_committee
        store.next_sync_committee = update.next_sync_committee
        store.previous_max_active_participants = store.current_max_active_participants
        store.current_max_active_participants = 0
    if int(update.finalized_header.beacon.slot) > int(store.finalized_header.beacon.slot):
        store.finalized_header = update.finalized_header
        if int(store.finalized_header.beacon.slot) > int(store.optimistic_header.beacon.slot):
            store.optimistic_header = store.finalized_header


def process_light_client_store_force_update(
    spec: Any, store: LightClientStore, current_slot: int
) -> None:
    """Apply the best update once `UPDATE_TIMEOUT` slots passed without a finality update.

    Without finality the attested header replaces the finalized one, so the
    store can still move into later sync committee periods.
    """
    timeout_slot = int(store.finalized_header.beacon.slot) + int(spec.UPDATE_TIMEOUT)
    if current_slot <= timeout_slot or store.best_valid_update is None:
        return
    best = store.best_valid_update
    if int(best.finalized_header.beacon.slot) <= int(store.finalized_header.beacon.slot):
        best.finalized_header = best.attested_header.copy()
    apply_light_client_update(spec, store, best)
    store.best_valid_update = None


def process_light_client_update(
    spec: Any,
    store: LightClientStore,
    update: Any,
    current_slot: int,
    genesis_validators_root: bytes,
) -> None:
    """Validate `update` (upgraded to the store's fork first) and fold it into the store.

    Raises `LightClientError` when the update is invalid; the store is then unchanged.
    """
    update = upgrade_lc_object(spec, update, store.fork)
    validate_light_client_update(spec, store, update, current_slot, genesis_validators_root)
    bits = update.sync_aggregate.sync_committee_bits
    participants = _bit_count(bits)

    if store.best_valid_update is None or is_better_update(spec, update, store.best_valid_update):
        store.best_valid_update = update

    store.current_max_active_participants = max(store.current_max_active_participants, participants)

    attested_slot = int(update.attested_header.beacon.slot)
    if participants > get_safety_threshold(store) and attested_slot > int(
        store.optimistic_header.beacon.slot
    ):
        store.optimistic_header = update.attested_header

    finalizes_next_sync_committee = (
        not is_next_sync_committee_known(store)
        and is_sync_committee_update(update)
        and is_finality_update(update)
        and _has_sync_committee_finality(spec, update)
    )
    has_supermajority = participants * 3 >= len(bits) * 2
    newer_finalized = int(update.finalized_header.beacon.slot) > int(
        store.finalized_header.beacon.slot
    )
    if has_supermajority and (newer_finalized or finalizes_next_sync_committee):
        apply_light_client_update(spec, store, update)
        store.best_valid_update = None


def _update_type(spec: Any, fork: int) -> Any:
    return light_client_types(spec, fork).LightClientUpdate


def process_light_client_finality_update(
    spec: Any,
    store: LightClientStore,
    finality_update: Any,
    current_slot: int,
    genesis_validators_root: bytes,
) -> None:
    """Process a `LightClientFinalityUpdate` as an update without a next sync committee."""
    finality_update = upgrade_lc_object(spec, finality_update, store.fork)
    update = upgrade_container(finality_update, _update_type(spec, store.fork))
    process_light_client_update(spec, store, update, current_slot, genesis_validators_root)


def process_light_client_optimistic_update(
    spec: Any,
    store: LightClientStore,
    optimistic_update: Any,
    current_slot: int,
    genesis_validators_root: bytes,
) -> None:
    """Process a `LightClientOptimisticUpdate` as an update without finality or committee."""
    optimistic_update = upgrade_lc_object(spec, optimistic_update, store.fork)
    update = upgrade_container(optimistic_update, _update_type(spec, store.fork))
    process_light_client_update(spec, store, update, current_slot, genesis_validators_root)


def upgrade_lc_store(spec: Any, store: LightClientStore, fork: Fork) -> LightClientStore:
    """Return `store` with every object in the light client types of `fork`."""
    types = light_client_types(spec, fork)
    best = store.best_valid_update
    return LightClientStore(
        fork=fork,
        finalized_header=upgrade_lc_object(spec, store.finalized_header, fork),
        current_sync_committee=upgrade_container(store.current_sync_committee, types.SyncCommittee),
        next_sync_committee=upgrade_container(store.next_sync_committee, types.SyncCommittee),
        best_valid_update=None if best is None else upgrade_lc_object(spec, best, fork),
        optimistic_header=upgrade_lc_object(spec, store.optimistic_header, fork),
        previous_max_active_participants=store.previous_max_active_participants,
        current_max_active_participants=store.current_max_active_participants,
    )
