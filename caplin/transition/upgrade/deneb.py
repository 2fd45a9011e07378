"""Upgrade capella to deneb: blob gas fields in the execution payload header."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.upgrade.common import carry_over, upgraded_fork


def upgrade_to_deneb(spec: Any, pre: Any) -> Any:
    """Return the deneb state that continues the capella state `pre`."""
    types = spec.types(Fork.DENEB)
    header = carry_over(
        pre.latest_execution_payload_header,
        types.ExecutionPayloadHeader,
        blob_gas_used=0,
        excess_blob_gas=0,
    )
    return carry_over(
        pre,
        types.BeaconState,
        fork=upgraded_fork(spec, pre, Fork.DENEB),
        latest_execution_payload_header=header,
    )
