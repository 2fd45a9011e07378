"""Benchmark BLS verification and the whole-list shuffle.

Run: .venv/bin/python bench/bls.py [--repeat N] [--keys N] [--sets N]

Measures, on each backend of caplin.crypto.bls:
- FastAggregateVerify over `--keys` public keys (default 512, a mainnet sync
  committee), with the public-key cache warm and with it turned off;
- `--sets` independent single-key signature sets (default 64): one batch_verify
  call against one Verify call per set;
and shuffle_list of 1,000,000 indices with 90 rounds (the mainnet round count).

Each figure is the median of `--repeat` runs (default 7), in milliseconds, with
the fastest run in brackets: on a shared machine the fastest run is the better
estimate of the uncontended cost. The 1-minute load average is printed first.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from caplin.crypto import bls  # noqa: E402
from caplin.shuffling import shuffle_list  # noqa: E402

MESSAGE = b"\xab" * 32


class Timing:
    """Median and fastest of several runs, in milliseconds."""

    def __init__(self, timings: list[float]) -> None:
        self.median = statistics.median(timings)
        self.fastest = min(timings)

    def __str__(self) -> str:
        return f"{self.median:.2f} ms [{self.fastest:.2f}]"


def measure(function: Callable[[], object], repeat: int) -> Timing:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return Timing(timings)


def make_keys(count: int) -> tuple[list[int], list[bytes]]:
    secret_keys = [1000 + index for index in range(count)]
    return secret_keys, [bls.SkToPk(sk) for sk in secret_keys]


def bench_fast_aggregate_verify(keys: int, repeat: int) -> dict[str, Timing]:
    secret_keys, pubkeys = make_keys(keys)
    signature = bls.Aggregate([bls.Sign(sk, MESSAGE) for sk in secret_keys])

    def verify() -> None:
        assert bls.FastAggregateVerify(pubkeys, MESSAGE, signature)

    bls.set_pubkey_cache_limit(bls.DEFAULT_PUBKEY_CACHE_LIMIT)
    verify()
    cached = measure(verify, repeat)
    bls.set_pubkey_cache_limit(0)
    uncached = measure(verify, repeat)
    bls.set_pubkey_cache_limit(bls.DEFAULT_PUBKEY_CACHE_LIMIT)
    return {"cached": cached, "uncached": uncached}


def bench_batch_verify(sets: int, repeat: int) -> dict[str, Timing]:
    secret_keys, pubkeys = make_keys(sets)
    messages = [index.to_bytes(32, "little") for index in range(sets)]
    signatures = [bls.Sign(sk, m) for sk, m in zip(secret_keys, messages, strict=True)]
    signature_sets = [
        ([pubkey], message, signature)
        for pubkey, message, signature in zip(pubkeys, messages, signatures, strict=True)
    ]

    def batch() -> None:
        assert bls.batch_verify(signature_sets)

    def one_by_one() -> None:
        for pubkey, message, signature in zip(pubkeys, messages, signatures, strict=True):
            assert bls.Verify(pubkey, message, signature)

    # Warm the public-key cache, as a node verifying known validators has it.
    batch()
    return {"batch_verify": measure(batch, repeat), "single": measure(one_by_one, repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (default 7)")
    parser.add_argument("--keys", type=int, default=512, help="keys for FastAggregateVerify")
    parser.add_argument("--sets", type=int, default=64, help="signature sets for batch_verify")
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    results: dict[str, dict[str, Timing]] = {}
    for name in bls.backend_names():
        bls.use_backend(name)
        bls.clear_pubkey_cache()
        fast = bench_fast_aggregate_verify(args.keys, args.repeat)
        batch = bench_batch_verify(args.sets, args.repeat)
        results[name] = {**fast, **batch}
        speedup = batch["single"].median / batch["batch_verify"].median
        print(
            f"{name:9} FastAggregateVerify({args.keys} keys): cached {fast['cached']}, "
            f"uncached {fast['uncached']}"
        )
        print(
            f"{name:9} {args.sets} sets: batch_verify {batch['batch_verify']}, "
            f"{args.sets} x Verify {batch['single']} (batch is x{speedup:.1f} faster)"
        )

    if "blst" in results and "arkworks" in results:
        for figure in ("cached", "uncached", "batch_verify", "single"):
            ratio = results["arkworks"][figure].median / results["blst"][figure].median
            print(f"arkworks / blst time, {figure}: {ratio:.2f}")

    seed = bytes(range(32))
    indices = list(range(1_000_000))
    shuffle = measure(lambda: shuffle_list(indices, seed, 90), max(3, args.repeat // 2))
    print(f"shuffle_list(1,000,000 indices, 90 rounds): {shuffle}")


if __name__ == "__main__":
    main()
