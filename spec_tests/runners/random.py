"""The `random` runner: randomized block sequences, in the sanity-blocks format."""

from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.runners.sanity import run_blocks


@register("random")
def run_random(case: Case) -> None:
    run_blocks(case)
