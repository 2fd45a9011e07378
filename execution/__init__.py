"""Embedded execution: py-evm (Prague rules) run in batches inside the beacon node.

py-evm has no Osaka yet, so fulu chains run Prague execution rules here.
"""

# First, so py-evm hashes with the fastest Keccak backend from its first call.
import execution.hashing  # noqa: F401, I001
from execution.builder import BuiltPayload, build_payload
from execution.engine import BatchResult, EmbeddedEngine
from execution.errors import (
    ExecutionError,
    ExecutionStorageError,
    InvalidPayloadError,
    TransactionPoolError,
    UnknownParentError,
    UnsupportedForkError,
)
from execution.genesis import Genesis, dev_accounts, dev_genesis, parse_genesis
from execution.node import ExecutionNode
from execution.payload import ExecutionPayload, NewPayload, Withdrawal, from_ssz_request
from execution.txpool import TransactionPool

__all__ = [
    "BatchResult",
    "BuiltPayload",
    "EmbeddedEngine",
    "ExecutionError",
    "ExecutionNode",
    "ExecutionPayload",
    "ExecutionStorageError",
    "Genesis",
    "InvalidPayloadError",
    "NewPayload",
    "TransactionPool",
    "TransactionPoolError",
    "UnknownParentError",
    "UnsupportedForkError",
    "Withdrawal",
    "build_payload",
    "dev_accounts",
    "dev_genesis",
    "from_ssz_request",
    "parse_genesis",
]
