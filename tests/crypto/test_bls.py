"""Tests of caplin.crypto.bls, each run on every backend."""

from collections.abc import Iterator

import pytest

from caplin.crypto import bls
from caplin.errors import CryptoError

MESSAGE = b"\x12" * 32
OTHER_MESSAGE = b"\x34" * 32
SECRET_KEYS = [1, 2, 3, 0x263DBD792F5B1BE47ED85F8938C0F29586AF0D3AC7B977F21C278FE1462040E3]


@pytest.fixture(params=bls.backend_names(), autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = bls.backend_name()
    bls.use_backend(request.param)
    yield request.param
    bls.use_backend(previous)


def negated_pubkey(sk: int) -> bytes:
    return bls.SkToPk(bls.CURVE_ORDER - sk)


def test_sign_verify_round_trip() -> None:
    for sk in SECRET_KEYS:
        pubkey = bls.SkToPk(sk)
        signature = bls.Sign(sk, MESSAGE)
        assert len(pubkey) == 48
        assert len(signature) == 96
        assert bls.Verify(pubkey, MESSAGE, signature)


def test_verify_rejects_wrong_message_and_key() -> None:
    signature = bls.Sign(SECRET_KEYS[0], MESSAGE)
    assert not bls.Verify(bls.SkToPk(SECRET_KEYS[0]), OTHER_MESSAGE, signature)
    assert not bls.Verify(bls.SkToPk(SECRET_KEYS[1]), MESSAGE, signature)


def test_backends_agree_on_bytes() -> None:
    results = {}
    for name in bls.backend_names():
        bls.use_backend(name)
        results[name] = (
            bls.SkToPk(SECRET_KEYS[3]),
            bls.Sign(SECRET_KEYS[3], MESSAGE),
            bls.Aggregate([bls.Sign(sk, MESSAGE) for sk in SECRET_KEYS]),
            bls.AggregatePKs([bls.SkToPk(sk) for sk in SECRET_KEYS]),
        )
    assert len(set(results.values())) == 1


def test_sign_matches_py_ecc() -> None:
    py_ecc_bls = pytest.importorskip("py_ecc.bls")
    oracle = py_ecc_bls.G2ProofOfPossession
    sk = SECRET_KEYS[3]
    assert bls.SkToPk(sk) == oracle.SkToPk(sk)
    assert bls.Sign(sk, MESSAGE) == oracle.Sign(sk, MESSAGE)


@pytest.mark.parametrize("sk", [0, -1, bls.CURVE_ORDER, bls.CURVE_ORDER + 5, 1.0, "1", True])
def test_invalid_secret_key_raises(sk: object) -> None:
    with pytest.raises(CryptoError):
        bls.SkToPk(sk)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        bls.Sign(sk, MESSAGE)  # type: ignore[arg-type]


def test_secret_key_not_in_error() -> None:
    secret = bls.CURVE_ORDER + 987654321
    with pytest.raises(CryptoError) as caught:
        bls.Sign(secret, MESSAGE)
    assert str(secret) not in str(caught.value)
    assert hex(secret)[2:] not in str(caught.value)


def test_sign_rejects_non_bytes_message() -> None:
    with pytest.raises(CryptoError):
        bls.Sign(1, "message")  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        bls.Sign(1, 32)  # type: ignore[arg-type]


def test_messages_accept_bytes_like() -> None:
    signature = bls.Sign(1, bytearray(MESSAGE))
    assert bls.Verify(bls.SkToPk(1), memoryview(MESSAGE), signature)


MALFORMED_PUBKEYS = [
    b"",
    b"\x00" * 48,
    bls.G1_POINT_AT_INFINITY,
    b"\xc0" + b"\x00" * 46 + b"\x01",
    bytes.fromhex("8123456789abcdef" * 6),
    None,
    "0x" + "aa" * 48,
]


@pytest.mark.parametrize("pubkey", MALFORMED_PUBKEYS)
def test_verify_false_on_malformed_pubkey(pubkey: object) -> None:
    signature = bls.Sign(1, MESSAGE)
    assert not bls.KeyValidate(pubkey)  # type: ignore[arg-type]
    assert not bls.Verify(pubkey, MESSAGE, signature)  # type: ignore[arg-type]
    assert not bls.FastAggregateVerify([pubkey], MESSAGE, signature)  # type: ignore[list-item]
    assert not bls.AggregateVerify([pubkey], [MESSAGE], signature)  # type: ignore[list-item]
    assert not bls.batch_verify([([pubkey], MESSAGE, signature)])  # type: ignore[list-item]


MALFORMED_SIGNATURES = [
    b"",
    b"\x00" * 96,
    b"\xc0" + b"\x00" * 94 + b"\x01",
    b"\xff" * 96,
    bls.Sign(1, MESSAGE)[:95],
    None,
]


@pytest.mark.parametrize("signature", MALFORMED_SIGNATURES)
def test_verify_false_on_malformed_signature(signature: object) -> None:
    pubkey = bls.SkToPk(1)
    assert not bls.Verify(pubkey, MESSAGE, signature)  # type: ignore[arg-type]
    assert not bls.FastAggregateVerify([pubkey], MESSAGE, signature)  # type: ignore[arg-type]
    assert not bls.AggregateVerify([pubkey], [MESSAGE], signature)  # type: ignore[arg-type]
    assert not bls.eth_fast_aggregate_verify([], MESSAGE, signature)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        bls.Aggregate([signature])  # type: ignore[list-item]


def test_verify_false_on_wrong_argument_types() -> None:
    signature = bls.Sign(1, MESSAGE)
    assert not bls.FastAggregateVerify(None, MESSAGE, signature)  # type: ignore[arg-type]
    assert not bls.FastAggregateVerify(bls.SkToPk(1), MESSAGE, signature)  # type: ignore[arg-type]
    assert not bls.AggregateVerify(None, None, signature)  # type: ignore[arg-type]
    assert not bls.eth_fast_aggregate_verify(None, MESSAGE, signature)  # type: ignore[arg-type]
    assert not bls.Verify(bls.SkToPk(1), None, signature)  # type: ignore[arg-type]
    assert not bls.batch_verify(None)  # type: ignore[arg-type]
    assert not bls.batch_verify([(bls.SkToPk(1), MESSAGE)])  # type: ignore[list-item]


def test_verify_infinity_pubkey_and_signature() -> None:
    assert not bls.Verify(bls.G1_POINT_AT_INFINITY, MESSAGE, bls.G2_POINT_AT_INFINITY)


def test_aggregate_and_fast_aggregate_verify() -> None:
    pubkeys = [bls.SkToPk(sk) for sk in SECRET_KEYS]
    aggregate = bls.Aggregate([bls.Sign(sk, MESSAGE) for sk in SECRET_KEYS])
    assert bls.FastAggregateVerify(pubkeys, MESSAGE, aggregate)
    assert bls.eth_fast_aggregate_verify(pubkeys, MESSAGE, aggregate)
    assert not bls.FastAggregateVerify(pubkeys[:-1], MESSAGE, aggregate)
    assert not bls.FastAggregateVerify(pubkeys + pubkeys[:1], MESSAGE, aggregate)
    assert bls.Verify(bls.AggregatePKs(pubkeys), MESSAGE, aggregate)


def test_aggregate_empty_raises() -> None:
    with pytest.raises(CryptoError):
        bls.Aggregate([])
    with pytest.raises(CryptoError):
        bls.AggregatePKs([])
    with pytest.raises(CryptoError):
        bls.eth_aggregate_pubkeys([])


def test_aggregate_names_bad_index() -> None:
    signatures = [bls.Sign(1, MESSAGE), b"\x00" * 96]
    with pytest.raises(CryptoError) as caught:
        bls.Aggregate(signatures)
    assert caught.value.fields["index"] == 1
    with pytest.raises(CryptoError) as caught_pubkey:
        bls.AggregatePKs([bls.SkToPk(1), bls.G1_POINT_AT_INFINITY])
    assert caught_pubkey.value.fields["index"] == 1


def test_aggregate_rejects_non_list() -> None:
    with pytest.raises(CryptoError):
        bls.Aggregate(None)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        bls.AggregatePKs(bls.SkToPk(1))  # type: ignore[arg-type]


def test_aggregate_of_infinity_signature() -> None:
    assert bls.Aggregate([bls.G2_POINT_AT_INFINITY]) == bls.G2_POINT_AT_INFINITY


def test_fast_aggregate_verify_empty_is_false() -> None:
    assert not bls.FastAggregateVerify([], MESSAGE, bls.G2_POINT_AT_INFINITY)


def test_pubkeys_summing_to_infinity_rejected() -> None:
    pubkeys = [bls.SkToPk(5), negated_pubkey(5)]
    signature = bls.Aggregate([bls.Sign(5, MESSAGE), bls.Sign(bls.CURVE_ORDER - 5, MESSAGE)])
    assert signature == bls.G2_POINT_AT_INFINITY
    assert bls.AggregatePKs(pubkeys) == bls.G1_POINT_AT_INFINITY
    assert not bls.FastAggregateVerify(pubkeys, MESSAGE, signature)
    assert not bls.batch_verify([(pubkeys, MESSAGE, signature)])


def test_eth_fast_aggregate_verify_empty() -> None:
    assert bls.eth_fast_aggregate_verify([], MESSAGE, bls.G2_POINT_AT_INFINITY)
    assert not bls.eth_fast_aggregate_verify([], MESSAGE, bls.Sign(1, MESSAGE))


def test_aggregate_verify_distinct_messages() -> None:
    messages = [bytes([index]) * 32 for index in range(len(SECRET_KEYS))]
    pubkeys = [bls.SkToPk(sk) for sk in SECRET_KEYS]
    signature = bls.Aggregate(
        [bls.Sign(sk, m) for sk, m in zip(SECRET_KEYS, messages, strict=True)]
    )
    assert bls.AggregateVerify(pubkeys, messages, signature)
    assert not bls.AggregateVerify(pubkeys, list(reversed(messages)), signature)
    assert not bls.AggregateVerify(pubkeys[:-1], messages, signature)
    assert not bls.AggregateVerify([], [], bls.G2_POINT_AT_INFINITY)


def make_sets(count: int, shared_message: bool = False) -> list[tuple[list[bytes], bytes, bytes]]:
    sets = []
    for index in range(count):
        secret_keys = [index * 3 + 1, index * 3 + 2]
        message = MESSAGE if shared_message else index.to_bytes(32, "little")
        signature = bls.Aggregate([bls.Sign(sk, message) for sk in secret_keys])
        sets.append(([bls.SkToPk(sk) for sk in secret_keys], message, signature))
    return sets


def test_batch_verify_valid_sets() -> None:
    assert bls.batch_verify(make_sets(6))
    assert bls.batch_verify(make_sets(20))
    assert bls.batch_verify(make_sets(6, shared_message=True))
    assert bls.batch_verify(make_sets(1))


def test_batch_verify_empty_is_true() -> None:
    assert bls.batch_verify([])


def test_batch_verify_one_bad_set() -> None:
    for bad in range(4):
        sets = make_sets(4)
        pubkeys, message, _ = sets[bad]
        sets[bad] = (pubkeys, message, bls.Sign(99, message))
        assert not bls.batch_verify(sets)
        results = [bls.FastAggregateVerify(*item) for item in sets]
        assert results.index(False) == bad


def test_batch_verify_one_bad_in_many() -> None:
    sets = make_sets(20) + make_sets(12, shared_message=True)
    assert bls.batch_verify(sets)
    for bad in (0, 13, 25):
        tampered = list(sets)
        pubkeys, message, _ = tampered[bad]
        tampered[bad] = (pubkeys, message, bls.Sign(99, message))
        assert not bls.batch_verify(tampered)


def test_batch_verify_swapped_signatures() -> None:
    # Each signature is wrong for its set, but the plain sum of all of them is right:
    # only the random weights catch this.
    sets = make_sets(2)
    (pubkeys_a, message_a, signature_a), (pubkeys_b, message_b, signature_b) = sets
    swapped = [(pubkeys_a, message_a, signature_b), (pubkeys_b, message_b, signature_a)]
    assert not bls.batch_verify(swapped)


def test_pubkey_cache_stores_valid_keys() -> None:
    bls.clear_pubkey_cache()
    pubkey = bls.SkToPk(7)
    assert bls.pubkey_cache_size() == 0
    assert bls.KeyValidate(pubkey)
    assert bls.pubkey_cache_size() == 1
    assert not bls.KeyValidate(b"\x00" * 48)
    assert bls.pubkey_cache_size() == 1
    assert bls.Verify(pubkey, MESSAGE, bls.Sign(7, MESSAGE))


def test_pubkey_cache_limit() -> None:
    bls.clear_pubkey_cache()
    try:
        bls.set_pubkey_cache_limit(2)
        for sk in range(1, 6):
            assert bls.KeyValidate(bls.SkToPk(sk))
        assert bls.pubkey_cache_size() == 2
        bls.set_pubkey_cache_limit(0)
        assert bls.pubkey_cache_size() == 0
        assert bls.KeyValidate(bls.SkToPk(1))
        assert bls.pubkey_cache_size() == 0
    finally:
        bls.set_pubkey_cache_limit(bls.DEFAULT_PUBKEY_CACHE_LIMIT)


def test_pubkey_cache_accepts_bytes_subclass() -> None:
    class Pubkey(bytes):
        pass

    bls.clear_pubkey_cache()
    pubkey = Pubkey(bls.SkToPk(8))
    assert bls.Verify(pubkey, MESSAGE, bls.Sign(8, MESSAGE))
    assert bls.Verify(bytes(pubkey), MESSAGE, bls.Sign(8, MESSAGE))
    assert bls.pubkey_cache_size() == 1


def test_unknown_backend_raises() -> None:
    with pytest.raises(CryptoError):
        bls.use_backend("milagro")


def test_accepts_ssz_byte_vectors() -> None:
    from remerkleable.byte_arrays import Bytes32, Bytes48, ByteVector

    pubkey = Bytes48(bls.SkToPk(9))
    signature = ByteVector[96](bls.Sign(9, MESSAGE))
    assert bls.Verify(pubkey, Bytes32(MESSAGE), signature)
    assert bls.FastAggregateVerify([pubkey], Bytes32(MESSAGE), signature)
    assert bls.batch_verify([([pubkey], Bytes32(MESSAGE), signature)])


def test_pubkey_cache_under_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pubkeys = [bls.SkToPk(sk) for sk in range(1, 41)]
    bls.clear_pubkey_cache()
    try:
        bls.set_pubkey_cache_limit(8)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(bls.KeyValidate, pubkeys * 5))
        assert all(results)
        assert bls.pubkey_cache_size() <= 8
    finally:
        bls.set_pubkey_cache_limit(bls.DEFAULT_PUBKEY_CACHE_LIMIT)
