"""The interface between the state transition and an execution engine.

The state transition queries the engine whether an execution payload is valid
and never looks inside the execution state itself. caplin's embedded py-evm
engine implements this interface; so do the spec-test engine, which answers
as a case's `execution.yaml` says, and `TrustingEngine`, which accepts every
payload (for replays of already-verified history).
"""

from typing import Any, Protocol


class ExecutionEngine(Protocol):
    """Checks execution payloads for the state transition (bellatrix and later)."""

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        """Return True when the payload of `new_payload_request` is valid.

        `new_payload_request` is a `NewPayloadRequest` SSZ container of the
        block's fork: `execution_payload`, plus `versioned_hashes` and
        `parent_beacon_block_root` from deneb, plus `execution_requests`
        from electra.
        """
        ...

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        """Hand the payload to the engine for execution; return True when valid."""
        ...


class TrustingEngine:
    """An engine that accepts every payload."""

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        return True

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        return True


class FixedAnswerEngine:
    """An engine that returns one fixed verdict, as a spec test's `execution.yaml` sets."""

    def __init__(self, valid: bool) -> None:
        self.valid = valid

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        return self.valid

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        return self.valid
