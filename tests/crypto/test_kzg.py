"""Tests of caplin.crypto.kzg on the bundled mainnet trusted setup."""

import random

import pytest

from caplin.crypto import kzg
from caplin.errors import CryptoError


def random_blob(seed: int) -> bytes:
    rng = random.Random(seed)
    elements = [rng.randrange(kzg.BLS_MODULUS) for _ in range(kzg.FIELD_ELEMENTS_PER_BLOB)]
    return b"".join(kzg.bls_field_to_bytes(element) for element in elements)


@pytest.fixture(scope="module")
def blob() -> bytes:
    return random_blob(1)


@pytest.fixture(scope="module")
def commitment(blob: bytes) -> bytes:
    return kzg.blob_to_kzg_commitment(blob)


@pytest.fixture(scope="module")
def cells_and_proofs(blob: bytes) -> tuple[list[bytes], list[bytes]]:
    return kzg.compute_cells_and_kzg_proofs(blob)


def test_blob_proof_round_trip(blob: bytes, commitment: bytes) -> None:
    proof = kzg.compute_blob_kzg_proof(blob, commitment)
    assert kzg.verify_blob_kzg_proof(blob, commitment, proof)
    assert kzg.verify_blob_kzg_proof_batch([blob], [commitment], [proof])


def test_blob_proof_rejects_other_blob(blob: bytes, commitment: bytes) -> None:
    other = random_blob(2)
    proof = kzg.compute_blob_kzg_proof(blob, commitment)
    assert not kzg.verify_blob_kzg_proof(other, commitment, proof)
    other_commitment = kzg.blob_to_kzg_commitment(other)
    other_proof = kzg.compute_blob_kzg_proof(other, other_commitment)
    assert kzg.verify_blob_kzg_proof_batch(
        [blob, other], [commitment, other_commitment], [proof, other_proof]
    )
    assert not kzg.verify_blob_kzg_proof_batch(
        [blob, other], [commitment, other_commitment], [other_proof, proof]
    )


def test_blob_proof_is_proof_at_challenge(blob: bytes, commitment: bytes) -> None:
    # compute_blob_kzg_proof opens the polynomial at compute_challenge, so the
    # Python challenge must match the one ckzg derives internally.
    z = kzg.bls_field_to_bytes(kzg.compute_challenge(blob, commitment))
    proof, y = kzg.compute_kzg_proof(blob, z)
    assert proof == kzg.compute_blob_kzg_proof(blob, commitment)
    assert kzg.verify_kzg_proof(commitment, z, y, proof)
    wrong_y = kzg.bls_field_to_bytes((int.from_bytes(y, "big") + 1) % kzg.BLS_MODULUS)
    assert not kzg.verify_kzg_proof(commitment, z, wrong_y, proof)


def test_empty_batches_are_valid() -> None:
    assert kzg.verify_blob_kzg_proof_batch([], [], [])
    assert kzg.verify_cell_kzg_proof_batch([], [], [], [])


def test_malformed_blob_raises(blob: bytes, commitment: bytes) -> None:
    non_canonical = kzg.BLS_MODULUS.to_bytes(32, "big") + blob[32:]
    for bad in (blob[:-1], blob + b"\x00", non_canonical, "blob", None):
        with pytest.raises(CryptoError):
            kzg.blob_to_kzg_commitment(bad)  # type: ignore[arg-type]
        with pytest.raises(CryptoError):
            kzg.verify_blob_kzg_proof(bad, commitment, commitment)  # type: ignore[arg-type]


def test_malformed_points_raise(blob: bytes, commitment: bytes) -> None:
    proof = kzg.compute_blob_kzg_proof(blob, commitment)
    not_on_curve = b"\x80" + b"\x00" * 46 + b"\x01"
    for bad in (commitment[:47], b"\x00" * 48, not_on_curve):
        with pytest.raises(CryptoError):
            kzg.verify_blob_kzg_proof(blob, bad, proof)
        with pytest.raises(CryptoError):
            kzg.verify_blob_kzg_proof(blob, commitment, bad)


def test_batch_length_mismatch_raises(blob: bytes, commitment: bytes) -> None:
    proof = kzg.compute_blob_kzg_proof(blob, commitment)
    with pytest.raises(CryptoError):
        kzg.verify_blob_kzg_proof_batch([blob], [commitment], [proof, proof])
    with pytest.raises(CryptoError):
        kzg.verify_cell_kzg_proof_batch([commitment], [0, 1], [b"\x00" * 2048], [proof])


def test_cells_verify_and_recover(
    commitment: bytes, cells_and_proofs: tuple[list[bytes], list[bytes]]
) -> None:
    cells, proofs = cells_and_proofs
    assert len(cells) == kzg.CELLS_PER_EXT_BLOB
    assert all(len(cell) == kzg.BYTES_PER_CELL for cell in cells)
    indices = [0, 5, 127]
    assert kzg.verify_cell_kzg_proof_batch(
        [commitment] * 3, indices, [cells[i] for i in indices], [proofs[i] for i in indices]
    )
    assert not kzg.verify_cell_kzg_proof_batch(
        [commitment] * 2, [0, 1], [cells[1], cells[0]], [proofs[0], proofs[1]]
    )

    kept = list(range(1, kzg.CELLS_PER_EXT_BLOB, 2))
    recovered_cells, recovered_proofs = kzg.recover_cells_and_kzg_proofs(
        kept, [cells[i] for i in kept]
    )
    assert recovered_cells == cells
    assert recovered_proofs == proofs


def test_compute_cells_matches_proof_version(
    blob: bytes, cells_and_proofs: tuple[list[bytes], list[bytes]]
) -> None:
    assert kzg.compute_cells(blob) == cells_and_proofs[0]


def test_recover_rejects_too_few_cells(cells_and_proofs: tuple[list[bytes], list[bytes]]) -> None:
    cells, _ = cells_and_proofs
    kept = list(range(kzg.CELLS_PER_EXT_BLOB // 2 - 1))
    with pytest.raises(CryptoError):
        kzg.recover_cells_and_kzg_proofs(kept, [cells[i] for i in kept])


@pytest.mark.parametrize("index", [-1, kzg.CELLS_PER_EXT_BLOB, True, "0"])
def test_cell_index_out_of_range(
    index: object, commitment: bytes, cells_and_proofs: tuple[list[bytes], list[bytes]]
) -> None:
    cells, proofs = cells_and_proofs
    with pytest.raises(CryptoError):
        kzg.verify_cell_kzg_proof_batch([commitment], [index], [cells[0]], [proofs[0]])  # type: ignore[list-item]


def test_cell_challenge_is_deterministic(
    commitment: bytes, cells_and_proofs: tuple[list[bytes], list[bytes]]
) -> None:
    cells, proofs = cells_and_proofs
    evals = [
        [int.from_bytes(cell[i : i + 32], "big") for i in range(0, kzg.BYTES_PER_CELL, 32)]
        for cell in cells[:2]
    ]
    first = kzg.compute_verify_cell_kzg_proof_batch_challenge(
        [commitment], [0, 0], [0, 1], evals, proofs[:2]
    )
    again = kzg.compute_verify_cell_kzg_proof_batch_challenge(
        [commitment], [0, 0], [0, 1], evals, proofs[:2]
    )
    swapped = kzg.compute_verify_cell_kzg_proof_batch_challenge(
        [commitment], [0, 0], [1, 0], evals, proofs[:2]
    )
    assert first == again
    assert first != swapped
    assert 0 <= first < kzg.BLS_MODULUS


def test_cell_challenge_rejects_bad_coset(commitment: bytes) -> None:
    with pytest.raises(CryptoError):
        kzg.compute_verify_cell_kzg_proof_batch_challenge(
            [commitment], [0], [0], [[0] * 63], [commitment]
        )
    with pytest.raises(CryptoError):
        kzg.compute_verify_cell_kzg_proof_batch_challenge(
            [commitment], [0], [0], [[kzg.BLS_MODULUS] * 64], [commitment]
        )


def test_versioned_hash(commitment: bytes) -> None:
    versioned = kzg.kzg_commitment_to_versioned_hash(commitment)
    assert len(versioned) == 32
    assert versioned[0] == 1
    with pytest.raises(CryptoError):
        kzg.kzg_commitment_to_versioned_hash(commitment[:47])


def test_missing_trusted_setup_raises(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Loading a bad file must fail without replacing the setup in use.
    with pytest.raises(CryptoError):
        kzg.load_trusted_setup(tmp_path / "missing.txt")
    assert len(kzg.blob_to_kzg_commitment(bytes(kzg.BYTES_PER_BLOB))) == 48


def test_bundled_setup_is_mainnet_ceremony() -> None:
    import hashlib

    # The KZG ceremony's mainnet output in ckzg's text format: 4096 G1 points in
    # Lagrange form, 65 G2 points, then 4096 G1 points in monomial form.
    data = kzg.TRUSTED_SETUP_PATH.read_bytes()
    lines = data.decode().split()
    assert lines[:2] == ["4096", "65"]
    assert len(lines) == 2 + 4096 + 65 + 4096
    digest = hashlib.sha256(data).hexdigest()
    assert digest == "d39b9f2d047cc9dca2de58f264b6a09448ccd34db967881a6713eacacf0f26b7"


def test_recover_rejects_duplicate_and_unsorted_indices(
    cells_and_proofs: tuple[list[bytes], list[bytes]],
) -> None:
    cells, _ = cells_and_proofs
    half = kzg.CELLS_PER_EXT_BLOB // 2
    duplicated = [0] + list(range(half))
    with pytest.raises(CryptoError):
        kzg.recover_cells_and_kzg_proofs(duplicated, [cells[i] for i in duplicated])
    unsorted = list(reversed(range(half)))
    with pytest.raises(CryptoError):
        kzg.recover_cells_and_kzg_proofs(unsorted, [cells[i] for i in unsorted])


def test_non_canonical_z_raises(blob: bytes) -> None:
    with pytest.raises(CryptoError):
        kzg.compute_kzg_proof(blob, kzg.BLS_MODULUS.to_bytes(32, "big"))
    with pytest.raises(CryptoError):
        kzg.compute_kzg_proof(blob, b"\x00" * 31)
