"""The embedded execution engine as the state transition's `ExecutionEngine`, for every fork.

The embedded engine runs Prague execution rules only. A dev chain whose consensus fork is
bellatrix, capella or deneb still executes its payloads there: the node builds them with
Prague rules, and this adapter hands such a payload to the engine with the fields its
fork lacks at their empty values (no withdrawals before capella, no blob gas and a zero
parent beacon root before deneb, no execution requests before electra), which is exactly how
the builder produced them.
"""

import logging
from typing import Any

from execution import EmbeddedEngine, NewPayload
from execution.errors import ExecutionError
from execution.payload import from_ssz_request, payload_from_ssz

log = logging.getLogger("caplin.node.execution")

ZERO_ROOT = b"\x00" * 32


def to_new_payload(request: Any) -> NewPayload:
    """Convert a consensus `NewPayloadRequest` of any fork from bellatrix into a `NewPayload`."""
    if hasattr(request, "execution_requests"):
        return from_ssz_request(request)
    # NOTE: a pre-electra block cannot carry execution requests, so a payload whose
    # transactions produce some (a deposit contract call) fails its requests hash here.
    return NewPayload(
        payload=payload_from_ssz(request.execution_payload),
        parent_beacon_block_root=bytes(getattr(request, "parent_beacon_block_root", ZERO_ROOT)),
        versioned_hashes=tuple(bytes(h) for h in getattr(request, "versioned_hashes", ())),
    )


class NodeExecution:
    """Checks each block's payload on the embedded engine; the state transition calls it."""

    def __init__(self, engine: EmbeddedEngine) -> None:
        self.engine = engine

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        try:
            return self.engine.verify_and_notify_new_payload(to_new_payload(new_payload_request))
        except ExecutionError as error:
            log.warning("execution payload rejected error=%s", error)
            return False

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        return self.verify_and_notify_new_payload(new_payload_request)
