"""Collect the signatures of a block and verify them together.

Block operations add each signature they would check to a `SignatureBatch`
instead of verifying it inline; the state transition verifies the whole batch
once per block. One batched multi-pairing costs far less than one pairing
check per operation, and when the batch fails, the sets are re-checked one by
one so the error names the first bad signature.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from caplin.crypto import bls
from caplin.errors import BlockProcessingError


@dataclass(frozen=True)
class SignatureSet:
    """One signature over `message` by the aggregate of `pubkeys`, and what it signs."""

    pubkeys: tuple[bytes, ...]
    message: bytes
    signature: bytes
    what: str
    ids: dict[str, Any] = field(default_factory=dict)

    def is_valid(self) -> bool:
        # An empty key set is valid only with the infinity signature, as eth_fast_aggregate_verify
        # accepts for a sync aggregate without participants.
        if not self.pubkeys:
            return self.signature == bls.G2_POINT_AT_INFINITY
        return bls.FastAggregateVerify(list(self.pubkeys), self.message, self.signature)


class SignatureBatch:
    """Signature sets of one block, verified together by `verify()`.

    With `enabled=False` (spec tests with `bls_setting: 2`, replays of trusted
    history) `add` records nothing and `verify` accepts.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.sets: list[SignatureSet] = []

    def add(
        self,
        pubkeys: Sequence[bytes],
        message: bytes,
        signature: bytes,
        what: str,
        **ids: Any,
    ) -> None:
        """Queue a check that `signature` signs `message` by the aggregate of `pubkeys`.

        `what` names the signed object ("block", "randao reveal", "attestation", ...) and
        `ids` identifies it (slot, validator index, ...) for the error message.
        """
        if not self.enabled:
            return
        self.sets.append(
            SignatureSet(
                pubkeys=tuple(bytes(pubkey) for pubkey in pubkeys),
                message=bytes(message),
                signature=bytes(signature),
                what=what,
                ids=ids,
            )
        )

    def extend(self, other: "SignatureBatch") -> None:
        """Move every set queued on `other` into this batch (nothing if this one is disabled)."""
        if self.enabled:
            self.sets.extend(other.sets)
        other.sets = []

    def __len__(self) -> int:
        return len(self.sets)

    def verify(self) -> None:
        """Check every queued set, then forget them.

        Raises:
            BlockProcessingError: rule "signature", naming the first set that fails.
        """
        sets, self.sets = self.sets, []
        if not self.enabled or not sets:
            return
        batchable = [entry for entry in sets if entry.pubkeys]
        unbatched_valid = all(entry.is_valid() for entry in sets if not entry.pubkeys)
        batch = [(list(entry.pubkeys), entry.message, entry.signature) for entry in batchable]
        if unbatched_valid and bls.batch_verify(batch):
            return
        for entry in sets:
            if not entry.is_valid():
                raise BlockProcessingError(
                    "signature", f"invalid {entry.what} signature", **entry.ids
                )
        # NOTE: the batch failed but every set passed on its own; treat the block as invalid
        # rather than trust either answer.
        raise BlockProcessingError("signature", "signature batch failed to verify")
