"""KZG commitments for blobs: EIP-4844 (deneb) and PeerDAS cells (fulu), on ckzg.

Function names and arguments follow the consensus specs' polynomial-commitments
documents. Blobs, cells, commitments, proofs and field elements are bytes
(big-endian field elements of 32 bytes, compressed G1 points of 48 bytes); cell
indices are ints.

Errors: every function raises `CryptoError` where the spec's assertions fail.
Those are malformed inputs: a wrong length, a field element not below
`BLS_MODULUS`, a point not on the curve or not in G1, a cell index out of range,
or lists of unequal length. A verify function returns False only for well-formed
input whose proof is wrong.

The mainnet trusted setup (the output of the KZG ceremony) ships as
`data/trusted_setup.txt` and is loaded on first use, which took 3 to 7 seconds
on the 2-CPU test machine.
"""

import os
import threading
from collections.abc import Sequence
from hashlib import sha256
from pathlib import Path
from typing import Any, Final

import ckzg

from caplin.errors import ConfigError, CryptoError

BLS_MODULUS = 52435875175126190479447740508185965837690552500527637822603658699938581184513
BYTES_PER_FIELD_ELEMENT = 32
FIELD_ELEMENTS_PER_BLOB = 4096
BYTES_PER_BLOB = BYTES_PER_FIELD_ELEMENT * FIELD_ELEMENTS_PER_BLOB
BYTES_PER_COMMITMENT = 48
BYTES_PER_PROOF = 48
FIELD_ELEMENTS_PER_EXT_BLOB = 2 * FIELD_ELEMENTS_PER_BLOB
FIELD_ELEMENTS_PER_CELL = 64
BYTES_PER_CELL = BYTES_PER_FIELD_ELEMENT * FIELD_ELEMENTS_PER_CELL
CELLS_PER_EXT_BLOB = FIELD_ELEMENTS_PER_EXT_BLOB // FIELD_ELEMENTS_PER_CELL
KZG_ENDIANNESS: Final = "big"

FIAT_SHAMIR_PROTOCOL_DOMAIN = b"FSBLOBVERIFY_V1_"
RANDOM_CHALLENGE_KZG_CELL_BATCH_DOMAIN = b"RCKZGCBATCH__V1_"
VERSIONED_HASH_VERSION_KZG = b"\x01"

TRUSTED_SETUP_PATH = Path(__file__).with_name("data") / "trusted_setup.txt"


# ckzg precomputation level (0-15) for the setup's G1 points. Higher makes cell
# proofs faster at the cost of memory and load time: on the 2-CPU test machine,
# level 8 cut compute_cells_and_kzg_proofs from 1.21 s to 0.73 s for about 100 MB
# more memory. 0 keeps memory lowest.
def _precompute_from_environment() -> int:
    text = os.environ.get("CAPLIN_KZG_PRECOMPUTE", "0")
    if not text.isdigit() or not 0 <= int(text) <= 15:
        raise ConfigError("CAPLIN_KZG_PRECOMPUTE must be an integer from 0 to 15", value=text)
    return int(text)


_PRECOMPUTE = _precompute_from_environment()

_settings: Any = None
_settings_lock = threading.Lock()

# ckzg raises ValueError for wrong types or lengths and RuntimeError when the C
# library rejects an input (a point off the curve, a non-canonical field element).
_CKZG_ERRORS = (ValueError, RuntimeError, TypeError)


def load_trusted_setup(
    path: str | os.PathLike[str] | None = None, precompute: int | None = None
) -> Any:
    """Load the trusted setup now (by default the bundled mainnet one) and use it from then on.

    Raises:
        CryptoError: the file is missing or is not a trusted setup ckzg can read.
    """
    setup_path = Path(path) if path is not None else TRUSTED_SETUP_PATH
    level = _PRECOMPUTE if precompute is None else precompute
    with _settings_lock:
        return _load_locked(setup_path, level)


def _load_locked(path: Path, precompute: int) -> Any:
    global _settings
    try:
        _settings = ckzg.load_trusted_setup(str(path), precompute)
    except _CKZG_ERRORS as error:
        raise CryptoError(
            "failed to load KZG trusted setup", path=str(path), error=str(error)
        ) from None
    return _settings


def _trusted_setup() -> Any:
    if _settings is None:
        with _settings_lock:
            # Another thread may have loaded it while this one waited for the lock.
            if _settings is None:
                _load_locked(TRUSTED_SETUP_PATH, _PRECOMPUTE)
    return _settings


def _as_bytes(value: object, length: int, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise CryptoError(f"{what} must be bytes", type=type(value).__name__)
    data = bytes(value)
    if len(data) != length:
        raise CryptoError(f"{what} must be {length} bytes", length=len(data))
    return data


def _call(name: str, *args: Any) -> Any:
    """Call ckzg's function `name` with the trusted setup, turning its errors into CryptoError."""
    try:
        return getattr(ckzg, name)(*args, _trusted_setup())
    except _CKZG_ERRORS as error:
        raise CryptoError(f"{name} rejected its input", error=str(error)) from None


def _cell_indices(cell_indices: Sequence[int]) -> list[int]:
    indices = []
    for index in cell_indices:
        if isinstance(index, bool) or not isinstance(index, int):
            raise CryptoError("cell index must be an int", type=type(index).__name__)
        if not 0 <= index < CELLS_PER_EXT_BLOB:
            raise CryptoError("cell index out of range", index=index, limit=CELLS_PER_EXT_BLOB)
        indices.append(index)
    return indices


# --- EIP-4844 (deneb) --------------------------------------------------------------------


def blob_to_kzg_commitment(blob: bytes) -> bytes:
    """Return the 48-byte KZG commitment to `blob`."""
    return bytes(_call("blob_to_kzg_commitment", _as_bytes(blob, BYTES_PER_BLOB, "blob")))


def compute_kzg_proof(blob: bytes, z: bytes) -> tuple[bytes, bytes]:
    """Return `(proof, y)`: the proof that the blob's polynomial evaluates to y at z."""
    proof, y = _call(
        "compute_kzg_proof",
        _as_bytes(blob, BYTES_PER_BLOB, "blob"),
        _as_bytes(z, BYTES_PER_FIELD_ELEMENT, "z"),
    )
    return bytes(proof), bytes(y)


def compute_blob_kzg_proof(blob: bytes, commitment: bytes) -> bytes:
    """Return the proof of `blob` against `commitment`, at the Fiat-Shamir challenge."""
    return bytes(
        _call(
            "compute_blob_kzg_proof",
            _as_bytes(blob, BYTES_PER_BLOB, "blob"),
            _as_bytes(commitment, BYTES_PER_COMMITMENT, "commitment"),
        )
    )


def verify_kzg_proof(commitment: bytes, z: bytes, y: bytes, proof: bytes) -> bool:
    """Return whether `proof` shows that the committed polynomial evaluates to `y` at `z`."""
    return bool(
        _call(
            "verify_kzg_proof",
            _as_bytes(commitment, BYTES_PER_COMMITMENT, "commitment"),
            _as_bytes(z, BYTES_PER_FIELD_ELEMENT, "z"),
            _as_bytes(y, BYTES_PER_FIELD_ELEMENT, "y"),
            _as_bytes(proof, BYTES_PER_PROOF, "proof"),
        )
    )


def verify_blob_kzg_proof(blob: bytes, commitment: bytes, proof: bytes) -> bool:
    """Return whether `proof` shows that `commitment` commits to `blob`."""
    return bool(
        _call(
            "verify_blob_kzg_proof",
            _as_bytes(blob, BYTES_PER_BLOB, "blob"),
            _as_bytes(commitment, BYTES_PER_COMMITMENT, "commitment"),
            _as_bytes(proof, BYTES_PER_PROOF, "proof"),
        )
    )


def verify_blob_kzg_proof_batch(
    blobs: Sequence[bytes], commitments: Sequence[bytes], proofs: Sequence[bytes]
) -> bool:
    """Return whether every `proofs[i]` shows that `commitments[i]` commits to `blobs[i]`.

    An empty batch is valid.
    """
    if not len(blobs) == len(commitments) == len(proofs):
        raise CryptoError(
            "blob batch lists differ in length",
            blobs=len(blobs),
            commitments=len(commitments),
            proofs=len(proofs),
        )
    # ckzg takes each list as one concatenated byte string.
    return bool(
        _call(
            "verify_blob_kzg_proof_batch",
            b"".join(_as_bytes(blob, BYTES_PER_BLOB, "blob") for blob in blobs),
            b"".join(_as_bytes(c, BYTES_PER_COMMITMENT, "commitment") for c in commitments),
            b"".join(_as_bytes(proof, BYTES_PER_PROOF, "proof") for proof in proofs),
        )
    )


def kzg_commitment_to_versioned_hash(commitment: bytes) -> bytes:
    """Return the versioned hash of a commitment, as execution payloads list blobs."""
    data = _as_bytes(commitment, BYTES_PER_COMMITMENT, "commitment")
    return VERSIONED_HASH_VERSION_KZG + sha256(data).digest()[1:]


# --- PeerDAS cells (fulu) ----------------------------------------------------------------


def compute_cells(blob: bytes) -> list[bytes]:
    """Return the `CELLS_PER_EXT_BLOB` cells of the extended blob, in cell-index order."""
    cells = _call("compute_cells", _as_bytes(blob, BYTES_PER_BLOB, "blob"))
    return [bytes(cell) for cell in cells]


def compute_cells_and_kzg_proofs(blob: bytes) -> tuple[list[bytes], list[bytes]]:
    """Return the cells of the extended blob and the KZG proof of each."""
    cells, proofs = _call("compute_cells_and_kzg_proofs", _as_bytes(blob, BYTES_PER_BLOB, "blob"))
    return [bytes(cell) for cell in cells], [bytes(proof) for proof in proofs]


def verify_cell_kzg_proof_batch(
    commitments: Sequence[bytes],
    cell_indices: Sequence[int],
    cells: Sequence[bytes],
    proofs: Sequence[bytes],
) -> bool:
    """Return whether each `cells[i]` at `cell_indices[i]` belongs to `commitments[i]`.

    `proofs[i]` is the KZG proof of cell i. An empty batch is valid.
    """
    if not len(commitments) == len(cell_indices) == len(cells) == len(proofs):
        raise CryptoError(
            "cell batch lists differ in length",
            commitments=len(commitments),
            cell_indices=len(cell_indices),
            cells=len(cells),
            proofs=len(proofs),
        )
    return bool(
        _call(
            "verify_cell_kzg_proof_batch",
            [_as_bytes(c, BYTES_PER_COMMITMENT, "commitment") for c in commitments],
            _cell_indices(cell_indices),
            [_as_bytes(cell, BYTES_PER_CELL, "cell") for cell in cells],
            [_as_bytes(proof, BYTES_PER_PROOF, "proof") for proof in proofs],
        )
    )


def recover_cells_and_kzg_proofs(
    cell_indices: Sequence[int], cells: Sequence[bytes]
) -> tuple[list[bytes], list[bytes]]:
    """Rebuild every cell and proof of an extended blob from at least half of its cells.

    `cell_indices` must be distinct and ascending: ckzg rejects any other order, as
    the spec's vectors expect.
    """
    if len(cell_indices) != len(cells):
        raise CryptoError(
            "cell indices and cells differ in length",
            cell_indices=len(cell_indices),
            cells=len(cells),
        )
    all_cells, proofs = _call(
        "recover_cells_and_kzg_proofs",
        _cell_indices(cell_indices),
        [_as_bytes(cell, BYTES_PER_CELL, "cell") for cell in cells],
    )
    return [bytes(cell) for cell in all_cells], [bytes(proof) for proof in proofs]


# --- Fiat-Shamir challenges, computed here because ckzg does not expose them -----------


def hash_to_bls_field(data: bytes) -> int:
    """Return sha256(data) as a big-endian integer reduced modulo `BLS_MODULUS`."""
    return int.from_bytes(sha256(data).digest(), KZG_ENDIANNESS) % BLS_MODULUS


def bls_field_to_bytes(value: int) -> bytes:
    if not 0 <= value < BLS_MODULUS:
        raise CryptoError("field element is not below the BLS modulus")
    return value.to_bytes(BYTES_PER_FIELD_ELEMENT, KZG_ENDIANNESS)


def compute_challenge(blob: bytes, commitment: bytes) -> int:
    """Return the EIP-4844 Fiat-Shamir challenge z of `blob` and its `commitment`.

    The hash input is the domain, the blob's degree as 16 big-endian bytes, the
    blob and the commitment.
    """
    degree = FIELD_ELEMENTS_PER_BLOB.to_bytes(16, KZG_ENDIANNESS)
    return hash_to_bls_field(
        FIAT_SHAMIR_PROTOCOL_DOMAIN
        + degree
        + _as_bytes(blob, BYTES_PER_BLOB, "blob")
        + _as_bytes(commitment, BYTES_PER_COMMITMENT, "commitment")
    )


def compute_verify_cell_kzg_proof_batch_challenge(
    commitments: Sequence[bytes],
    commitment_indices: Sequence[int],
    cell_indices: Sequence[int],
    cosets_evals: Sequence[Sequence[int]],
    proofs: Sequence[bytes],
) -> int:
    """Return the challenge r that weights the cells of a batch cell-proof verification.

    `commitments` are the distinct commitments, and cell k belongs to
    `commitments[commitment_indices[k]]`. `cosets_evals[k]` are the
    `FIELD_ELEMENTS_PER_CELL` field elements of cell k, as ints.
    """
    count = len(cell_indices)
    if not len(commitment_indices) == count == len(cosets_evals) == len(proofs):
        raise CryptoError(
            "cell challenge lists differ in length",
            commitment_indices=len(commitment_indices),
            cell_indices=count,
            cosets_evals=len(cosets_evals),
            proofs=len(proofs),
        )

    def uint64(value: int) -> bytes:
        return value.to_bytes(8, KZG_ENDIANNESS)

    parts = [
        RANDOM_CHALLENGE_KZG_CELL_BATCH_DOMAIN,
        uint64(FIELD_ELEMENTS_PER_BLOB),
        uint64(FIELD_ELEMENTS_PER_CELL),
        uint64(len(commitments)),
        uint64(count),
    ]
    parts.extend(_as_bytes(c, BYTES_PER_COMMITMENT, "commitment") for c in commitments)
    for k in range(count):
        parts.append(uint64(commitment_indices[k]))
        parts.append(uint64(cell_indices[k]))
        if len(cosets_evals[k]) != FIELD_ELEMENTS_PER_CELL:
            raise CryptoError("coset must have FIELD_ELEMENTS_PER_CELL elements", cell=k)
        parts.extend(bls_field_to_bytes(value) for value in cosets_evals[k])
        parts.append(_as_bytes(proofs[k], BYTES_PER_PROOF, "proof"))
    return hash_to_bls_field(b"".join(parts))
