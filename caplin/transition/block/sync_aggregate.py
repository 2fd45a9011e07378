"""process_sync_aggregate: check the sync committee's signature over the previous block root
and pay or penalize each member (altair)."""

from typing import Any

from caplin.config.constants import (
    DOMAIN_SYNC_COMMITTEE,
    PROPOSER_WEIGHT,
    SYNC_REWARD_WEIGHT,
    WEIGHT_DENOMINATOR,
)
from caplin.crypto import bls
from caplin.errors import require
from caplin.transition.helpers import (
    BalanceChanges,
    compute_epoch_at_slot,
    compute_signing_root,
    get_base_reward_per_increment,
    get_beacon_proposer_index,
    get_block_root_at_slot,
    get_domain,
    get_total_active_balance,
    read_bits,
)
from caplin.transition.signatures import SignatureBatch
from caplin.types.tree import bytes_from_backing

from ._common import UINT64_MAX, find_validator_indices, uint64_checked


@uint64_checked("sync_aggregate")
def process_sync_aggregate(
    spec: Any, state: Any, sync_aggregate: Any, sigs: SignatureBatch
) -> None:
    """Add the sync committee signature to `sigs`, then apply participant and proposer rewards.

    A member that did not sign loses the reward it would have earned. With no participant at
    all, the signature must be the G2 point at infinity.
    """
    committee = state.current_sync_committee
    packed = bytes_from_backing(type(committee.pubkeys), committee.pubkeys.get_backing())
    committee_pubkeys = [packed[start : start + 48] for start in range(0, len(packed), 48)]
    bits = read_bits(sync_aggregate.sync_committee_bits)
    _add_signature(spec, state, sync_aggregate, committee, committee_pubkeys, bits, sigs)

    total_increments = get_total_active_balance(spec, state) // spec.EFFECTIVE_BALANCE_INCREMENT
    total_base_rewards = get_base_reward_per_increment(spec, state) * total_increments
    max_participant_rewards = (
        total_base_rewards * SYNC_REWARD_WEIGHT // WEIGHT_DENOMINATOR // spec.SLOTS_PER_EPOCH
    )
    participant_reward = max_participant_rewards // spec.SYNC_COMMITTEE_SIZE
    proposer_reward = participant_reward * PROPOSER_WEIGHT // (WEIGHT_DENOMINATOR - PROPOSER_WEIGHT)

    proposer_index = get_beacon_proposer_index(spec, state)
    member_indices = find_validator_indices(state, committee_pubkeys)
    for pubkey, member_index in zip(committee_pubkeys, member_indices, strict=True):
        require(
            member_index is not None,
            "sync_aggregate.committee",
            "sync committee member is not a validator",
            pubkey=pubkey,
        )

    # The spec applies up to 2 * SYNC_COMMITTEE_SIZE balance changes one by one. They are
    # replayed here in the same order on plain ints, so saturation at zero and overflow
    # behave the same, and `BalanceChanges` then writes every changed balance in one pass.
    changes = BalanceChanges(spec, state)
    touched = set(member_indices) | {proposer_index}
    balances = dict(zip(touched, changes.balances(list(touched)), strict=True))
    original = dict(balances)
    for member_index, participated in zip(member_indices, bits, strict=True):
        if participated:
            balances[member_index] += participant_reward
            balances[proposer_index] += proposer_reward
            _require_uint64(balances, member_index, proposer_index)
        else:
            balances[member_index] = max(balances[member_index] - participant_reward, 0)
    for index, balance in balances.items():
        if balance != original[index]:
            changes.set(index, balance)
    changes.write()


def _require_uint64(balances: dict[int, int], *indices: int) -> None:
    for index in indices:
        require(
            balances[index] <= UINT64_MAX,
            "sync_aggregate",
            "uint64 out of range: balance overflows",
            validator_index=index,
        )


def _add_signature(
    spec: Any,
    state: Any,
    sync_aggregate: Any,
    committee: Any,
    committee_pubkeys: list[bytes],
    bits: list[bool],
    sigs: SignatureBatch,
) -> None:
    signature = bytes(sync_aggregate.sync_committee_signature)
    previous_slot = max(int(state.slot), 1) - 1
    participants = [pubkey for pubkey, bit in zip(committee_pubkeys, bits, strict=True) if bit]

    if not participants:
        if getattr(sigs, "enabled", True):
            require(
                signature == bytes(bls.G2_POINT_AT_INFINITY),
                "sync_aggregate.signature",
                "signature of an empty sync aggregate is not the point at infinity",
                slot=int(state.slot),
                signature=signature,
            )
        return

    # With every member signing, the committee's stored aggregate key replaces
    # SYNC_COMMITTEE_SIZE point additions.
    if len(participants) == len(committee_pubkeys):
        participants = [bytes(committee.aggregate_pubkey)]

    domain = get_domain(
        spec, state, DOMAIN_SYNC_COMMITTEE, compute_epoch_at_slot(spec, previous_slot)
    )
    block_root = get_block_root_at_slot(spec, state, previous_slot)
    sigs.add(
        participants,
        compute_signing_root(spec, bytes(block_root), domain),
        signature,
        "sync_aggregate",
        slot=int(state.slot),
        participants=sum(bits),
    )
