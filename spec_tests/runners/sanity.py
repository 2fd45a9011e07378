"""The `sanity` runner (`blocks`, `slots`) and the block-replay code its siblings share.

`finality`, `random` and `transition` cases have the same shape as sanity
blocks: a pre-state, `blocks_<i>` signed blocks, and a post-state that is
missing when some block must be rejected.
"""

from typing import Any

from caplin.config.forks import Fork
from caplin.errors import CaplinError
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import state_transition
from caplin.types.ssz import decode
from spec_tests.case import Case
from spec_tests.registry import register

# meta.yaml `bls_setting`: 0 or absent lets the runner choose, 1 requires signature checks
# and 2 forbids them. This runner checks them unless forbidden.
_BLS_IGNORED = 2


def verify_signatures(case: Case) -> bool:
    """Return whether to check signatures: yes unless the case's bls_setting forbids it."""
    return int(case.meta.get("bls_setting", 0)) != _BLS_IGNORED


def decode_state(case: Case, name: str, fork: Fork | None = None, spec: Any = None) -> Any:
    spec = spec or case.spec
    types = spec.types(fork if fork is not None else case.fork_enum)
    return decode(types.BeaconState, case.ssz(name))


def decode_block(case: Case, name: str, fork: Fork, spec: Any = None) -> Any:
    spec = spec or case.spec
    return decode(spec.types(fork).SignedBeaconBlock, case.ssz(name))


def check_post_state(case: Case, state: Any, fork: Fork | None = None, spec: Any = None) -> None:
    """Raise AssertionError unless `state` has the root of the case's `post` state."""
    expected = decode_state(case, "post", fork, spec)
    actual_root = bytes(state.hash_tree_root())
    expected_root = bytes(expected.hash_tree_root())
    if actual_root == expected_root:
        return
    differing = [
        name
        for name in type(expected).fields()
        if name in type(state).fields()
        and bytes(getattr(state, name).hash_tree_root())
        != bytes(getattr(expected, name).hash_tree_root())
    ]
    raise AssertionError(
        f"post-state root 0x{actual_root.hex()}, expected 0x{expected_root.hex()}; "
        f"fields that differ: {', '.join(differing) or 'none (type mismatch)'}"
    )


def apply_blocks(case: Case, spec: Any, state: Any, blocks: list[Any]) -> Any:
    """Run `state_transition` for each block in turn and return the last post-state."""
    check = verify_signatures(case)
    for signed_block in blocks:
        state = state_transition(spec, state, signed_block, verify_signatures=check)
    return state


def run_block_case(case: Case, spec: Any, state: Any, blocks: list[Any], post_fork: Fork) -> None:
    """Replay `blocks` on `state`; match the post-state, or require a rejection when absent."""
    if case.has_ssz("post"):
        state = apply_blocks(case, spec, state, blocks)
        check_post_state(case, state, post_fork, spec)
        return
    try:
        apply_blocks(case, spec, state, blocks)
    except CaplinError:
        return
    raise AssertionError(f"all {len(blocks)} blocks were accepted, expected a rejection")


@register("sanity", "blocks")
def run_blocks(case: Case) -> None:
    fork = case.fork_enum
    state = decode_state(case, "pre")
    blocks = [decode_block(case, name, fork) for name in case.ssz_files("blocks")]
    expected_count = case.meta.get("blocks_count")
    if expected_count is not None and expected_count != len(blocks):
        raise AssertionError(f"case has {len(blocks)} block files, meta says {expected_count}")
    run_block_case(case, case.spec, state, blocks, fork)


@register("sanity", "slots")
def run_slots(case: Case) -> None:
    state = decode_state(case, "pre")
    slots = int(case.yaml("slots"))
    state = process_slots(case.spec, state, int(state.slot) + slots)
    check_post_state(case, state)
