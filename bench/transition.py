"""Benchmark epoch processing on a synthetic mainnet-preset electra state.

    .venv/bin/python bench/transition.py --validators 1000000 --reference-validators 16384

Builds a state at the last slot of an epoch whose registry resembles a live chain: mostly
32 ETH validators, 5% compounding ones up to 2048 ETH, a few exited, slashed or pending,
balances near their effective balance and 95% timely participation. The queues hold top-up
deposits and consolidations. Then it times `process_epoch` and the state root after it:

- cold: the registry columns are not cached yet and are read from the tree;
- warm: the columns of the pre-state are cached, as after the previous epoch's write-back.

All times are CPU seconds of this process, printed with the load average of the machine.

With `--reference-validators N` it also times the executable spec (`eth-consensus-specs`,
a test-only dependency) and `process_epoch_simple` on an N-validator state, checks that
all three give the same post-state root, and prints the time ratios.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from remerkleable.tree import PairNode, RootNode

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.transition.epoch import process_epoch, process_epoch_simple, validator_columns
from caplin.transition.epoch.tree_arrays import basic_list_from_array, build_tree

GWEI_PER_ETH = 10**9
# An epoch in the middle of a sync committee period and of a historical batch, so the
# timing covers the steps that run every epoch.
EPOCH = 400_010


class _Leaves:
    """Shared leaf nodes for repeated uint64 values, as a real registry's tree has them."""

    def __init__(self) -> None:
        self._nodes: dict[bytes, RootNode] = {}

    def chunk(self, data: bytes) -> RootNode:
        data = data.ljust(32, b"\x00")
        node = self._nodes.get(data)
        if node is None:
            node = self._nodes[data] = RootNode(data)
        return node

    def uint64(self, value: int) -> RootNode:
        return self.chunk(int(value).to_bytes(8, "little"))


def _registry_fields(count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    compounding = rng.random(count) < 0.05
    effective = np.full(count, 32 * GWEI_PER_ETH, np.uint64)
    effective[compounding] = (
        rng.integers(32, 2049, compounding.sum()).astype(np.uint64) * GWEI_PER_ETH
    )
    activation = rng.integers(0, EPOCH - 300, count).astype(np.uint64)
    eligibility = np.maximum(activation, 1) - 1
    exit_epoch = np.full(count, FAR_FUTURE_EPOCH, np.uint64)
    withdrawable = np.full(count, FAR_FUTURE_EPOCH, np.uint64)

    exited = rng.random(count) < 0.02
    exit_epoch[exited] = rng.integers(EPOCH - 200, EPOCH + 200, exited.sum()).astype(np.uint64)
    withdrawable[exited] = exit_epoch[exited] + 256
    slashed = rng.random(count) < 0.001
    exit_epoch[slashed] = EPOCH - 10
    withdrawable[slashed] = EPOCH + 4096
    pending = rng.random(count) < 0.002
    activation[pending] = FAR_FUTURE_EPOCH
    eligibility[pending] = np.where(
        rng.random(pending.sum()) < 0.5, np.uint64(EPOCH - 5), np.uint64(FAR_FUTURE_EPOCH)
    )
    low = rng.random(count) < 0.0005
    effective[low] = 16 * GWEI_PER_ETH

    drift = rng.integers(-300_000_000, 300_000_000, count)
    balances = (effective.astype(np.int64) + 100_000_000 + drift).astype(np.uint64)
    return {
        "compounding": compounding,
        "effective_balance": effective,
        "slashed": slashed,
        "activation_eligibility_epoch": eligibility,
        "activation_epoch": activation,
        "exit_epoch": exit_epoch,
        "withdrawable_epoch": withdrawable,
        "balances": balances,
    }


def _validators_view(
    list_type: Any, fields: dict[str, np.ndarray], rng: np.random.Generator
) -> Any:
    count = len(fields["effective_balance"])
    leaves = _Leaves()
    pubkeys = rng.bytes(48 * count)
    addresses = [rng.bytes(20) for _ in range(1000)]
    credentials = [leaves.chunk(b"\x01" + b"\x00" * 11 + address) for address in addresses]
    compounding_credentials = [leaves.chunk(b"\x02" + b"\x00" * 11 + a) for a in addresses]
    slashed_leaf = {False: leaves.uint64(0), True: leaves.uint64(1)}
    columns = [
        fields[name].tolist()
        for name in (
            "effective_balance",
            "slashed",
            "activation_eligibility_epoch",
            "activation_epoch",
            "exit_epoch",
            "withdrawable_epoch",
            "compounding",
        )
    ]
    nodes = []
    for index in range(count):
        pubkey = pubkeys[48 * index : 48 * index + 48]
        effective, slashed, eligibility, activation, exit_epoch, withdrawable, compounding = (
            column[index] for column in columns
        )
        credential = (compounding_credentials if compounding else credentials)[index % 1000]
        keys = PairNode(PairNode(RootNode(pubkey[:32]), leaves.chunk(pubkey[32:])), credential)
        balance = PairNode(leaves.uint64(effective), slashed_leaf[bool(slashed)])
        epochs = PairNode(
            PairNode(leaves.uint64(eligibility), leaves.uint64(activation)),
            PairNode(leaves.uint64(exit_epoch), leaves.uint64(withdrawable)),
        )
        nodes.append(PairNode(PairNode(keys, balance), epochs))
    contents = build_tree(nodes, list_type.contents_depth())
    length = RootNode(count.to_bytes(32, "little"))
    return list_type.view_from_backing(PairNode(contents, length))


def _random_roots(vector_type: Any, rng: np.random.Generator) -> Any:
    data = rng.bytes(32 * vector_type.vector_length())
    leaves = [RootNode(data[i : i + 32]) for i in range(0, len(data), 32)]
    return vector_type.view_from_backing(build_tree(leaves, vector_type.tree_depth()))


def synthetic_state(spec: Any, count: int, seed: int = 1) -> Any:
    """Return an electra BeaconState of `count` validators at the last slot of `EPOCH`."""
    rng = np.random.default_rng(seed)
    types = spec.types(Fork.ELECTRA)
    state = types.BeaconState()
    state.slot = EPOCH * spec.SLOTS_PER_EPOCH + spec.SLOTS_PER_EPOCH - 1
    state.fork = types.Fork(
        previous_version=spec.fork_version(Fork.DENEB),
        current_version=spec.fork_version(Fork.ELECTRA),
        epoch=EPOCH - 1000,
    )
    fields = _registry_fields(count, rng)
    state.validators = _validators_view(type(state.validators), fields, rng)
    state.balances = basic_list_from_array(type(state.balances), fields["balances"])

    flags = np.where(rng.random(count) < 0.95, 7, rng.integers(0, 7, count)).astype(np.uint8)
    state.previous_epoch_participation = basic_list_from_array(
        type(state.previous_epoch_participation), flags
    )
    current = np.where(rng.random(count) < 0.9, 7, 0).astype(np.uint8)
    state.current_epoch_participation = basic_list_from_array(
        type(state.current_epoch_participation), current
    )
    scores = np.where(rng.random(count) < 0.03, rng.integers(1, 50, count), 0).astype(np.uint64)
    state.inactivity_scores = basic_list_from_array(type(state.inactivity_scores), scores)

    state.block_roots = _random_roots(type(state.block_roots), rng)
    state.state_roots = _random_roots(type(state.state_roots), rng)
    state.randao_mixes = _random_roots(type(state.randao_mixes), rng)
    for i in range(0, spec.EPOCHS_PER_SLASHINGS_VECTOR, 7):
        state.slashings[i] = 32 * GWEI_PER_ETH
    state.justification_bits = type(state.justification_bits)(True, True, True, False)
    state.previous_justified_checkpoint = types.Checkpoint(epoch=EPOCH - 2, root=rng.bytes(32))
    state.current_justified_checkpoint = types.Checkpoint(epoch=EPOCH - 1, root=rng.bytes(32))
    state.finalized_checkpoint = types.Checkpoint(epoch=EPOCH - 2, root=rng.bytes(32))
    state.eth1_deposit_index = 1000
    state.deposit_requests_start_index = 1000
    state.earliest_exit_epoch = EPOCH + 5
    state.exit_balance_to_consume = 100 * GWEI_PER_ETH

    # Top-ups to existing validators and a few consolidations, finalized and due now.
    validators = state.validators
    for offset in range(20):
        index = int(rng.integers(0, count))
        state.pending_deposits.append(
            types.PendingDeposit(
                pubkey=validators[index].pubkey,
                withdrawal_credentials=validators[index].withdrawal_credentials,
                amount=GWEI_PER_ETH,
                signature=b"\x00" * 96,
                slot=(EPOCH - 3) * spec.SLOTS_PER_EPOCH + offset,
            )
        )
    for _ in range(4):
        source, target = (int(value) for value in rng.integers(0, count, 2))
        state.pending_consolidations.append(
            types.PendingConsolidation(source_index=source, target_index=target)
        )
    return state


def _time_epoch(spec: Any, pre: Any, function: Any) -> tuple[float, float, bytes]:
    """Return the CPU seconds of `function` and of the state root after it, and that root.

    CPU time (`time.process_time`) is what this process used, so it stays meaningful on a
    shared machine where wall-clock time also counts waiting for a core.
    """
    state = pre.copy()
    started = time.process_time()
    function(spec, state)
    processed = time.process_time()
    root = state.hash_tree_root()
    rooted = time.process_time()
    return processed - started, rooted - processed, bytes(root)


def _bench_caplin(spec: Any, count: int, warm_runs: int) -> dict[str, Any]:
    started = time.process_time()
    pre = synthetic_state(spec, count)
    built = time.process_time()
    pre_root = bytes(pre.hash_tree_root())
    hashed = time.process_time()
    print(
        f"{count} validators: state built in {built - started:.1f} s, pre-state root in "
        f"{hashed - built:.1f} s (setup, not timed)"
    )

    validator_columns.clear_cache()
    cold_epoch, cold_root, post_root = _time_epoch(spec, pre, process_epoch)
    print(f"  cold: process_epoch {cold_epoch:.3f} s, state root after {cold_root:.3f} s")
    warm = [_time_epoch(spec, pre, process_epoch) for _ in range(warm_runs)]
    if any(run[2] != post_root for run in warm):
        raise AssertionError("warm runs gave a different post-state root than the cold run")
    warm_epoch = statistics.median(run[0] for run in warm)
    warm_root = statistics.median(run[1] for run in warm)
    print(
        f"  warm (median of {warm_runs}): process_epoch {warm_epoch:.3f} s, "
        f"state root after {warm_root:.3f} s"
    )
    return {
        "pre": pre,
        "pre_root": pre_root,
        "post_root": post_root,
        "cold": (cold_epoch, cold_root),
        "warm": (warm_epoch, warm_root),
    }


def _bench_reference(spec: Any, caplin_run: dict[str, Any]) -> None:
    # bench/ssz.py, first on the path when this file runs as a script, would shadow the
    # `ssz` package that the executable spec imports.
    bench_dir = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != bench_dir]
    from eth_consensus_specs.electra import mainnet as reference

    pre = caplin_run["pre"]
    reference_state = reference.BeaconState.decode_bytes(pre.encode_bytes())
    if bytes(reference.hash_tree_root(reference_state)) != caplin_run["pre_root"]:
        raise AssertionError("the executable spec decodes the pre-state to another root")
    started = time.process_time()
    reference.process_epoch(reference_state)
    processed = time.process_time()
    reference_root = bytes(reference.hash_tree_root(reference_state))
    rooted = time.process_time()

    simple_epoch, simple_root, simple_post = _time_epoch(spec, pre, process_epoch_simple)
    if reference_root != caplin_run["post_root"] or simple_post != reference_root:
        raise AssertionError(
            f"post-state roots differ: spec 0x{reference_root.hex()}, "
            f"process_epoch 0x{caplin_run['post_root'].hex()}, "
            f"process_epoch_simple 0x{simple_post.hex()}"
        )
    spec_epoch, spec_root = processed - started, rooted - processed
    warm_epoch, warm_root = caplin_run["warm"]
    print(f"  executable spec: process_epoch {spec_epoch:.3f} s, state root {spec_root:.3f} s")
    print(f"  process_epoch_simple: {simple_epoch:.3f} s, state root {simple_root:.3f} s")
    print(f"  post-state roots agree: 0x{reference_root.hex()}")
    print(
        f"  ratio spec / caplin warm (epoch + root): "
        f"{(spec_epoch + spec_root) / (warm_epoch + warm_root):.1f}x; "
        f"spec / simple: {(spec_epoch + spec_root) / (simple_epoch + simple_root):.1f}x"
    )


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--validators",
        type=int,
        default=1_000_000,
        help="registry size of the main run (default 1000000)",
    )
    parser.add_argument(
        "--reference-validators",
        type=int,
        default=16_384,
        help="registry size for the executable-spec comparison; 0 skips it",
    )
    parser.add_argument(
        "--warm-runs",
        type=int,
        default=3,
        help="timed runs with the registry columns cached (default 3)",
    )
    args = parser.parse_args()

    spec = ChainSpec.for_preset("mainnet")
    print(f"python {platform.python_version()}, {platform.machine()}, {_cpu_name()}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.reference_validators:
        small = _bench_caplin(spec, args.reference_validators, args.warm_runs)
        _bench_reference(spec, small)
    if args.validators:
        _bench_caplin(spec, args.validators, args.warm_runs)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
