"""BLS signatures of the consensus layer (the IETF BLS draft, proof-of-possession scheme).

Public keys are compressed G1 points (48 bytes), signatures compressed G2 points
(96 bytes), messages arbitrary bytes, and secret keys ints in [1, r), where r is
the order of the BLS12-381 subgroups. The ciphersuite is
BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_, as the consensus specs require.

Function names follow the consensus specs. The verify functions (`Verify`,
`FastAggregateVerify`, `AggregateVerify`, `KeyValidate`, `eth_fast_aggregate_verify`,
`batch_verify`) return False on malformed input (wrong lengths, invalid points,
wrong argument types) instead of raising. `SkToPk`, `Sign`, `Aggregate`,
`AggregatePKs` and `eth_aggregate_pubkeys` raise `CryptoError` naming the problem.

Two backends implement the group operations: blst through pyblst (the default)
and py-arkworks-bls12381. Choose one with `use_backend(name)` or the environment
variable `CAPLIN_BLS_BACKEND` (`blst` or `arkworks`), read at import.

Decompressed, validated public keys are cached by their 48-byte encoding, so
verifying signatures of the same validators again skips decompression and the
subgroup check. `set_pubkey_cache_limit` bounds the cache (0 disables it).
"""

import functools
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from types import ModuleType
from typing import Any

from caplin.crypto import _arkworks, _blst
from caplin.errors import CryptoError

DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

# Order of the G1 and G2 subgroups; secret keys are scalars modulo this.
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

G2_POINT_AT_INFINITY = b"\xc0" + b"\x00" * 95
G1_POINT_AT_INFINITY = b"\xc0" + b"\x00" * 47

PUBKEY_LENGTH = 48
SIGNATURE_LENGTH = 96

# Room for every key of the mainnet validator registry, estimated at about 2 million
# entries in 2026. One entry costs about 300 bytes (measured with both backends), so
# a full cache takes about 600 MB.
DEFAULT_PUBKEY_CACHE_LIMIT = 1 << 21

# Bits of the random scalars of batch verification: a forged set passes with
# probability about 2**-64.
_BATCH_SCALAR_BITS = 64

_BACKENDS: dict[str, ModuleType] = {_blst.NAME: _blst, _arkworks.NAME: _arkworks}

Point = Any  # a group element of the active backend

PubkeySet = tuple[Sequence[bytes], bytes, bytes]


class _PubkeyCache:
    """Validated G1 points by compressed public key, one map per backend.

    Only keys that pass `KeyValidate` are stored. When the limit is reached the
    oldest entries are evicted first. Lookups take no lock (a dict read is atomic
    in CPython), and insertions take one so that threads never evict concurrently.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._points: dict[str, dict[bytes, Point]] = {name: {} for name in _BACKENDS}
        self._lock = threading.Lock()

    def get(self, backend: str, pubkey: bytes) -> Point | None:
        return self._points[backend].get(pubkey)

    def put(self, backend: str, pubkey: bytes, point: Point) -> None:
        if self.limit <= 0:
            return
        points = self._points[backend]
        with self._lock:
            while points and len(points) >= self.limit:
                del points[next(iter(points))]
            points[pubkey] = point

    def clear(self) -> None:
        with self._lock:
            for points in self._points.values():
                points.clear()

    def size(self, backend: str) -> int:
        return len(self._points[backend])


_backend: ModuleType = _blst
_pubkey_cache = _PubkeyCache(DEFAULT_PUBKEY_CACHE_LIMIT)


# --- backend and cache control ---------------------------------------------------------


def use_backend(name: str) -> None:
    """Select the group-operation backend by name: `blst` or `arkworks`.

    Raises:
        CryptoError: `name` is not a known backend.
    """
    global _backend
    try:
        _backend = _BACKENDS[name]
    except KeyError:
        raise CryptoError(
            "unknown BLS backend", backend=name, known=",".join(sorted(_BACKENDS))
        ) from None


def backend_name() -> str:
    return str(_backend.NAME)


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def set_pubkey_cache_limit(limit: int) -> None:
    """Bound the number of cached public keys per backend; 0 turns caching off."""
    _pubkey_cache.limit = limit
    if limit <= 0:
        _pubkey_cache.clear()


def clear_pubkey_cache() -> None:
    _pubkey_cache.clear()


def pubkey_cache_size() -> int:
    """Number of public keys cached for the active backend."""
    return _pubkey_cache.size(_backend.NAME)


# --- decoding helpers: None means malformed ---------------------------------------------


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value if type(value) is bytes else bytes(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return None


def _pubkey_point(pubkey: object) -> Point | None:
    """Decompress a public key that passes `KeyValidate`, through the cache."""
    data = _as_bytes(pubkey)
    if data is None or len(data) != PUBKEY_LENGTH:
        return None
    backend = _backend
    point = _pubkey_cache.get(backend.NAME, data)
    if point is not None:
        return point

    try:
        point = backend.g1_from_bytes(data)
    except ValueError:
        return None
    if point == backend.g1_identity():
        return None
    _pubkey_cache.put(backend.NAME, data, point)
    return point


def _signature_point(signature: object) -> Point | None:
    data = _as_bytes(signature)
    if data is None or len(data) != SIGNATURE_LENGTH:
        return None
    try:
        return _backend.g2_from_bytes(data)
    except ValueError:
        return None


def _aggregate_pubkey_points(pubkeys: Sequence[object]) -> Point | None:
    """Sum valid public keys; None if there are none or any is invalid."""
    if isinstance(pubkeys, (bytes, bytearray, memoryview, str)) or len(pubkeys) == 0:
        return None
    total = None
    for pubkey in pubkeys:
        point = _pubkey_point(pubkey)
        if point is None:
            return None
        total = point if total is None else total + point
    return total


def _hash_to_point(message: bytes) -> Point:
    return _hash_to_point_cached(_backend.NAME, message)


@lru_cache(maxsize=4096)
def _hash_to_point_cached(backend: str, message: bytes) -> Point:
    # Many attestations of one slot sign the same root, so recent hashes are kept.
    return _BACKENDS[backend].hash_to_g2(message, DST)


def _as_sequence(values: object, what: str) -> Sequence[object]:
    if isinstance(values, (bytes, bytearray, memoryview, str)) or not isinstance(values, Sequence):
        raise CryptoError(f"{what} must be a list", type=type(values).__name__)
    return values


def _check_secret_key(sk: object) -> int:
    # The value is never put into the error: it is a secret.
    if isinstance(sk, bool) or not isinstance(sk, int):
        raise CryptoError("secret key must be an int", type=type(sk).__name__)
    if not 0 < sk < CURVE_ORDER:
        raise CryptoError("secret key is out of range, it must be in [1, r)")
    return int(sk)


def _core_verify(pubkey_point: Point, message: bytes, signature_point: Point) -> bool:
    backend = _backend
    return bool(
        backend.pairings_equal(
            [(pubkey_point, _hash_to_point(message))],
            [(backend.g1_generator(), signature_point)],
        )
    )


def _false_on_malformed(function: Callable[..., bool]) -> Callable[..., bool]:
    """Make a verify function return False where malformed arguments would raise.

    Wrong argument types (None for a list, a set that is not a 3-tuple) raise
    TypeError or ValueError deep inside. The verify contract is False instead.
    """

    @functools.wraps(function)
    def verify(*args: Any, **kwargs: Any) -> bool:
        try:
            return function(*args, **kwargs)
        except (TypeError, ValueError):
            return False

    return verify


# --- spec functions ----------------------------------------------------------------------


def SkToPk(sk: int) -> bytes:  # noqa: N802 (spec name)
    """Return the compressed public key of secret key `sk`.

    Raises:
        CryptoError: `sk` is not an int in [1, r).
    """
    backend = _backend
    return bytes(backend.g1_to_bytes(backend.g1_mul(backend.g1_generator(), _check_secret_key(sk))))


def Sign(sk: int, message: bytes) -> bytes:  # noqa: N802 (spec name)
    """Sign `message` with secret key `sk` and return the compressed 96-byte signature.

    Raises:
        CryptoError: `sk` is not an int in [1, r), or `message` is not bytes.
    """
    scalar = _check_secret_key(sk)
    data = _as_bytes(message)
    if data is None:
        raise CryptoError("message must be bytes", type=type(message).__name__)
    backend = _backend
    return bytes(backend.g2_to_bytes(backend.g2_mul(_hash_to_point(data), scalar)))


@_false_on_malformed
def KeyValidate(pubkey: bytes) -> bool:  # noqa: N802 (spec name)
    """Return whether `pubkey` is a valid compressed G1 point other than infinity."""
    return _pubkey_point(pubkey) is not None


@_false_on_malformed
def Verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:  # noqa: N802 (spec name)
    """Return whether `signature` is a valid signature of `message` by `pubkey`."""
    pubkey_point = _pubkey_point(pubkey)
    signature_point = _signature_point(signature)
    data = _as_bytes(message)
    if pubkey_point is None or signature_point is None or data is None:
        return False
    return _core_verify(pubkey_point, data, signature_point)


def Aggregate(signatures: Sequence[bytes]) -> bytes:  # noqa: N802 (spec name)
    """Add compressed signatures into one compressed signature.

    Raises:
        CryptoError: no signatures, or one of them is not a valid G2 point.
    """
    if len(_as_sequence(signatures, "signatures")) == 0:
        raise CryptoError("cannot aggregate an empty list of signatures")
    total = _backend.g2_identity()
    for index, signature in enumerate(signatures):
        point = _signature_point(signature)
        if point is None:
            raise CryptoError("invalid signature in aggregate", index=index)
        total = total + point
    return bytes(_backend.g2_to_bytes(total))


def AggregatePKs(pubkeys: Sequence[bytes]) -> bytes:  # noqa: N802 (spec name)
    """Add public keys into one compressed public key.

    Raises:
        CryptoError: no keys, or one of them fails `KeyValidate`.
    """
    if len(_as_sequence(pubkeys, "public keys")) == 0:
        raise CryptoError("cannot aggregate an empty list of public keys")
    total = _backend.g1_identity()
    for index, pubkey in enumerate(pubkeys):
        point = _pubkey_point(pubkey)
        if point is None:
            raise CryptoError("invalid public key in aggregate", index=index)
        total = total + point
    return bytes(_backend.g1_to_bytes(total))


@_false_on_malformed
def FastAggregateVerify(  # noqa: N802 (spec name)
    pubkeys: Sequence[bytes], message: bytes, signature: bytes
) -> bool:
    """Return whether `signature` aggregates signatures of one `message` by every key.

    False for an empty key list, an invalid key, or keys that sum to infinity.
    """
    aggregate = _aggregate_pubkey_points(pubkeys)
    signature_point = _signature_point(signature)
    data = _as_bytes(message)
    if aggregate is None or signature_point is None or data is None:
        return False
    if aggregate == _backend.g1_identity():
        return False
    return _core_verify(aggregate, data, signature_point)


@_false_on_malformed
def AggregateVerify(  # noqa: N802 (spec name)
    pubkeys: Sequence[bytes], messages: Sequence[bytes], signature: bytes
) -> bool:
    """Return whether `signature` aggregates signatures of `messages[i]` by `pubkeys[i]`.

    False for empty or unequal-length lists and for any invalid key or signature.
    """
    if isinstance(pubkeys, (bytes, bytearray)) or isinstance(messages, (bytes, bytearray)):
        return False
    if len(pubkeys) == 0 or len(pubkeys) != len(messages):
        return False
    signature_point = _signature_point(signature)
    if signature_point is None:
        return False

    pairs = []
    for pubkey, message in zip(pubkeys, messages, strict=True):
        point = _pubkey_point(pubkey)
        data = _as_bytes(message)
        if point is None or data is None:
            return False
        pairs.append((point, _hash_to_point(data)))
    return bool(_backend.pairings_equal(pairs, [(_backend.g1_generator(), signature_point)]))


def eth_aggregate_pubkeys(pubkeys: Sequence[bytes]) -> bytes:
    """Add validated public keys into one (the altair sync-committee aggregate key).

    Raises:
        CryptoError: no keys, or one of them fails `KeyValidate`.
    """
    return AggregatePKs(pubkeys)


@_false_on_malformed
def eth_fast_aggregate_verify(pubkeys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    """`FastAggregateVerify`, except that no keys with the infinity signature is valid.

    Altair uses this for sync aggregates in which no member took part.
    """
    if len(pubkeys) == 0 and _as_bytes(signature) == G2_POINT_AT_INFINITY:
        return True
    return FastAggregateVerify(pubkeys, message, signature)


@_false_on_malformed
def batch_verify(sets: Sequence[PubkeySet]) -> bool:
    """Return whether every `(pubkeys, message, signature)` set passes `FastAggregateVerify`.

    All sets are checked together. Set i is weighted by a random 64-bit scalar r_i
    (from `secrets`), and one pairing-product check with a single final
    exponentiation tests
    prod e(r_i * aggregate_pubkey_i, H(message_i)) == e(G1, sum r_i * signature_i).
    Sets that share a message share one Miller loop. A False result does not say
    which set is bad, so verify the sets one by one to find it. An empty batch is
    valid, and a malformed set makes the result False.
    """
    if len(sets) == 0:
        return True
    backend = _backend
    signature_points = []
    weights = []
    # Weighted aggregate public keys, grouped by message: (points, weights).
    groups: dict[bytes, tuple[list[Point], list[int]]] = {}

    for pubkeys, message, signature in sets:
        aggregate = _aggregate_pubkey_points(pubkeys)
        signature_point = _signature_point(signature)
        data = _as_bytes(message)
        if aggregate is None or signature_point is None or data is None:
            return False
        if aggregate == backend.g1_identity():
            return False

        # A single set needs no weighting: it is a plain FastAggregateVerify.
        weight = 1 if len(sets) == 1 else secrets.randbits(_BATCH_SCALAR_BITS) or 1
        signature_points.append(signature_point)
        weights.append(weight)
        group_points, group_weights = groups.setdefault(data, ([], []))
        group_points.append(aggregate)
        group_weights.append(weight)

    lhs = [
        (backend.g1_multi_mul(points, group_weights), _hash_to_point(message))
        for message, (points, group_weights) in groups.items()
    ]
    signature_sum = backend.g2_multi_mul(signature_points, weights)
    return bool(backend.pairings_equal(lhs, [(backend.g1_generator(), signature_sum)]))


use_backend(os.environ.get("CAPLIN_BLS_BACKEND", _blst.NAME))
