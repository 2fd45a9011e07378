"""Benchmark the proto-array fork choice against a spec-style get_head.

The store is synthetic: a `ProtoArray` and a `VoteTracker` filled directly,
without beacon states, so the numbers cover the fork-choice part only (the
state transition, signature checks and checkpoint states of `Store.on_block`
and `Store.on_attestation` are excluded).

Scenario: a tree of `--blocks` blocks, a main chain where one block in ten
forks off a recent ancestor. `--validators` validators of 32 ETH have latest
messages for recent blocks. Then one slot's worth of attestations
(validators / SLOTS_PER_EPOCH, in committees of `--committee` validators)
vote for the head. Timed:

- `apply votes`: folding that slot's attestations into per-block balances;
- `get_head`: the head walk (weights, viability, best descendant) afterwards;
- `on_block`: adding a new head block and finding the head again.

The spec-style get_head computes each child's weight by looping over all
validators, as the spec's `get_weight` does. It is run in full on the small
scenario (`--naive-blocks`, `--naive-validators`); at full scale one
`get_weight` call is timed and multiplied by the number of weights the walk
needs, which is an estimate, not a measurement.

Run: .venv/bin/python bench/forkchoice.py [--blocks N --validators N]
"""

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

# This script has the name of the package it measures: keep its own folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]

import numpy as np  # noqa: E402

from forkchoice.proto_array import HeadRules, ProtoArray  # noqa: E402
from forkchoice.votes import VoteTracker  # noqa: E402

SLOTS_PER_EPOCH = 32
BALANCE = 32 * 10**9


def build_tree(blocks: int, rng: random.Random) -> tuple[ProtoArray, VoteTracker]:
    proto = ProtoArray(SLOTS_PER_EPOCH)
    votes = VoteTracker()
    proto.add_node(rng.randbytes(32), None, 0, 0, 0)
    votes.add_node()
    tip = 0
    for slot in range(1, blocks):
        parent = tip
        if rng.random() < 0.1:
            parent = max(0, tip - rng.randint(1, 8))
        index = proto.add_node(rng.randbytes(32), proto.roots[parent], slot, 0, 0)
        votes.add_node()
        if parent == tip:
            tip = index
    proto.set_finalized(0, 0)
    return proto, votes


def cast_initial_votes(proto: ProtoArray, votes: VoteTracker, validators: int,
                       rng: random.Random) -> None:
    votes.set_balances(np.full(validators, BALANCE, dtype=np.int64))
    recent = max(1, len(proto) - 64)
    targets = np.random.default_rng(rng.randrange(2**32)).integers(recent, len(proto), validators)
    for node in np.unique(targets).tolist():
        votes.process_attestation(np.flatnonzero(targets == node), 1, node)
    votes.apply()


def cast_slot_votes(votes: VoteTracker, validators: int, committee: int, node: int,
                    epoch: int, rng: np.random.Generator) -> None:
    voters = rng.choice(validators, validators // SLOTS_PER_EPOCH, replace=False)
    for start in range(0, len(voters), committee):
        votes.process_attestation(np.sort(voters[start:start + committee]), epoch, node)


RULES = HeadRules(current_epoch=1, justified_epoch=0, finalized_epoch=0)


def proto_head(proto: ProtoArray, votes: VoteTracker) -> int:
    return proto.find_head(0, votes.apply(), RULES)


def spec_style_get_weight(proto: ProtoArray, latest: list[int], balances: list[int],
                          node: int) -> int:
    slot = proto.slots[node]
    total = 0
    for validator, voted in enumerate(latest):
        if voted >= 0 and proto.get_ancestor(voted, slot) == node:
            total += balances[validator]
    return total


def spec_style_head(proto: ProtoArray, latest: list[int], balances: list[int]) -> tuple[int, int]:
    """Return the head and how many weights the walk computed."""
    head, computed = 0, 0
    while proto.children[head]:
        children = proto.children[head]
        weights = [spec_style_get_weight(proto, latest, balances, c) for c in children]
        computed += len(children)
        head = max(zip(weights, (proto.roots[c] for c in children), children, strict=True))[2]
    return head, computed


def timed(function: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(blocks: int, validators: int, committee: int, repeat: int) -> dict[str, float]:
    rng = random.Random(1)
    proto, votes = build_tree(blocks, rng)
    cast_initial_votes(proto, votes, validators, rng)
    proto_head(proto, votes)
    generator = np.random.default_rng(2)

    apply_times, head_times, block_times = [], [], []
    for round_number in range(repeat):
        head = proto_head(proto, votes)
        cast_slot_votes(votes, validators, committee, head, 2 + round_number, generator)
        apply_times.append(timed(votes.apply, 1))
        head_times.append(timed(lambda: proto_head(proto, votes), 1))

        def add_block(parent: int = head) -> None:
            proto.add_node(rng.randbytes(32), proto.roots[parent], proto.slots[parent] + 1, 0, 0)
            votes.add_node()
            proto_head(proto, votes)

        block_times.append(timed(add_block, 1))
    return {
        "apply": apply_times,
        "get_head": head_times,
        "on_block": block_times,
        "proto": proto,
        "votes": votes,
    }


def naive_compare(blocks: int, validators: int) -> tuple[float, float, bool]:
    rng = random.Random(3)
    proto, votes = build_tree(blocks, rng)
    cast_initial_votes(proto, votes, validators, rng)
    latest = votes.nodes[:validators].tolist()
    balances = [BALANCE] * validators
    naive_time = timed(lambda: spec_style_head(proto, latest, balances), 1)
    proto_time = timed(lambda: proto_head(proto, votes), 5)
    same = spec_style_head(proto, latest, balances)[0] == proto_head(proto, votes)
    return naive_time, proto_time, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=10_000, help="blocks in the tree")
    parser.add_argument("--validators", type=int, default=1_000_000, help="validator count")
    parser.add_argument("--committee", type=int, default=512, help="validators per attestation")
    parser.add_argument(
        "--repeat", type=int, default=9, help="rounds; the minimum and median are printed"
    )
    parser.add_argument("--naive-blocks", type=int, default=200)
    parser.add_argument("--naive-validators", type=int, default=2_000)
    args = parser.parse_args()

    result = run(args.blocks, args.validators, args.committee, args.repeat)
    print(f"tree {args.blocks} blocks, {args.validators} validators, "
          f"{args.validators // SLOTS_PER_EPOCH} votes per slot, {args.repeat} rounds, "
          f"load average {os.getloadavg()[0]:.1f}")
    timings = (
        ("apply votes (one slot)", "apply"),
        ("get_head after the votes", "get_head"),
        ("on_block (new head)", "on_block"),
    )
    for label, key in timings:
        samples = result[key]
        print(f"{label:26} min {min(samples) * 1000:7.2f} ms  "
              f"median {statistics.median(samples) * 1000:7.2f} ms")

    proto, votes = result["proto"], result["votes"]
    head = proto_head(proto, votes)
    path = []
    node = head
    while proto.parents[node] >= 0:
        node = proto.parents[node]
        path.extend(proto.children[node])
    # One spec-style get_weight over a validator sample, for path children spread along the
    # chain, scaled to all validators and to every weight the walk computes.
    sample = min(args.validators, 2_000)
    latest = votes.nodes[:sample].tolist()
    balances = [BALANCE] * sample
    probes = path[:: max(1, len(path) // 20)]
    per_call = statistics.mean(
        timed(lambda c=child: spec_style_get_weight(proto, latest, balances, c), 1)
        for child in probes
    ) * (args.validators / sample)
    estimate = per_call * len(path)
    print(f"spec-style get_head (estimate): {len(path)} weights of ~{per_call * 1000:.0f} ms "
          f"= ~{estimate:.0f} s, ~{estimate / min(result['get_head']):.0f}x the proto-array")

    naive_time, proto_time, same = naive_compare(args.naive_blocks, args.naive_validators)
    print(f"small tree {args.naive_blocks} blocks, {args.naive_validators} validators: "
          f"spec-style {naive_time * 1000:.1f} ms, proto-array {proto_time * 1000:.3f} ms, "
          f"ratio {naive_time / proto_time:.0f}x, same head: {same}")


if __name__ == "__main__":
    main()
