"""Sync committee selection (altair; electra samples with 16-bit random values)."""

from typing import Any

from caplin.config.constants import DOMAIN_SYNC_COMMITTEE
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.transition.caches import sync_committee_cache, validators_key
from caplin.transition.helpers.committees import (
    get_active_validator_indices,
    get_current_epoch,
    get_seed,
)
from caplin.transition.helpers.proposers import sample_by_effective_balance
from caplin.transition.helpers.registry import validator_table


def get_next_sync_committee_indices(spec: Any, state: Any) -> list[int]:
    """Return the SYNC_COMMITTEE_SIZE members (repeats allowed) of the next sync committee."""
    epoch = get_current_epoch(spec, state) + 1
    indices = get_active_validator_indices(spec, state, epoch)
    seed = get_seed(spec, state, epoch, DOMAIN_SYNC_COMMITTEE)
    electra = spec.fork_of(state) >= Fork.ELECTRA
    key = (validators_key(state), epoch, seed, electra)

    def compute() -> tuple[int, ...]:
        effective_balance = validator_table(state).effective_balance
        chosen = sample_by_effective_balance(
            spec, indices, seed, effective_balance, electra, spec.SYNC_COMMITTEE_SIZE
        )
        return tuple(chosen)

    return list(sync_committee_cache.get_or_compute(key, compute))


def get_next_sync_committee(spec: Any, state: Any) -> Any:
    """Return the next `SyncCommittee`: member pubkeys and their aggregate key."""
    indices = get_next_sync_committee_indices(spec, state)
    table = validator_table(state)
    pubkeys = [table.pubkey(index) for index in indices]
    types = spec.types(spec.fork_of(state))
    return types.SyncCommittee(pubkeys=pubkeys, aggregate_pubkey=bls.eth_aggregate_pubkeys(pubkeys))
