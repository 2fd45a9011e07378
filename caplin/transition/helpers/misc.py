"""The spec's `compute_*` helpers: slots and epochs, domains, signing roots, merkle branches.

Every function takes the `ChainSpec` first, so preset and config values come from it.
"""

from collections.abc import Sequence
from typing import Any

from caplin.config.constants import VERSIONED_HASH_VERSION_KZG
from caplin.crypto.hash import sha256
from caplin.transition.helpers.math import uint_to_bytes, xor

_ZERO_ROOT = b"\x00" * 32


def hash_tree_root(value: Any) -> bytes:
    """Return the SSZ hash tree root of an SSZ view as 32 bytes."""
    return bytes(value.hash_tree_root())


def compute_epoch_at_slot(spec: Any, slot: int) -> int:
    return int(slot) // spec.SLOTS_PER_EPOCH


def compute_start_slot_at_epoch(spec: Any, epoch: int) -> int:
    return int(epoch) * spec.SLOTS_PER_EPOCH


def compute_activation_exit_epoch(spec: Any, epoch: int) -> int:
    """Return the epoch in which activations and exits initiated in `epoch` take effect."""
    return int(epoch) + 1 + spec.MAX_SEED_LOOKAHEAD


def compute_time_at_slot(spec: Any, genesis_time: int, slot: int) -> int:
    """Return the start time of `slot` in seconds, from its start in milliseconds."""
    return (int(genesis_time) * 1000 + int(slot) * _slot_duration_ms(spec)) // 1000


def compute_time_at_slot_ms(spec: Any, genesis_time_ms: int, slot: int) -> int:
    return int(genesis_time_ms) + int(slot) * _slot_duration_ms(spec)


def compute_slot_at_time(spec: Any, genesis_time: int, time: int) -> int:
    return (int(time) - int(genesis_time)) * 1000 // _slot_duration_ms(spec)


def _slot_duration_ms(spec: Any) -> int:
    duration = getattr(spec, "SLOT_DURATION_MS", None)
    return int(duration) if duration is not None else int(spec.SECONDS_PER_SLOT) * 1000


def compute_sync_committee_period(spec: Any, epoch: int) -> int:
    return int(epoch) // spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD


def compute_sync_committee_period_at_slot(spec: Any, slot: int) -> int:
    return compute_sync_committee_period(spec, compute_epoch_at_slot(spec, slot))


def compute_fork_data_root(
    spec: Any, current_version: bytes, genesis_validators_root: bytes
) -> bytes:
    """Return the hash tree root of `ForkData(current_version, genesis_validators_root)`."""
    # ForkData is two fields of at most 32 bytes, so its root is one hash of the padded pair.
    version_chunk = bytes(current_version).ljust(32, b"\x00")
    return sha256(version_chunk + bytes(genesis_validators_root))


def compute_fork_version(spec: Any, epoch: int) -> bytes:
    """Return the fork version that the chain configured in `spec` runs at `epoch`."""
    return spec.fork_version(spec.fork_at_epoch(epoch))


def get_blob_parameters(spec: Any, epoch: int) -> tuple[int, int]:
    """Return `(epoch, max_blobs_per_block)` of the BLOB_SCHEDULE entry at `epoch` (fulu)."""
    schedule = sorted(_blob_schedule(spec), key=lambda entry: entry[0], reverse=True)
    for entry_epoch, max_blobs in schedule:
        if epoch >= entry_epoch:
            return entry_epoch, max_blobs
    return spec.ELECTRA_FORK_EPOCH, spec.MAX_BLOBS_PER_BLOCK_ELECTRA


def _blob_schedule(spec: Any) -> list[tuple[int, int]]:
    entries = []
    for entry in getattr(spec, "BLOB_SCHEDULE", None) or ():
        if isinstance(entry, dict):
            entries.append((int(entry["EPOCH"]), int(entry["MAX_BLOBS_PER_BLOCK"])))
        else:
            entries.append((int(entry.EPOCH), int(entry.MAX_BLOBS_PER_BLOCK)))
    return entries


def compute_fork_digest(spec: Any, genesis_validators_root: bytes, epoch: int) -> bytes:
    """Return the 4-byte fork digest of the chain at `epoch`.

    From fulu on, the digest is also mixed with the blob parameters in force at `epoch`.
    """
    base_digest = compute_fork_data_root(
        spec, compute_fork_version(spec, epoch), genesis_validators_root
    )
    if epoch < spec.FULU_FORK_EPOCH:
        return base_digest[:4]
    blob_epoch, max_blobs = get_blob_parameters(spec, epoch)
    mask = sha256(uint_to_bytes(blob_epoch) + uint_to_bytes(max_blobs))
    return xor(base_digest, mask)[:4]


def compute_domain(
    spec: Any,
    domain_type: bytes,
    fork_version: bytes | None = None,
    genesis_validators_root: bytes | None = None,
) -> bytes:
    """Return the 32-byte signature domain: the domain type, then 28 bytes of fork data root."""
    if fork_version is None:
        fork_version = spec.GENESIS_FORK_VERSION
    if genesis_validators_root is None:
        genesis_validators_root = _ZERO_ROOT
    fork_data_root = compute_fork_data_root(spec, fork_version, genesis_validators_root)
    return bytes(domain_type) + fork_data_root[:28]


def compute_signing_root(spec: Any, ssz_object: Any, domain: bytes) -> bytes:
    """Return the hash tree root of `SigningData(hash_tree_root(ssz_object), domain)`."""
    object_root = ssz_object if isinstance(ssz_object, bytes) else hash_tree_root(ssz_object)
    return sha256(bytes(object_root) + bytes(domain))


def compute_merkle_branch_root(
    leaf: bytes, branch: Sequence[bytes], depth: int, index: int
) -> bytes:
    """Return the root reached by hashing `leaf` at `index` up `depth` levels with `branch`."""
    value = bytes(leaf)
    for level in range(depth):
        sibling = bytes(branch[level])
        if (index >> level) & 1:
            value = sha256(sibling + value)
        else:
            value = sha256(value + sibling)
    return value


def is_valid_merkle_branch(
    leaf: bytes, branch: Sequence[bytes], depth: int, index: int, root: bytes
) -> bool:
    """Return True when `branch` proves `leaf` at `index` (depth `depth`) under `root`."""
    if depth != len(branch):
        return False
    return compute_merkle_branch_root(leaf, branch, depth, index) == bytes(root)


def kzg_commitment_to_versioned_hash(kzg_commitment: bytes) -> bytes:
    return VERSIONED_HASH_VERSION_KZG + sha256(bytes(kzg_commitment))[1:]
