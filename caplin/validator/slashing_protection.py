"""Slashing protection: a database of every block and attestation our validators signed.

Before a validator key signs a block or an attestation, `SlashingProtection` checks the
message against what that key signed before and records it, in one write transaction that
commits (and syncs to disk) before the caller signs. A crash between the record and the
signature therefore leaves a record without a signature, never the reverse.

The rules are the minimal strategy of EIP-3076 (slashing protection interchange format), so
each key needs only its newest messages as low watermarks:

- a block is signed only at a slot above the newest signed block's slot, or again at that
  slot with the identical signing root (a repeat signing);
- an attestation is signed only when its target epoch is above the newest signed target and
  its source epoch is not below the newest signed source. A repeat with the identical signing
  root at an already signed target is allowed too. A source epoch above the target epoch is
  always rejected.

These rules exclude double proposals, double votes and surround votes in both directions, at
the cost of rejecting some late messages that would not be slashable. The recent history (see
`BLOCK_HISTORY_SLOTS` and `ATTESTATION_HISTORY_EPOCHS`) is kept beside the watermarks so that a
rejection can name the conflicting message and the complete interchange form can be exported.

The database is bound to the chain's genesis validators root: opening it for another chain
raises. The LMDB environment lives in `<datadir>/validator/slashing_protection`, and a lock
file in that directory keeps a second process from opening it at the same time.
"""

import fcntl
import logging
import os
import shutil
import struct
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from caplin.errors import CaplinError
from caplin.storage import open_store

log = logging.getLogger("caplin.validator")

# History kept per key for messages and exports: the records of the newest block's last
# BLOCK_HISTORY_SLOTS slots and the newest attestation's last ATTESTATION_HISTORY_EPOCHS target
# epochs. Older records are pruned, since the watermarks alone reject everything below them.
BLOCK_HISTORY_SLOTS = 8192
ATTESTATION_HISTORY_EPOCHS = 256

TABLES = ["meta", "latest", "blocks", "attestations"]
GENESIS_ROOT_KEY = b"genesis_validators_root"
SCHEMA_KEY = b"schema_version"
SCHEMA_VERSION = b"1"
LOCK_FILE = "caplin.lock"
UINT64_MAX = 2**64 - 1

# latest: has block, slot, has root, root, has attestation, source, target, has root, root.
_LATEST = struct.Struct(">?Q?32s?QQ?32s")
_ZERO = b"\x00" * 32


class SlashingProtectionError(CaplinError):
    """An unusable slashing protection database: locked, of another chain, or invalid."""


class SlashableSigningError(SlashingProtectionError):
    """Signing a message would conflict with an earlier one; the message was not recorded.

    `rule` names the condition that failed: double_proposal, block_slot_not_above_newest,
    double_vote, surrounding_vote, surrounded_vote, source_below_newest,
    target_not_above_newest or source_after_target.
    """

    def __init__(self, rule: str, message: str, **fields: Any) -> None:
        self.rule = rule
        super().__init__(f"{rule}: {message}", **fields)


@dataclass(frozen=True)
class Watermarks:
    """The newest block and attestation one key signed; None where it signed none.

    A root of None means the signing root is unknown (imported without one), so no message
    at that slot or target may be signed again.
    """

    block_slot: int | None = None
    block_root: bytes | None = None
    source_epoch: int | None = None
    target_epoch: int | None = None
    attestation_root: bytes | None = None

    def encode(self) -> bytes:
        return _LATEST.pack(
            self.block_slot is not None,
            self.block_slot or 0,
            self.block_root is not None,
            self.block_root or _ZERO,
            self.target_epoch is not None,
            self.source_epoch or 0,
            self.target_epoch or 0,
            self.attestation_root is not None,
            self.attestation_root or _ZERO,
        )

    @classmethod
    def decode(cls, value: bytes) -> "Watermarks":
        has_block, slot, has_block_root, block_root, has_att, source, target, has_root, root = (
            _LATEST.unpack(value)
        )
        return cls(
            block_slot=slot if has_block else None,
            block_root=block_root if has_block_root else None,
            source_epoch=source if has_att else None,
            target_epoch=target if has_att else None,
            attestation_root=root if has_root else None,
        )


@dataclass(frozen=True)
class SignedBlockRecord:
    """A block signed (or imported) at `slot`; `signing_root` is None when unknown."""

    slot: int
    signing_root: bytes | None


@dataclass(frozen=True)
class SignedAttestationRecord:
    """An attestation signed (or imported); `signing_root` is None when unknown."""

    source_epoch: int
    target_epoch: int
    signing_root: bytes | None


@dataclass(frozen=True)
class AttestationRequest:
    """An attestation a key is about to sign, for `check_and_record_attestations`."""

    pubkey: bytes
    source_epoch: int
    target_epoch: int
    signing_root: bytes


def _key(pubkey: bytes, number: int) -> bytes:
    return pubkey + number.to_bytes(8, "big")


def _root_value(root: bytes | None) -> bytes:
    return b"" if root is None else root


def _root_of(value: bytes) -> bytes | None:
    return value if value else None


def _same_root(known: bytes | None, root: bytes) -> bool:
    """Return whether `root` repeats a known signing root (an unknown root never matches)."""
    return known is not None and known == root


class SlashingProtection:
    """The slashing protection database of one datadir, bound to one chain.

    Open it with `open` (a directory) or `temporary` (a directory removed on `close`). Every
    method may raise StorageError when the database cannot be read or written, and then the
    caller must not sign.
    """

    def __init__(self, path: Path, store: Any, lock_file: Any, genesis_validators_root: bytes):
        self.path = path
        self._store = store
        self._lock_file = lock_file
        self.genesis_validators_root = genesis_validators_root
        self._cleanup: Any = None
        self._closed = False

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, genesis_validators_root: bytes | None) -> "SlashingProtection":
        """Open (or create) the database in directory `path` for the given chain.

        With `genesis_validators_root` None the stored root is used, and a new database takes
        its root from the first `import_interchange`. Raises SlashingProtectionError when
        another process has the database open or when it belongs to another chain.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        lock_file = _lock(path)
        try:
            store = open_store(path, TABLES, "lmdb")
        except BaseException:
            lock_file.close()
            raise
        try:
            root = _bind_chain(store, path, genesis_validators_root)
        except BaseException:
            store.close()
            lock_file.close()
            raise
        return cls(path, store, lock_file, root)

    @classmethod
    def temporary(cls, genesis_validators_root: bytes) -> "SlashingProtection":
        """Open a database in a new temporary directory, removed again by `close`.

        For validator clients without a datadir (tests). Its records are deleted on `close`,
        or when the object is garbage collected or the interpreter exits.
        """
        path = Path(tempfile.mkdtemp(prefix="caplin-slashing-protection-"))
        protection = cls.open(path, genesis_validators_root)
        protection._cleanup = weakref.finalize(protection, shutil.rmtree, path, True)
        return protection

    def close(self) -> None:
        """Close the database; closing it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._store.close()
        self._lock_file.close()
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> "SlashingProtection":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- signing checks ------------------------------------------------------------------

    def check_and_record_block(self, pubkey: bytes, slot: int, signing_root: bytes) -> None:
        """Record that `pubkey` signs the block with `signing_root` at `slot`.

        Returns once the record is on disk; the caller may sign then. Raises
        SlashableSigningError (recording nothing) when the block may be slashable.
        """
        pubkey = bytes(pubkey)
        signing_root = bytes(signing_root)
        with self._store.write() as txn:
            self._check_block(txn, pubkey, int(slot), signing_root)

    def check_and_record_attestation(
        self, pubkey: bytes, source_epoch: int, target_epoch: int, signing_root: bytes
    ) -> None:
        """Record that `pubkey` signs the attestation with `signing_root`.

        Returns once the record is on disk; the caller may sign then. Raises
        SlashableSigningError (recording nothing) when the attestation may be slashable.
        """
        request = AttestationRequest(
            bytes(pubkey), int(source_epoch), int(target_epoch), bytes(signing_root)
        )
        with self._store.write() as txn:
            self._check_attestation(txn, request)

    def check_and_record_attestations(
        self, requests: list[AttestationRequest]
    ) -> list[SlashableSigningError | None]:
        """Check and record many attestations in one transaction (one disk sync).

        Returns, per request, None when it was recorded (the caller may sign it) or the
        SlashableSigningError that rejected it. Requests are checked in order, so each request
        is checked against the records of the requests before it.
        """
        results: list[SlashableSigningError | None] = []
        with self._store.write() as txn:
            for request in requests:
                try:
                    self._check_attestation(txn, request)
                    results.append(None)
                except SlashableSigningError as error:
                    results.append(error)
        return results

    def _check_block(self, txn: Any, pubkey: bytes, slot: int, signing_root: bytes) -> None:
        marks = self._watermarks(txn, pubkey)
        stored = txn.get("blocks", _key(pubkey, slot))
        if stored is not None:
            known = _root_of(stored)
            if _same_root(known, signing_root):
                return
            raise SlashableSigningError(
                "double_proposal",
                "a different block was already signed at this slot",
                pubkey=pubkey,
                slot=slot,
                signing_root=signing_root,
                signed_root=known if known is not None else "unknown",
            )
        if marks.block_slot is not None and slot <= marks.block_slot:
            raise SlashableSigningError(
                "block_slot_not_above_newest",
                "the block's slot is not above the newest signed block",
                pubkey=pubkey,
                slot=slot,
                newest_slot=marks.block_slot,
            )
        txn.put("blocks", _key(pubkey, slot), signing_root)
        _delete_below(txn, "blocks", pubkey, slot - BLOCK_HISTORY_SLOTS + 1)
        txn.put("latest", pubkey, replace(marks, block_slot=slot, block_root=signing_root).encode())

    def _check_attestation(self, txn: Any, request: AttestationRequest) -> None:
        pubkey, source, target = request.pubkey, request.source_epoch, request.target_epoch
        if source > target:
            raise SlashableSigningError(
                "source_after_target",
                "the attestation's source epoch is after its target epoch",
                pubkey=pubkey,
                source_epoch=source,
                target_epoch=target,
            )
        stored = txn.get("attestations", _key(pubkey, target))
        if stored is not None:
            signed = _decode_attestation(target, stored)
            if _same_root(signed.signing_root, request.signing_root):
                return
            raise _conflict(
                "double_vote", "a different attestation has this target", request, signed
            )
        marks = self._watermarks(txn, pubkey)
        if marks.target_epoch is not None:
            self._check_watermarks(txn, request, marks)
        txn.put("attestations", _key(pubkey, target), _encode_attestation(request))
        _delete_below(txn, "attestations", pubkey, target - ATTESTATION_HISTORY_EPOCHS + 1)
        marks = replace(
            marks, source_epoch=source, target_epoch=target, attestation_root=request.signing_root
        )
        txn.put("latest", pubkey, marks.encode())

    def _check_watermarks(self, txn: Any, request: AttestationRequest, marks: Watermarks) -> None:
        source, target = request.source_epoch, request.target_epoch
        assert marks.source_epoch is not None and marks.target_epoch is not None
        if target > marks.target_epoch and source >= marks.source_epoch:
            return
        for signed in self._attestations(txn, request.pubkey):
            if source < signed.source_epoch and signed.target_epoch < target:
                raise _conflict("surrounding_vote", "it surrounds an earlier vote", request, signed)
            if signed.source_epoch < source and target < signed.target_epoch:
                raise _conflict("surrounded_vote", "an earlier vote surrounds it", request, signed)
        if target <= marks.target_epoch:
            rule, message = "target_not_above_newest", "the target epoch is not above the newest"
        else:
            rule, message = "source_below_newest", "the source epoch is below the newest"
        raise SlashableSigningError(
            rule,
            message + " signed attestation's",
            pubkey=request.pubkey,
            source_epoch=source,
            target_epoch=target,
            newest_source_epoch=marks.source_epoch,
            newest_target_epoch=marks.target_epoch,
        )

    # --- reading -------------------------------------------------------------------------

    def watermarks(self, pubkey: bytes) -> Watermarks:
        """Return the newest block and attestation recorded for `pubkey`."""
        with self._store.read() as txn:
            return self._watermarks(txn, bytes(pubkey))

    def pubkeys(self) -> list[bytes]:
        """Return every key with a record, in byte order."""
        with self._store.read() as txn:
            return [key for key, _ in txn.items("latest")]

    def signed_blocks(self, pubkey: bytes) -> list[SignedBlockRecord]:
        """Return the block records kept for `pubkey`, by slot."""
        with self._store.read() as txn:
            return list(self._blocks(txn, bytes(pubkey)))

    def signed_attestations(self, pubkey: bytes) -> list[SignedAttestationRecord]:
        """Return the attestation records kept for `pubkey`, by target epoch."""
        with self._store.read() as txn:
            return list(self._attestations(txn, bytes(pubkey)))

    def _watermarks(self, txn: Any, pubkey: bytes) -> Watermarks:
        value = txn.get("latest", pubkey)
        return Watermarks() if value is None else Watermarks.decode(value)

    def _blocks(self, txn: Any, pubkey: bytes) -> Iterator[SignedBlockRecord]:
        for key, value in txn.items("blocks", pubkey, _next_prefix(pubkey)):
            yield SignedBlockRecord(int.from_bytes(key[48:], "big"), _root_of(value))

    def _attestations(self, txn: Any, pubkey: bytes) -> Iterator[SignedAttestationRecord]:
        for key, value in txn.items("attestations", pubkey, _next_prefix(pubkey)):
            yield _decode_attestation(int.from_bytes(key[48:], "big"), value)

    # --- interchange support -------------------------------------------------------------

    def merge(
        self,
        records: dict[bytes, tuple[list[SignedBlockRecord], list[SignedAttestationRecord]]],
    ) -> None:
        """Merge imported records of each key into the database, in one transaction.

        The watermarks become the maximum of the stored and imported ones: the maximum block
        slot and the maximum source and target epochs, with a signing root only where one
        known message is at that maximum. The records join the history; a record whose slot
        or target is already stored with another root is kept with an unknown root.
        """
        with self._store.write() as txn:
            for pubkey, (blocks, attestations) in records.items():
                marks = self._watermarks(txn, pubkey)
                marks = _merge_blocks(txn, pubkey, marks, blocks)
                marks = _merge_attestations(txn, pubkey, marks, attestations)
                txn.put("latest", pubkey, marks.encode())

    def adopt_genesis_validators_root(self, root: bytes) -> None:
        """Bind a database opened without a root to the chain of `root`."""
        with self._store.write() as txn:
            stored = txn.get("meta", GENESIS_ROOT_KEY)
            if stored is not None and stored != root:
                raise _other_chain(self.path, stored, root)
            txn.put("meta", GENESIS_ROOT_KEY, root)
        self.genesis_validators_root = root


def _merge_blocks(
    txn: Any, pubkey: bytes, marks: Watermarks, blocks: list[SignedBlockRecord]
) -> Watermarks:
    for block in blocks:
        key = _key(pubkey, block.slot)
        stored = txn.get("blocks", key)
        root = block.signing_root
        if stored is not None and _root_of(stored) != root:
            root = None
        txn.put("blocks", key, _root_value(root))
        if marks.block_slot is None or block.slot > marks.block_slot:
            marks = replace(marks, block_slot=block.slot, block_root=root)
        elif block.slot == marks.block_slot and marks.block_root != root:
            marks = replace(marks, block_root=None)
    if marks.block_slot is not None:
        _delete_below(txn, "blocks", pubkey, marks.block_slot - BLOCK_HISTORY_SLOTS + 1)
    return marks


def _merge_attestations(
    txn: Any, pubkey: bytes, marks: Watermarks, attestations: list[SignedAttestationRecord]
) -> Watermarks:
    for attestation in attestations:
        key = _key(pubkey, attestation.target_epoch)
        stored = txn.get("attestations", key)
        record = attestation
        if stored is not None:
            signed = _decode_attestation(attestation.target_epoch, stored)
            if signed != attestation:
                # Two messages at one target: keep the lower source with an unknown root, so
                # neither can be signed again and surround checks see the wider vote.
                source = min(signed.source_epoch, attestation.source_epoch)
                record = SignedAttestationRecord(source, attestation.target_epoch, None)
        txn.put("attestations", key, _encode_attestation(record))
        marks = _raise_attestation_marks(marks, attestation)
    if marks.target_epoch is not None:
        _delete_below(
            txn, "attestations", pubkey, marks.target_epoch - ATTESTATION_HISTORY_EPOCHS + 1
        )
    return marks


def _raise_attestation_marks(marks: Watermarks, record: SignedAttestationRecord) -> Watermarks:
    if marks.target_epoch is None or marks.source_epoch is None:
        return replace(
            marks,
            source_epoch=record.source_epoch,
            target_epoch=record.target_epoch,
            attestation_root=record.signing_root,
        )
    source = max(marks.source_epoch, record.source_epoch)
    target = max(marks.target_epoch, record.target_epoch)
    if (source, target) == (marks.source_epoch, marks.target_epoch):
        # The record is at or below both marks: a repeat keeps the root, anything else at
        # the same marks makes it unknown.
        same = (record.source_epoch, record.target_epoch) == (source, target)
        if same and record.signing_root != marks.attestation_root:
            return replace(marks, attestation_root=None)
        return marks
    if (source, target) == (record.source_epoch, record.target_epoch):
        root = record.signing_root
    else:
        # The new marks combine two messages, so no single signing root repeats them.
        root = None
    return replace(marks, source_epoch=source, target_epoch=target, attestation_root=root)


def _encode_attestation(record: AttestationRequest | SignedAttestationRecord) -> bytes:
    return record.source_epoch.to_bytes(8, "big") + _root_value(record.signing_root)


def _decode_attestation(target: int, value: bytes) -> SignedAttestationRecord:
    return SignedAttestationRecord(int.from_bytes(value[:8], "big"), target, _root_of(value[8:]))


def _conflict(
    rule: str, message: str, request: AttestationRequest, signed: SignedAttestationRecord
) -> SlashableSigningError:
    return SlashableSigningError(
        rule,
        message,
        pubkey=request.pubkey,
        source_epoch=request.source_epoch,
        target_epoch=request.target_epoch,
        signing_root=request.signing_root,
        signed_source_epoch=signed.source_epoch,
        signed_target_epoch=signed.target_epoch,
        signed_root=signed.signing_root if signed.signing_root is not None else "unknown",
    )


def _delete_below(txn: Any, table: str, pubkey: bytes, cutoff: int) -> None:
    """Delete the records of `pubkey` in `table` numbered below `cutoff`."""
    if cutoff <= 0:
        return
    stale = [key for key, _ in txn.items(table, pubkey, _key(pubkey, cutoff))]
    for key in stale:
        txn.delete(table, key)


def _next_prefix(pubkey: bytes) -> bytes:
    """Return the smallest key above every key that starts with `pubkey`."""
    return (int.from_bytes(pubkey, "big") + 1).to_bytes(len(pubkey), "big")


def _lock(path: Path) -> Any:
    lock_file = open(path / LOCK_FILE, "a+")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        raise SlashingProtectionError(
            "slashing protection database is in use by another process; stop the node that "
            "runs these validators first",
            path=path,
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f"{os.getpid()}\n")
    lock_file.flush()
    return lock_file


def _bind_chain(store: Any, path: Path, root: bytes | None) -> bytes:
    """Return the database's genesis validators root, storing `root` in a new database."""
    with store.write() as txn:
        stored = txn.get("meta", GENESIS_ROOT_KEY)
        schema = txn.get("meta", SCHEMA_KEY)
        if schema is not None and schema != SCHEMA_VERSION:
            raise SlashingProtectionError(
                "unsupported slashing protection database version",
                path=path,
                version=schema.decode(errors="replace"),
            )
        txn.put("meta", SCHEMA_KEY, SCHEMA_VERSION)
        if stored is None:
            if root is not None:
                txn.put("meta", GENESIS_ROOT_KEY, bytes(root))
                log.info("slashing protection database created path=%s", path)
            return bytes(root) if root is not None else b""
        if root is not None and stored != bytes(root):
            raise _other_chain(path, stored, bytes(root))
        return stored


def _other_chain(path: Path, stored: bytes, root: bytes) -> SlashingProtectionError:
    return SlashingProtectionError(
        "slashing protection database belongs to another chain; use the datadir of this "
        "chain or move the database aside",
        path=path,
        stored_genesis_validators_root=stored,
        genesis_validators_root=root,
    )


def protection_path(datadir: str | Path) -> Path:
    """Return the slashing protection directory of `datadir`."""
    return Path(datadir) / "validator" / "slashing_protection"
