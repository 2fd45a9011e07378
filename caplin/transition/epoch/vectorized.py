"""Epoch processing on numpy columns, for registries of mainnet size (altair and later).

The per-validator steps (justification totals, inactivity scores, rewards and penalties,
registry updates, slashings and effective balances) run on arrays read once from the
state's trees. Only the balances, scores and validators that changed are written back.
The queue steps and the small rotations run through the ordinary step functions. Results
are identical to `process_epoch_simple`, which the spec tests and the test suite check.

uint64 overflow, which the spec treats as an invalid transition, raises
`EpochProcessingError` here as well; numpy would otherwise wrap silently.
"""

import gc
from typing import Any

import numpy as np

from caplin.config.constants import (
    DOMAIN_BEACON_PROPOSER,
    DOMAIN_SYNC_COMMITTEE,
    FAR_FUTURE_EPOCH,
    GENESIS_EPOCH,
    PARTICIPATION_FLAG_WEIGHTS,
    TIMELY_HEAD_FLAG_INDEX,
    TIMELY_TARGET_FLAG_INDEX,
    UINT64_MAX,
    WEIGHT_DENOMINATOR,
)
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.errors import EpochProcessingError
from caplin.transition.epoch.effective_balance_updates import hysteresis_thresholds
from caplin.transition.epoch.eth1_data_reset import process_eth1_data_reset
from caplin.transition.epoch.historical_roots_update import process_historical_roots_update
from caplin.transition.epoch.historical_summaries_update import (
    process_historical_summaries_update,
)
from caplin.transition.epoch.justification_and_finalization import (
    weigh_justification_and_finalization,
)
from caplin.transition.epoch.participation_flag_updates import process_participation_flag_updates
from caplin.transition.epoch.pending_consolidations import process_pending_consolidations
from caplin.transition.epoch.pending_deposits import pending_deposits_pass
from caplin.transition.epoch.randao_mixes_reset import process_randao_mixes_reset
from caplin.transition.epoch.rewards_and_penalties import inactivity_penalty_quotient
from caplin.transition.epoch.slashings import proportional_slashing_multiplier
from caplin.transition.epoch.slashings_reset import process_slashings_reset
from caplin.transition.epoch.tree_arrays import (
    patch_basic_list,
    read_basic_list,
    read_basic_vector,
    refresh_basic_list,
)
from caplin.transition.epoch.validator_columns import (
    ValidatorColumns,
    read_validator_columns,
    write_validator_columns,
)
from caplin.transition.helpers import get_seed, integer_squareroot
from caplin.transition.helpers.proposers import sample_by_effective_balance

_U64 = np.uint64


def _check_uint64(value: int, quantity: str, **fields: Any) -> int:
    if value > UINT64_MAX:
        raise EpochProcessingError(f"{quantity} exceeds uint64", value=value, **fields)
    return value


def _sum(values: np.ndarray) -> int:
    """Return the exact sum of a uint64 array as a Python int."""
    if len(values) == 0:
        return 0
    if int(values.max()) * len(values) <= UINT64_MAX:
        return int(values.sum(dtype=_U64))
    return int(values.astype(object).sum())


def _product(values: np.ndarray, factor: int, quantity: str) -> np.ndarray:
    """Return `values * factor` as uint64, raising where the spec's uint64 product overflows."""
    if len(values) and int(values.max()) * factor > UINT64_MAX:
        raise EpochProcessingError(f"{quantity} exceeds uint64", factor=factor)
    return values * _U64(factor)


# The inactivity scores written by the last vectorised epoch: blocks rarely change them, so
# the next epoch reads only the chunks whose nodes differ.
_last_scores: list[tuple[Any, np.ndarray]] = []


def _read_scores(scores: Any) -> np.ndarray:
    if _last_scores:
        backing, values = _last_scores[0]
        return refresh_basic_list(scores, backing, values).copy()
    return read_basic_list(scores, "<u8")


class EpochArrays:
    """The columns and scalars one vectorised epoch works on."""

    def __init__(self, spec: Any, state: Any) -> None:
        self.spec = spec
        self.state = state
        self.fork = spec.fork_of(state)
        self.current_epoch = int(state.slot) // spec.SLOTS_PER_EPOCH
        self.previous_epoch = max(self.current_epoch - 1, GENESIS_EPOCH)
        self.columns_read = read_validator_columns(state.validators)
        self.columns = self.columns_read.copy()
        self.balances_backing = state.balances.get_backing()
        self.balances_read = read_basic_list(state.balances, "<u8")
        self.balances = self.balances_read.copy()
        self.scores_read = _read_scores(state.inactivity_scores)
        self.scores = self.scores_read.copy()
        self.previous_flags = read_basic_list(state.previous_epoch_participation, "u1")
        self.current_flags = read_basic_list(state.current_epoch_participation, "u1")
        self.total_active_balance = self.total_balance(self.active(self.current_epoch))

    def active(self, epoch: int) -> np.ndarray:
        columns = self.columns
        return (columns.activation_epoch <= _U64(epoch)) & (_U64(epoch) < columns.exit_epoch)

    def total_balance(self, mask: np.ndarray) -> int:
        """Return get_total_balance over the validators in `mask` (at least one increment)."""
        increment = self.spec.EFFECTIVE_BALANCE_INCREMENT
        return max(increment, _sum(self.columns.effective_balance[mask]))

    def participants(self, flags: np.ndarray, flag_index: int, epoch: int) -> np.ndarray:
        """Return the mask of get_unslashed_participating_indices."""
        has_flag = (flags & np.uint8(1 << flag_index)) != 0
        return self.active(epoch) & ~self.columns.slashed & has_flag

    def eligible(self) -> np.ndarray:
        """Return the mask of get_eligible_validator_indices."""
        columns = self.columns
        recently_slashed = columns.slashed & (
            _U64(self.previous_epoch + 1) < columns.withdrawable_epoch
        )
        return self.active(self.previous_epoch) | recently_slashed

    def in_inactivity_leak(self) -> bool:
        finality_delay = self.previous_epoch - int(self.state.finalized_checkpoint.epoch)
        return finality_delay > self.spec.MIN_EPOCHS_TO_INACTIVITY_PENALTY

    def add_balances(self, rewards: np.ndarray, penalties: np.ndarray) -> None:
        """Apply increase_balance then decrease_balance (saturating) to every validator."""
        balances = self.balances
        if len(balances) and int(balances.max()) + int(rewards.max()) > UINT64_MAX:
            if (balances > _U64(UINT64_MAX) - rewards).any():
                raise EpochProcessingError("balance plus reward exceeds uint64")
        balances += rewards
        short = balances < penalties
        np.subtract(balances, penalties, out=balances, where=~short)
        balances[short] = 0

    def flush(self) -> None:
        """Write balances, inactivity scores and validator fields back to the state."""
        state = self.state
        state.balances = patch_basic_list(state.balances, self.balances_read, self.balances)
        if self.fork >= Fork.ALTAIR:
            state.inactivity_scores = patch_basic_list(
                state.inactivity_scores, self.scores_read, self.scores
            )
        write_validator_columns(state, self.columns_read, self.columns)
        self.balances_backing = state.balances.get_backing()
        self.balances_read = self.balances.copy()
        self.scores_read = self.scores.copy()
        _last_scores[:] = [(state.inactivity_scores.get_backing(), self.scores_read)]
        self.columns_read = self.columns.copy()


def justification_and_finalization(arrays: EpochArrays) -> None:
    if arrays.current_epoch <= GENESIS_EPOCH + 1:
        return
    previous = arrays.participants(
        arrays.previous_flags, TIMELY_TARGET_FLAG_INDEX, arrays.previous_epoch
    )
    current = arrays.participants(
        arrays.current_flags, TIMELY_TARGET_FLAG_INDEX, arrays.current_epoch
    )
    weigh_justification_and_finalization(
        arrays.spec,
        arrays.state,
        arrays.total_active_balance,
        arrays.total_balance(previous),
        arrays.total_balance(current),
    )


def inactivity_updates(arrays: EpochArrays) -> None:
    if arrays.current_epoch == GENESIS_EPOCH:
        return
    spec = arrays.spec
    eligible = arrays.eligible()
    target = arrays.participants(
        arrays.previous_flags, TIMELY_TARGET_FLAG_INDEX, arrays.previous_epoch
    )
    scores = arrays.scores
    missed = eligible & ~target
    if missed.any() and int(scores[missed].max()) + spec.INACTIVITY_SCORE_BIAS > UINT64_MAX:
        raise EpochProcessingError("inactivity score exceeds uint64")

    hit = eligible & target & (scores > 0)
    scores[hit] -= _U64(1)
    scores[missed] += _U64(spec.INACTIVITY_SCORE_BIAS)
    if not arrays.in_inactivity_leak():
        recovery = _U64(spec.INACTIVITY_SCORE_RECOVERY_RATE)
        scores[eligible] = np.where(
            scores[eligible] > recovery, scores[eligible] - recovery, _U64(0)
        )


def rewards_and_penalties(arrays: EpochArrays) -> None:
    if arrays.current_epoch == GENESIS_EPOCH:
        return
    spec = arrays.spec
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    count = len(arrays.balances)
    eligible = arrays.eligible()
    leaking = arrays.in_inactivity_leak()
    per_increment = (
        increment * spec.BASE_REWARD_FACTOR // integer_squareroot(arrays.total_active_balance)
    )
    increments = arrays.columns.effective_balance // _U64(increment)
    base_rewards = _product(increments, per_increment, "base reward")
    active_increments = arrays.total_active_balance // increment

    for flag_index, weight in enumerate(PARTICIPATION_FLAG_WEIGHTS):
        participants = arrays.participants(arrays.previous_flags, flag_index, arrays.previous_epoch)
        rewards = np.zeros(count, _U64)
        penalties = np.zeros(count, _U64)
        if not leaking:
            participating_increments = arrays.total_balance(participants) // increment
            paid = eligible & participants
            numerator = _product(
                base_rewards[paid], weight * participating_increments, "flag reward numerator"
            )
            rewards[paid] = numerator // _U64(active_increments * WEIGHT_DENOMINATOR)
        if flag_index != TIMELY_HEAD_FLAG_INDEX:
            missed = eligible & ~participants
            penalties[missed] = _product(base_rewards[missed], weight, "flag penalty") // _U64(
                WEIGHT_DENOMINATOR
            )
        arrays.add_balances(rewards, penalties)

    target = arrays.participants(
        arrays.previous_flags, TIMELY_TARGET_FLAG_INDEX, arrays.previous_epoch
    )
    missed = eligible & ~target
    penalties = np.zeros(count, _U64)
    if missed.any():
        balances = arrays.columns.effective_balance[missed]
        scores = arrays.scores[missed]
        if int(balances.max()) * int(scores.max()) > UINT64_MAX:
            exact = balances.astype(object) * scores.astype(object)
            if max(exact) > UINT64_MAX:
                raise EpochProcessingError("inactivity penalty numerator exceeds uint64")
        denominator = spec.INACTIVITY_SCORE_BIAS * inactivity_penalty_quotient(spec, arrays.fork)
        penalties[missed] = balances * scores // _U64(denominator)
    arrays.add_balances(np.zeros(count, _U64), penalties)


def _activation_exit_churn_limit(spec: Any, total_active_balance: int) -> int:
    churn = max(
        spec.MIN_PER_EPOCH_CHURN_LIMIT_ELECTRA, total_active_balance // spec.CHURN_LIMIT_QUOTIENT
    )
    churn -= churn % spec.EFFECTIVE_BALANCE_INCREMENT
    return min(spec.MAX_PER_EPOCH_ACTIVATION_EXIT_CHURN_LIMIT, churn)


def _set_exit(arrays: EpochArrays, index: int, exit_epoch: int) -> None:
    withdrawable = exit_epoch + arrays.spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY
    _check_uint64(exit_epoch, "exit epoch", index=index)
    _check_uint64(withdrawable, "withdrawable epoch", index=index)
    arrays.columns.exit_epoch[index] = exit_epoch
    arrays.columns.withdrawable_epoch[index] = withdrawable


def registry_updates(arrays: EpochArrays) -> None:
    spec = arrays.spec
    state = arrays.state
    columns = arrays.columns
    current_epoch = arrays.current_epoch
    activation_epoch = current_epoch + 1 + spec.MAX_SEED_LOOKAHEAD
    finalized_epoch = int(state.finalized_checkpoint.epoch)
    active = arrays.active(current_epoch)
    balances = columns.effective_balance
    low_balance = active & (balances <= _U64(spec.EJECTION_BALANCE))
    unqueued = columns.activation_eligibility_epoch == _U64(FAR_FUTURE_EPOCH)

    if arrays.fork >= Fork.ELECTRA:
        # electra: the three rules are exclusive, and activation has no count limit.
        queue = unqueued & (balances >= _U64(spec.MIN_ACTIVATION_BALANCE))
        eject = ~queue & low_balance
        activate = (
            ~queue
            & ~eject
            & (columns.activation_eligibility_epoch <= _U64(finalized_epoch))
            & (columns.activation_epoch == _U64(FAR_FUTURE_EPOCH))
        )
        columns.activation_eligibility_epoch[queue] = current_epoch + 1
        columns.activation_epoch[activate] = activation_epoch
        _eject_electra(arrays, np.flatnonzero(eject))
        return

    queue = unqueued & (balances == _U64(spec.MAX_EFFECTIVE_BALANCE))
    columns.activation_eligibility_epoch[queue] = current_epoch + 1
    active_count = int(active.sum())
    churn_limit = max(spec.MIN_PER_EPOCH_CHURN_LIMIT, active_count // spec.CHURN_LIMIT_QUOTIENT)
    _eject_phase0(arrays, np.flatnonzero(low_balance), churn_limit)

    waiting = np.flatnonzero(
        (columns.activation_eligibility_epoch <= _U64(finalized_epoch))
        & (columns.activation_epoch == _U64(FAR_FUTURE_EPOCH))
    )
    order = np.lexsort((waiting, columns.activation_eligibility_epoch[waiting]))
    # deneb: activations get their own, capped churn limit.
    if arrays.fork >= Fork.DENEB:
        churn_limit = min(spec.MAX_PER_EPOCH_ACTIVATION_CHURN_LIMIT, churn_limit)
    columns.activation_epoch[waiting[order[:churn_limit]]] = activation_epoch


def _eject_phase0(arrays: EpochArrays, indices: np.ndarray, churn_limit: int) -> None:
    columns = arrays.columns
    candidates = indices[columns.exit_epoch[indices] == _U64(FAR_FUTURE_EPOCH)]
    if len(candidates) == 0:
        return
    exiting = columns.exit_epoch[columns.exit_epoch != _U64(FAR_FUTURE_EPOCH)]
    floor_epoch = arrays.current_epoch + 1 + arrays.spec.MAX_SEED_LOOKAHEAD
    latest = int(exiting.max()) if len(exiting) else floor_epoch
    latest_count = int((exiting == _U64(latest)).sum()) if len(exiting) else 0
    for index in candidates.tolist():
        exit_epoch = max(latest, floor_epoch)
        churn = latest_count if exit_epoch == latest else 0
        if churn >= churn_limit:
            exit_epoch += 1
            churn = 0
        _set_exit(arrays, index, exit_epoch)
        latest, latest_count = exit_epoch, churn + 1


def _eject_electra(arrays: EpochArrays, indices: np.ndarray) -> None:
    spec = arrays.spec
    state = arrays.state
    columns = arrays.columns
    candidates = indices[columns.exit_epoch[indices] == _U64(FAR_FUTURE_EPOCH)]
    if len(candidates) == 0:
        return
    per_epoch_churn = _activation_exit_churn_limit(spec, arrays.total_active_balance)
    floor_epoch = arrays.current_epoch + 1 + spec.MAX_SEED_LOOKAHEAD
    earliest = int(state.earliest_exit_epoch)
    to_consume = int(state.exit_balance_to_consume)
    for index in candidates.tolist():
        # compute_exit_epoch_and_update_churn, on local copies of the two state fields.
        exit_balance = int(columns.effective_balance[index])
        exit_epoch = max(earliest, floor_epoch)
        if earliest < exit_epoch:
            to_consume = per_epoch_churn
        if exit_balance > to_consume:
            additional = (exit_balance - to_consume - 1) // per_epoch_churn + 1
            exit_epoch += additional
            to_consume += additional * per_epoch_churn
        to_consume -= exit_balance
        earliest = exit_epoch
        _set_exit(arrays, index, exit_epoch)
    state.exit_balance_to_consume = to_consume
    state.earliest_exit_epoch = earliest


def slashings(arrays: EpochArrays) -> None:
    spec = arrays.spec
    columns = arrays.columns
    total = arrays.total_active_balance
    slashed_sum = _sum(read_basic_vector(arrays.state.slashings, "<u8"))
    multiplier = proportional_slashing_multiplier(spec, arrays.fork)
    adjusted_total = min(slashed_sum * multiplier, total)
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    penalty_epoch = arrays.current_epoch + spec.EPOCHS_PER_SLASHINGS_VECTOR // 2
    due = columns.slashed & (columns.withdrawable_epoch == _U64(penalty_epoch))
    if not due.any():
        return
    increments = columns.effective_balance[due] // _U64(increment)
    if arrays.fork >= Fork.ELECTRA:
        per_increment = adjusted_total // (total // increment)
        penalties = _product(increments, per_increment, "slashing penalty")
    else:
        numerator = _product(increments, adjusted_total, "slashing penalty numerator")
        penalties = _product(numerator // _U64(total), increment, "slashing penalty")
    all_penalties = np.zeros(len(arrays.balances), _U64)
    all_penalties[due] = penalties
    arrays.add_balances(np.zeros(len(arrays.balances), _U64), all_penalties)


def effective_balance_updates(arrays: EpochArrays) -> ValidatorColumns:
    """Run process_effective_balance_updates on columns; return the columns written.

    Balances come from the flushed arrays, re-read only where the queue steps changed them.
    """
    spec = arrays.spec
    state = arrays.state
    fork = arrays.fork
    before = read_validator_columns(state.validators)
    balances = refresh_basic_list(state.balances, arrays.balances_backing, arrays.balances_read)
    after = before.copy()
    downward, upward = hysteresis_thresholds(spec)
    if len(balances) and int(balances.max()) + downward > UINT64_MAX:
        raise EpochProcessingError("balance plus hysteresis threshold exceeds uint64")
    effective = after.effective_balance
    moved = (balances + _U64(downward) < effective) | (effective + _U64(upward) < balances)
    if moved.any():
        increment = _U64(spec.EFFECTIVE_BALANCE_INCREMENT)
        if fork >= Fork.ELECTRA:
            caps = np.where(
                after.compounding[moved],
                _U64(spec.MAX_EFFECTIVE_BALANCE_ELECTRA),
                _U64(spec.MIN_ACTIVATION_BALANCE),
            )
        else:
            caps = _U64(spec.MAX_EFFECTIVE_BALANCE)
        rounded = balances[moved] - balances[moved] % increment
        effective[moved] = np.minimum(rounded, caps)
    write_validator_columns(state, before, after)
    return after


def _active_indices(columns: ValidatorColumns, epoch: int) -> tuple[int, ...]:
    active = (columns.activation_epoch <= _U64(epoch)) & (_U64(epoch) < columns.exit_epoch)
    return tuple(np.flatnonzero(active).tolist())


def sync_committee_updates(spec: Any, state: Any, columns: ValidatorColumns) -> None:
    """Run process_sync_committee_updates with active indices and balances from `columns`."""
    next_epoch = int(state.slot) // spec.SLOTS_PER_EPOCH + 1
    if next_epoch % spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD != 0:
        return
    indices = _active_indices(columns, next_epoch)
    if not indices:
        raise EpochProcessingError("no active validators for the sync committee", epoch=next_epoch)
    seed = bytes(get_seed(spec, state, next_epoch, DOMAIN_SYNC_COMMITTEE))
    electra = spec.fork_of(state) >= Fork.ELECTRA
    members = sample_by_effective_balance(
        spec, indices, seed, columns.effective_balance, electra, spec.SYNC_COMMITTEE_SIZE
    )
    validators = state.validators
    pubkeys = [bytes(validators[index].pubkey) for index in members]
    committee_type = spec.types(spec.fork_of(state)).SyncCommittee
    state.current_sync_committee = state.next_sync_committee
    state.next_sync_committee = committee_type(
        pubkeys=pubkeys, aggregate_pubkey=bls.eth_aggregate_pubkeys(pubkeys)
    )


def proposer_lookahead(spec: Any, state: Any, columns: ValidatorColumns) -> None:
    """Run process_proposer_lookahead with active indices and balances from `columns`."""
    slots_per_epoch = spec.SLOTS_PER_EPOCH
    epoch = int(state.slot) // slots_per_epoch + spec.MIN_SEED_LOOKAHEAD + 1
    indices = _active_indices(columns, epoch)
    if not indices:
        raise EpochProcessingError("no active validators for the proposer lookahead", epoch=epoch)
    seed = bytes(get_seed(spec, state, epoch, DOMAIN_BEACON_PROPOSER))
    start_slot = epoch * slots_per_epoch
    new_proposers = [
        sample_by_effective_balance(
            spec,
            indices,
            sha256(seed + (start_slot + offset).to_bytes(8, "little")),
            columns.effective_balance,
            True,
            1,
        )[0]
        for offset in range(slots_per_epoch)
    ]
    lookahead = [int(index) for index in state.proposer_lookahead]
    shifted = lookahead[slots_per_epoch:] + new_proposers
    state.proposer_lookahead = type(state.proposer_lookahead)(*shifted)


def process_epoch_vectorized(spec: Any, state: Any) -> None:
    """Run the epoch transition of an altair-or-later `state` in place, on numpy columns.

    Raises:
        EpochProcessingError: a value left the uint64 range, or the fork is phase0.
    """
    fork = spec.fork_of(state)
    if fork < Fork.ALTAIR:
        raise EpochProcessingError("the vectorised epoch needs participation flags (altair+)")

    # Reading and rebuilding trees allocates millions of nodes, none in reference cycles, and
    # each allocation burst would otherwise trigger full collections over the whole heap.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _process_epoch_vectorized(spec, state, fork)
    finally:
        if collecting:
            gc.enable()


def _process_epoch_vectorized(spec: Any, state: Any, fork: Fork) -> None:
    arrays = EpochArrays(spec, state)
    justification_and_finalization(arrays)
    inactivity_updates(arrays)
    rewards_and_penalties(arrays)
    registry_updates(arrays)
    slashings(arrays)
    arrays.flush()

    process_eth1_data_reset(spec, state)
    if fork >= Fork.ELECTRA:
        churn = _activation_exit_churn_limit(spec, arrays.total_active_balance)
        pending_deposits_pass(spec, state, churn, arrays.columns)
        process_pending_consolidations(spec, state)
    columns = effective_balance_updates(arrays)
    process_slashings_reset(spec, state)
    process_randao_mixes_reset(spec, state)
    if fork >= Fork.CAPELLA:
        process_historical_summaries_update(spec, state)
    else:
        process_historical_roots_update(spec, state)
    process_participation_flag_updates(spec, state)
    sync_committee_updates(spec, state, columns)
    if fork >= Fork.FULU:
        proposer_lookahead(spec, state, columns)
