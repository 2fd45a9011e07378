"""The `rewards` runner: each `<component>_deltas` file against its delta function."""

from typing import Any

from remerkleable.basic import uint64
from remerkleable.complex import Container, List

from caplin.config.forks import Fork
from caplin.transition.epoch import rewards_and_penalties as rewards
from spec_tests.case import Case
from spec_tests.registry import register

_VALIDATOR_REGISTRY_LIMIT = 2**40


class Deltas(Container):
    rewards: List[uint64, _VALIDATOR_REGISTRY_LIMIT]
    penalties: List[uint64, _VALIDATOR_REGISTRY_LIMIT]


def _functions(fork: Fork) -> dict[str, Any]:
    """Map each deltas file name of `fork` to the function that must reproduce it."""
    if fork >= Fork.ALTAIR:
        functions = {
            "source_deltas": lambda spec, state: rewards.get_flag_index_deltas(spec, state, 0),
            "target_deltas": lambda spec, state: rewards.get_flag_index_deltas(spec, state, 1),
            "head_deltas": lambda spec, state: rewards.get_flag_index_deltas(spec, state, 2),
        }
    else:
        functions = {
            "source_deltas": rewards.get_source_deltas,
            "target_deltas": rewards.get_target_deltas,
            "head_deltas": rewards.get_head_deltas,
            "inclusion_delay_deltas": rewards.get_inclusion_delay_deltas,
        }
    functions["inactivity_penalty_deltas"] = rewards.get_inactivity_penalty_deltas
    return functions


def _first_difference(name: str, actual: list[int], expected: list[int]) -> str:
    if len(actual) != len(expected):
        return f"{name}: {len(actual)} entries, expected {len(expected)}"
    index = next(i for i in range(len(actual)) if actual[i] != expected[i])
    return f"{name}[{index}] is {actual[index]}, expected {expected[index]}"


@register("rewards")
def run(case: Case) -> None:
    spec = case.spec
    state = spec.types(case.fork_enum).BeaconState.decode_bytes(case.ssz("pre"))
    functions = _functions(case.fork_enum)
    missing = [name for name in functions if not case.has_ssz(name)]
    if missing:
        raise AssertionError(f"case has no {', '.join(missing)} file")

    problems = []
    for name, function in functions.items():
        expected = Deltas.decode_bytes(case.ssz(name))
        actual_rewards, actual_penalties = function(spec, state)
        expected_rewards = [int(value) for value in expected.rewards]
        expected_penalties = [int(value) for value in expected.penalties]
        if list(actual_rewards) != expected_rewards:
            problems.append(_first_difference(f"{name} rewards", actual_rewards, expected_rewards))
        if list(actual_penalties) != expected_penalties:
            problems.append(
                _first_difference(f"{name} penalties", actual_penalties, expected_penalties)
            )
    if problems:
        raise AssertionError("; ".join(problems))
