"""Validator duties computed from a state: attester, proposer and sync committee duties.

Every function takes a state whose shuffling covers the requested epoch and runs on a worker
thread. The routes in `beacon_api.routes.validator` pick the state and the dependent root.
"""

from typing import Any

from beacon_api.validators import Registry
from caplin.config.constants import DOMAIN_BEACON_PROPOSER, SYNC_COMMITTEE_SUBNET_COUNT
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.errors import ApiError
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_proposer_index,
    compute_start_slot_at_epoch,
    compute_sync_committee_period,
    get_active_validator_indices,
    get_beacon_committee,
    get_block_root_at_slot,
    get_committee_count_per_slot,
    get_current_epoch,
    get_seed,
    uint_to_bytes,
)


def check_indices(state: Any, indices: list[int]) -> None:
    """Raise a 400 ApiError naming the first index that is not in the state's registry."""
    count = len(state.validators)
    for index in indices:
        if index >= count:
            raise ApiError(
                400, f"invalid validator index {index}: the registry has {count} validators"
            )


def attester_duties(spec: Any, state: Any, epoch: int, indices: list[int]) -> list[dict]:
    """Return the `AttesterDuty` JSON of each of `indices` that has a committee in `epoch`.

    `epoch` is the state's previous, current or next epoch.
    """
    wanted = set(indices)
    registry = Registry(state)
    per_slot = get_committee_count_per_slot(spec, state, epoch)
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    duties = []
    for slot in range(start_slot, start_slot + spec.SLOTS_PER_EPOCH):
        for committee_index in range(per_slot):
            committee = get_beacon_committee(spec, state, slot, committee_index)
            for position, validator_index in enumerate(committee):
                if validator_index not in wanted:
                    continue
                duties.append(
                    {
                        "pubkey": "0x" + registry.pubkey(validator_index).hex(),
                        "validator_index": str(validator_index),
                        "committee_index": str(committee_index),
                        "committee_length": str(len(committee)),
                        "committees_at_slot": str(per_slot),
                        "validator_committee_index": str(position),
                        "slot": str(slot),
                    }
                )
    return duties


def proposers(spec: Any, state: Any, epoch: int) -> list[int]:
    """Return the proposer index of every slot of `epoch`.

    From fulu `epoch` is the state's current or next epoch, read from `proposer_lookahead`.
    Before fulu it must be the state's current epoch, because epoch processing can change
    the effective balances that proposer sampling weighs.
    """
    current = get_current_epoch(spec, state)
    if spec.fork_of(state) >= Fork.FULU:
        offset = (epoch - current) * spec.SLOTS_PER_EPOCH
        return [
            int(index) for index in state.proposer_lookahead[offset : offset + spec.SLOTS_PER_EPOCH]
        ]
    assert epoch == current, f"proposers of epoch {epoch} from a state at epoch {current}"
    indices = get_active_validator_indices(spec, state, epoch)
    seed = get_seed(spec, state, epoch, DOMAIN_BEACON_PROPOSER)
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    return [
        compute_proposer_index(spec, state, indices, sha256(bytes(seed) + uint_to_bytes(slot)))
        for slot in range(start_slot, start_slot + spec.SLOTS_PER_EPOCH)
    ]


def proposer_duties(spec: Any, state: Any, epoch: int) -> list[dict]:
    """Return the `ProposerDuty` JSON of every slot of `epoch` (see `proposers`)."""
    registry = Registry(state)
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    return [
        {
            "pubkey": "0x" + registry.pubkey(index).hex(),
            "validator_index": str(index),
            "slot": str(start_slot + offset),
        }
        for offset, index in enumerate(proposers(spec, state, epoch))
    ]


def sync_duties(spec: Any, state: Any, epoch: int, indices: list[int]) -> list[dict]:
    """Return the `SyncDuty` JSON of each of `indices` in the sync committee of `epoch`.

    Raises:
        ApiError: 400 when `epoch` is neither in the state's sync committee period nor in the
            next one.
    """
    period = compute_sync_committee_period(spec, epoch)
    state_period = compute_sync_committee_period(spec, get_current_epoch(spec, state))
    if period == state_period:
        committee = state.current_sync_committee
    elif period == state_period + 1:
        committee = state.next_sync_committee
    else:
        raise ApiError(
            400,
            f"invalid epoch {epoch}: sync committee period {period} is not known; the head is "
            f"in period {state_period}, which knows periods {state_period} and {state_period + 1}",
        )
    registry = Registry(state)
    positions: dict[bytes, list[int]] = {}
    for position, pubkey in enumerate(committee.pubkeys):
        positions.setdefault(bytes(pubkey), []).append(position)
    duties = []
    for index in dict.fromkeys(indices):
        pubkey = registry.pubkey(index)
        if pubkey not in positions:
            continue
        duties.append(
            {
                "pubkey": "0x" + pubkey.hex(),
                "validator_index": str(index),
                "validator_sync_committee_indices": [str(p) for p in positions[pubkey]],
            }
        )
    return duties


def subcommittee_of(spec: Any, position: int) -> int:
    """Return the sync subcommittee (subnet) of a position in the sync committee."""
    return position // (spec.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT)


def block_root_at(
    state: Any, spec: Any, slot: int, latest_root: bytes, genesis_root: bytes
) -> bytes:
    """Return the root of the latest block at or before `slot` on the chain of `state`.

    `latest_root` is the root of the state's latest block, returned for a slot at or after
    the state's slot. A negative slot is the underflow case of the dependent-root rule, and
    returns the genesis block root.
    """
    if slot < 0:
        return genesis_root
    if slot >= int(state.slot):
        return latest_root
    return bytes(get_block_root_at_slot(spec, state, slot))


def attestation_data(spec: Any, state: Any, block_root: bytes, slot: int, index: int) -> Any:
    """Return the `AttestationData` of `slot` voting for `block_root`.

    `state` is the post-state of `block_root` advanced to `slot`, the honest validator's
    head state. Target is the block at the epoch's first slot, source the state's current
    justified checkpoint. From electra (EIP-7549) the committee index is 0 in the data.
    """
    fork = spec.fork_of(state)
    epoch = compute_epoch_at_slot(spec, slot)
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    if start_slot == int(state.slot):
        target_root = block_root
    else:
        target_root = bytes(get_block_root_at_slot(spec, state, start_slot))
    types = spec.types(fork)
    return types.AttestationData(
        slot=slot,
        index=0 if fork >= Fork.ELECTRA else index,
        beacon_block_root=block_root,
        source=state.current_justified_checkpoint,
        target=types.Checkpoint(epoch=epoch, root=target_root),
    )


def uint64_root(value: int) -> bytes:
    """Return the hash tree root of a uint64: its 8 little-endian bytes, zero padded."""
    return int(value).to_bytes(8, "little") + b"\x00" * 24
