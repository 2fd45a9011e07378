"""The embedded execution engine as the state transition's `ExecutionEngine`, for every fork.

The embedded engine runs Prague execution rules only. A dev chain whose consensus fork is
bellatrix, capella or deneb still executes its payloads there: the node builds them with
Prague rules, and this adapter hands such a payload to the engine with the fields its
fork lacks at their empty values (no withdrawals before capella, no blob gas and a zero
parent beacon root before deneb, no execution requests before electra), which is exactly how
the builder produced them.
"""

import logging
from collections.abc import Sequence
from typing import Any

from caplin.config.forks import Fork
from caplin.crypto.kzg import kzg_commitment_to_versioned_hash
from execution import EmbeddedEngine, NewPayload
from execution.errors import ExecutionError
from execution.payload import execution_requests_from_ssz, from_ssz_request, payload_from_ssz

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


def block_new_payload(spec: Any, signed_block: Any) -> NewPayload | None:
    """Return the payload of a signed block as the state transition will hand it over.

    None for a block before electra, whose payload the engine does not run.
    """
    block = signed_block.message
    if spec.fork_of(block) < Fork.ELECTRA:
        return None
    body = block.body
    return NewPayload(
        payload=payload_from_ssz(body.execution_payload),
        parent_beacon_block_root=bytes(block.parent_root),
        versioned_hashes=tuple(
            kzg_commitment_to_versioned_hash(bytes(c)) for c in body.blob_kzg_commitments
        ),
        execution_requests=execution_requests_from_ssz(body.execution_requests),
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

    def execute_blocks(self, spec: Any, signed_blocks: Sequence[Any]) -> int:
        """Execute the payloads of `signed_blocks` in one engine batch, before their import.

        Each block's own import then finds its payload executed and only checks
        that the payload matches. A payload that fails stops the batch quietly:
        the block's import executes it again and rejects the block. Returns
        the number of payloads the batch executed or found executed.
        """
        requests = [r for r in (block_new_payload(spec, b) for b in signed_blocks) if r]
        if not requests:
            return 0
        try:
            return len(self.engine.execute_batch(requests, set_head=False).executed)
        except Exception as error:  # each block's own import gives the verdict
            committed = getattr(error, "committed", ())
            log.info(
                "execution batch stopped executed=%d of=%d error=%s",
                len(committed),
                len(requests),
                error,
            )
            return len(committed)
