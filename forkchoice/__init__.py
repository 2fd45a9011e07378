"""Fork choice: the spec's store (LMD-GHOST with Casper FFG) over a proto-array.

`Store` (or `get_forkchoice_store`) is the entry point; `forkchoice.proposer`
holds the proposer re-org helpers and `forkchoice.availability` the blob and
column availability checks.
"""

from forkchoice.errors import (
    AttestationNotReadyError,
    BlockNotReadyError,
    InvalidAttestationError,
    InvalidAttesterSlashingError,
    InvalidBlockError,
)
from forkchoice.proto_array import ExecutionStatus
from forkchoice.store import Checkpoint, Store, get_forkchoice_store
from forkchoice.votes import LatestMessage

__all__ = [
    "AttestationNotReadyError",
    "BlockNotReadyError",
    "Checkpoint",
    "ExecutionStatus",
    "InvalidAttestationError",
    "InvalidAttesterSlashingError",
    "InvalidBlockError",
    "LatestMessage",
    "Store",
    "get_forkchoice_store",
]
