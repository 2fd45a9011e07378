"""Blob transactions (EIP-4844) as the pool receives them, and the blobs bundle of a payload.

A blob transaction reaches `eth_sendRawTransaction` in a network form, with
its sidecar: EIP-4844's `0x03 || rlp([body, blobs, commitments, proofs])`
(one proof per blob) or EIP-7594's `0x03 || rlp([body, 1, blobs,
commitments, cell_proofs])` (128 cell proofs per blob, what eth-account 0.14
sends). The block carries only the canonical form, `0x03 || rlp(body)`,
whose hash is the transaction hash. The blobs, commitments and proofs travel
with the consensus block instead: the commitments in the block body, the
blobs in sidecars. `split_network_form` separates the two and checks the
sidecar against the transaction's versioned hashes and the KZG proofs.

The execution rules are Prague's (see `execution.vm`): at most 9 blobs per
block and Prague's blob base fee, whichever sidecar form came in.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.vm.forks.cancun.constants import GAS_PER_BLOB, MIN_BLOB_BASE_FEE
from eth.vm.forks.cancun.state import fake_exponential
from eth.vm.forks.prague.constants import (
    BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
    MAX_BLOB_GAS_PER_BLOCK,
)

from caplin.crypto import kzg
from execution.trie import decode_rlp

BLOB_TRANSACTION_TYPE = 0x03
# Prague's limit: 1,179,648 blob gas per block, 131,072 per blob.
MAX_BLOBS_PER_BLOCK = MAX_BLOB_GAS_PER_BLOCK // GAS_PER_BLOB
BYTES_PER_BLOB = 131072
CELLS_PER_EXT_BLOB = 128
CELL_PROOFS_WRAPPER_VERSION = 1


class BlobSidecarError(ValueError):
    """A blob transaction's network form is malformed or its sidecar does not match."""


@dataclass(frozen=True)
class BlobSidecar:
    """The blobs of one transaction with their KZG commitments and proofs, in order.

    `proofs` has one blob proof per blob, for deneb and electra blob
    sidecars. `cell_proofs` has 128 per blob for fulu data columns when the
    sender gave the EIP-7594 form, and is empty otherwise.
    """

    blobs: tuple[bytes, ...]
    commitments: tuple[bytes, ...]
    proofs: tuple[bytes, ...]
    cell_proofs: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class BlobsBundle:
    """The blobs of every blob transaction of a built payload, in transaction order.

    The proposer puts `commitments` in the beacon block body and builds the
    blob sidecars from `blobs` and `proofs`.
    """

    commitments: tuple[bytes, ...] = ()
    proofs: tuple[bytes, ...] = ()
    blobs: tuple[bytes, ...] = ()
    # 128 per blob, or empty when a transaction came without cell proofs.
    cell_proofs: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, sidecars: list[BlobSidecar]) -> BlobsBundle:
        with_cells = all(s.cell_proofs for s in sidecars)
        return cls(
            tuple(c for s in sidecars for c in s.commitments),
            tuple(p for s in sidecars for p in s.proofs),
            tuple(b for s in sidecars for b in s.blobs),
            tuple(p for s in sidecars for p in s.cell_proofs) if with_cells else (),
        )


def blob_base_fee(excess_blob_gas: int) -> int:
    """Return the blob base fee (Wei per blob gas) of a block with `excess_blob_gas` (Prague)."""
    fraction = BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE
    return fake_exponential(MIN_BLOB_BASE_FEE, excess_blob_gas, fraction)


def is_network_form(raw: bytes) -> bool:
    """Return True when `raw` is a blob transaction wrapped with its sidecar."""
    if len(raw) < 2 or raw[0] != BLOB_TRANSACTION_TYPE:
        return False
    try:
        item, end = decode_rlp(raw, 1)
    except (IndexError, ValueError):
        return False
    return isinstance(item, list) and len(item) in (4, 5) and isinstance(item[0], list)


def _item_bounds(data: bytes, position: int) -> tuple[int, int]:
    """Return where the RLP list at `position` starts its payload and where it ends."""
    first = data[position]
    if first < 0xC0:
        raise BlobSidecarError("expected an RLP list")
    if first < 0xF8:
        return position + 1, position + 1 + first - 0xC0
    size = first - 0xF7
    start = position + 1 + size
    return start, start + int.from_bytes(data[position + 1 : start], "big")


def split_network_form(raw: bytes) -> tuple[bytes, BlobSidecar]:
    """Return the canonical encoding of a network-form blob transaction and its sidecar.

    Checks the counts, sizes, versioned hashes and KZG proofs against the
    transaction body; raises BlobSidecarError naming what is wrong.
    """
    if not is_network_form(raw):
        raise BlobSidecarError("not a blob transaction with its sidecar")
    outer_start, outer_end = _item_bounds(raw, 1)
    if outer_end != len(raw):
        raise BlobSidecarError("trailing bytes after the blob transaction")
    _, body_end = _item_bounds(raw, outer_start)
    canonical = raw[:1] + raw[outer_start:body_end]
    items, _ = decode_rlp(raw, 1)
    if len(items) == 5:
        body, version, blobs, commitments, proofs = items
        if version != bytes([CELL_PROOFS_WRAPPER_VERSION]):
            raise BlobSidecarError(f"unknown blob sidecar version {version!r}")
    else:
        body, blobs, commitments, proofs = items
    if not all(isinstance(x, list) for x in (blobs, commitments, proofs)):
        raise BlobSidecarError("sidecar blobs, commitments and proofs must be lists")
    # Body fields (EIP-4844): chain_id, nonce, tip, max fee, gas, to, value, data,
    # access_list, max_fee_per_blob_gas, blob_versioned_hashes, y_parity, r, s.
    if len(body) != 14 or not isinstance(body[10], list):
        raise BlobSidecarError("blob transaction body has the wrong fields")
    versioned_hashes = body[10]
    if not versioned_hashes:
        raise BlobSidecarError("blob transaction carries no blobs")
    proofs_per_blob = CELLS_PER_EXT_BLOB if len(items) == 5 else 1
    if (
        not len(versioned_hashes)
        == len(blobs)
        == len(commitments)
        == (len(proofs) // proofs_per_blob)
        or len(proofs) % proofs_per_blob
    ):
        raise BlobSidecarError(
            f"{len(versioned_hashes)} versioned hashes but {len(blobs)} blobs, "
            f"{len(commitments)} commitments and {len(proofs)} proofs"
        )
    if any(not isinstance(b, bytes) or len(b) != BYTES_PER_BLOB for b in blobs):
        raise BlobSidecarError("a blob is not 131072 bytes")
    if any(not isinstance(c, bytes) or len(c) != 48 for c in commitments + proofs):
        raise BlobSidecarError("a commitment or proof is not 48 bytes")
    for index, (commitment, versioned_hash) in enumerate(
        zip(commitments, versioned_hashes, strict=True)
    ):
        if not isinstance(versioned_hash, bytes) or len(versioned_hash) != 32:
            raise BlobSidecarError(f"versioned hash {index} is not 32 bytes")
        if versioned_hash[:1] != b"\x01":
            raise BlobSidecarError(
                f"versioned hash {index} has version 0x{versioned_hash[:1].hex()}, expected "
                "0x01 (VERSIONED_HASH_VERSION_KZG)"
            )
        if kzg.kzg_commitment_to_versioned_hash(commitment) != versioned_hash:
            raise BlobSidecarError(f"commitment {index} does not match its versioned hash")
    try:
        if proofs_per_blob == 1:
            valid = kzg.verify_blob_kzg_proof_batch(blobs, commitments, proofs)
            sidecar = BlobSidecar(tuple(blobs), tuple(commitments), tuple(proofs))
        else:
            valid = _verify_cell_proofs(blobs, commitments, proofs)
            # Deneb and electra sidecars carry one proof per blob: compute it once here.
            blob_proofs = tuple(
                kzg.compute_blob_kzg_proof(blob, commitment)
                for blob, commitment in zip(blobs, commitments, strict=True)
            )
            sidecar = BlobSidecar(tuple(blobs), tuple(commitments), blob_proofs, tuple(proofs))
    except Exception as error:  # ckzg rejects points off the curve, bad field elements
        raise BlobSidecarError(f"KZG proofs do not verify: {error}") from None
    if not valid:
        raise BlobSidecarError("KZG proofs do not verify")
    return canonical, sidecar


def with_cell_proofs(sidecar: BlobSidecar) -> BlobSidecar:
    """Return `sidecar` with the cell proofs of its blobs, computing them when it has none.

    About 0.3 s a blob (ckzg on one core of a 2-core machine), so callers do this when a
    transaction arrives, not while a block is being built.
    """
    if sidecar.cell_proofs:
        return sidecar
    try:
        proofs = tuple(
            proof for blob in sidecar.blobs for proof in kzg.compute_cells_and_kzg_proofs(blob)[1]
        )
    except Exception as error:  # ckzg rejects blobs with field elements out of range
        raise BlobSidecarError(f"cell proofs cannot be computed: {error}") from None
    return BlobSidecar(sidecar.blobs, sidecar.commitments, sidecar.proofs, proofs)


def _verify_cell_proofs(
    blobs: list[bytes], commitments: list[bytes], cell_proofs: list[bytes]
) -> bool:
    cells: list[bytes] = []
    for blob in blobs:
        cells.extend(kzg.compute_cells(blob))
    count = len(cells)
    return kzg.verify_cell_kzg_proof_batch(
        [commitments[i // CELLS_PER_EXT_BLOB] for i in range(count)],
        [i % CELLS_PER_EXT_BLOB for i in range(count)],
        cells,
        cell_proofs,
    )
