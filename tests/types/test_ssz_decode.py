"""Strict SSZ decoding: every SSZ kind, valid and malformed."""

import pytest

from caplin.errors import SSZError
from caplin.types.basic import (
    Bitlist,
    Bitvector,
    ByteList,
    Bytes32,
    Container,
    List,
    Vector,
    boolean,
    uint8,
    uint16,
    uint64,
    uint256,
)
from caplin.types.ssz import decode, encode, hash_tree_root


def offset(value: int) -> bytes:
    return value.to_bytes(4, "little")


class Fixed(Container):
    number: uint64
    flag: boolean
    bits: Bitvector[4]


class Variable(Container):
    head: uint16
    first: List[uint8, 4]
    second: List[uint8, 4]


class Nested(Container):
    items: List[Fixed, 3]
    raw: ByteList[5]
    marks: Bitlist[10]


def valid_variable() -> bytes:
    return b"\x01\x00" + offset(10) + offset(12) + b"\x01\x02" + b"\x03"


# Basic types


@pytest.mark.parametrize(
    ("cls", "data", "value"),
    [
        (uint8, b"\x07", 7),
        (uint16, b"\x01\x02", 0x0201),
        (uint64, (2**64 - 1).to_bytes(8, "little"), 2**64 - 1),
        (uint256, (5).to_bytes(32, "little"), 5),
        (boolean, b"\x00", 0),
        (boolean, b"\x01", 1),
    ],
)
def test_basic_decodes(cls, data, value):
    assert int(decode(cls, data)) == value


@pytest.mark.parametrize("length", [0, 7, 9])
def test_uint64_wrong_length_raises(length):
    with pytest.raises(SSZError, match="expected exactly 8"):
        decode(uint64, b"\x00" * length)


@pytest.mark.parametrize("byte", [2, 0x80, 0xFF])
def test_boolean_other_than_0_1_raises(byte):
    with pytest.raises(SSZError, match="expected 0 or 1"):
        decode(boolean, bytes([byte]))


# Byte vectors and lists


def test_bytevector_wrong_length_raises():
    assert decode(Bytes32, b"\x11" * 32) == b"\x11" * 32
    with pytest.raises(SSZError, match="expected exactly 32"):
        decode(Bytes32, b"\x11" * 31)
    with pytest.raises(SSZError, match="expected exactly 32"):
        decode(Bytes32, b"\x11" * 33)


def test_bytelist_limit():
    assert decode(ByteList[5], b"") == b""
    assert decode(ByteList[5], b"12345") == b"12345"
    with pytest.raises(SSZError, match="over the limit of 5"):
        decode(ByteList[5], b"123456")


# Bitfields


def test_bitvector_padding_bits_raise():
    assert list(decode(Bitvector[4], b"\x0f")) == [True] * 4
    with pytest.raises(SSZError, match="padding"):
        decode(Bitvector[4], b"\x1f")
    with pytest.raises(SSZError, match="padding"):
        decode(Bitvector[10], b"\xff\x04")
    with pytest.raises(SSZError, match="expected exactly 1"):
        decode(Bitvector[8], b"\xff\x00")


def test_bitvector_full_bytes_have_no_padding():
    assert len(decode(Bitvector[16], b"\xff\xff")) == 16


def test_bitlist_delimiter():
    assert len(decode(Bitlist[10], b"\x01")) == 0
    assert len(decode(Bitlist[10], b"\xff\x07")) == 10
    with pytest.raises(SSZError, match="delimiter"):
        decode(Bitlist[10], b"")
    with pytest.raises(SSZError, match="delimiter"):
        decode(Bitlist[10], b"\x05\x00")
    with pytest.raises(SSZError, match="over the limit of 10"):
        decode(Bitlist[10], b"\xff\x0f")


# Lists and vectors of fixed-size elements


def test_list_of_basic_elements():
    data = (1).to_bytes(8, "little") + (2).to_bytes(8, "little")
    assert [int(x) for x in decode(List[uint64, 4], data)] == [1, 2]
    with pytest.raises(SSZError, match="not a multiple"):
        decode(List[uint64, 4], data + b"\x00")
    with pytest.raises(SSZError, match="over the limit of 4"):
        decode(List[uint64, 4], data * 3)


def test_vector_of_basic_elements_exact_length():
    assert len(decode(Vector[uint16, 3], b"\x00" * 6)) == 3
    with pytest.raises(SSZError, match="expected exactly 6"):
        decode(Vector[uint16, 3], b"\x00" * 4)


def test_list_of_containers_checks_each_boolean():
    good = (1).to_bytes(8, "little") + b"\x01" + b"\x03"
    bad = (1).to_bytes(8, "little") + b"\x02" + b"\x03"
    assert len(decode(List[Fixed, 3], good + good)) == 2
    with pytest.raises(SSZError, match=r"\[1\]: boolean byte 2"):
        decode(List[Fixed, 3], good + bad)


def test_list_of_containers_checks_bitvector_padding():
    bad = (1).to_bytes(8, "little") + b"\x01" + b"\x13"
    with pytest.raises(SSZError, match="padding"):
        decode(List[Fixed, 3], bad)


# Containers


def test_fixed_container():
    data = (9).to_bytes(8, "little") + b"\x01" + b"\x05"
    value = decode(Fixed, data)
    assert value.number == 9
    assert encode(value) == data
    with pytest.raises(SSZError, match="expected exactly 10"):
        decode(Fixed, data[:-1])
    with pytest.raises(SSZError, match="expected exactly 10"):
        decode(Fixed, data + b"\x00")
    with pytest.raises(SSZError, match=r"Fixed: boolean"):
        decode(Fixed, data[:8] + b"\x02" + data[9:])


def test_variable_container_valid():
    value = decode(Variable, valid_variable())
    assert list(value.first) == [1, 2]
    assert list(value.second) == [3]
    assert encode(value) == valid_variable()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00" + offset(10), "shorter than the fixed part"),
        (b"\x01\x00" + offset(11) + offset(12) + b"\x01\x02\x03", "first offset 11"),
        (b"\x01\x00" + offset(8) + offset(12) + b"\x01\x02\x03", "first offset 8"),
        (b"\x01\x00" + offset(10) + offset(9) + b"\x01\x02\x03", "after the next offset"),
        (b"\x01\x00" + offset(10) + offset(40) + b"\x01\x02\x03", "past the end"),
        (b"\x01\x00" + offset(10) + offset(15) + b"\x01" * 5 + b"\x03", "over the limit of 4"),
        (b"\x01\x00" + offset(10) + offset(10) + b"\x01" * 5, "over the limit of 4"),
    ],
)
def test_variable_container_malformed(data, message):
    with pytest.raises(SSZError, match=message):
        decode(Variable, data)


def test_error_names_the_field_path():
    with pytest.raises(SSZError) as caught:
        decode(Variable, b"\x01\x00" + offset(10) + offset(9) + b"\x01\x02\x03")
    assert caught.value.fields["path"] == "Variable.first"


def test_nested_container_round_trip():
    value = Nested(items=[Fixed(number=1, flag=True)], raw=b"ab", marks=Bitlist[10](1, 0, 1))
    data = encode(value)
    again = decode(Nested, data)
    assert hash_tree_root(again) == hash_tree_root(value)
    assert encode(again) == data


def test_nested_bitlist_without_delimiter_raises():
    value = Nested(items=[], raw=b"", marks=Bitlist[10]())
    data = encode(value)
    with pytest.raises(SSZError, match=r"Nested.marks: .*delimiter"):
        decode(Nested, data[:-1] + b"\x00")


# Lists and vectors of variable-size elements


def test_list_of_variable_elements():
    cls = List[List[uint8, 4], 3]
    data = offset(8) + offset(9) + b"\x01\x02"
    assert [list(x) for x in decode(cls, data)] == [[1], [2]]
    assert len(decode(cls, b"")) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x00", "too short"),
        (offset(0), "positive multiple"),
        (offset(6) + offset(9) + b"\x01\x02", "positive multiple"),
        (offset(16) * 4, "over the limit of 3"),
        (offset(8) + offset(7) + b"\x01\x02", "after the next offset"),
        (offset(8) + offset(20) + b"\x01\x02", "past the end"),
        (offset(2**31), "past the end"),
    ],
)
def test_list_of_variable_elements_malformed(data, message):
    with pytest.raises(SSZError, match=message):
        decode(List[List[uint8, 4], 3], data)


def test_vector_of_variable_elements_count():
    cls = Vector[List[uint8, 4], 2]
    assert len(decode(cls, offset(8) + offset(9) + b"\x01\x02")) == 2
    with pytest.raises(SSZError, match="expected 2"):
        decode(cls, offset(12) + offset(12) + offset(12))
    with pytest.raises(SSZError, match="expected 2 elements"):
        decode(cls, b"")


def test_decode_accepts_bytearray_and_memoryview():
    data = valid_variable()
    assert encode(decode(Variable, bytearray(data))) == data
    assert encode(decode(Variable, memoryview(data))) == data


def test_decoded_state_mutates_like_remerkleable():
    import random

    from random_values import random_value

    from caplin.config import ChainSpec, Fork

    cls = ChainSpec.for_preset("minimal").types(Fork.ELECTRA).BeaconState
    data = encode(random_value(cls, random.Random(7)))
    ours = decode(cls, data)
    theirs = cls.decode_bytes(data)
    for state in (ours, theirs):
        state.slot = 99
        state.balances.append(5)
        state.justification_bits[1] = True
        state.previous_epoch_participation.append(3)
        if len(state.validators):
            state.validators[0].slashed = True
        state.historical_roots.append(b"\x07" * 32)
    assert hash_tree_root(ours) == hash_tree_root(theirs)
    assert encode(ours) == theirs.encode_bytes()


def test_decoded_validators_read_and_write_lazily():
    import pickle
    import random

    from random_values import random_value

    from caplin.config import ChainSpec, Fork

    types = ChainSpec.for_preset("minimal").types(Fork.ELECTRA)
    validators_cls = types.BeaconState.fields()["validators"]
    rng = random.Random(3)
    validators = validators_cls(*(random_value(types.Validator, rng) for _ in range(50)))
    data = validators.encode_bytes()

    ours = decode(validators_cls, data)
    theirs = validators_cls.decode_bytes(data)
    assert hash_tree_root(ours) == hash_tree_root(theirs)
    assert ours[7].pubkey == theirs[7].pubkey
    assert int(ours[49].withdrawable_epoch) == int(theirs[49].withdrawable_epoch)

    for value in (ours, theirs):
        value[3].exit_epoch = 12
        value.append(types.Validator(slashed=True))
    assert hash_tree_root(ours) == hash_tree_root(theirs)
    assert encode(ours) == theirs.encode_bytes()

    # Views do not pickle (remerkleable makes their classes locally), but trees do.
    backing = pickle.loads(pickle.dumps(decode(validators_cls, data).get_backing()))
    assert encode(validators_cls.view_from_backing(backing)) == data


def test_input_over_type_maximum_raises():
    with pytest.raises(SSZError, match="over the limit of 4"):
        decode(Variable, valid_variable()[:-1] + b"\x00" * 5)
    with pytest.raises(SSZError, match="over the limit of 3"):
        decode(List[List[uint8, 4], 3], offset(16) * 250)
