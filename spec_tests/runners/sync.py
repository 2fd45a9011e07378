"""The `sync` runner (`optimistic`): fork choice with payloads the engine has not verified.

The steps are those of the `fork_choice` runner; `payload_status` steps set
what the mocked execution engine answers for a payload hash. SYNCING and
ACCEPTED import the block optimistically; INVALID rejects the block and
invalidates its ancestors back to `latest_valid_hash`, so they can no longer
be head.
"""

from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.runners.fork_choice import run_case


@register("sync")
def run(case: Case) -> None:
    run_case(case)
