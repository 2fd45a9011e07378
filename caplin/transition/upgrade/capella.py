"""Upgrade bellatrix to capella: withdrawals root in the header, withdrawal sweep counters."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.upgrade.common import carry_over, upgraded_fork


def upgrade_to_capella(spec: Any, pre: Any) -> Any:
    """Return the capella state that continues the bellatrix state `pre`."""
    types = spec.types(Fork.CAPELLA)
    header = carry_over(pre.latest_execution_payload_header, types.ExecutionPayloadHeader)
    return carry_over(
        pre,
        types.BeaconState,
        fork=upgraded_fork(spec, pre, Fork.CAPELLA),
        latest_execution_payload_header=header,
        next_withdrawal_index=0,
        next_withdrawal_validator_index=0,
    )
