"""SHA-256, the hash function of the consensus layer."""

from hashlib import sha256 as _sha256


def sha256(data: bytes) -> bytes:
    return _sha256(data).digest()
