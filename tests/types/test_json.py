"""Beacon-API JSON: round trips for every type of every fork, the spec's values, errors."""

import json
import os
import random
from pathlib import Path

import pytest
from random_values import random_value

from caplin.config import ChainSpec, Fork
from caplin.errors import SSZError
from caplin.types.json import from_json, from_versioned_json, to_json, to_versioned_json
from caplin.types.ssz import decode, encode, hash_tree_root

SPEC = ChainSpec.for_preset("minimal")
SPEC_TESTS = Path(
    os.environ.get("CAPLIN_SPEC_TESTS", Path(__file__).parents[3] / "shared" / "spec-tests")
)


def _all_types() -> list[tuple[str, type]]:
    seen: set[type] = set()
    found = []
    for fork in Fork:
        for name, cls in SPEC.types(fork):
            if cls not in seen:
                seen.add(cls)
                found.append((f"{fork.lower}.{name}", cls))
    return found


ALL_TYPES = _all_types()


@pytest.mark.parametrize(("name", "cls"), ALL_TYPES, ids=[name for name, _ in ALL_TYPES])
def test_random_value_round_trips(name, cls):
    value = random_value(cls, random.Random(name))
    encoded = to_json(value)
    text = json.dumps(encoded)
    again = from_json(cls, json.loads(text))
    assert encode(again) == encode(value)
    assert hash_tree_root(again) == hash_tree_root(value)


def test_encoding_conventions():
    types = SPEC.types(Fork.ELECTRA)
    attestation = types.Attestation(
        aggregation_bits=types.Attestation.fields()["aggregation_bits"](1, 0, 1),
        committee_bits=types.Attestation.fields()["committee_bits"](1, 0, 0, 0),
    )
    attestation.data.slot = 2**64 - 1
    encoded = to_json(attestation)
    assert encoded["aggregation_bits"] == "0x0d"
    assert encoded["committee_bits"] == "0x01"
    assert encoded["data"]["slot"] == "18446744073709551615"
    assert encoded["data"]["source"]["root"] == "0x" + "00" * 32
    assert encoded["signature"] == "0x" + "00" * 96

    validator = types.Validator(slashed=True, effective_balance=32 * 10**9)
    assert to_json(validator)["slashed"] is True
    assert to_json(validator)["effective_balance"] == "32000000000"


def test_uint_lists_are_decimal_strings():
    state = SPEC.types(Fork.ALTAIR).BeaconState()
    state.balances.append(7)
    state.previous_epoch_participation.append(3)
    encoded = to_json(state)
    assert encoded["balances"] == ["7"]
    assert encoded["previous_epoch_participation"] == ["3"]
    assert encoded["slashings"][0] == "0"


def test_versioned_envelope_round_trip():
    block = SPEC.types(Fork.DENEB).SignedBeaconBlock()
    block.message.slot = 5
    envelope = to_versioned_json(block)
    assert envelope["version"] == "deneb"
    again = from_versioned_json(SPEC, "SignedBeaconBlock", envelope)
    assert SPEC.fork_of(again) == Fork.DENEB
    assert hash_tree_root(again) == hash_tree_root(block)


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ([], "version and data"),
        ({"version": "electra"}, "version and data"),
        ({"version": "gloas", "data": {}}, "unknown fork"),
        ({"version": 5, "data": {}}, "unknown fork"),
    ],
)
def test_bad_envelope_raises(envelope, message):
    with pytest.raises(SSZError, match=message):
        from_versioned_json(SPEC, "SignedBeaconBlock", envelope)


def test_envelope_type_missing_in_fork():
    with pytest.raises(SSZError, match="has no type"):
        from_versioned_json(SPEC, "DataColumnSidecar", {"version": "phase0", "data": {}})


def _checkpoint(**overrides):
    value = {"epoch": "1", "root": "0x" + "11" * 32}
    value.update(overrides)
    return value


@pytest.mark.parametrize(
    ("obj", "path", "message"),
    [
        ("not an object", "Checkpoint", "expected a JSON object"),
        (_checkpoint(epoch="-1"), "Checkpoint.epoch", "unsigned decimal"),
        (_checkpoint(epoch="1.5"), "Checkpoint.epoch", "unsigned decimal"),
        (_checkpoint(epoch=" 1"), "Checkpoint.epoch", "unsigned decimal"),
        (_checkpoint(epoch=True), "Checkpoint.epoch", "boolean"),
        (_checkpoint(epoch=str(2**64)), "Checkpoint.epoch", "out of range"),
        (_checkpoint(epoch=-3), "Checkpoint.epoch", "out of range"),
        (_checkpoint(root="11" * 32), "Checkpoint.root", "0x-prefixed"),
        (_checkpoint(root="0x" + "11" * 31), "Checkpoint.root", "expected 32 bytes"),
        (_checkpoint(root="0x1"), "Checkpoint.root", "invalid hex"),
        (_checkpoint(root="0xzz" + "11" * 31), "Checkpoint.root", "invalid hex"),
        ({"epoch": "1"}, "Checkpoint.root", "missing field"),
        (_checkpoint(extra="1"), "Checkpoint.extra", "unknown field"),
    ],
)
def test_bad_json_names_the_field(obj, path, message):
    cls = SPEC.types(Fork.PHASE0).Checkpoint
    with pytest.raises(SSZError, match=message) as caught:
        from_json(cls, obj)
    assert caught.value.fields["path"] == path


def test_bad_nested_json_names_the_full_path():
    types = SPEC.types(Fork.PHASE0)
    body = to_json(types.BeaconBlockBody())
    body["attestations"] = [to_json(types.Attestation())]
    body["attestations"][0]["data"]["slot"] = "x"
    with pytest.raises(SSZError) as caught:
        from_json(types.BeaconBlockBody, body)
    assert caught.value.fields["path"] == "BeaconBlockBody.attestations[0].data.slot"


def test_bad_sequences_raise():
    types = SPEC.types(Fork.PHASE0)
    with pytest.raises(SSZError, match="expected a JSON array"):
        from_json(types.HistoricalBatch, {"block_roots": "0x", "state_roots": []})
    roots = ["0x" + "00" * 32] * (SPEC.SLOTS_PER_HISTORICAL_ROOT - 1)
    with pytest.raises(SSZError, match="expected 64 elements"):
        from_json(types.HistoricalBatch, {"block_roots": roots, "state_roots": roots})
    too_many = [to_json(types.Deposit())] * (SPEC.MAX_DEPOSITS + 1)
    body = to_json(types.BeaconBlockBody())
    body["deposits"] = too_many
    with pytest.raises(SSZError, match="over the limit of 16"):
        from_json(types.BeaconBlockBody, body)


def test_bad_bitfields_raise():
    types = SPEC.types(Fork.PHASE0)
    attestation = to_json(types.Attestation())
    attestation["aggregation_bits"] = "0x00"
    with pytest.raises(SSZError, match="delimiter") as caught:
        from_json(types.Attestation, attestation)
    assert caught.value.fields["path"] == "Attestation.aggregation_bits"
    state = to_json(types.BeaconState())
    state["justification_bits"] = "0x10"
    with pytest.raises(SSZError, match="padding"):
        from_json(types.BeaconState, state)


def test_boolean_must_be_json_bool():
    validator = to_json(SPEC.types(Fork.PHASE0).Validator())
    validator["slashed"] = "false"
    with pytest.raises(SSZError, match="true or false"):
        from_json(SPEC.types(Fork.PHASE0).Validator, validator)


# The spec's own values: value.yaml of each ssz_static case is the same mapping
# as the Beacon-API JSON, except that integers are YAML numbers.

ARCHIVES = sorted(SPEC_TESTS.glob("minimal-*.tar.gz"))


def _stringify_ints(obj):
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, list):
        return [_stringify_ints(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _stringify_ints(value) for key, value in obj.items()}
    return obj


@pytest.mark.skipif(not ARCHIVES, reason=f"no spec-test archives in {SPEC_TESTS}")
@pytest.mark.parametrize("archive", ARCHIVES, ids=lambda path: path.name.removesuffix(".tar.gz"))
def test_spec_values_match_json(archive):
    from spec_tests.source import iter_cases

    def is_first_random_case(key):
        _, _, runner, _, suite, name = key
        return runner == "ssz_static" and suite == "ssz_random" and name == "case_0"

    checked = 0
    for case in iter_cases(str(archive), is_first_random_case):
        cls = getattr(case.spec.types(case.fork_enum), case.handler)
        serialized = case.ssz("serialized")
        value = case.yaml("value")
        from_yaml = from_json(cls, value)
        assert encode(from_yaml) == serialized, case.path
        assert to_json(decode(cls, serialized)) == _stringify_ints(value), case.path
        checked += 1
    assert checked > 20


def test_versioned_envelope_with_explicit_fork():
    attestation = SPEC.types(Fork.FULU).Attestation()
    assert to_versioned_json(attestation)["version"] == "electra"
    assert to_versioned_json(attestation, Fork.FULU)["version"] == "fulu"
