"""merkle_proof runner: single-leaf proofs into SSZ objects (blob commitments in block bodies).

The light_client runner's `single_merkle_proof` handler has the same format and
uses `check_single_merkle_proof` from here.
"""

from caplin.merkle import (
    compute_merkle_proof,
    get_merkle_node,
    is_valid_merkle_branch_for_gindex,
)
from spec_tests.case import Case
from spec_tests.registry import register


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def check_single_merkle_proof(case: Case) -> None:
    """Verify the case's branch for its leaf, then check that our proof and leaf equal it."""
    object_type = getattr(case.spec.types(case.fork_enum), case.suite)
    obj = object_type.decode_bytes(case.ssz("object"))
    proof = case.yaml("proof")
    leaf = _hex(proof["leaf"])
    gindex = int(proof["leaf_index"])
    branch = [_hex(node) for node in proof["branch"]]
    root = bytes(obj.hash_tree_root())

    if not is_valid_merkle_branch_for_gindex(leaf, branch, gindex, root):
        raise AssertionError(f"given branch does not prove leaf at gindex {gindex}")
    actual_leaf = get_merkle_node(obj, gindex)
    if actual_leaf != leaf:
        raise AssertionError(f"leaf differs: expected 0x{leaf.hex()}, got 0x{actual_leaf.hex()}")
    actual = compute_merkle_proof(obj, gindex)
    if actual != branch:
        for depth, (expected_node, actual_node) in enumerate(zip(branch, actual, strict=False)):
            if expected_node != actual_node:
                raise AssertionError(
                    f"branch differs at depth {depth}: expected 0x{expected_node.hex()}, "
                    f"got 0x{actual_node.hex()}"
                )
        raise AssertionError(f"branch length differs: expected {len(branch)}, got {len(actual)}")


@register("merkle_proof", "single_merkle_proof")
def run_single_merkle_proof(case: Case) -> None:
    check_single_merkle_proof(case)
