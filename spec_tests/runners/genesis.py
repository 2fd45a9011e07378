"""The `genesis` runner: `initialization` (build the genesis state) and `validity`."""

from caplin.transition.genesis import initialize_beacon_state_from_eth1, is_valid_genesis_state
from caplin.types.ssz import decode
from spec_tests.case import Case
from spec_tests.registry import register
from spec_tests.runners.sanity import decode_state


@register("genesis", "initialization")
def run_initialization(case: Case) -> None:
    spec, fork = case.spec, case.fork_enum
    types = spec.types(fork)
    eth1 = case.yaml("eth1")
    block_hash = bytes.fromhex(eth1["eth1_block_hash"][2:])
    deposits = [decode(types.Deposit, case.ssz(name)) for name in case.ssz_files("deposits")]
    expected_count = case.meta.get("deposits_count")
    if expected_count is not None and expected_count != len(deposits):
        raise AssertionError(f"case has {len(deposits)} deposit files, meta says {expected_count}")
    header = None
    if case.has_ssz("execution_payload_header"):
        header = decode(types.ExecutionPayloadHeader, case.ssz("execution_payload_header"))

    state = initialize_beacon_state_from_eth1(
        spec, block_hash, int(eth1["eth1_timestamp"]), deposits, header, fork=fork
    )
    expected = decode_state(case, "state")
    actual_root, expected_root = bytes(state.hash_tree_root()), bytes(expected.hash_tree_root())
    if actual_root != expected_root:
        raise AssertionError(
            f"genesis state root 0x{actual_root.hex()}, expected 0x{expected_root.hex()}"
        )


@register("genesis", "validity")
def run_validity(case: Case) -> None:
    state = decode_state(case, "genesis")
    expected = bool(case.yaml("is_valid"))
    actual = is_valid_genesis_state(case.spec, state)
    if actual != expected:
        raise AssertionError(f"is_valid_genesis_state returned {actual}, expected {expected}")
