"""The exception tree of caplin.

Every error the node raises on bad input derives from `CaplinError`, one
subtree per area. Errors carry the values that failed as keyword fields, so a
log line or an API error body can show them without parsing the message.
"""

from typing import Any


class CaplinError(Exception):
    """Root of every caplin error. `fields` holds the values involved."""

    def __init__(self, message: str, **fields: Any) -> None:
        self.message = message
        self.fields = fields
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.fields:
            return self.message
        details = " ".join(f"{key}={_short(value)}" for key, value in self.fields.items())
        return f"{self.message} ({details})"


def _short(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


class ConfigError(CaplinError):
    """A chain config, preset or CLI value is missing or invalid."""


class SSZError(CaplinError, ValueError):
    """SSZ bytes or JSON could not be decoded into the requested type."""


class CryptoError(CaplinError):
    """A BLS or KZG input is malformed (not a failed verification)."""


class TransitionError(CaplinError):
    """The state transition rejected a slot, block or epoch."""


class SlotProcessingError(TransitionError):
    """Slot processing was asked to go backwards or failed."""


class BlockProcessingError(TransitionError):
    """A block or one of its operations breaks a consensus rule."""

    def __init__(self, rule: str, message: str, **fields: Any) -> None:
        self.rule = rule
        super().__init__(f"{rule}: {message}", **fields)


class EpochProcessingError(TransitionError):
    """Epoch processing failed, e.g. on uint64 overflow."""


class ForkChoiceError(CaplinError):
    """Fork choice rejected a block, attestation or slashing."""


class StorageError(CaplinError):
    """The database is missing, corrupt, from another chain, or full."""


class MapGrownError(StorageError):
    """An LMDB write found the map full; the map was enlarged and the write can be retried."""


class NetworkError(CaplinError):
    """A peer sent malformed or hostile data."""


class ApiError(CaplinError):
    """A Beacon API request is invalid; `status` is the HTTP status."""

    def __init__(self, status: int, message: str, **fields: Any) -> None:
        self.status = status
        super().__init__(message, **fields)


def require(condition: object, rule: str, message: str, **fields: Any) -> None:
    """Raise `BlockProcessingError(rule, message, **fields)` unless `condition` is true."""
    if not condition:
        raise BlockProcessingError(rule, message, **fields)
