"""The validation context every topic's rules share: chain, seen-caches, clock and fork."""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import BlockProcessingError
from caplin.transition.helpers import (
    compute_signing_root,
    get_beacon_proposer_index,
    get_domain,
    is_valid_indexed_attestation,
)
from caplin.transition.signatures import SignatureBatch
from caplin.transition.slot import process_slots
from sentinel.gossip.chain import ChainView
from sentinel.gossip.clock import GossipClock
from sentinel.gossip.result import ignore_unless, reject_unless
from sentinel.gossip.seen import SeenCache


class _LruCache:
    """A mapping that keeps the `capacity` most recently used entries."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class GossipCaches:
    """Results that many messages of one block share, kept across validations.

    Every sidecar of a block (128 data columns in Fulu) carries the same signed
    header, so its signature check and its expected proposer (which may need
    an epoch transition of the parent state) are computed once. Only successful
    signature checks are kept, keyed by everything the check depends on.
    """

    proposers: _LruCache = field(default_factory=lambda: _LruCache(256))
    verified_signatures: _LruCache = field(default_factory=lambda: _LruCache(4096))


@dataclass
class GossipContext:
    """The inputs of one validation: rules of `fork`, applied against `chain` and `seen`."""

    spec: Any
    chain: ChainView
    seen: SeenCache
    clock: GossipClock
    fork: Fork
    caches: GossipCaches = field(default_factory=GossipCaches)

    def epoch_at(self, slot: int) -> int:
        return int(slot) // int(self.spec.SLOTS_PER_EPOCH)

    def finalized_slot(self) -> int:
        return int(self.chain.finalized_checkpoint.epoch) * int(self.spec.SLOTS_PER_EPOCH)

    def is_finalized_ancestor(self, root: bytes) -> bool:
        """Tell whether the finalized checkpoint block is on the branch of block `root`."""
        finalized = self.chain.finalized_checkpoint
        return self.chain.get_checkpoint_block(root, finalized.epoch) == bytes(finalized.root)

    def verify(self, pubkey: bytes, message: Any, domain: bytes, signature: bytes) -> bool:
        """Check a single signature over `message` (an SSZ object or a 32-byte root)."""
        signing_root = compute_signing_root(self.spec, message, domain)
        key = (bytes(pubkey), signing_root, bytes(signature))
        if self.caches.verified_signatures.get(key):
            return True
        valid = bls.Verify(key[0], signing_root, key[2])
        if valid:
            self.caches.verified_signatures.put(key, True)
        return valid

    def domain(self, state: Any, domain_type: bytes, epoch: int) -> bytes:
        return get_domain(self.spec, state, domain_type, epoch)

    def is_valid_indexed_attestation(self, state: Any, indexed_attestation: Any) -> bool:
        """Check the indices and the aggregate signature of `indexed_attestation` now."""
        sigs = SignatureBatch()
        if not is_valid_indexed_attestation(self.spec, state, indexed_attestation, sigs):
            return False
        try:
            sigs.verify()
        except BlockProcessingError:
            return False
        return True

    def expected_proposer(self, parent_root: bytes, slot: int) -> int:
        """Return the proposer of `slot` on the branch of `parent_root` (whose state is known)."""
        key = (bytes(parent_root), int(slot))
        cached = self.caches.proposers.get(key)
        if cached is not None:
            return int(cached)
        state = self.chain.get_block_state(parent_root)
        if int(state.slot) < int(slot):
            state = process_slots(self.spec, state.copy(), slot)
        proposer = get_beacon_proposer_index(self.spec, state)
        self.caches.proposers.put(key, proposer)
        return proposer


def check_block_header(
    context: GossipContext, header: Any, signature: bytes, now_ms: int, subject: str
) -> Any:
    """Apply the rules a block and every sidecar share to a `BeaconBlockHeader`.

    Checks timing, finality, that the parent is known and imported, the
    proposer index and signature, the slot order, and finalized ancestry. The
    caller checks the expected proposer, because the spec runs that check last.
    Returns the head state. Raises `GossipValidationError`.
    """
    chain = context.chain
    slot = int(header.slot)
    ignore_unless(
        not context.clock.is_future_slot(slot, now_ms), f"{subject} is from a future slot"
    )
    ignore_unless(
        slot > context.finalized_slot(),
        f"{subject} is not from a slot greater than the latest finalized slot",
    )
    parent_root = bytes(header.parent_root)
    ignore_unless(chain.has_block(parent_root), f"{subject}'s parent has not been seen")
    reject_unless(
        chain.get_block_state(parent_root) is not None, f"{subject}'s parent failed validation"
    )
    state = chain.head_state()
    check_proposer_signature(context, state, header, signature, subject)
    parent = chain.get_block(parent_root)
    reject_unless(slot > int(parent.slot), f"{subject} is not from a higher slot than its parent")
    reject_unless(
        context.is_finalized_ancestor(parent_root),
        f"finalized checkpoint is not an ancestor of {subject}'s block",
    )
    return state


def check_proposer_signature(
    context: GossipContext, state: Any, header: Any, signature: bytes, subject: str
) -> None:
    """Check the proposer index is known and its signature over `header` (block or header)."""
    from caplin.config.constants import DOMAIN_BEACON_PROPOSER

    proposer_index = int(header.proposer_index)
    reject_unless(proposer_index < len(state.validators), "proposer index out of range")
    pubkey = state.validators[proposer_index].pubkey
    domain = context.domain(state, DOMAIN_BEACON_PROPOSER, context.epoch_at(header.slot))
    reject_unless(
        context.verify(pubkey, header, domain, signature),
        f"invalid proposer signature on {subject}",
    )


def check_expected_proposer(context: GossipContext, header: Any, subject: str) -> None:
    """Check the header's proposer is the one the parent's state expects for its slot."""
    expected = context.expected_proposer(bytes(header.parent_root), int(header.slot))
    reject_unless(
        int(header.proposer_index) == expected,
        f"{subject} proposer_index does not match expected proposer",
        expected=expected,
        actual=int(header.proposer_index),
    )
