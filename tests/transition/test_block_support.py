"""Synthetic states and signed operations for the block-processing tests (no tests here)."""

import importlib
from functools import cache
from typing import Any

import pytest

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.transition.helpers import compute_signing_root, get_domain

MINIMAL = ChainSpec.for_preset("minimal")
ETH = 10**9
# Past SHARD_COMMITTEE_PERIOD (64 epochs in the minimal preset), so validators may exit.
EPOCH = 70


def secret_key(index: int) -> int:
    return index + 1


@cache
def pubkey(index: int) -> bytes:
    return bls.SkToPk(secret_key(index))


def credentials(prefix: bytes, index: int) -> bytes:
    return prefix + b"\x00" * 11 + index.to_bytes(20, "little")


def make_state(fork: Fork, count: int = 32, spec: Any = MINIMAL) -> Any:
    """Return a `fork` state at the start of EPOCH with `count` active 32 ETH validators.

    Validators have 0x01 credentials, and from electra every fourth has 0x02 ones.
    """
    types = spec.types(fork)
    validators = []
    for index in range(count):
        prefix = b"\x02" if fork >= Fork.ELECTRA and index % 4 == 0 else b"\x01"
        validators.append(
            types.Validator(
                pubkey=pubkey(index),
                withdrawal_credentials=credentials(prefix, index),
                effective_balance=32 * ETH,
                slashed=False,
                activation_eligibility_epoch=0,
                activation_epoch=0,
                exit_epoch=FAR_FUTURE_EPOCH,
                withdrawable_epoch=FAR_FUTURE_EPOCH,
            )
        )
    state = types.BeaconState(
        genesis_time=1_600_000_000,
        slot=EPOCH * spec.SLOTS_PER_EPOCH,
        validators=validators,
        balances=[32 * ETH + index for index in range(count)],
        randao_mixes=[
            sha256(i.to_bytes(8, "little")) for i in range(spec.EPOCHS_PER_HISTORICAL_VECTOR)
        ],
    )
    state.fork.current_version = spec.fork_version(fork)
    state.fork.previous_version = spec.fork_version(fork)
    state.fork.epoch = 0
    state.genesis_validators_root = sha256(b"genesis validators")
    if fork >= Fork.ALTAIR:
        state.previous_epoch_participation = [0] * count
        state.current_epoch_participation = [0] * count
        state.inactivity_scores = [0] * count
    return state


def sign(
    spec: Any, state: Any, index: int, message: Any, domain_type: bytes, epoch: Any = None
) -> bytes:
    domain = get_domain(spec, state, domain_type, epoch)
    return bls.Sign(secret_key(index), compute_signing_root(spec, message, domain))


def reference(fork: Fork) -> Any:
    """Return the executable spec module of `fork` (minimal preset), or skip the test."""
    pytest.importorskip("eth_consensus_specs")
    return importlib.import_module(f"eth_consensus_specs.{fork.lower}.minimal")


def to_reference(fork: Fork, value: Any, type_name: str) -> Any:
    return getattr(reference(fork), type_name).decode_bytes(value.encode_bytes())


def same_root(fork: Fork, state: Any, ref_state: Any) -> bool:
    """Return whether a caplin state and an executable-spec state have one hash tree root."""
    return bytes(state.hash_tree_root()) == bytes(reference(fork).hash_tree_root(ref_state))
