"""Attestation duties: committee votes, aggregator selection and signed aggregates."""

import logging
from dataclasses import dataclass
from typing import Any

from caplin.config.constants import (
    DOMAIN_AGGREGATE_AND_PROOF,
    DOMAIN_BEACON_ATTESTER,
    DOMAIN_SELECTION_PROOF,
    TARGET_AGGREGATORS_PER_COMMITTEE,
)
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.helpers import (
    bytes_to_uint64,
    compute_epoch_at_slot,
    compute_signing_root,
    compute_start_slot_at_epoch,
    get_beacon_committee,
    get_block_root_at_slot,
    get_committee_count_per_slot,
    get_domain,
)
from caplin.validator.keys import ValidatorKey
from caplin.validator.proposer import uint64_root
from caplin.validator.slashing_protection import AttestationRequest, SlashingProtection

log = logging.getLogger("caplin.validator")


@dataclass(frozen=True)
class CommitteeVotes:
    """Our validators' votes in one committee: (position in committee, signature) pairs."""

    committee_index: int
    committee: list[int]
    data: Any
    votes: list[tuple[int, bytes]]


def attestation_data(spec: Any, state: Any, head_root: bytes, slot: int, index: int) -> Any:
    """Return the `AttestationData` for `slot` on `head_root`, whose post-state advanced to
    `slot` is `state` (the honest validator's `head_state`)."""
    types = spec.types(spec.fork_of(state))
    epoch = compute_epoch_at_slot(spec, slot)
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    if start_slot == int(state.slot):
        target_root = head_root
    else:
        target_root = get_block_root_at_slot(spec, state, start_slot)
    # Electra (EIP-7549) moves the committee index out of the signed data.
    data_index = 0 if spec.fork_of(state) >= Fork.ELECTRA else index
    return types.AttestationData(
        slot=slot,
        index=data_index,
        beacon_block_root=head_root,
        source=state.current_justified_checkpoint,
        target=types.Checkpoint(epoch=epoch, root=target_root),
    )


def produce_votes(
    spec: Any,
    state: Any,
    head_root: bytes,
    slot: int,
    keys: dict[int, ValidatorKey],
    protection: SlashingProtection | None = None,
) -> list[CommitteeVotes]:
    """Sign the attestations of every validator in `keys` that is in a committee at `slot`.

    Every vote is recorded in `protection` (one transaction for the slot) before it is
    signed. A vote that `protection` rejects is logged and left out, so a committee can end
    up without votes. Without `protection` the votes are signed unchecked.
    """
    epoch = compute_epoch_at_slot(spec, slot)
    domain = get_domain(spec, state, DOMAIN_BEACON_ATTESTER, epoch)
    planned = []
    for index in range(get_committee_count_per_slot(spec, state, epoch)):
        committee = get_beacon_committee(spec, state, slot, index)
        members = [(position, v) for position, v in enumerate(committee) if v in keys]
        if not members:
            continue
        data = attestation_data(spec, state, head_root, slot, index)
        planned.append((index, committee, data, compute_signing_root(spec, data, domain), members))
    allowed = _record_votes(planned, keys, protection)
    results = []
    for index, committee, data, signing_root, members in planned:
        votes = [(p, keys[v].sign(signing_root)) for p, v in members if v in allowed]
        if votes:
            results.append(CommitteeVotes(index, committee, data, votes))
    return results


def _record_votes(
    planned: list[tuple[int, list[int], Any, bytes, list[tuple[int, int]]]],
    keys: dict[int, ValidatorKey],
    protection: SlashingProtection | None,
) -> set[int]:
    """Record the planned votes in `protection`; return the validators that may sign."""
    voters = [(v, data, root) for _, _, data, root, members in planned for _, v in members]
    if protection is None:
        return {v for v, _, _ in voters}
    requests = [
        AttestationRequest(
            keys[v].pubkey, int(data.source.epoch), int(data.target.epoch), signing_root
        )
        for v, data, signing_root in voters
    ]
    allowed = set()
    rejected: list[tuple[int, Any]] = []
    for (validator_index, data, _), error in zip(
        voters, protection.check_and_record_attestations(requests), strict=True
    ):
        if error is None:
            allowed.add(validator_index)
            continue
        rejected.append((validator_index, error))
        log.debug(
            "attestation not signed slot=%d validator_index=%d error=%s",
            int(data.slot),
            validator_index,
            error,
        )
    if rejected:
        # One line per slot, because the console filter drops repeats of a warning for 10 seconds.
        log.warning(
            "attestations not signed: slashing protection rejected them slot=%d count=%d "
            "validator_indices=%s first_error=%s",
            int(voters[0][1].slot),
            len(rejected),
            ",".join(str(index) for index, _ in rejected),
            rejected[0][1],
        )
    return allowed


def selection_proof(spec: Any, state: Any, slot: int, key: ValidatorKey) -> bytes:
    domain = get_domain(spec, state, DOMAIN_SELECTION_PROOF, compute_epoch_at_slot(spec, slot))
    return key.sign(compute_signing_root(spec, uint64_root(slot), domain))


def is_aggregator(committee_size: int, proof: bytes) -> bool:
    modulo = max(1, committee_size // TARGET_AGGREGATORS_PER_COMMITTEE)
    return bytes_to_uint64(sha256(proof)[0:8]) % modulo == 0


def find_aggregator(
    spec: Any, state: Any, slot: int, committee: list[int], keys: dict[int, ValidatorKey]
) -> tuple[int, bytes] | None:
    """Return (validator index, selection proof) of our first aggregator in `committee`."""
    for validator_index in committee:
        key = keys.get(validator_index)
        if key is None:
            continue
        proof = selection_proof(spec, state, slot, key)
        if is_aggregator(len(committee), proof):
            return validator_index, proof
    return None


def sign_aggregate(
    spec: Any, state: Any, aggregator_index: int, aggregate: Any, proof: bytes, key: ValidatorKey
) -> Any:
    """Return the `SignedAggregateAndProof` of `aggregate` by `aggregator_index`."""
    types = spec.types(spec.fork_of(state))
    message = types.AggregateAndProof(
        aggregator_index=aggregator_index, aggregate=aggregate, selection_proof=proof
    )
    epoch = compute_epoch_at_slot(spec, int(aggregate.data.slot))
    domain = get_domain(spec, state, DOMAIN_AGGREGATE_AND_PROOF, epoch)
    signature = key.sign(compute_signing_root(spec, message, domain))
    return types.SignedAggregateAndProof(message=message, signature=signature)
