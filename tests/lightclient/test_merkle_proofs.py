"""Tests of caplin.merkle: generalized indices, single proofs, normalized branches, multiproofs."""

import pytest
from remerkleable.basic import uint64
from remerkleable.byte_arrays import Bytes32
from remerkleable.complex import Container, List, Vector

from caplin import merkle
from caplin.config import ChainSpec, constants
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256


class Pair(Container):
    root: Bytes32
    epoch: uint64


class Sample(Container):
    slot: uint64
    first: Pair
    numbers: List[uint64, 16]
    roots: Vector[Bytes32, 4]
    second: Pair


def make_sample() -> Sample:
    return Sample(
        slot=3,
        first=Pair(root=b"\x01" * 32, epoch=4),
        numbers=[1, 2, 3],
        roots=[bytes([index]) * 32 for index in range(4)],
        second=Pair(epoch=9),
    )


PATHS = [
    ("slot",),
    ("first",),
    ("first", "root"),
    ("numbers", 0),
    ("numbers", "__len__"),
    ("roots", 2),
    ("second", "epoch"),
]


@pytest.mark.parametrize("path", PATHS, ids=lambda path: ".".join(map(str, path)))
def test_proof_round_trip(path: tuple) -> None:
    sample = make_sample()
    gindex = merkle.get_generalized_index(Sample, *path)
    branch = merkle.compute_merkle_proof(sample, gindex)
    leaf = merkle.get_merkle_node(sample, gindex)
    root = bytes(sample.hash_tree_root())

    assert len(branch) == merkle.floorlog2(gindex)
    assert merkle.compute_merkle_root(leaf, branch, gindex) == root
    assert merkle.is_valid_merkle_branch_for_gindex(leaf, branch, gindex, root)


def test_generalized_index_values() -> None:
    # Five fields pad to eight leaves, so field i sits at 8 + i.
    assert merkle.get_generalized_index(Sample, "slot") == 8
    assert merkle.get_generalized_index(Sample, "first", "root") == 18
    assert merkle.get_generalized_index(Sample, "numbers", "__len__") == 21


def test_state_gindices_match_light_client_constants() -> None:
    spec = ChainSpec.for_preset("minimal")
    altair = spec.types(Fork.ALTAIR).BeaconState
    electra = spec.types(Fork.ELECTRA).BeaconState
    capella_body = spec.types(Fork.CAPELLA).BeaconBlockBody

    finalized = merkle.get_generalized_index(altair, "finalized_checkpoint", "root")
    assert finalized == constants.FINALIZED_ROOT_GINDEX
    assert merkle.get_generalized_index(altair, "current_sync_committee") == (
        constants.CURRENT_SYNC_COMMITTEE_GINDEX
    )
    electra_finalized = merkle.get_generalized_index(electra, "finalized_checkpoint", "root")
    assert electra_finalized == constants.FINALIZED_ROOT_GINDEX_ELECTRA
    assert merkle.get_generalized_index(electra, "next_sync_committee") == (
        constants.NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA
    )
    assert merkle.get_generalized_index(capella_body, "execution_payload") == (
        constants.EXECUTION_PAYLOAD_GINDEX
    )


def test_unknown_path_raises() -> None:
    with pytest.raises(KeyError):
        merkle.get_generalized_index(Sample, "numbers", 16)


def test_tampered_branch_fails() -> None:
    sample = make_sample()
    gindex = merkle.get_generalized_index(Sample, "roots", 1)
    branch = merkle.compute_merkle_proof(sample, gindex)
    leaf = merkle.get_merkle_node(sample, gindex)
    root = bytes(sample.hash_tree_root())
    tampered = [branch[0][:31] + b"\xff", *branch[1:]]

    assert not merkle.is_valid_merkle_branch_for_gindex(leaf, tampered, gindex, root)
    assert not merkle.is_valid_merkle_branch_for_gindex(b"\x07" * 32, branch, gindex, root)
    assert not merkle.is_valid_merkle_branch_for_gindex(leaf, branch[:-1], gindex, root)
    assert not merkle.is_valid_merkle_branch(leaf, branch, len(branch) + 1, 1, root)


def test_normalized_branch_accepts_zero_padding_only() -> None:
    sample = make_sample()
    gindex = merkle.get_generalized_index(Sample, "second", "epoch")
    branch = merkle.compute_merkle_proof(sample, gindex)
    leaf = merkle.get_merkle_node(sample, gindex)
    root = bytes(sample.hash_tree_root())
    padded = merkle.normalize_merkle_branch(branch, gindex << 2)

    assert padded[:2] == [merkle.ZERO_ROOT, merkle.ZERO_ROOT]
    assert merkle.is_valid_normalized_merkle_branch(leaf, padded, gindex, root)
    assert not merkle.is_valid_normalized_merkle_branch(
        leaf, [b"\x01" * 32, *padded[1:]], gindex, root
    )


def test_multiproof_round_trip() -> None:
    sample = make_sample()
    root = bytes(sample.hash_tree_root())
    indices = [
        merkle.get_generalized_index(Sample, "slot"),
        merkle.get_generalized_index(Sample, "first", "epoch"),
        merkle.get_generalized_index(Sample, "roots", 3),
    ]
    proof = merkle.compute_merkle_multiproof(sample, indices)
    leaves = [merkle.get_merkle_node(sample, index) for index in indices]

    assert merkle.verify_merkle_multiproof(leaves, proof, indices, root)
    assert not merkle.verify_merkle_multiproof(leaves[::-1], proof, indices, root)
    assert not merkle.verify_merkle_multiproof(leaves, proof[:-1], indices, root)


def test_helper_indices_exclude_path_nodes() -> None:
    # Leaves 8 and 9 are siblings: their parent 4 is computed, so only 5 and 3 are needed.
    assert merkle.get_helper_indices([8, 9]) == [5, 3]
    assert merkle.get_helper_indices([2]) == [3]


def test_compute_merkle_root_of_two_leaves() -> None:
    left, right = b"\x01" * 32, b"\x02" * 32
    assert merkle.compute_merkle_root(left, [right], 2) == sha256(left + right)
    assert merkle.compute_merkle_root(right, [left], 3) == sha256(left + right)
