"""Synthetic beacon states for the state-transition core tests (no test cases here)."""

import importlib
from functools import cache
from typing import Any

import pytest

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.crypto.hash import sha256

MINIMAL = ChainSpec.for_preset("minimal")
ETH = 10**9


@cache
def pubkey(index: int) -> bytes:
    return bls.SkToPk(index + 1)


def make_state(fork: Fork, count: int = 64, epoch: int = 3, spec: Any = MINIMAL) -> Any:
    """Return a `fork` state at the start of `epoch` with `count` active 32 ETH validators.

    Balances, credentials and randao mixes vary by index so that shuffles and balance
    sampling are not trivial.
    """
    types = spec.types(fork)
    validators = []
    for index in range(count):
        prefix = b"\x02" if fork >= Fork.ELECTRA and index % 5 == 0 else b"\x01"
        validators.append(
            types.Validator(
                pubkey=pubkey(index),
                withdrawal_credentials=prefix + b"\x00" * 11 + index.to_bytes(20, "little"),
                effective_balance=(32 - index % 3) * ETH,
                slashed=False,
                activation_eligibility_epoch=0,
                activation_epoch=0,
                exit_epoch=FAR_FUTURE_EPOCH,
                withdrawable_epoch=FAR_FUTURE_EPOCH,
            )
        )
    state = types.BeaconState(
        genesis_time=1_600_000_000,
        slot=epoch * spec.SLOTS_PER_EPOCH,
        validators=validators,
        balances=[(32 - index % 3) * ETH + index for index in range(count)],
        randao_mixes=[
            sha256(i.to_bytes(8, "little")) for i in range(spec.EPOCHS_PER_HISTORICAL_VECTOR)
        ],
    )
    state.fork.current_version = spec.fork_version(fork)
    state.fork.previous_version = spec.fork_version(fork)
    if fork >= Fork.ALTAIR:
        state.previous_epoch_participation = [index % 8 for index in range(count)]
        state.current_epoch_participation = [0] * count
        state.inactivity_scores = [0] * count
    return state


def reference(fork: Fork) -> Any:
    """Return the executable spec module of `fork` (minimal preset), or skip the test."""
    pytest.importorskip("eth_consensus_specs")
    return importlib.import_module(f"eth_consensus_specs.{fork.lower}.minimal")


def to_reference(fork: Fork, state: Any) -> Any:
    return reference(fork).BeaconState.decode_bytes(state.encode_bytes())
