"""Benchmark archive mode: bytes stored per slot and the time to rebuild a historical state.

    .venv/bin/python bench/archive.py --slots 256 --intervals 8,16,32,64,128 --samples 24

Drives an archive-mode dev chain (minimal preset, electra, interop validators, genesis in the
past so no slot waits for the clock) through `--slots` slots, then for each restore point
interval K rebuilds the archive tables from the stored canonical blocks and measures:

- archive bytes per finalized slot (keys plus values of the restore points and of the
  state-root index; the blocks, which every mode keeps, are counted apart);
- the time to archive the chain by replaying its blocks (a restart's catch-up; the running
  node uses fork choice's post-states and replays nothing);
- the time to rebuild a state at random finalized slots with an empty cache, including its
  `hash_tree_root` (the API needs it), beside the time to read a stored full state.

Times are CPU milliseconds of this process (`time.process_time`), so other jobs on a shared
machine change them less than wall-clock times. The load average is printed beside them.
"""

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from caplin.node.setup import DevParameters, open_dev_chain  # noqa: E402
from caplin.storage.archive import ARCHIVE, ARCHIVE_TABLES, StateHistory  # noqa: E402
from caplin.validator.client import ValidatorClient  # noqa: E402

SLOT_SECONDS = 6


def drive_chain(datadir: Path, slots: int, validators: int):
    """Open an archive dev chain and run every duty of slots 1..`slots`; return it open."""
    genesis_time = int(time.time()) - SLOT_SECONDS * (slots + 1)
    dev = open_dev_chain(
        datadir, DevParameters(validators=validators), genesis_time=genesis_time, archive=True
    )
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    for slot in range(1, slots + 1):
        client.propose(slot)
        dev.chain.update_head()
        client.attest(slot)
        client.aggregate(slot)
        dev.chain.update_head()
        client.prepare(slot + 1)
    dev.chain.flush()
    return dev


def reset_archive(db) -> None:
    """Delete every archive entry except the genesis restore point and its root."""
    with db.kv.write() as txn:
        genesis = txn.get("archive_snapshots", (0).to_bytes(8, "big"))
        for table in ARCHIVE_TABLES:
            if table == "archive_meta":
                continue
            for key, _ in list(txn.items(table)):
                txn.delete(table, key)
        txn.put("archive_snapshots", (0).to_bytes(8, "big"), genesis)
        txn.put("archive_meta", b"archived_slot", (0).to_bytes(8, "big"))


def table_bytes(db, table: str) -> tuple[int, int]:
    """Return (entries, bytes of keys plus values) of `table`."""
    count = size = 0
    with db.kv.read() as txn:
        for key, value in txn.items(table):
            count += 1
            size += len(key) + len(value)
    return count, size


def canonical_block_bytes(db, last_slot: int) -> int:
    size = 0
    with db.kv.read() as txn:
        for _, root in txn.items("canonical", b"", (last_slot + 1).to_bytes(8, "big")):
            size += len(txn.get("blocks", root) or b"")
    return size


def time_ms(function, *args) -> tuple[float, object]:
    started = time.process_time()
    result = function(*args)
    return (time.process_time() - started) * 1000, result


def rebuild_ms(history: StateHistory, slot: int) -> float:
    history._cache.clear()
    started = time.process_time()
    state = history.state_at_slot(slot)
    state.hash_tree_root()
    return (time.process_time() - started) * 1000


def replayed_blocks(db, slot: int) -> int:
    """Return how many canonical blocks a rebuild of `slot` replays after its restore point."""
    stop = (slot + 1).to_bytes(8, "big")
    with db.kv.read() as txn:
        point, _ = next(txn.items("archive_snapshots", b"", stop, reverse=True))
        first = (int.from_bytes(point, "big") + 1).to_bytes(8, "big")
        return len(list(txn.items("canonical", first, stop)))


def stored_state_ms(dev) -> tuple[float, int]:
    """Return (ms to read, decode and hash the stored anchor state, its SSZ size)."""
    root = dev.db.anchor_root()
    started = time.process_time()
    state = dev.db.state(root)
    state.hash_tree_root()
    return (time.process_time() - started) * 1000, len(state.encode_bytes())


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered):.0f} / {p90:.0f} / {ordered[-1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=256, help="slots to drive")
    parser.add_argument("--validators", type=int, default=64, help="interop validators")
    parser.add_argument(
        "--intervals", default="8,16,32,64,128", help="restore point intervals, in slots"
    )
    parser.add_argument("--samples", type=int, default=24, help="random slots rebuilt per K")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random slots")
    args = parser.parse_args()
    intervals = [int(value) for value in args.intervals.split(",")]

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="caplin-bench-archive-") as directory:
        started = time.perf_counter()
        dev = drive_chain(Path(directory), args.slots, args.validators)
        drive_seconds = time.perf_counter() - started
        try:
            db = dev.db
            finalized = dev.chain.history.finalized_slot()
            blocks = canonical_block_bytes(db, finalized)
            stored_ms, state_size = stored_state_ms(dev)
            print(
                f"chain: {args.slots} slots driven in {drive_seconds:.1f} s, "
                f"{args.validators} validators, finalized block slot {finalized}"
            )
            print(f"state SSZ: {state_size} bytes")
            print(f"canonical blocks: {blocks / finalized:.0f} B/slot (kept in every mode)")
            print(f"read + decode + hash a stored full state: {stored_ms:.1f} ms")
            print()
            print(
                "| K (slots) | restore points | archive B/slot | of which index B/slot "
                "| archive by replay, ms/slot | blocks replayed per rebuild (mean) "
                "| random rebuild ms (median / p90 / max) |"
            )
            print("|---|---|---|---|---|---|---|")
            rng = random.Random(args.seed)
            slots = [rng.randrange(0, finalized + 1) for _ in range(args.samples)]
            for interval in intervals:
                reset_archive(db)
                history = StateHistory(db, ARCHIVE, restore_point_interval=interval)
                archive_ms, _ = time_ms(history.update)
                snapshots, snapshot_bytes = table_bytes(db, "archive_snapshots")
                _, index_bytes = table_bytes(db, "archive_roots")
                per_slot = (snapshot_bytes + index_bytes) / (finalized + 1)
                rebuilds = [rebuild_ms(history, slot) for slot in slots]
                replays = statistics.mean(replayed_blocks(db, slot) for slot in slots)
                print(
                    f"| {interval} | {snapshots} | {per_slot:.0f} | "
                    f"{index_bytes / (finalized + 1):.0f} | {archive_ms / finalized:.1f} | "
                    f"{replays:.1f} | {describe(rebuilds)} |"
                )
        finally:
            dev.close()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
