"""Type namespaces: caching, fork_of, and layouts against the executable spec."""

import importlib

import pytest

from caplin.config import ChainSpec, Fork
from caplin.types import FORK_VERSIONED
from caplin.types.basic import Container
from caplin.types.ssz import hash_tree_root

MINIMAL = ChainSpec.for_preset("minimal")


def test_types_are_cached_per_preset():
    assert MINIMAL.types(Fork.ALTAIR) is MINIMAL.types(Fork.ALTAIR)
    custom = ChainSpec.from_config({"PRESET_BASE": "minimal", "ALTAIR_FORK_EPOCH": 3})
    assert custom.types(Fork.ALTAIR).BeaconState is MINIMAL.types(Fork.ALTAIR).BeaconState
    mainnet = ChainSpec.for_preset("mainnet")
    assert mainnet.types(Fork.ALTAIR).BeaconState is not MINIMAL.types(Fork.ALTAIR).BeaconState


def test_namespace_knows_its_fork():
    types = MINIMAL.types(Fork.CAPELLA)
    assert types.fork == Fork.CAPELLA
    assert types.preset_name == "minimal"
    assert "Withdrawal" in types.names()
    assert dict(types)["Withdrawal"] is types.Withdrawal


@pytest.mark.parametrize("fork", list(Fork), ids=lambda fork: fork.lower)
def test_fork_of_versioned_containers(fork):
    types = MINIMAL.types(fork)
    checked = 0
    for name in FORK_VERSIONED:
        cls = getattr(types, name, None)
        if cls is None:
            continue
        assert MINIMAL.fork_of(cls) == fork, name
        assert MINIMAL.fork_of(cls()) == fork, name
        checked += 1
    assert checked >= 4


def test_fork_of_shared_class_is_the_introducing_fork():
    assert MINIMAL.fork_of(MINIMAL.types(Fork.FULU).Checkpoint) == Fork.PHASE0
    assert MINIMAL.fork_of(MINIMAL.types(Fork.FULU).Attestation) == Fork.ELECTRA


def test_fork_of_foreign_class_raises():
    with pytest.raises(TypeError, match="not an SSZ class"):
        MINIMAL.fork_of(int)


def test_fields_added_per_fork():
    fields = {fork: set(MINIMAL.types(fork).BeaconState.fields()) for fork in Fork}
    assert fields[Fork.ALTAIR] - fields[Fork.PHASE0] >= {"inactivity_scores", "next_sync_committee"}
    assert fields[Fork.FULU] - fields[Fork.ELECTRA] == {"proposer_lookahead"}
    body = MINIMAL.types(Fork.ELECTRA).BeaconBlockBody.fields()
    assert list(body)[-1] == "execution_requests"
    blinded = MINIMAL.types(Fork.DENEB).BlindedBeaconBlockBody.fields()
    assert "execution_payload_header" in blinded
    assert "execution_payload" not in blinded


# Against the executable spec: every container both define must have the same
# field names and the same default root, which pins every limit and length.
REFERENCE_FORKS = [Fork.PHASE0, Fork.BELLATRIX, Fork.ELECTRA, Fork.FULU]


@pytest.mark.parametrize("fork", REFERENCE_FORKS, ids=lambda fork: fork.lower)
def test_layouts_match_reference_spec(fork):
    pytest.importorskip("eth_consensus_specs")
    reference = importlib.import_module(f"eth_consensus_specs.{fork.lower}.minimal")
    compared = 0
    for name, cls in MINIMAL.types(fork):
        if not issubclass(cls, Container):
            continue
        theirs = getattr(reference, name, None)
        if not isinstance(theirs, type) or not hasattr(theirs, "model_fields"):
            continue
        assert list(cls.fields()) == list(theirs.model_fields), name
        assert hash_tree_root(cls()) == bytes(reference.hash_tree_root(theirs())), name
        compared += 1
    assert compared > 25
