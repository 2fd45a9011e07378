"""Deterministic interop validator keys, as the eth2 interop (quick-start) convention defines.

Secret key i is `int.from_bytes(sha256(i as 32 little-endian bytes), "little") mod r`, where r
is the order of the BLS12-381 G1 subgroup. Every client derives the same keys, so a dev chain of
N interop validators has the same genesis validators everywhere.
"""

from dataclasses import dataclass
from functools import cache

from caplin.crypto import bls
from caplin.crypto.hash import sha256

# Order of the BLS12-381 subgroup that secret keys live in.
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001


@dataclass(frozen=True)
class ValidatorKey:
    """One validator's BLS key pair."""

    secret_key: int
    pubkey: bytes

    def sign(self, signing_root: bytes) -> bytes:
        return bls.Sign(self.secret_key, signing_root)


def interop_secret_key(index: int) -> int:
    """Return the interop secret key of validator `index`."""
    digest = sha256(int(index).to_bytes(32, "little"))
    return int.from_bytes(digest, "little") % CURVE_ORDER


@cache
def interop_key(index: int) -> ValidatorKey:
    secret_key = interop_secret_key(index)
    return ValidatorKey(secret_key, bytes(bls.SkToPk(secret_key)))


def interop_keys(count: int) -> list[ValidatorKey]:
    """Return the key pairs of interop validators 0 .. count-1."""
    return [interop_key(index) for index in range(count)]
