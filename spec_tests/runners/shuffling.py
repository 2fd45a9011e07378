"""The `shuffling` runner: `mapping.yaml` contains seed, count and the shuffled index of each i."""

from caplin.shuffling import compute_shuffled_index, compute_shuffled_indices
from spec_tests.case import Case
from spec_tests.registry import register

# compute_shuffled_index runs on this many indices per case; the array version on all.
_SINGLE_INDEX_CHECKS = 64


@register("shuffling")
def run_shuffle(case: Case) -> None:
    data = case.yaml("mapping")
    seed = bytes.fromhex(data["seed"][2:])
    count = int(data["count"])
    expected = [int(value) for value in data["mapping"]]
    rounds = case.spec.SHUFFLE_ROUND_COUNT
    if len(expected) != count:
        raise AssertionError(f"case has {len(expected)} mapping entries for count {count}")

    actual = compute_shuffled_indices(count, seed, rounds).tolist()
    if actual != expected:
        first = next(i for i in range(count) if actual[i] != expected[i])
        raise AssertionError(
            f"compute_shuffled_indices differs first at index {first}: "
            f"{actual[first]}, expected {expected[first]}"
        )

    step = max(1, count // _SINGLE_INDEX_CHECKS)
    for index in range(0, count, step):
        single = compute_shuffled_index(index, count, seed, rounds)
        if single != expected[index]:
            raise AssertionError(
                f"compute_shuffled_index({index}) is {single}, expected {expected[index]}"
            )
