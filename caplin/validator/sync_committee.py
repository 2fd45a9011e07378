"""Sync committee duties (altair and later): messages, aggregator selection, contributions."""

from typing import Any

from caplin.config.constants import (
    DOMAIN_CONTRIBUTION_AND_PROOF,
    DOMAIN_SYNC_COMMITTEE,
    DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
    SYNC_COMMITTEE_SUBNET_COUNT,
    TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE,
)
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.transition.helpers import (
    bytes_to_uint64,
    compute_epoch_at_slot,
    compute_signing_root,
    compute_sync_committee_period,
    get_current_epoch,
    get_domain,
)
from caplin.validator.keys import ValidatorKey


def sync_committee_indices(
    spec: Any, state: Any, slot: int, index_of: dict[bytes, int]
) -> list[int]:
    """Return the validator index at each position of the committee that signs at `slot`.

    Messages of `slot` go into the block at `slot + 1`, so they come from the committee of
    that slot's period: the next committee when `slot + 1` starts a new period.
    """
    next_epoch = compute_epoch_at_slot(spec, slot + 1)
    same_period = compute_sync_committee_period(spec, next_epoch) == compute_sync_committee_period(
        spec, get_current_epoch(spec, state)
    )
    committee = state.current_sync_committee if same_period else state.next_sync_committee
    return [index_of.get(bytes(pubkey), -1) for pubkey in committee.pubkeys]


def produce_messages(
    spec: Any,
    state: Any,
    slot: int,
    head_root: bytes,
    committee: list[int],
    keys: dict[int, ValidatorKey],
) -> dict[int, bytes]:
    """Sign `head_root` for every committee member in `keys`: {validator index: signature}."""
    domain = get_domain(spec, state, DOMAIN_SYNC_COMMITTEE, compute_epoch_at_slot(spec, slot))
    signing_root = compute_signing_root(spec, head_root, domain)
    return {v: keys[v].sign(signing_root) for v in set(committee) if v in keys}


def subcommittee_size(spec: Any) -> int:
    return spec.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT


def selection_proof(
    spec: Any, state: Any, slot: int, subcommittee_index: int, key: ValidatorKey
) -> bytes:
    types = spec.types(spec.fork_of(state))
    data = types.SyncAggregatorSelectionData(slot=slot, subcommittee_index=subcommittee_index)
    domain = get_domain(
        spec, state, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF, compute_epoch_at_slot(spec, slot)
    )
    return key.sign(compute_signing_root(spec, data, domain))


def is_sync_aggregator(spec: Any, proof: bytes) -> bool:
    modulo = max(1, subcommittee_size(spec) // TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE)
    return bytes_to_uint64(sha256(proof)[0:8]) % modulo == 0


def produce_contributions(
    spec: Any,
    state: Any,
    slot: int,
    head_root: bytes,
    committee: list[int],
    signatures: dict[int, bytes],
    keys: dict[int, ValidatorKey],
) -> list[Any]:
    """Aggregate `signatures` per subcommittee; return each `SignedContributionAndProof`
    signed by our first selected aggregator of that subcommittee."""
    types = spec.types(spec.fork_of(state))
    size = subcommittee_size(spec)
    domain = get_domain(
        spec, state, DOMAIN_CONTRIBUTION_AND_PROOF, compute_epoch_at_slot(spec, slot)
    )
    results = []
    for subcommittee in range(SYNC_COMMITTEE_SUBNET_COUNT):
        members = committee[subcommittee * size : (subcommittee + 1) * size]
        bits = [v in signatures for v in members]
        if not any(bits):
            continue
        aggregator = _find_aggregator(spec, state, slot, subcommittee, members, keys)
        if aggregator is None:
            continue
        aggregator_index, proof = aggregator
        contribution = types.SyncCommitteeContribution(
            slot=slot,
            beacon_block_root=head_root,
            subcommittee_index=subcommittee,
            aggregation_bits=bits,
            signature=bls.Aggregate([signatures[v] for v in members if v in signatures]),
        )
        message = types.ContributionAndProof(
            aggregator_index=aggregator_index, contribution=contribution, selection_proof=proof
        )
        signature = keys[aggregator_index].sign(compute_signing_root(spec, message, domain))
        results.append(types.SignedContributionAndProof(message=message, signature=signature))
    return results


def _find_aggregator(
    spec: Any,
    state: Any,
    slot: int,
    subcommittee: int,
    members: list[int],
    keys: dict[int, ValidatorKey],
) -> tuple[int, bytes] | None:
    for validator_index in dict.fromkeys(members):
        key = keys.get(validator_index)
        if key is None:
            continue
        proof = selection_proof(spec, state, slot, subcommittee, key)
        if is_sync_aggregator(spec, proof):
            return validator_index, proof
    return None
