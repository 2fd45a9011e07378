"""The `bls` runner: general/phase0/bls and general/altair/bls, on every BLS backend.

Each case is `data.yaml` with `input` and `output`. An `output` of null means the
function must reject the input (raise, or return False for verify functions).
Every case runs once per backend of `caplin.crypto.bls`, so both backends are held
to the same vectors.
"""

from collections.abc import Callable
from typing import Any

from caplin.crypto import bls
from caplin.errors import CryptoError
from spec_tests.case import Case
from spec_tests.registry import register

# The hash_to_G2 vectors are the RFC 9380 test vectors of this suite, made with its
# test DST rather than the signature ciphersuite's.
_HASH_TO_G2_DST = b"QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_"

# Base field modulus of BLS12-381.
_P = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f624"
    "1eabfffeb153ffffb9feffffffffaaab",
    16,
)

Fp2 = tuple[int, int]  # c0 + c1 * u with u^2 = -1


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _hex_or_none(value: str | None) -> bytes | None:
    return None if value is None else _hex(value)


def _on_every_backend(check: Callable[[], None]) -> None:
    """Run `check` with each BLS backend selected; raise naming every backend that failed."""
    failures = []
    previous = bls.backend_name()
    for name in bls.backend_names():
        bls.use_backend(name)
        try:
            check()
        except AssertionError as error:
            failures.append(f"[{name}] {error}")
        finally:
            bls.use_backend(previous)
    if failures:
        raise AssertionError("; ".join(failures))


def _expect_bytes(function: Callable[[], bytes], expected: bytes | None) -> None:
    """Compare the bytes `function` returns with `expected`, where None means it must raise."""
    try:
        actual = function()
    except CryptoError as error:
        if expected is not None:
            raise AssertionError(f"raised {error}, expected 0x{expected.hex()}") from None
        return
    if expected is None:
        raise AssertionError(f"returned 0x{actual.hex()}, expected a CryptoError")
    if actual != expected:
        raise AssertionError(f"returned 0x{actual.hex()}, expected 0x{expected.hex()}")


def _expect_bool(actual: bool, expected: bool) -> None:
    if actual is not expected:
        raise AssertionError(f"returned {actual}, expected {expected}")


@register("bls", "sign")
def run_sign(case: Case) -> None:
    data = case.yaml("data")
    sk = int.from_bytes(_hex(data["input"]["privkey"]), "big")
    message = _hex(data["input"]["message"])
    expected = _hex_or_none(data["output"])
    _on_every_backend(lambda: _expect_bytes(lambda: bls.Sign(sk, message), expected))


@register("bls", "verify")
def run_verify(case: Case) -> None:
    data = case.yaml("data")
    pubkey, message, signature = (
        _hex(data["input"][key]) for key in ("pubkey", "message", "signature")
    )
    _on_every_backend(lambda: _expect_bool(bls.Verify(pubkey, message, signature), data["output"]))


@register("bls", "aggregate")
def run_aggregate(case: Case) -> None:
    data = case.yaml("data")
    signatures = [_hex(signature) for signature in data["input"]]
    expected = _hex_or_none(data["output"])
    _on_every_backend(lambda: _expect_bytes(lambda: bls.Aggregate(signatures), expected))


@register("bls", "fast_aggregate_verify")
def run_fast_aggregate_verify(case: Case) -> None:
    _run_fast_aggregate_verify(case, bls.FastAggregateVerify)


@register("bls", "eth_fast_aggregate_verify")
def run_eth_fast_aggregate_verify(case: Case) -> None:
    _run_fast_aggregate_verify(case, bls.eth_fast_aggregate_verify)


def _run_fast_aggregate_verify(case: Case, function: Callable[..., bool]) -> None:
    data = case.yaml("data")
    pubkeys = [_hex(pubkey) for pubkey in data["input"]["pubkeys"]]
    message = _hex(data["input"]["message"])
    signature = _hex(data["input"]["signature"])
    _on_every_backend(lambda: _expect_bool(function(pubkeys, message, signature), data["output"]))


@register("bls", "aggregate_verify")
def run_aggregate_verify(case: Case) -> None:
    data = case.yaml("data")
    pubkeys = [_hex(pubkey) for pubkey in data["input"]["pubkeys"]]
    messages = [_hex(message) for message in data["input"]["messages"]]
    signature = _hex(data["input"]["signature"])
    _on_every_backend(
        lambda: _expect_bool(bls.AggregateVerify(pubkeys, messages, signature), data["output"])
    )


@register("bls", "batch_verify")
def run_batch_verify(case: Case) -> None:
    data = case.yaml("data")
    pubkeys = [_hex(pubkey) for pubkey in data["input"]["pubkeys"]]
    messages = [_hex(message) for message in data["input"]["messages"]]
    signatures = [_hex(signature) for signature in data["input"]["signatures"]]
    if not len(pubkeys) == len(messages) == len(signatures):
        raise AssertionError("case has lists of unequal length")
    sets = [
        ([pubkey], message, signature)
        for pubkey, message, signature in zip(pubkeys, messages, signatures, strict=True)
    ]
    _on_every_backend(lambda: _expect_bool(bls.batch_verify(sets), data["output"]))


@register("bls", "eth_aggregate_pubkeys")
def run_eth_aggregate_pubkeys(case: Case) -> None:
    data = case.yaml("data")
    pubkeys = [_hex(pubkey) for pubkey in data["input"]]
    expected = _hex_or_none(data["output"])
    _on_every_backend(lambda: _expect_bytes(lambda: bls.eth_aggregate_pubkeys(pubkeys), expected))


@register("bls", "deserialization_G1")
def run_deserialization_g1(case: Case) -> None:
    data = case.yaml("data")
    pubkey = _hex(data["input"]["pubkey"])

    # The vectors accept the point at infinity here, which KeyValidate rejects.
    def check() -> None:
        accepted = pubkey == bls.G1_POINT_AT_INFINITY or bls.KeyValidate(pubkey)
        _expect_bool(accepted, data["output"])

    _on_every_backend(check)


@register("bls", "deserialization_G2")
def run_deserialization_g2(case: Case) -> None:
    data = case.yaml("data")
    signature = _hex(data["input"]["signature"])

    def check() -> None:
        try:
            bls.Aggregate([signature])
        except CryptoError:
            accepted = False
        else:
            accepted = True
        _expect_bool(accepted, data["output"])

    _on_every_backend(check)


@register("bls", "hash_to_G2")
def run_hash_to_g2(case: Case) -> None:
    """Compare the backend's hash-to-curve output with the affine point of the vector.

    The backend interface returns compressed points only. So the expected point
    is checked to be on the curve and then compressed here (x plus the sign of y),
    and that encoding fixes a point of the curve.
    """
    data = case.yaml("data")
    message = data["input"]["msg"].encode()
    x = _parse_fp2(data["output"]["x"])
    y = _parse_fp2(data["output"]["y"])
    if not _on_g2_curve(x, y):
        raise AssertionError("expected point of the vector is not on the G2 curve")
    expected = _compress_g2(x, y)

    def check() -> None:
        backend: Any = bls._backend
        actual = bytes(backend.g2_to_bytes(backend.hash_to_g2(message, _HASH_TO_G2_DST)))
        if actual != expected:
            raise AssertionError(f"hash is 0x{actual.hex()}, expected 0x{expected.hex()}")

    _on_every_backend(check)


def _parse_fp2(text: str) -> Fp2:
    c0, c1 = (int(part, 16) for part in text.split(","))
    return c0, c1


def _fp2_mul(a: Fp2, b: Fp2) -> Fp2:
    return (a[0] * b[0] - a[1] * b[1]) % _P, (a[0] * b[1] + a[1] * b[0]) % _P


def _on_g2_curve(x: Fp2, y: Fp2) -> bool:
    # E2: y^2 = x^3 + 4 * (1 + u)
    left = _fp2_mul(y, y)
    x_cubed = _fp2_mul(_fp2_mul(x, x), x)
    right = ((x_cubed[0] + 4) % _P, (x_cubed[1] + 4) % _P)
    return left == right


def _compress_g2(x: Fp2, y: Fp2) -> bytes:
    # ZCash format: x.c1 then x.c0, with flag bits compressed (0x80) and sign (0x20).
    # The sign bit is set when y is the larger of y and -y, comparing c1 first.
    half = (_P - 1) // 2
    y_is_larger = y[1] > half if y[1] != 0 else y[0] > half
    encoded = bytearray(x[1].to_bytes(48, "big") + x[0].to_bytes(48, "big"))
    encoded[0] |= 0x80 | (0x20 if y_is_larger else 0)
    return bytes(encoded)
