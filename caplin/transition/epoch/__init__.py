"""Epoch processing: the steps run at the last slot of every epoch, one module per step.

`process_epoch` runs the steps of the state's fork in the order its spec lists them.
Each step is also importable alone (`process_registry_updates(spec, state)`), as the
epoch-processing spec tests call them.
"""

from collections.abc import Callable
from typing import Any

from caplin.config.forks import Fork
from caplin.errors import EpochProcessingError
from caplin.transition.epoch.effective_balance_updates import process_effective_balance_updates
from caplin.transition.epoch.eth1_data_reset import process_eth1_data_reset
from caplin.transition.epoch.historical_roots_update import process_historical_roots_update
from caplin.transition.epoch.historical_summaries_update import (
    process_historical_summaries_update,
)
from caplin.transition.epoch.inactivity_updates import process_inactivity_updates
from caplin.transition.epoch.justification_and_finalization import (
    process_justification_and_finalization,
    weigh_justification_and_finalization,
)
from caplin.transition.epoch.participation_flag_updates import process_participation_flag_updates
from caplin.transition.epoch.participation_record_updates import (
    process_participation_record_updates,
)
from caplin.transition.epoch.pending_consolidations import process_pending_consolidations
from caplin.transition.epoch.pending_deposits import apply_pending_deposit, process_pending_deposits
from caplin.transition.epoch.proposer_lookahead import process_proposer_lookahead
from caplin.transition.epoch.randao_mixes_reset import process_randao_mixes_reset
from caplin.transition.epoch.registry_updates import process_registry_updates
from caplin.transition.epoch.rewards_and_penalties import process_rewards_and_penalties
from caplin.transition.epoch.slashings import process_slashings
from caplin.transition.epoch.slashings_reset import process_slashings_reset
from caplin.transition.epoch.sync_committee_updates import process_sync_committee_updates
from caplin.transition.epoch.vectorized import process_epoch_vectorized

EpochStep = Callable[[Any, Any], None]


def epoch_steps(fork: Fork) -> list[EpochStep]:
    """Return the epoch-processing steps of `fork`, in the order they run."""
    steps: list[EpochStep] = [process_justification_and_finalization]
    if fork >= Fork.ALTAIR:
        steps.append(process_inactivity_updates)
    steps += [process_rewards_and_penalties, process_registry_updates, process_slashings]
    steps.append(process_eth1_data_reset)
    if fork >= Fork.ELECTRA:
        steps += [process_pending_deposits, process_pending_consolidations]
    steps += [
        process_effective_balance_updates,
        process_slashings_reset,
        process_randao_mixes_reset,
    ]
    # capella: historical summaries replace the historical roots accumulator.
    if fork >= Fork.CAPELLA:
        steps.append(process_historical_summaries_update)
    else:
        steps.append(process_historical_roots_update)
    # altair: participation flags replace pending attestations, and sync committees arrive.
    if fork >= Fork.ALTAIR:
        steps += [process_participation_flag_updates, process_sync_committee_updates]
    else:
        steps.append(process_participation_record_updates)
    if fork >= Fork.FULU:
        steps.append(process_proposer_lookahead)
    return steps


def process_epoch_simple(spec: Any, state: Any) -> None:
    """Run every epoch step of the state's fork in spec order, one validator at a time."""
    for step in epoch_steps(spec.fork_of(state)):
        step(spec, state)


def process_epoch(spec: Any, state: Any) -> None:
    """Run the epoch transition on `state` in place.

    From altair on the per-validator steps run on numpy columns (`process_epoch_vectorized`);
    phase0 states take the simple path. Both give the same state.

    Raises:
        EpochProcessingError: a balance, score or epoch left the uint64 range.
    """
    try:
        if spec.fork_of(state) < Fork.ALTAIR:
            process_epoch_simple(spec, state)
        else:
            process_epoch_vectorized(spec, state)
    except ValueError as error:
        # remerkleable rejects out-of-range uint64 values with ValueError.
        raise EpochProcessingError(f"epoch processing failed: {error}") from error


__all__ = [
    "apply_pending_deposit",
    "epoch_steps",
    "process_effective_balance_updates",
    "process_epoch",
    "process_epoch_simple",
    "process_epoch_vectorized",
    "process_eth1_data_reset",
    "process_historical_roots_update",
    "process_historical_summaries_update",
    "process_inactivity_updates",
    "process_justification_and_finalization",
    "process_participation_flag_updates",
    "process_participation_record_updates",
    "process_pending_consolidations",
    "process_pending_deposits",
    "process_proposer_lookahead",
    "process_randao_mixes_reset",
    "process_registry_updates",
    "process_rewards_and_penalties",
    "process_slashings",
    "process_slashings_reset",
    "process_sync_committee_updates",
    "weigh_justification_and_finalization",
]
