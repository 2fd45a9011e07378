"""The `kzg` runner: general/deneb/kzg and general/fulu/kzg.

Each case is `data.yaml` with `input` and `output`. An `output` of null means the
function must reject the input, which `caplin.crypto.kzg` does by raising
`CryptoError`. Any other output must be returned exactly.
"""

from collections.abc import Callable
from typing import Any

from caplin.crypto import kzg
from caplin.errors import CryptoError
from spec_tests.case import Case
from spec_tests.registry import register


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _hex_list(values: list[str]) -> list[bytes]:
    return [_hex(value) for value in values]


def _encode(value: Any) -> Any:
    """Turn a result into the vectors' form: bytes as 0x-hex, tuples as lists."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 120 else text[:120] + "..."


def _expect(function: Callable[[], Any], expected: Any) -> None:
    """Compare the result of `function` with the vector's output (None: it must raise)."""
    try:
        actual = _encode(function())
    except CryptoError as error:
        if expected is not None:
            raise AssertionError(f"raised {error}, expected {_short(expected)}") from None
        return
    if expected is None:
        raise AssertionError(f"returned {_short(actual)}, expected a CryptoError")
    if actual != expected:
        raise AssertionError(f"returned {_short(actual)}, expected {_short(expected)}")


def _data(case: Case) -> tuple[dict[str, Any], Any]:
    data = case.yaml("data")
    return data["input"], data["output"]


@register("kzg", "blob_to_kzg_commitment")
def run_blob_to_kzg_commitment(case: Case) -> None:
    given, expected = _data(case)
    _expect(lambda: kzg.blob_to_kzg_commitment(_hex(given["blob"])), expected)


@register("kzg", "compute_kzg_proof")
def run_compute_kzg_proof(case: Case) -> None:
    given, expected = _data(case)
    _expect(lambda: kzg.compute_kzg_proof(_hex(given["blob"]), _hex(given["z"])), expected)


@register("kzg", "compute_blob_kzg_proof")
def run_compute_blob_kzg_proof(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: kzg.compute_blob_kzg_proof(_hex(given["blob"]), _hex(given["commitment"])),
        expected,
    )


@register("kzg", "verify_kzg_proof")
def run_verify_kzg_proof(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: kzg.verify_kzg_proof(
            _hex(given["commitment"]), _hex(given["z"]), _hex(given["y"]), _hex(given["proof"])
        ),
        expected,
    )


@register("kzg", "verify_blob_kzg_proof")
def run_verify_blob_kzg_proof(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: kzg.verify_blob_kzg_proof(
            _hex(given["blob"]), _hex(given["commitment"]), _hex(given["proof"])
        ),
        expected,
    )


@register("kzg", "verify_blob_kzg_proof_batch")
def run_verify_blob_kzg_proof_batch(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: kzg.verify_blob_kzg_proof_batch(
            _hex_list(given["blobs"]), _hex_list(given["commitments"]), _hex_list(given["proofs"])
        ),
        expected,
    )


@register("kzg", "compute_challenge")
def run_compute_challenge(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: _field_bytes(kzg.compute_challenge(_hex(given["blob"]), _hex(given["commitment"]))),
        expected,
    )


@register("kzg", "compute_cells")
def run_compute_cells(case: Case) -> None:
    given, expected = _data(case)
    _expect(lambda: kzg.compute_cells(_hex(given["blob"])), expected)


@register("kzg", "compute_cells_and_kzg_proofs")
def run_compute_cells_and_kzg_proofs(case: Case) -> None:
    given, expected = _data(case)
    _expect(lambda: kzg.compute_cells_and_kzg_proofs(_hex(given["blob"])), expected)


@register("kzg", "verify_cell_kzg_proof_batch")
def run_verify_cell_kzg_proof_batch(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: kzg.verify_cell_kzg_proof_batch(
            _hex_list(given["commitments"]),
            given["cell_indices"],
            _hex_list(given["cells"]),
            _hex_list(given["proofs"]),
        ),
        expected,
    )


@register("kzg", "recover_cells_and_kzg_proofs")
def run_recover_cells_and_kzg_proofs(case: Case) -> None:
    given, expected = _data(case)
    _expect(
        lambda: kzg.recover_cells_and_kzg_proofs(given["cell_indices"], _hex_list(given["cells"])),
        expected,
    )


@register("kzg", "compute_verify_cell_kzg_proof_batch_challenge")
def run_compute_verify_cell_kzg_proof_batch_challenge(case: Case) -> None:
    given, expected = _data(case)
    cosets_evals = [
        [int.from_bytes(_hex(value), "big") for value in coset] for coset in given["cosets_evals"]
    ]
    _expect(
        lambda: _field_bytes(
            kzg.compute_verify_cell_kzg_proof_batch_challenge(
                _hex_list(given["commitments"]),
                given["commitment_indices"],
                given["cell_indices"],
                cosets_evals,
                _hex_list(given["proofs"]),
            )
        ),
        expected,
    )


def _field_bytes(value: int) -> bytes:
    return kzg.bls_field_to_bytes(value)
