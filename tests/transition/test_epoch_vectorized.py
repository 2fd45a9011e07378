"""The vectorised epoch gives the same state as the simple one, on random states."""

import random

import pytest

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import EpochProcessingError
from caplin.transition.epoch import (
    epoch_steps,
    process_epoch,
    process_epoch_simple,
    process_epoch_vectorized,
    validator_columns,
)

SPEC = ChainSpec.for_preset("minimal")
GWEI = 10**9
VALIDATORS = 96
_PUBKEYS = [bls.SkToPk(index + 1) for index in range(VALIDATORS)]
ALTAIR_ON = [fork for fork in Fork if fork >= Fork.ALTAIR]


def _validator(types, rng: random.Random, index: int, epoch: int, fork: Fork):
    # Before electra effective balances never exceed 32 ETH.
    compounding = fork >= Fork.ELECTRA and rng.random() < 0.3
    if compounding:
        effective = rng.choice([32, 33, 64, 2048, 1000]) * GWEI
    else:
        effective = rng.choice([32, 32, 32, 31, 16, 0]) * GWEI
    activation = rng.choice([0, max(epoch - 3, 0), epoch + 1, FAR_FUTURE_EPOCH])
    eligibility = FAR_FUTURE_EPOCH if rng.random() < 0.2 else rng.randint(0, epoch)
    exit_epoch = FAR_FUTURE_EPOCH
    withdrawable = FAR_FUTURE_EPOCH
    slashed = rng.random() < 0.1
    if slashed or rng.random() < 0.1:
        exit_epoch = rng.randint(max(epoch - 5, 0), epoch + 5)
        withdrawable = rng.choice([exit_epoch + 4, epoch + SPEC.EPOCHS_PER_SLASHINGS_VECTOR // 2])
    prefix = b"\x02" if compounding else rng.choice([b"\x00", b"\x01"])
    return types.Validator(
        pubkey=_PUBKEYS[index],
        withdrawal_credentials=prefix + bytes(31),
        effective_balance=effective,
        slashed=slashed,
        activation_eligibility_epoch=eligibility,
        activation_epoch=activation,
        exit_epoch=exit_epoch,
        withdrawable_epoch=withdrawable,
    )


def random_state(fork: Fork, seed: int, epoch: int = 30, leak: bool = False):
    """Return a `fork` state at the last slot of `epoch` with a random registry and queues."""
    rng = random.Random(seed)
    types = SPEC.types(fork)
    state = types.BeaconState()
    state.slot = epoch * SPEC.SLOTS_PER_EPOCH + SPEC.SLOTS_PER_EPOCH - 1
    for index in range(VALIDATORS):
        validator = _validator(types, rng, index, epoch, fork)
        state.validators.append(validator)
        state.balances.append(
            max(0, int(validator.effective_balance) + rng.randint(-2, 2) * GWEI // 3)
        )
        state.previous_epoch_participation.append(rng.choice([7, 7, 7, 3, 1, 0, 5]))
        state.current_epoch_participation.append(rng.choice([7, 7, 2, 0]))
        state.inactivity_scores.append(rng.choice([0, 0, 0, 1, 5, 100]))
    for index in range(SPEC.SLOTS_PER_HISTORICAL_ROOT):
        state.block_roots[index] = rng.randbytes(32)
    for index in range(SPEC.EPOCHS_PER_HISTORICAL_VECTOR):
        state.randao_mixes[index] = rng.randbytes(32)
    for index in range(0, SPEC.EPOCHS_PER_SLASHINGS_VECTOR, 3):
        state.slashings[index] = rng.randint(0, 64) * GWEI

    finalized = max(epoch - (8 if leak else 2), 0)
    state.finalized_checkpoint = types.Checkpoint(epoch=finalized, root=rng.randbytes(32))
    state.previous_justified_checkpoint = types.Checkpoint(
        epoch=max(epoch - 2, 0), root=rng.randbytes(32)
    )
    state.current_justified_checkpoint = types.Checkpoint(
        epoch=max(epoch - 1, 0), root=rng.randbytes(32)
    )
    state.justification_bits = type(state.justification_bits)(
        *[rng.random() < 0.7 for _ in range(4)]
    )
    if fork >= Fork.ELECTRA:
        _fill_queues(types, state, rng, epoch)
    return state


def _fill_queues(types, state, rng: random.Random, epoch: int) -> None:
    state.earliest_exit_epoch = epoch + rng.randint(0, 8)
    state.exit_balance_to_consume = rng.randint(0, 200) * GWEI
    state.deposit_balance_to_consume = rng.randint(0, 40) * GWEI
    for offset in range(rng.randint(0, 24)):
        index = rng.randrange(VALIDATORS)
        pubkey = _PUBKEYS[index] if rng.random() < 0.8 else bls.SkToPk(1000 + offset)
        state.pending_deposits.append(
            types.PendingDeposit(
                pubkey=pubkey,
                withdrawal_credentials=bytes(32),
                amount=rng.choice([1, 32, 100]) * GWEI,
                signature=bytes(96),
                slot=rng.choice([0, max(epoch - 3, 0) * SPEC.SLOTS_PER_EPOCH, state.slot]),
            )
        )
    for _ in range(rng.randint(0, 5)):
        state.pending_consolidations.append(
            types.PendingConsolidation(
                source_index=rng.randrange(VALIDATORS), target_index=rng.randrange(VALIDATORS)
            )
        )


def _field_differences(a, b) -> list[str]:
    return [
        name
        for name in type(a).fields()
        if getattr(a, name).hash_tree_root() != getattr(b, name).hash_tree_root()
    ]


def _assert_same_epoch(state) -> None:
    simple = state.copy()
    vectorized = state.copy()
    process_epoch_simple(SPEC, simple)
    process_epoch_vectorized(SPEC, vectorized)
    assert _field_differences(simple, vectorized) == []


@pytest.mark.parametrize("fork", ALTAIR_ON, ids=lambda fork: fork.lower)
@pytest.mark.parametrize("seed", [1, 2])
def test_vectorized_matches_simple(fork, seed):
    validator_columns.clear_cache()
    _assert_same_epoch(random_state(fork, seed))


@pytest.mark.parametrize("fork", [Fork.ALTAIR, Fork.ELECTRA], ids=lambda fork: fork.lower)
def test_vectorized_matches_simple_in_leak(fork):
    _assert_same_epoch(random_state(fork, 3, leak=True))


@pytest.mark.parametrize("epoch", [0, 1, 7, 63])
def test_vectorized_matches_simple_at_boundaries(epoch):
    # Genesis skips rewards and FFG; epoch 7 ends a sync committee period (minimal: 8
    # epochs) and epoch 63 ends a historical batch.
    _assert_same_epoch(random_state(Fork.FULU, 10 + epoch, epoch=epoch))


def test_vectorized_with_warm_and_diffed_columns():
    state = random_state(Fork.ELECTRA, 4)
    validator_columns.clear_cache()
    first = state.copy()
    process_epoch_vectorized(SPEC, first)

    # A block between epochs changes one validator; the cached columns are diffed.
    edited = state.copy()
    edited.validators[5].exit_epoch = 40
    edited.validators[5].withdrawable_epoch = 300
    _assert_same_epoch(edited)


def test_consecutive_epochs_stay_equal():
    simple = random_state(Fork.ELECTRA, 5)
    vectorized = simple.copy()
    for _ in range(3):
        process_epoch_simple(SPEC, simple)
        process_epoch_vectorized(SPEC, vectorized)
        simple.slot += SPEC.SLOTS_PER_EPOCH
        vectorized.slot += SPEC.SLOTS_PER_EPOCH
    assert _field_differences(simple, vectorized) == []


def test_overflowing_withdrawable_epoch_raises():
    state = random_state(Fork.ELECTRA, 6)
    victim = next(
        index
        for index, validator in enumerate(state.validators)
        if int(validator.activation_epoch) <= 30 and int(validator.exit_epoch) == FAR_FUTURE_EPOCH
    )
    state.validators[victim].effective_balance = SPEC.EJECTION_BALANCE
    state.earliest_exit_epoch = FAR_FUTURE_EPOCH - 1
    with pytest.raises(EpochProcessingError):
        process_epoch(SPEC, state.copy())
    with pytest.raises(ValueError):
        process_epoch_simple(SPEC, state.copy())


def test_phase0_uses_simple_path():
    types = SPEC.types(Fork.PHASE0)
    state = types.BeaconState()
    state.slot = SPEC.SLOTS_PER_EPOCH - 1
    with pytest.raises(EpochProcessingError):
        process_epoch_vectorized(SPEC, state.copy())
    process_epoch(SPEC, state)
    assert int(state.slot) == SPEC.SLOTS_PER_EPOCH - 1


def test_epoch_steps_order_per_fork():
    names = [step.__name__ for step in epoch_steps(Fork.FULU)]
    assert names[:3] == [
        "process_justification_and_finalization",
        "process_inactivity_updates",
        "process_rewards_and_penalties",
    ]
    assert names.index("process_pending_deposits") < names.index(
        "process_effective_balance_updates"
    )
    assert names[-1] == "process_proposer_lookahead"
    phase0 = [step.__name__ for step in epoch_steps(Fork.PHASE0)]
    assert "process_inactivity_updates" not in phase0
    assert phase0[-1] == "process_participation_record_updates"
