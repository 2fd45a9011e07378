"""Mark-and-sweep garbage collection of content-addressed execution data.

py-evm stores trie nodes, contract code and headers under their 32-byte hash
and never counts references, so a state that is no longer needed cannot be
deleted node by node: a node may be shared with a state that is kept. The
collector marks every node reachable from what is kept (each stored block's
header and its transactions, receipts and withdrawals tries, and the state,
storage tries and code of each block whose state is retained), then deletes
every other 32-byte key. Its cost grows with the size of what is kept, so the
engine runs it only every few finalizations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3

from execution.storage import KVBackend

logger = logging.getLogger("caplin.execution")

HASH_SIZE = 32
BRANCH_WIDTH = 17
# Text keys of py-evm's schema and the engine's own metadata; never swept even
# where one happens to be 32 bytes long.
PROTECTED_PREFIXES = (b"block-number-to-hash:", b"caplin-exec:", b"v1:")

LeafHandler = Callable[[bytes], None]


def _is_leaf(path: bytes) -> bool:
    # Hex-prefix encoding: a first nibble of 2 or 3 flags a leaf, 0 or 1 an extension.
    return bool(path) and path[0] >> 4 in (2, 3)


class Marker:
    """Collects the keys reachable from trie roots, reading nodes with `get`."""

    def __init__(self, get: Callable[[bytes], bytes | None]) -> None:
        self.get = get
        self.live: set[bytes] = set()

    def mark_key(self, key: bytes) -> None:
        self.live.add(key)

    def mark_trie(self, root: bytes, on_leaf: LeafHandler | None = None) -> None:
        """Mark the nodes of the trie at `root`; `on_leaf` gets each leaf value."""
        pending = [root]
        while pending:
            node_hash = pending.pop()
            if node_hash == BLANK_ROOT_HASH or node_hash in self.live:
                continue
            encoded = self.get(node_hash)
            if encoded is None:
                continue
            self.live.add(node_hash)
            self._visit(rlp.decode(encoded), pending, on_leaf)

    def _visit(self, node: list, pending: list[bytes], on_leaf: LeafHandler | None) -> None:
        if len(node) == BRANCH_WIDTH:
            for child in node[:16]:
                self._follow(child, pending, on_leaf)
            if node[16] and on_leaf is not None:
                on_leaf(node[16])
        elif len(node) == 2:
            path, item = node
            if _is_leaf(path):
                if on_leaf is not None:
                    on_leaf(item)
            else:
                self._follow(item, pending, on_leaf)

    def _follow(
        self, child: bytes | list, pending: list[bytes], on_leaf: LeafHandler | None
    ) -> None:
        if isinstance(child, list):
            # Nodes shorter than 32 bytes are embedded in their parent, not stored.
            self._visit(child, pending, on_leaf)
        elif len(child) == HASH_SIZE:
            pending.append(child)

    def mark_state(self, state_root: bytes) -> None:
        """Mark an account trie with every account's storage trie and code."""

        def on_account(value: bytes) -> None:
            _nonce, _balance, storage_root, code_hash = rlp.decode(value)
            if storage_root != BLANK_ROOT_HASH:
                self.mark_trie(storage_root)
            if code_hash != EMPTY_SHA3:
                self.mark_key(code_hash)

        self.mark_trie(state_root, on_account)


def sweep(backend: KVBackend, live: set[bytes], keys: Iterable[bytes]) -> int:
    """Delete every 32-byte key of `keys` outside `live` in one commit; return the count."""
    dead = {
        key: None
        for key in keys
        if len(key) == HASH_SIZE and key not in live and not key.startswith(PROTECTED_PREFIXES)
    }
    if dead:
        backend.commit(dead)
    return len(dead)
