"""Upgrade altair to bellatrix: an empty execution payload header until the merge."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.upgrade.common import carry_over, upgraded_fork


def upgrade_to_bellatrix(spec: Any, pre: Any) -> Any:
    """Return the bellatrix state that continues the altair state `pre`."""
    types = spec.types(Fork.BELLATRIX)
    return carry_over(
        pre,
        types.BeaconState,
        fork=upgraded_fork(spec, pre, Fork.BELLATRIX),
        latest_execution_payload_header=types.ExecutionPayloadHeader(),
    )
