"""Malformed and default-valued messages of every topic get a verdict, never an exception."""

import random
from typing import Any

import pytest

from caplin.config.forks import Fork
from caplin.transition.upgrade import upgrade_to
from sentinel.gossip import TOPICS, BlockTree, GossipValidator, Verdict, message_type
from tests.gossip.chain_helpers import SPEC, genesis_state

FORKS = [fork for fork in Fork]


@pytest.fixture(scope="module")
def states() -> dict[Fork, Any]:
    state = genesis_state()
    by_fork = {Fork.PHASE0: state}
    for fork in FORKS[1:]:
        state = upgrade_to(SPEC, state, fork)
        by_fork[fork] = state
    return by_fork


def _topics(fork: Fork) -> list[str]:
    return [topic for topic, (_, first, last) in TOPICS.items() if first <= fork <= last]


def _validator(states: dict[Fork, Any], fork: Fork) -> GossipValidator:
    state = states[fork]
    types = SPEC.types(fork)
    anchor = types.BeaconBlock(state_root=state.hash_tree_root())
    return GossipValidator(SPEC, BlockTree(SPEC, state, anchor))


def _topic_args(topic: str, fork: Fork) -> dict[str, Any]:
    if topic == "partial_data_column_sidecar":
        return {"group_id": SPEC.types(fork).PartialDataColumnGroupID(), "column_index": 0}
    return {"subnet_id": 0}


@pytest.mark.parametrize("fork", FORKS, ids=lambda fork: fork.lower)
def test_default_messages_get_verdict(states: dict[Fork, Any], fork: Fork) -> None:
    validator = _validator(states, fork)
    for topic in _topics(fork):
        message = message_type(SPEC, topic, fork)()
        result = validator.validate(topic, message, 0, fork, **_topic_args(topic, fork))
        assert result.verdict in (Verdict.IGNORE, Verdict.REJECT), topic


@pytest.mark.parametrize("fork", FORKS, ids=lambda fork: fork.lower)
def test_garbage_bytes_are_rejected(states: dict[Fork, Any], fork: Fork) -> None:
    validator = _validator(states, fork)
    generator = random.Random(int(fork))
    for topic in _topics(fork):
        for length in (0, 1, 7, 100, 1000):
            data = bytes(generator.randrange(256) for _ in range(length))
            result = validator.validate_bytes(topic, data, 0, fork, **_topic_args(topic, fork))
            assert result.verdict is not Verdict.ACCEPT, (topic, length)


@pytest.mark.parametrize("fork", FORKS, ids=lambda fork: fork.lower)
def test_mutated_messages_get_verdict(states: dict[Fork, Any], fork: Fork) -> None:
    # Flip bytes of a valid encoding: whatever decodes must still get a verdict.
    validator = _validator(states, fork)
    generator = random.Random(1000 + int(fork))
    for topic in _topics(fork):
        encoded = bytearray(message_type(SPEC, topic, fork)().encode_bytes())
        for _ in range(10):
            mutated = bytearray(encoded)
            for _ in range(3):
                if mutated:
                    mutated[generator.randrange(len(mutated))] = generator.randrange(256)
            args = _topic_args(topic, fork)
            result = validator.validate_bytes(topic, bytes(mutated), 6_000, fork, **args)
            assert result.verdict in (Verdict.ACCEPT, Verdict.IGNORE, Verdict.REJECT)
