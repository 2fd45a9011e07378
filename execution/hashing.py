"""Keccak-256 for the engine and for py-evm.

eth-hash, which py-evm hashes through, picks pycryptodome before pysha3 when
both are installed. pycryptodome's Python wrapper costs about 7 us a call,
the C `sha3` module of safe-pysha3 about 2 us (measured on this project's
2-core VM). A block of 100
transfers hashes about 1,500 times, so importing `execution` switches the
shared eth-hash object to pysha3 when it is installed. The hashes are the
same either way.
"""

from __future__ import annotations

from eth_hash.auto import keccak as _shared_keccak

try:
    from eth_hash.backends import pysha3 as _pysha3
except ImportError:  # safe-pysha3 missing: keep eth-hash's own choice
    _pysha3 = None


def _use_pysha3() -> bool:
    if _pysha3 is None:
        return False
    _shared_keccak._backend = _pysha3.backend
    _shared_keccak.hasher = _pysha3.keccak256
    _shared_keccak.preimage = _pysha3.preimage
    return True


PYSHA3 = _use_pysha3()
keccak256 = _pysha3.keccak256 if _pysha3 is not None else _shared_keccak
