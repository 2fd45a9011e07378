"""The node's validator client: every duty of every key the node holds, slot by slot.

The node calls `propose` at the slot start and `attest` at the attestation deadline (head
votes and sync committee messages). It calls `aggregate` at the aggregation deadline
(aggregates and sync contributions), then `prepare`, which advances the head state to the
next slot so that the next proposal does not wait for epoch processing. Every method does CPU
work and runs in a worker thread.

Every block and attestation is recorded in the slashing protection database before it is
signed. When the database rejects a message, the client logs a warning and skips that duty.
"""

import logging
import threading
import time
from pathlib import Path
from typing import Any

from caplin.config.forks import Fork
from caplin.errors import CaplinError
from caplin.node.pools import AttestationPool, SyncCommitteePool, committee_attestation
from caplin.transition.helpers import get_beacon_proposer_index
from caplin.transition.slot import process_slots
from caplin.validator import attester, sync_committee
from caplin.validator.keymanager import load_keystores
from caplin.validator.keys import ValidatorKey
from caplin.validator.proposer import produce_block
from caplin.validator.slashing_protection import (
    SlashableSigningError,
    SlashingProtection,
    protection_path,
)

log = logging.getLogger("caplin.validator")


class ValidatorClient:
    """Duties of `keys` (validator index -> key) on `chain` (a `BeaconChain`).

    `engine` and `txpool` are the embedded execution engine and its transaction pool, used
    to build payloads; `fee_recipient` receives the priority fees. The slashing protection
    database is `<datadir>/validator/slashing_protection`; without a datadir it is a
    temporary database deleted on `close`. Keystores imported through the Keymanager API
    and stored in the datadir are decrypted and run too. Raises SlashingProtectionError
    when the database belongs to another chain or another process has it open.
    """

    def __init__(
        self,
        chain: Any,
        keys: list[ValidatorKey],
        *,
        engine: Any = None,
        txpool: Any = None,
        fee_recipient: bytes = b"\x00" * 20,
        datadir: str | Path | None = None,
    ) -> None:
        self.chain = chain
        self.spec = chain.spec
        self.engine = engine
        # Blob transactions a proposal may take (None: the fork's limit).
        self.max_blobs: int | None = None
        # The blob or data column sidecars of the last block `propose` produced, to publish.
        self.last_sidecars: list[Any] = []
        self.txpool = txpool
        self.fee_recipient = fee_recipient
        self.attestations = AttestationPool()
        self.sync_contributions = SyncCommitteePool()
        self.proposed = 0
        self.attested = 0
        state = chain.snapshot.head_state
        index_of = {bytes(v.pubkey): i for i, v in enumerate(state.validators.readonly_iter())}
        self.index_of = index_of
        if datadir is not None:
            keys = [*keys, *(stored.key for stored in load_keystores(datadir))]
        # Every key held, also those not (yet) in the validator registry.
        self.held = {k.pubkey: k for k in keys}
        self.keys = {index_of[k.pubkey]: k for k in keys if k.pubkey in index_of}
        self.protection = _open_protection(state, datadir)
        # Held by every duty that signs, so a deleted key cannot sign once `remove_key` returns.
        self.duty_lock = threading.RLock()
        self._advanced: tuple[bytes, int, Any] | None = None
        self._votes: dict[int, tuple[Any, bytes, list[attester.CommitteeVotes]]] = {}
        self._sync_messages: dict[int, tuple[Any, bytes, list[int], dict[int, bytes]]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def close(self) -> None:
        """Close the slashing protection database; no duty may run afterwards."""
        self.protection.close()

    # --- keys --------------------------------------------------------------------------

    def pubkeys(self) -> list[bytes]:
        """Return the pubkey of every key held, active or not."""
        return list(self.held)

    def add_key(self, key: ValidatorKey) -> bool:
        """Hold `key`; return whether it is in the validator registry and so runs duties."""
        with self.duty_lock:
            self.held[key.pubkey] = key
            index = self.index_of.get(key.pubkey)
            if index is None:
                state = self.chain.snapshot.head_state
                validators = state.validators.readonly_iter()
                self.index_of = {bytes(v.pubkey): i for i, v in enumerate(validators)}
                index = self.index_of.get(key.pubkey)
            if index is None:
                # TODO(keymanager): a key deposited later stays inactive until a restart.
                return False
            self.keys[index] = key
            return True

    def remove_key(self, pubkey: bytes) -> bool:
        """Stop using the key of `pubkey`; return whether it was held.

        Waits for a running duty, so the key makes no signature after this returns.
        """
        with self.duty_lock:
            if self.held.pop(pubkey, None) is None:
                return False
            index = self.index_of.get(pubkey)
            if index is not None:
                self.keys.pop(index, None)
            return True

    # --- states ------------------------------------------------------------------------

    def head_state_at(self, slot: int) -> tuple[bytes, Any]:
        """Return (head root, head post-state advanced to `slot`), reusing `prepare`'s work."""
        snapshot = self.chain.snapshot
        head = snapshot.head_root
        cached = self._advanced
        if cached is not None and cached[0] == head and cached[1] == slot:
            return head, cached[2]
        state = snapshot.head_state
        if int(state.slot) < slot:
            state = process_slots(self.spec, state.copy(), slot)
            self.chain.set_advanced_state(head, slot, state)
        self._advanced = (head, slot, state)
        return head, state

    def prepare(self, slot: int) -> None:
        """Write deferred states, then advance the head state to `slot` ahead of time (the
        next slot's epoch processing)."""
        self.chain.flush()
        self.head_state_at(slot)

    # --- proposals ---------------------------------------------------------------------

    def propose(self, slot: int) -> Any:
        """Produce, import and return our block for `slot`; None when the proposer is not ours.

        Raises CaplinError when the block cannot be built or imported.
        """
        with self.duty_lock:
            return self._propose(slot)

    def _propose(self, slot: int) -> Any:
        head, state = self.head_state_at(slot)
        proposer_index = get_beacon_proposer_index(self.spec, state)
        key = self.keys.get(proposer_index)
        if key is None:
            return None
        fork = self.spec.fork_of(state)
        types = self.spec.types(fork)
        limit = (
            self.spec.MAX_ATTESTATIONS_ELECTRA
            if fork >= Fork.ELECTRA
            else (self.spec.MAX_ATTESTATIONS)
        )
        attestations = self.attestations.for_block(self.spec, state, limit)
        sync_aggregate = None
        if fork >= Fork.ALTAIR:
            sync_aggregate = self.sync_contributions.sync_aggregate(
                self.spec, types, slot - 1, head
            )
        try:
            produced = self._produce(state, head, proposer_index, key, attestations, sync_aggregate)
        except SlashableSigningError as error:
            log.warning(
                "block not signed: slashing protection rejected it slot=%d proposer=%d error=%s",
                slot,
                proposer_index,
                error,
            )
            return None
        signed_block = produced.signed_block
        root = bytes(signed_block.message.hash_tree_root())
        self.chain.offer_produced(root, produced.post_state, produced.sigs)
        self.last_sidecars = produced.sidecars
        if produced.sidecars:
            self.chain.availability.offer(root, produced.sidecars, own=True)
        result = self.chain.import_block(signed_block)
        self.proposed += 1
        log.info(
            "imported block slot=%d root=0x%s proposer=%d attestations=%d ms=%d",
            slot,
            result.root.hex(),
            proposer_index,
            len(attestations),
            result.milliseconds,
        )
        if self.txpool is not None and self.engine is not None:
            self._drop_included_transactions()
        return signed_block

    def _produce(
        self,
        state: Any,
        head: bytes,
        proposer_index: int,
        key: ValidatorKey,
        attestations: list[Any],
        sync_aggregate: Any,
    ) -> Any:
        return produce_block(
            self.spec,
            state,
            head,
            proposer_index,
            key,
            attestations=attestations,
            sync_aggregate=sync_aggregate,
            engine=self.engine,
            txpool=self.txpool,
            fee_recipient=self.fee_recipient,
            protection=self.protection,
            max_blobs=self.max_blobs,
        )

    def _drop_included_transactions(self) -> None:
        try:
            state = self.engine.state_at(self.engine.head())
            self.txpool.remove_stale(state.get_nonce)
        except CaplinError as error:
            log.debug("transaction pool cleanup failed error=%s", error)

    # --- attestations and sync committee messages --------------------------------------

    def attest(self, slot: int) -> int:
        """Sign head votes and sync committee messages of `slot`; return the vote count."""
        with self.duty_lock:
            return self._attest(slot)

    def _attest(self, slot: int) -> int:
        head, state = self.head_state_at(slot)
        votes = attester.produce_votes(self.spec, state, head, slot, self.keys, self.protection)
        self._votes[slot] = (state, head, votes)
        count = sum(len(v.votes) for v in votes)
        if self.spec.fork_of(state) >= Fork.ALTAIR:
            committee = sync_committee.sync_committee_indices(self.spec, state, slot, self.index_of)
            messages = sync_committee.produce_messages(
                self.spec, state, slot, head, committee, self.keys
            )
            self._sync_messages[slot] = (state, head, committee, messages)
        self.attested += count
        return count

    def aggregate(self, slot: int) -> int:
        """Aggregate the votes of `slot` per committee and sign the aggregates.

        The aggregates go to fork choice and the attestation pool, and the sync committee
        contributions to their pool. Returns the number of committee aggregates.
        """
        with self.duty_lock:
            return self._aggregate(slot)

    def _aggregate(self, slot: int) -> int:
        entry = self._votes.pop(slot, None)
        aggregates = 0
        if entry is not None:
            state, _, votes = entry
            fork = self.spec.fork_of(state)
            for committee_votes in votes:
                aggregate = self.attestations.add(
                    committee_votes.data,
                    committee_votes.committee_index,
                    len(committee_votes.committee),
                    committee_votes.votes,
                )
                attestation = committee_attestation(self.spec, fork, aggregate)
                self._sign_aggregate(state, slot, committee_votes.committee, attestation)
                self._apply_to_fork_choice(attestation)
                aggregates += 1
        sync_entry = self._sync_messages.pop(slot, None)
        if sync_entry is not None:
            state, head, committee, messages = sync_entry
            for signed in sync_committee.produce_contributions(
                self.spec, state, slot, head, committee, messages, self.keys
            ):
                self.sync_contributions.add_contribution(signed.message.contribution)
        self.attestations.prune(slot - 2 * self.spec.SLOTS_PER_EPOCH)
        self.sync_contributions.prune(slot - 1)
        return aggregates

    def _sign_aggregate(self, state: Any, slot: int, committee: list[int], attestation: Any) -> Any:
        selected = attester.find_aggregator(self.spec, state, slot, committee, self.keys)
        if selected is None:
            return None
        aggregator_index, proof = selected
        key = self.keys[aggregator_index]
        return attester.sign_aggregate(self.spec, state, aggregator_index, attestation, proof, key)

    def _apply_to_fork_choice(self, attestation: Any) -> None:
        try:
            self.chain.on_attestation(attestation)
        except CaplinError as error:
            log.debug("own aggregate not applied to fork choice error=%s", error)


def _open_protection(state: Any, datadir: str | Path | None) -> SlashingProtection:
    root = bytes(state.genesis_validators_root)
    if datadir is None:
        return SlashingProtection.temporary(root)
    return SlashingProtection.open(protection_path(datadir), root)


def timed(function: Any, *args: Any) -> tuple[Any, float]:
    """Call `function(*args)`; return its result and the milliseconds it took."""
    started = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - started) * 1000
