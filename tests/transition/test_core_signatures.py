"""SignatureBatch: batched verification and the error that names the bad set."""

import pytest

from caplin.crypto import bls
from caplin.errors import BlockProcessingError
from caplin.transition.signatures import SignatureBatch

MESSAGE = b"\x11" * 32
OTHER_MESSAGE = b"\x22" * 32


def signed(key: int, message: bytes = MESSAGE) -> tuple[list[bytes], bytes, bytes]:
    return [bls.SkToPk(key)], message, bls.Sign(key, message)


def test_batch_accepts_valid_sets() -> None:
    sigs = SignatureBatch()
    for key in (1, 2, 3):
        sigs.add(*signed(key), "block", slot=key)
    aggregate = bls.Aggregate([bls.Sign(4, OTHER_MESSAGE), bls.Sign(5, OTHER_MESSAGE)])
    sigs.add([bls.SkToPk(4), bls.SkToPk(5)], OTHER_MESSAGE, aggregate, "attestation")
    assert len(sigs) == 4
    sigs.verify()
    assert len(sigs) == 0


def test_batch_names_first_bad_set() -> None:
    sigs = SignatureBatch()
    sigs.add(*signed(1), "block", slot=1)
    pubkeys, message, _ = signed(2)
    sigs.add(pubkeys, message, bls.Sign(3, message), "randao reveal", slot=2)
    with pytest.raises(BlockProcessingError) as raised:
        sigs.verify()
    assert raised.value.rule == "signature"
    assert "randao reveal" in str(raised.value)
    assert raised.value.fields == {"slot": 2}


def test_batch_rejects_malformed_signature() -> None:
    sigs = SignatureBatch()
    sigs.add([bls.SkToPk(1)], MESSAGE, b"\x00" * 96, "voluntary exit", validator_index=0)
    with pytest.raises(BlockProcessingError):
        sigs.verify()


def test_disabled_batch_checks_nothing() -> None:
    sigs = SignatureBatch(enabled=False)
    sigs.add([bls.SkToPk(1)], MESSAGE, b"\x00" * 96, "block")
    assert len(sigs) == 0
    sigs.verify()


def test_empty_pubkeys_need_infinity_signature() -> None:
    sigs = SignatureBatch()
    sigs.add([], MESSAGE, bls.G2_POINT_AT_INFINITY, "sync aggregate")
    sigs.verify()
    sigs.add([], MESSAGE, bls.Sign(1, MESSAGE), "sync aggregate")
    with pytest.raises(BlockProcessingError):
        sigs.verify()


def test_empty_batch_verifies() -> None:
    SignatureBatch().verify()


def test_extend_moves_sets() -> None:
    first, second = SignatureBatch(), SignatureBatch()
    first.add(*signed(1), "block", slot=1)
    second.add(*signed(2), "block", slot=2)
    first.extend(second)
    assert len(first) == 2
    assert len(second) == 0
    first.verify()
