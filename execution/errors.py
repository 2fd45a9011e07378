"""Errors of the embedded execution engine."""

from typing import Any

from caplin.errors import CaplinError, StorageError


class ExecutionError(CaplinError):
    """Root of the execution engine's errors."""


class InvalidPayloadError(ExecutionError):
    """An execution payload breaks an execution rule.

    `field` names the payload field (or rule) that failed, such as `state_root`,
    `receipts_root`, `block_hash`, `gas_used`, `withdrawals` or
    `execution_requests`. `expected` is the value the engine computed or the
    consensus layer expects, and `actual` is the value the payload carries.
    """

    def __init__(
        self,
        field: str,
        message: str,
        *,
        block_number: int,
        block_hash: bytes,
        expected: Any = None,
        actual: Any = None,
        **fields: Any,
    ) -> None:
        self.field = field
        self.block_number = block_number
        self.block_hash = block_hash
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"invalid payload {field}: {message}",
            block_number=block_number,
            block_hash=block_hash,
            expected=expected,
            actual=actual,
            **fields,
        )


class UnknownParentError(ExecutionError):
    """A payload's parent block is not in the database (or its state was pruned)."""


class UnsupportedForkError(ExecutionError):
    """A payload comes from a fork whose execution rules the engine does not run."""


class ExecutionStorageError(StorageError):
    """The execution database is missing data it needs or cannot be written."""


class TransactionPoolError(ExecutionError):
    """A transaction was rejected by the pool; `code` is the JSON-RPC error code."""

    def __init__(self, message: str, code: int = -32000, **fields: Any) -> None:
        self.code = code
        super().__init__(message, **fields)
