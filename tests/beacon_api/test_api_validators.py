"""Validator statuses and id resolution read from a registry's SSZ bytes."""

import pytest
from beacon_api_chain import DevChain

from beacon_api.validators import STATUSES, Registry, ValidatorRecord, validators_json
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.errors import ApiError

FAR = FAR_FUTURE_EPOCH
EPOCH = 10

# (activation_eligibility, activation, exit, withdrawable, slashed, effective balance, status)
STATUS_CASES = [
    (FAR, FAR, FAR, FAR, False, 32, "pending_initialized"),
    (5, FAR, FAR, FAR, False, 32, "pending_queued"),
    (5, 11, FAR, FAR, False, 32, "pending_queued"),
    (0, 0, FAR, FAR, False, 32, "active_ongoing"),
    (0, 10, FAR, FAR, False, 32, "active_ongoing"),
    (0, 0, 20, 40, False, 32, "active_exiting"),
    (0, 0, 20, 40, True, 32, "active_slashed"),
    (0, 0, 10, 40, False, 32, "exited_unslashed"),
    (0, 0, 5, 40, True, 32, "exited_slashed"),
    (0, 0, 5, 10, False, 32, "withdrawal_possible"),
    (0, 0, 5, 8, True, 0, "withdrawal_done"),
]


@pytest.fixture(scope="module")
def small_chain() -> DevChain:
    return DevChain(validators=len(STATUS_CASES))


def test_status_cases_cover_every_status() -> None:
    assert {case[-1] for case in STATUS_CASES} == set(STATUSES)


@pytest.mark.parametrize("case", STATUS_CASES, ids=[case[-1] for case in STATUS_CASES])
def test_record_status(case: tuple) -> None:
    *epochs, slashed, balance, expected = case
    record = ValidatorRecord(0, b"", b"", balance, slashed, *epochs)
    assert record.status(EPOCH) == expected


def test_vectorised_statuses_match_records(small_chain: DevChain) -> None:
    state = small_chain.genesis_state.copy()
    for index, case in enumerate(STATUS_CASES):
        eligibility, activation, exit_epoch, withdrawable, slashed, balance, _ = case
        validator = state.validators[index]
        validator.activation_eligibility_epoch = eligibility
        validator.activation_epoch = activation
        validator.exit_epoch = exit_epoch
        validator.withdrawable_epoch = withdrawable
        validator.slashed = slashed
        validator.effective_balance = balance
        state.validators[index] = validator
    items = validators_json(state, EPOCH, None, None)
    assert [item["status"] for item in items] == [case[-1] for case in STATUS_CASES]
    exited = validators_json(state, EPOCH, None, ["exited"])
    assert [item["status"] for item in exited] == ["exited_unslashed", "exited_slashed"]


def test_json_matches_registry_views(small_chain: DevChain) -> None:
    state = small_chain.genesis_state
    item = validators_json(state, 0, ["3"], None)[0]
    validator = state.validators[3]
    assert item["validator"]["pubkey"] == "0x" + bytes(validator.pubkey).hex()
    assert item["validator"]["withdrawal_credentials"] == (
        "0x" + bytes(validator.withdrawal_credentials).hex()
    )
    assert item["validator"]["effective_balance"] == str(int(validator.effective_balance))
    assert item["validator"]["exit_epoch"] == str(FAR)
    assert item["balance"] == str(int(state.balances[3]))


def test_ids_resolve_in_order(small_chain: DevChain) -> None:
    registry = Registry(small_chain.genesis_state)
    pubkey = "0x" + registry.pubkey(4).hex()
    unknown = "0x" + "11" * 48
    assert registry.resolve_ids(["2", pubkey, "2", unknown, "999"]) == [2, 4]


@pytest.mark.parametrize("bad", ["-1", "0x12", "abc", "0x" + "zz" * 48, "１"])
def test_bad_id_rejected(small_chain: DevChain, bad: str) -> None:
    registry = Registry(small_chain.genesis_state)
    with pytest.raises(ApiError) as raised:
        registry.resolve_ids([bad])
    assert raised.value.status == 400


SLICED_VALUES = [
    [],
    list(range(5000)),
    {"a": list(range(4097)), "b": {"c": [{"d": "e"}] * 3000, "f": True}, "g": None},
    [{"x": [1, 2]}] * 2049,
]


@pytest.mark.parametrize("value", SLICED_VALUES, ids=["empty", "ints", "nested", "dicts"])
def test_sliced_dumps_match_orjson(value: object) -> None:
    import orjson

    from beacon_api.responses import dumps_in_slices

    assert dumps_in_slices(value) == orjson.dumps(value)
