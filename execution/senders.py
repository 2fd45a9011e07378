"""Transaction sender recovery straight from the raw encodings, with coincurve.

py-evm recovers a sender by building the unsigned transaction object and
RLP-encoding it again (about 1 ms a transaction in pure Python, measured on
a loaded 2-core VM). For typed transactions (EIP-2718 types 1 to 4), the
signed message is the type byte followed by the RLP list of every field but
the last three (y_parity, r, s). So it can be cut out of the raw bytes. `recover_senders` does
that, and for large inputs spreads the work over worker processes.

A transaction this module cannot handle (legacy, malformed, a signature that
does not recover) gets None, and py-evm then recovers it its own way, raising
its own error for a bad signature. The signature range checks (EIP-2 low s,
y_parity 0 or 1) stay with py-evm's transaction validation either way.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from coincurve import PublicKey

from execution.hashing import keccak256

# Each spawned worker imports py-evm (a few seconds of CPU). Measured on the 2-core VM,
# 200 payloads of 100 transfers (20,000) gained nothing from workers, 1,000 payloads did.
PARALLEL_THRESHOLD = 50_000
_CHUNK = 1000
_TYPED = frozenset((1, 2, 3, 4))


def _item_end(data: bytes, pos: int) -> int:
    """Return the position after the RLP item at `pos`."""
    first = data[pos]
    if first < 0x80:
        return pos + 1
    if first < 0xB8:
        return pos + 1 + first - 0x80
    if first < 0xC0:
        size = first - 0xB7
        return pos + 1 + size + int.from_bytes(data[pos + 1 : pos + 1 + size], "big")
    if first < 0xF8:
        return pos + 1 + first - 0xC0
    size = first - 0xF7
    return pos + 1 + size + int.from_bytes(data[pos + 1 : pos + 1 + size], "big")


def _payload_start(data: bytes, pos: int) -> int:
    first = data[pos]
    if first < 0xC0:
        raise ValueError("not an RLP list")
    return pos + 1 if first < 0xF8 else pos + 1 + first - 0xF7


def _list_prefix(length: int) -> bytes:
    if length < 56:
        return bytes([0xC0 + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(encoded)]) + encoded


def _int_item(data: bytes, start: int, end: int) -> int:
    first = data[start]
    if first < 0x80:
        return first
    return int.from_bytes(data[start + 1 : end], "big")


def recover_sender(raw: bytes) -> bytes | None:
    """Return the 20-byte sender of a typed transaction, or None to leave it to py-evm."""
    try:
        if not raw or raw[0] not in _TYPED:
            return None
        start = _payload_start(raw, 1)
        end = _item_end(raw, 1)
        if end != len(raw):
            return None
        bounds = []
        position = start
        while position < end:
            following = _item_end(raw, position)
            bounds.append((position, following))
            position = following
        if position != end or len(bounds) < 4:
            return None
        unsigned = raw[start : bounds[-4][1]]
        message = raw[:1] + _list_prefix(len(unsigned)) + unsigned
        y_parity = _int_item(raw, *bounds[-3])
        r = _int_item(raw, *bounds[-2])
        s = _int_item(raw, *bounds[-1])
        if y_parity not in (0, 1) or not 0 < r < 2**256 or not 0 < s < 2**256:
            return None
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
        public_key = PublicKey.from_signature_and_message(
            signature, keccak256(message), hasher=None
        )
        return keccak256(public_key.format(compressed=False)[1:])[12:]
    except Exception:  # malformed input of any kind: py-evm reports it
        return None


def _recover_chunk(raws: Sequence[bytes]) -> list[bytes | None]:
    return [recover_sender(raw) for raw in raws]


class SenderRecovery:
    """Senders of many transactions, recovered in worker processes while the caller works.

    `get(index)` returns the sender of the transaction at `index` of the
    sequence given, waiting for its chunk when it is not done yet. Use as a
    context manager so the workers stop.
    """

    def __init__(
        self,
        raws: Sequence[bytes],
        workers: int | None = None,
        parallel_threshold: int = PARALLEL_THRESHOLD,
    ) -> None:
        self._futures: list[Future[list[bytes | None]]] = []
        self._results: dict[int, list[bytes | None]] = {}
        self._executor: Executor | None = None
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        if len(raws) >= parallel_threshold and workers >= 1:
            # spawn, not fork: the caller may hold LMDB handles and threads.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(workers, mp_context=context)
            for first in range(0, len(raws), _CHUNK):
                chunk = list(raws[first : first + _CHUNK])
                self._futures.append(self._executor.submit(_recover_chunk, chunk))

    @property
    def parallel(self) -> bool:
        return self._executor is not None

    def get(self, index: int, raw: bytes) -> bytes | None:
        if self._executor is None:
            return recover_sender(raw)
        chunk = index // _CHUNK
        if chunk not in self._results:
            self._results[chunk] = self._futures[chunk].result()
        return self._results[chunk][index % _CHUNK]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> SenderRecovery:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def assign_sender(transaction: Any, sender: bytes | None) -> None:
    """Give a decoded py-evm transaction its sender, so py-evm does not recover it again.

    py-evm caches `sender` in the object's `__dict__` (a cached_property);
    this fills that cache. None leaves the transaction as it is.
    """
    if sender is not None:
        transaction.__dict__["sender"] = sender
