"""Bulk tree reads and writes against remerkleable's own views."""

import numpy as np
import pytest
from remerkleable.basic import boolean, uint8, uint64
from remerkleable.byte_arrays import Bytes32, Bytes48
from remerkleable.complex import Container, List, Vector

from caplin.transition.epoch import validator_columns
from caplin.transition.epoch.tree_arrays import (
    basic_list_from_array,
    changed_leaves,
    patch_basic_list,
    read_basic_list,
    read_basic_vector,
    refresh_basic_list,
)
from caplin.transition.epoch.validator_columns import (
    read_validator_columns,
    write_validator_columns,
)

Balances = List[uint64, 2**40]
Flags = List[uint8, 2**40]


class Validator(Container):
    pubkey: Bytes48
    withdrawal_credentials: Bytes32
    effective_balance: uint64
    slashed: boolean
    activation_eligibility_epoch: uint64
    activation_epoch: uint64
    exit_epoch: uint64
    withdrawable_epoch: uint64


Registry = List[Validator, 2**40]


class Holder(Container):
    validators: Registry


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 31, 32, 33, 1000])
def test_basic_list_round_trip(length):
    rng = np.random.default_rng(length)
    values = rng.integers(0, 2**63, length, dtype=np.uint64)
    expected = Balances(*values.tolist())
    built = basic_list_from_array(Balances, values)
    assert built.hash_tree_root() == expected.hash_tree_root()
    assert len(built) == length
    assert np.array_equal(read_basic_list(expected, "<u8"), values)


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 200])
def test_uint8_list_round_trip(length):
    values = (np.arange(length) % 8).astype(np.uint8)
    expected = Flags(*values.tolist())
    assert basic_list_from_array(Flags, values).hash_tree_root() == expected.hash_tree_root()
    assert np.array_equal(read_basic_list(expected, "u1"), values)


def test_vector_read():
    vector_type = Vector[uint64, 64]
    values = list(range(1000, 1064))
    assert read_basic_vector(vector_type(*values), "<u8").tolist() == values


@pytest.mark.parametrize("changes", [1, 3, 200])
def test_patch_matches_setters(changes):
    rng = np.random.default_rng(changes)
    old = rng.integers(0, 2**40, 300, dtype=np.uint64)
    view = Balances(*old.tolist())
    new = old.copy()
    positions = rng.choice(300, changes, replace=False)
    new[positions] += np.uint64(7)
    patched = patch_basic_list(view, old, new)
    assert patched.hash_tree_root() == Balances(*new.tolist()).hash_tree_root()
    assert view.hash_tree_root() == Balances(*old.tolist()).hash_tree_root()


def test_patch_without_change_keeps_tree():
    values = np.arange(50, dtype=np.uint64)
    view = Balances(*values.tolist())
    assert patch_basic_list(view, values, values.copy()) is view


def test_changed_leaves_finds_setter_edits():
    view = Balances(*range(100))
    edited = view.copy()
    edited[5] = 99
    edited[77] = 1
    contents_old = view.get_backing().get_left()
    contents_new = edited.get_backing().get_left()
    chunks = changed_leaves(contents_old, contents_new, Balances.contents_depth(), 25)
    assert chunks == [1, 19]


def test_refresh_reads_only_changed_chunks():
    values = np.arange(90, dtype=np.uint64)
    view = Balances(*values.tolist())
    backing = view.get_backing()
    assert refresh_basic_list(view, backing, values) is values

    view[0] = 500
    view[89] = 7
    expected = values.copy()
    expected[0] = 500
    expected[89] = 7
    assert refresh_basic_list(view, backing, values).tolist() == expected.tolist()
    view.append(3)
    assert refresh_basic_list(view, backing, values).tolist() == expected.tolist() + [3]


def _validator(index: int, **fields) -> Validator:
    values = {
        "pubkey": index.to_bytes(48, "little"),
        "withdrawal_credentials": (b"\x02" if index % 3 == 0 else b"\x01") + b"\x00" * 31,
        "effective_balance": 32 * 10**9,
        "activation_eligibility_epoch": index,
        "activation_epoch": index + 1,
        "exit_epoch": 2**64 - 1,
        "withdrawable_epoch": 2**64 - 1,
    }
    values.update(fields)
    return Validator(**values)


def _expected_columns(validators):
    return {
        "effective_balance": [int(v.effective_balance) for v in validators],
        "slashed": [bool(v.slashed) for v in validators],
        "activation_epoch": [int(v.activation_epoch) for v in validators],
        "exit_epoch": [int(v.exit_epoch) for v in validators],
        "compounding": [bytes(v.withdrawal_credentials)[0] == 2 for v in validators],
        "pubkey_prefix": [int.from_bytes(bytes(v.pubkey)[:8], "little") for v in validators],
    }


def _assert_columns(columns, validators):
    for name, expected in _expected_columns(validators).items():
        assert getattr(columns, name).tolist() == expected, name


def test_validator_columns_follow_edits_and_appends():
    validator_columns.clear_cache()
    registry = Registry(*[_validator(i) for i in range(40)])
    _assert_columns(read_validator_columns(registry), registry)

    edited = registry.copy()
    edited[3].slashed = True
    edited[17].exit_epoch = 500
    edited.append(_validator(40, effective_balance=10**9))
    _assert_columns(read_validator_columns(edited), edited)


def test_write_validator_columns_matches_setters():
    validator_columns.clear_cache()
    holder = Holder(validators=Registry(*[_validator(i) for i in range(20)]))
    before = read_validator_columns(holder.validators)
    after = before.copy()
    after.effective_balance[4] = 31 * 10**9
    after.exit_epoch[9] = 1234
    after.withdrawable_epoch[9] = 1490
    write_validator_columns(holder, before, after)

    expected = Registry(*[_validator(i) for i in range(20)])
    expected[4].effective_balance = 31 * 10**9
    expected[9].exit_epoch = 1234
    expected[9].withdrawable_epoch = 1490
    assert holder.validators.hash_tree_root() == expected.hash_tree_root()
    _assert_columns(read_validator_columns(holder.validators), expected)


def test_pubkey_lookup_takes_lowest_index():
    validator_columns.clear_cache()
    registry = Registry(*[_validator(i) for i in range(10)])
    registry.append(_validator(4))
    columns = read_validator_columns(registry)
    assert columns.index_of_pubkey(registry, (4).to_bytes(48, "little")) == 4
    assert columns.index_of_pubkey(registry, (99).to_bytes(48, "little")) is None


def test_validator_columns_read_zero_subtrees():
    from remerkleable.tree import PairNode, zero_node

    validator_columns.clear_cache()
    registry = Registry(_validator(1), _validator(2))
    backing = registry.get_backing()
    contents = backing.get_left()
    # Replace the second validator by a zero subtree, as an all-default validator may be.
    depth = Registry.contents_depth()
    path = [contents]
    for _ in range(depth - 1):
        path.append(path[-1].get_left())
    bottom = PairNode(path[-1].get_left(), zero_node(3))
    for node in reversed(path[:-1]):
        bottom = PairNode(bottom, node.get_right())
    zeroed = Registry.view_from_backing(PairNode(bottom, backing.get_right()))
    columns = read_validator_columns(zeroed)
    assert columns.effective_balance.tolist() == [32 * 10**9, 0]
    assert columns.exit_epoch.tolist() == [2**64 - 1, 0]


def test_validator_columns_read_packed_nodes():
    from caplin.config import ChainSpec
    from caplin.config.forks import Fork
    from caplin.types.ssz import decode, encode

    validator_columns.clear_cache()
    types = ChainSpec.for_preset("minimal").types(Fork.ELECTRA)
    registry_type = types.BeaconState.fields()["validators"]
    original = registry_type(
        *[
            types.Validator(
                pubkey=index.to_bytes(48, "little"),
                withdrawal_credentials=(b"\x02" if index % 2 else b"\x01") + bytes(31),
                effective_balance=index * 10**9,
                slashed=index == 3,
                activation_eligibility_epoch=index,
                activation_epoch=index + 1,
                exit_epoch=2**64 - 1 - index,
                withdrawable_epoch=index + 7,
            )
            for index in range(6)
        ]
    )
    decoded = decode(registry_type, encode(original))
    decoded[4].exit_epoch = 99  # one validator becomes a plain subtree, the rest stay packed
    original[4].exit_epoch = 99
    _assert_columns(read_validator_columns(decoded), original)
    columns = read_validator_columns(decoded)
    assert columns.withdrawable_epoch.tolist() == [7, 8, 9, 10, 11, 12]
    assert columns.activation_eligibility_epoch.tolist() == [0, 1, 2, 3, 4, 5]
