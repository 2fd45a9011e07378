"""Benchmark: execute payloads as one batch versus one at a time with a commit each.

Builds a chain of `--payloads` payloads of `--transfers` ETH transfers each
with the engine's own builder, or loads it from the cache file of a previous
build with the same parameters (`--cache-dir`, default the system temporary
directory; `--no-cache` rebuilds). Then it executes the chain on fresh LMDB
engines that fsync on commit, as a node runs. One mode is a single
`execute_batch` (one database commit), the other executes payload by payload
(one commit each). Each mode runs `--rounds` times, alternating, in this
process. The script prints the time per payload of each mode and their ratio.
`--mode batch` or `--mode single` runs only that mode, for timing whole
processes from outside.

    .venv/bin/python bench/execution.py --payloads 1000 --transfers 100
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# This file is named like the `execution` package; drop its own folder from
# the import path so `import execution` finds the package, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from eth_account import Account  # noqa: E402
from eth_utils import to_checksum_address  # noqa: E402

from execution.engine import EmbeddedEngine  # noqa: E402
from execution.genesis import DEV_CHAIN_ID, dev_accounts, dev_genesis  # noqa: E402
from execution.node import ExecutionNode  # noqa: E402
from execution.payload import NewPayload  # noqa: E402
from execution.txpool import TransactionPool  # noqa: E402

GENESIS_TIMESTAMP = 1_700_000_000
# Part of the cache file name: change it when build_chain builds other payloads.
CHAIN_FORMAT = 1


def build_chain(payloads: int, transfers: int) -> list[NewPayload]:
    """Build `payloads` blocks of `transfers` transfers from the ten dev accounts."""
    genesis = dev_genesis(timestamp=GENESIS_TIMESTAMP)
    engine = EmbeddedEngine.in_memory(genesis)
    pool = TransactionPool(
        DEV_CHAIN_ID,
        block_gas_limit=lambda: engine.head().gas_limit,
        max_per_sender=transfers,
        max_pool_size=transfers * 2,
    )
    node = ExecutionNode(engine, pool)
    accounts = dev_accounts()
    nonces = [0] * len(accounts)
    requests = []
    for number in range(payloads):
        for i in range(transfers):
            sender = i % len(accounts)
            recipient = (number * transfers + i + 1).to_bytes(20, "big")
            raw = Account.sign_transaction(
                {
                    "to": to_checksum_address(recipient),
                    "value": 1,
                    "gas": 21_000,
                    "maxFeePerGas": 10**11,
                    "maxPriorityFeePerGas": 10**9,
                    "nonce": nonces[sender],
                    "chainId": DEV_CHAIN_ID,
                    "type": 2,
                },
                accounts[sender][1],
            ).raw_transaction
            nonces[sender] += 1
            pool.add(bytes(raw), lambda a: (0, 10**30))
        built = node.build_block(prev_randao=number.to_bytes(32, "big"))
        if len(built.transaction_hashes) != transfers:
            raise RuntimeError(
                f"payload {number} contains {len(built.transaction_hashes)} transfers, "
                f"expected {transfers}"
            )
        requests.append(built.request)
    return requests


def load_or_build_chain(
    payloads: int, transfers: int, cache_dir: str | None
) -> tuple[list[NewPayload], str]:
    """Return the chain and how it was obtained; build and store it when no cache file exists."""
    if cache_dir is None:
        return build_chain(payloads, transfers), "built"
    path = Path(cache_dir) / f"caplin-bench-execution-v{CHAIN_FORMAT}-{payloads}x{transfers}.pickle"
    if path.exists():
        with path.open("rb") as file:
            return pickle.load(file), f"loaded from {path}"
    requests = build_chain(payloads, transfers)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with partial.open("wb") as file:
        pickle.dump(requests, file, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    return requests, f"built and stored in {path}"


@dataclass
class Timing:
    """Seconds one run of a mode took: wall clock, process CPU, inside commits, worker CPU.

    `workers` is the CPU of the sender-recovery worker processes a large
    batch starts (counted once they exit); `cpu` is this process alone.
    """

    wall: float
    cpu: float
    commit: float
    workers: float = 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_mode(requests: list[NewPayload], batched: bool) -> Timing:
    """Execute `requests` on a fresh LMDB engine and time the execution."""
    directory = tempfile.mkdtemp(prefix="caplin-bench-exec-")
    try:
        engine = EmbeddedEngine.open_lmdb(directory, dev_genesis(timestamp=GENESIS_TIMESTAMP))
        commit_seconds = [0.0]
        commit = engine.backend.commit

        def timed_commit(changes: dict) -> None:
            started = time.perf_counter()
            commit(changes)
            commit_seconds[0] += time.perf_counter() - started

        engine.backend.commit = timed_commit  # type: ignore[method-assign]
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        children_start = _children_cpu()
        if batched:
            engine.execute_batch(requests)
        else:
            for request in requests:
                engine.execute_batch([request])
        timing = Timing(
            time.perf_counter() - wall_start,
            time.process_time() - cpu_start,
            commit_seconds[0],
            _children_cpu() - children_start,
        )
        if engine.head().hash != requests[-1].payload.block_hash:
            raise RuntimeError("benchmark chain did not reach its last block")
        engine.close()
        return timing
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def report(name: str, timings: list[Timing], payloads: int) -> Timing:
    median = Timing(
        statistics.median(t.wall for t in timings) / payloads,
        statistics.median(t.cpu for t in timings) / payloads,
        statistics.median(t.commit for t in timings) / payloads,
        statistics.median(t.workers for t in timings) / payloads,
    )
    runs = ", ".join(f"{t.wall:.1f}" for t in timings)
    print(
        f"{name}: wall {median.wall * 1000:.1f} ms, CPU {median.cpu * 1000:.1f} ms "
        f"(+ workers {median.workers * 1000:.1f} ms), in commits {median.commit * 1000:.1f} ms "
        f"per payload (median of {len(timings)}; run walls {runs} s)"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=1000, help="payloads in the chain")
    parser.add_argument("--transfers", type=int, default=100, help="transfers per payload")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternating")
    parser.add_argument(
        "--mode", choices=("both", "batch", "single"), default="both", help="modes to run"
    )
    parser.add_argument(
        "--cache-dir",
        default=tempfile.gettempdir(),
        help="directory of the built-chain cache files (default: %(default)s)",
    )
    parser.add_argument("--no-cache", action="store_true", help="build the chain, store nothing")
    args = parser.parse_args()

    start = time.perf_counter()
    requests, source = load_or_build_chain(
        args.payloads, args.transfers, None if args.no_cache else args.cache_dir
    )
    seconds = time.perf_counter() - start
    print(f"{args.payloads} payloads x {args.transfers} transfers {source} in {seconds:.1f} s")

    batch_runs, single_runs = [], []
    for _ in range(args.rounds):
        if args.mode in ("both", "single"):
            single_runs.append(run_mode(requests, batched=False))
        if args.mode in ("both", "batch"):
            batch_runs.append(run_mode(requests, batched=True))
    if args.mode != "both":
        report(
            "one batch" if args.mode == "batch" else "one at a time",
            batch_runs or single_runs,
            args.payloads,
        )
        return
    single = report("one at a time", single_runs, args.payloads)
    batch = report("one batch", batch_runs, args.payloads)
    wall_ratio = single.wall / batch.wall
    cpu_ratio = single.cpu / batch.cpu
    total_ratio = (single.cpu + single.workers) / (batch.cpu + batch.workers)
    pairs = [s.wall / b.wall for s, b in zip(single_runs, batch_runs, strict=True)]
    print(
        f"ratio one-at-a-time / batch: wall {wall_ratio:.2f} (pairs "
        f"{', '.join(f'{p:.2f}' for p in pairs)}), CPU {cpu_ratio:.2f}, "
        f"CPU with workers {total_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
