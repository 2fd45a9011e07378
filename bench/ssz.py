"""Benchmark SSZ decode + hash_tree_root of a large electra BeaconState.

Run: .venv/bin/python bench/ssz.py [--validators N] [--reference-validators N] [--repeat N]

Builds the SSZ bytes of a mainnet-preset electra BeaconState with `--validators`
synthetic validators (default 1,000,000; balances, participation flags and
inactivity scores of the same length), then times caplin's strict `decode`
followed by `hash_tree_root`, and `encode` of the decoded state.

References run in the same invocation on a state of `--reference-validators`
validators (default 2,000, a size they finish in seconds): remerkleable's own
`decode_bytes`, the library caplin's views are built on, and the executable
spec's SSZ types (PyPI `eth-consensus-specs`, if installed). Caplin decodes
the same state, and all roots must agree. The ratio is reference time over
caplin time at that size. The CPU cost per extra validator, measured against
a state with none, lets the two sizes be compared.

Each figure is the median of `--repeat` runs (default 3) in seconds: wall
time with the fastest run in brackets, then process CPU time. The 1-minute
load average is printed first, since these machines are shared.
"""

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# This file's name shadows the `ssz` package the executable spec imports, so the
# bench directory leaves the path and the repository root takes its place.
_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _BENCH_DIR]
sys.path.insert(0, str(_BENCH_DIR.parent))

from caplin.config import ChainSpec, Fork  # noqa: E402
from caplin.config.constants import FAR_FUTURE_EPOCH  # noqa: E402
from caplin.types.ssz import decode, encode, hash_tree_root  # noqa: E402

# A validator's SSZ layout: pubkey, withdrawal_credentials, effective_balance,
# slashed, then four epochs; 121 bytes, no padding.
VALIDATOR_DTYPE = np.dtype(
    [
        ("pubkey", "S48"),
        ("withdrawal_credentials", "S32"),
        ("effective_balance", "<u8"),
        ("slashed", "u1"),
        ("activation_eligibility_epoch", "<u8"),
        ("activation_epoch", "<u8"),
        ("exit_epoch", "<u8"),
        ("withdrawable_epoch", "<u8"),
    ]
)
OFFSET_SIZE = 4


def synthetic_lists(count: int, seed: int = 1) -> dict[str, bytes]:
    """Return SSZ bytes of the per-validator state lists for `count` active validators."""
    rng = random.Random(seed)
    validators = np.zeros(count, dtype=VALIDATOR_DTYPE)
    pubkeys = np.frombuffer(rng.randbytes(48 * count), dtype="S48")
    validators["pubkey"] = pubkeys
    credentials = bytearray(rng.randbytes(32 * count))
    credentials[0::32] = b"\x01" * count
    validators["withdrawal_credentials"] = np.frombuffer(bytes(credentials), dtype="S32")
    validators["effective_balance"] = 32 * 10**9
    validators["exit_epoch"] = FAR_FUTURE_EPOCH
    validators["withdrawable_epoch"] = FAR_FUTURE_EPOCH

    balances = 32 * 10**9 + np.frombuffer(rng.randbytes(4 * count), dtype="<u4").astype("<u8")
    flags = np.frombuffer(rng.randbytes(count), dtype="u1") & 7
    return {
        "validators": validators.tobytes(),
        "balances": balances.astype("<u8").tobytes(),
        "previous_epoch_participation": flags.tobytes(),
        "current_epoch_participation": flags[::-1].tobytes(),
        "inactivity_scores": bytes(8 * count),
    }


def encode_container(cls: Any, field_bytes: dict[str, bytes]) -> bytes:
    """Encode a container whose fields are given as SSZ bytes (default for the rest)."""
    default = cls()
    fixed_parts: list[bytes | None] = []
    variable_parts: list[bytes] = []
    for name, kind in cls.fields().items():
        data = field_bytes.get(name)
        if data is None:
            data = encode(getattr(default, name))
        if kind.is_fixed_byte_length():
            fixed_parts.append(data)
        else:
            fixed_parts.append(None)
            variable_parts.append(data)
    fixed_size = sum(OFFSET_SIZE if part is None else len(part) for part in fixed_parts)
    out = bytearray()
    offset = fixed_size
    variable = iter(variable_parts)
    bodies = []
    for part in fixed_parts:
        if part is None:
            body = next(variable)
            out += offset.to_bytes(OFFSET_SIZE, "little")
            offset += len(body)
            bodies.append(body)
        else:
            out += part
    for body in bodies:
        out += body
    return bytes(out)


def state_bytes(count: int) -> bytes:
    spec = ChainSpec.for_preset("mainnet")
    return encode_container(spec.types(Fork.ELECTRA).BeaconState, synthetic_lists(count))


class Timing:
    """Median and fastest of several runs, wall-clock and process CPU, in seconds.

    On a shared machine the process may get a small share of a CPU. CPU time
    is then the steadier figure, because wall time includes waiting for one.
    """

    def __init__(self, wall: list[float], cpu: list[float]) -> None:
        self.median = statistics.median(wall)
        self.fastest = min(wall)
        self.cpu = statistics.median(cpu)

    def __str__(self) -> str:
        return f"wall {self.median:8.3f} s [{self.fastest:.3f}]  cpu {self.cpu:8.3f} s"


def measure(function: Callable[[], Any], repeat: int) -> tuple[Timing, Any]:
    wall = []
    cpu = []
    result = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Timing(wall, cpu), result


def caplin_decode_and_root(data: bytes) -> tuple[Any, bytes]:
    cls = ChainSpec.for_preset("mainnet").types(Fork.ELECTRA).BeaconState
    state = decode(cls, data)
    return state, hash_tree_root(state)


def remerkleable_decode_and_root(data: bytes) -> bytes:
    cls = ChainSpec.for_preset("mainnet").types(Fork.ELECTRA).BeaconState
    return bytes(cls.decode_bytes(data).hash_tree_root())


def reference_decode_and_root(data: bytes) -> bytes:
    from eth_consensus_specs.electra import mainnet as reference

    state = reference.BeaconState.decode_bytes(data)
    return bytes(reference.hash_tree_root(state))


def per_validator(timing: Timing, count: int) -> str:
    return f"{timing.cpu / count * 1e6:7.1f} us cpu/validator"


def marginal(at_size: Timing, empty: Timing, count: int) -> float:
    """Return the CPU seconds per validator above the cost of a state with none."""
    return (at_size.cpu - empty.cpu) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--validators", type=int, default=1_000_000, help="full-size state; 0 skips it"
    )
    parser.add_argument("--reference-validators", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")

    small = state_bytes(args.reference_validators)
    empty = state_bytes(0)
    count = args.reference_validators
    print(f"\nreference size: {count:,} validators, {len(small):,} bytes")
    ours_small, (_, our_root) = measure(lambda: caplin_decode_and_root(small), args.repeat)
    ours_empty, _ = measure(lambda: caplin_decode_and_root(empty), args.repeat)
    print(f"caplin decode + hash_tree_root     {ours_small}  {per_validator(ours_small, count)}")
    print(f"  same, no validators              {ours_empty}")
    plain, plain_root = measure(lambda: remerkleable_decode_and_root(small), args.repeat)
    print(f"remerkleable decode_bytes + root   {plain}  {per_validator(plain, count)}")
    if plain_root != our_root:
        raise SystemExit(
            f"roots differ: caplin 0x{our_root.hex()}, remerkleable 0x{plain_root.hex()}"
        )
    try:
        reference_small, reference_root = measure(
            lambda: reference_decode_and_root(small), args.repeat
        )
        reference_empty, _ = measure(lambda: reference_decode_and_root(empty), args.repeat)
    except ImportError:
        print("eth-consensus-specs is not installed; no reference run")
    else:
        cost = per_validator(reference_small, count)
        print(f"spec types decode + hash_tree_root {reference_small}  {cost}")
        print(f"  same, no validators              {reference_empty}")
        if reference_root != our_root:
            raise SystemExit(
                f"roots differ: caplin 0x{our_root.hex()}, spec 0x{reference_root.hex()}"
            )
        print(f"roots agree: 0x{our_root.hex()}")
        print(
            f"ratio spec / caplin, cpu at {count:,} validators: "
            f"{reference_small.cpu / ours_small.cpu:.1f}x"
        )
        ours_marginal = marginal(ours_small, ours_empty, count)
        reference_marginal = marginal(reference_small, reference_empty, count)
        print(
            f"cpu per extra validator: caplin {ours_marginal * 1e6:.1f} us, "
            f"spec {reference_marginal * 1e6:.1f} us, "
            f"ratio {reference_marginal / ours_marginal:.1f}x"
        )

    if args.validators == 0:
        return
    start = time.perf_counter()
    large = state_bytes(args.validators)
    built = time.perf_counter() - start
    print(f"\nfull size: {args.validators:,} validators, {len(large):,} bytes")
    print(f"synthetic state bytes built in {built:.1f} s")
    ours_large, (state, root) = measure(lambda: caplin_decode_and_root(large), args.repeat)
    cost = per_validator(ours_large, args.validators)
    print(f"caplin decode + hash_tree_root     {ours_large}  {cost}")
    encoded, again = measure(lambda: encode(state), 1)
    if again != large:
        raise SystemExit("re-encoding the decoded state changed its bytes")
    print(f"caplin encode                      {encoded}")
    print(f"state root: 0x{root.hex()}")


if __name__ == "__main__":
    main()
