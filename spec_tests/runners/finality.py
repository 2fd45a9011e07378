"""The `finality` runner: block sequences that justify and finalize checkpoints."""

from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.runners.sanity import run_blocks


@register("finality")
def run_finality(case: Case) -> None:
    run_blocks(case)
