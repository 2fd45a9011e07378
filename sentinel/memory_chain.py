"""An in-memory `ChainProvider`: a fixed status and metadata plus blocks kept by slot and root.

Blocks are kept as their SSZ bytes (`EncodedBlock`), so serving them costs no encoding.
"""

from collections.abc import Iterable
from typing import Any

from sentinel.reqresp.protocols import EncodedBlock


class MemoryChain:
    """Serves the blocks added with `add_block`; the node replaces it with its store."""

    def __init__(self, status: Any, metadata: Any) -> None:
        self._status = status
        self._metadata = metadata
        self._by_slot: dict[int, Any] = {}
        self._by_root: dict[bytes, Any] = {}

    def status(self) -> Any:
        """Return the configured Status."""
        return self._status

    def set_status(self, status: Any) -> None:
        """Replace the Status sent to peers."""
        self._status = status

    def metadata(self) -> Any:
        """Return the configured MetaData."""
        return self._metadata

    def add_block(self, signed_block: Any) -> None:
        """Store a signed block under its slot and root."""
        encoded = EncodedBlock.from_ssz(signed_block.encode_bytes())
        self._by_slot[int(signed_block.message.slot)] = encoded
        self._by_root[bytes(signed_block.message.hash_tree_root())] = encoded

    def blocks_by_range(self, start_slot: int, count: int) -> Iterable[Any]:
        """Yield stored blocks (`EncodedBlock`s) with slots in [start_slot, start_slot + count),
        in slot order."""
        for slot in range(start_slot, start_slot + count):
            block = self._by_slot.get(slot)
            if block is not None:
                yield block

    def blocks_by_root(self, roots: list[bytes]) -> Iterable[Any]:
        """Yield the stored blocks among `roots`."""
        for root in roots:
            block = self._by_root.get(root)
            if block is not None:
                yield block
