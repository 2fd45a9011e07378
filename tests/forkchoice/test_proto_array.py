"""Proto-array and vote tracking against a direct transcription of the spec's get_head.

The trees are synthetic (no states): each node has a slot, the justified epoch of
its post-state and its unrealized justified epoch, so viability, weights,
proposer boost, invalid payloads and pruning can be checked on many random
shapes against the slow spec-style walk.
"""

import random

import numpy as np
import pytest

from forkchoice.proto_array import ExecutionStatus, HeadRules, ProtoArray
from forkchoice.votes import VoteTracker

SLOTS_PER_EPOCH = 8


def root_of(number: int) -> bytes:
    return number.to_bytes(4, "big") + random.Random(number).randbytes(28)


class Tree:
    """A synthetic block tree kept both as a proto-array and as plain lists."""

    def __init__(self) -> None:
        self.proto = ProtoArray(SLOTS_PER_EPOCH)
        self.votes = VoteTracker()
        self.parents: list[int] = []
        self.proto.add_node(root_of(0), None, 0, 0, 0)
        self.votes.add_node()
        self.parents.append(-1)

    def add(self, parent: int, slot: int, justified: int = 0, unrealized: int = 0) -> int:
        proto = self.proto
        index = proto.add_node(
            root_of(len(proto)), proto.roots[parent], slot, justified, unrealized
        )
        self.votes.add_node()
        self.parents.append(parent)
        return index


def spec_style_head(
    proto: ProtoArray,
    latest: dict[int, int],
    balances: dict[int, int],
    justified: int,
    rules: HeadRules,
    finalized: tuple[int, int],
    boost: tuple[int, int] = (-1, 0),
) -> int:
    """The spec's get_head written out directly: O(validators) per weight."""
    count = len(proto)
    children = {
        node: [c for c in range(count) if proto.parents[c] == node] for node in range(count)
    }

    def ancestor(node: int, slot: int) -> int:
        while proto.slots[node] > slot and proto.parents[node] >= 0:
            node = proto.parents[node]
        return node

    def weight(node: int) -> int:
        total = sum(
            balances.get(validator, 0)
            for validator, voted in latest.items()
            if ancestor(voted, proto.slots[node]) == node
        )
        if boost[0] >= 0 and ancestor(boost[0], proto.slots[node]) == node:
            total += boost[1]
        return total

    def leaf_viable(node: int) -> bool:
        if proto.slots[node] // SLOTS_PER_EPOCH < rules.current_epoch:
            source = proto.unrealized_justified_epochs[node]
        else:
            source = proto.justified_epochs[node]
        correct_justified = (
            rules.justified_epoch == 0
            or source == rules.justified_epoch
            or source + 2 >= rules.current_epoch
        )
        finalized_index, start_slot = finalized
        correct_finalized = (
            rules.finalized_epoch == 0 or ancestor(node, start_slot) == finalized_index
        )
        return correct_justified and correct_finalized

    def filtered(node: int) -> list[int]:
        if children[node]:
            nodes = [n for child in children[node] for n in filtered(child)]
            return nodes + [node] if nodes else []
        return [node] if leaf_viable(node) else []

    kept = set(filtered(justified))
    head = justified
    while True:
        candidates = [
            c for c in children[head] if c in kept and proto.statuses[c] != ExecutionStatus.INVALID
        ]
        if not candidates:
            return head
        head = max(candidates, key=lambda c: (weight(c), proto.roots[c]))


def random_tree(rng: random.Random, size: int) -> Tree:
    tree = Tree()
    for _ in range(size):
        parent = rng.randrange(len(tree.proto))
        slot = tree.proto.slots[parent] + rng.randint(1, 6)
        justified = rng.randint(0, 3)
        tree.add(parent, slot, justified, justified + rng.randint(0, 1))
    return tree


def run_votes(tree: Tree, rng: random.Random, validators: int) -> tuple[dict, dict]:
    """Cast random attestations through the tracker; return the spec's view of them."""
    latest: dict[int, tuple[int, int]] = {}
    for _ in range(rng.randint(1, 12)):
        epoch = rng.randint(0, 4)
        node = rng.randrange(len(tree.proto))
        indices = np.array(sorted(rng.sample(range(validators), rng.randint(1, validators))))
        tree.votes.process_attestation(indices, epoch, node)
        for index in indices.tolist():
            if index not in latest or epoch > latest[index][0]:
                latest[index] = (epoch, node)
    return {index: node for index, (_, node) in latest.items()}, latest


@pytest.mark.parametrize("seed", range(60))
def test_head_matches_spec_walk(seed: int) -> None:
    rng = random.Random(seed)
    tree = random_tree(rng, rng.randint(1, 40))
    validators = 24
    balances = {index: rng.choice([0, 16, 31, 32]) * 10**9 for index in range(validators)}
    tree.votes.set_balances(np.array([balances[i] for i in range(validators)], dtype=np.int64))
    latest, _ = run_votes(tree, rng, validators)

    proto = tree.proto
    finalized = rng.randrange(len(proto)) if rng.random() < 0.3 else 0
    finalized_epoch = 0 if finalized == 0 else rng.randint(1, 2)
    start_slot = finalized_epoch * SLOTS_PER_EPOCH
    if proto.slots[finalized] > start_slot:
        start_slot = proto.slots[finalized]
    proto.set_finalized(finalized, start_slot)
    rules = HeadRules(
        current_epoch=rng.randint(0, 6),
        justified_epoch=rng.randint(0, 3),
        finalized_epoch=finalized_epoch,
    )
    justified = rng.choice([0, finalized])
    boost = (rng.randrange(len(proto)), 5 * 10**9) if rng.random() < 0.5 else (-1, 0)
    for node in rng.sample(range(1, len(proto)), min(2, len(proto) - 1)):
        if rng.random() < 0.3:
            proto.mark_invalid(node)

    expected = spec_style_head(
        proto, latest, balances, justified, rules, (finalized, start_slot), boost
    )
    actual = proto.find_head(justified, tree.votes.apply().tolist(), rules, *boost)
    assert actual == expected


def test_votes_move_with_newer_epoch_only() -> None:
    tree = Tree()
    left = tree.add(0, 1)
    right = tree.add(0, 1)
    tree.votes.set_balances(np.full(4, 32, dtype=np.int64))
    tree.votes.process_attestation(np.arange(4), 1, left)
    tree.votes.process_attestation(np.arange(2), 1, right)  # same epoch: ignored
    votes = tree.votes.apply()
    assert votes[left] == 128
    assert votes[right] == 0
    tree.votes.process_attestation(np.arange(2), 2, right)
    votes = tree.votes.apply()
    assert votes[left] == 64
    assert votes[right] == 64


def test_equivocating_votes_are_removed_for_good() -> None:
    tree = Tree()
    child = tree.add(0, 1)
    tree.votes.set_balances(np.full(3, 10, dtype=np.int64))
    tree.votes.process_attestation(np.arange(3), 1, child)
    tree.votes.set_equivocating(np.array([1]))
    assert tree.votes.apply()[child] == 20
    tree.votes.process_attestation(np.array([1]), 5, child)
    assert tree.votes.apply()[child] == 20
    tree.votes.set_balances(np.full(3, 7, dtype=np.int64))
    assert tree.votes.apply()[child] == 14


def test_balance_change_reweights_all_votes() -> None:
    tree = Tree()
    child = tree.add(0, 1)
    tree.votes.set_balances(np.array([5, 6], dtype=np.int64))
    tree.votes.process_attestation(np.array([0, 1]), 1, child)
    assert tree.votes.apply()[child] == 11
    tree.votes.set_balances(np.array([1], dtype=np.int64))  # validator 1 no longer counted
    assert tree.votes.apply()[child] == 1


def test_tie_breaks_on_higher_root() -> None:
    tree = Tree()
    first = tree.add(0, 1)
    second = tree.add(0, 1)
    rules = HeadRules(current_epoch=0, justified_epoch=0, finalized_epoch=0)
    tree.proto.set_finalized(0, 0)
    head = tree.proto.find_head(0, [0, 0, 0], rules)
    higher = max((first, second), key=lambda node: tree.proto.roots[node])
    assert head == higher


def test_inner_node_without_viable_leaf_is_skipped() -> None:
    tree = Tree()
    # Branch a: a leaf whose voting source is stale; branch b: a viable leaf with less weight.
    stale_parent = tree.add(0, 1, justified=1, unrealized=1)
    tree.add(stale_parent, 30, justified=0, unrealized=0)
    fresh = tree.add(0, 2, justified=3, unrealized=3)
    tree.proto.set_finalized(0, 0)
    rules = HeadRules(current_epoch=5, justified_epoch=3, finalized_epoch=0)
    votes = [0] * len(tree.proto)
    votes[stale_parent] = 100
    assert tree.proto.find_head(0, votes, rules) == fresh


def test_invalid_payload_is_never_head() -> None:
    tree = Tree()
    good = tree.add(0, 1)
    bad = tree.add(0, 1)
    bad_child = tree.add(bad, 2)
    tree.proto.set_finalized(0, 0)
    tree.proto.mark_invalid(bad)
    assert tree.proto.statuses[bad_child] == ExecutionStatus.INVALID
    rules = HeadRules(current_epoch=0, justified_epoch=0, finalized_epoch=0)
    votes = [0, 1, 50, 50]
    assert tree.proto.find_head(0, votes, rules) == good


def test_mark_valid_settles_optimistic_ancestors() -> None:
    proto = ProtoArray(SLOTS_PER_EPOCH)
    proto.add_node(root_of(0), None, 0, 0, 0, ExecutionStatus.VALID)
    proto.add_node(root_of(1), root_of(0), 1, 0, 0, ExecutionStatus.OPTIMISTIC)
    proto.add_node(root_of(2), root_of(1), 2, 0, 0, ExecutionStatus.OPTIMISTIC)
    proto.mark_valid(1)
    assert proto.statuses == [
        ExecutionStatus.VALID,
        ExecutionStatus.VALID,
        ExecutionStatus.OPTIMISTIC,
    ]


def test_finalized_descendant_excludes_early_fork() -> None:
    tree = Tree()
    finalized = tree.add(0, 4)
    sibling = tree.add(0, 6)  # a fork before the epoch start slot 8
    after = tree.add(finalized, 9)
    at_boundary = tree.add(finalized, 8)  # its checkpoint block at slot 8 is itself
    tree.proto.set_finalized(finalized, 8)
    flags = tree.proto.finalized_descendant
    assert flags[finalized]
    assert flags[after]
    assert not flags[sibling]
    assert not flags[at_boundary]
    assert not flags[0]


def test_prune_keeps_finalized_subtree_and_votes() -> None:
    rng = random.Random(7)
    tree = random_tree(rng, 60)
    proto = tree.proto
    tree.votes.set_balances(np.full(30, 3, dtype=np.int64))
    run_votes(tree, rng, 30)
    finalized = proto.children[0][0] if proto.children[0] else 0
    before = tree.votes.apply().copy()
    kept_roots = [
        proto.roots[node] for node in range(len(proto)) if proto.is_ancestor(node, finalized)
    ]
    old_roots = list(proto.roots)
    remap = proto.prune(finalized)
    tree.votes.remap_nodes(remap, len(proto))
    assert proto.roots == kept_roots
    assert proto.parents[0] == -1
    after = tree.votes.apply()
    for old, new in enumerate(remap.tolist()):
        if new >= 0:
            assert after[new] == before[old]
            assert proto.roots[new] == old_roots[old]
    for node in range(1, len(proto)):
        assert proto.parents[node] < node
        assert node in proto.children[proto.parents[node]]
