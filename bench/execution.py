"""Benchmark: execute payloads as one batch versus one at a time with a commit each.

Builds a chain of `--payloads` payloads of `--transfers` ETH transfers each
with the engine's own builder. Then it executes the chain on fresh LMDB
engines that fsync on commit, as a node runs. One mode is a single
`execute_batch` (one database commit), the other executes payload by payload
(one commit each). Each mode runs `--rounds` times, alternating, in this
process. The script prints the time per payload of each mode and their ratio.

    .venv/bin/python bench/execution.py --payloads 1000 --transfers 100
"""

from __future__ import annotations

import argparse
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


@dataclass
class Timing:
    """Seconds one run of a mode took: wall clock, process CPU, and inside commits."""

    wall: float
    cpu: float
    commit: float


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
        if batched:
            engine.execute_batch(requests)
        else:
            for request in requests:
                engine.execute_batch([request])
        timing = Timing(
            time.perf_counter() - wall_start, time.process_time() - cpu_start, commit_seconds[0]
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
    )
    print(
        f"{name}: wall {median.wall * 1000:.1f} ms, CPU {median.cpu * 1000:.1f} ms, "
        f"in commits {median.commit * 1000:.1f} ms per payload (median of {len(timings)})"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=1000, help="payloads in the chain")
    parser.add_argument("--transfers", type=int, default=100, help="transfers per payload")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode, alternating")
    args = parser.parse_args()

    start = time.perf_counter()
    requests = build_chain(args.payloads, args.transfers)
    build_seconds = time.perf_counter() - start
    print(f"built {args.payloads} payloads x {args.transfers} transfers in {build_seconds:.1f} s")

    batch_runs, single_runs = [], []
    for _ in range(args.rounds):
        single_runs.append(run_mode(requests, batched=False))
        batch_runs.append(run_mode(requests, batched=True))
    single = report("one at a time", single_runs, args.payloads)
    batch = report("one batch", batch_runs, args.payloads)
    wall_ratio = single.wall / batch.wall
    cpu_ratio = single.cpu / batch.cpu
    print(f"ratio one-at-a-time / batch: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")


if __name__ == "__main__":
    main()
