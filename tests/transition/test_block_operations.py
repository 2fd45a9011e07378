"""Block operations on synthetic states: valid cases against the executable spec, invalid
cases against the rule named in the error."""

import random
from typing import Any

import pytest
from test_block_support import (
    EPOCH,
    ETH,
    MINIMAL,
    make_state,
    pubkey,
    reference,
    same_root,
    secret_key,
    sign,
    to_reference,
)

from caplin.config.constants import (
    DOMAIN_BEACON_PROPOSER,
    DOMAIN_VOLUNTARY_EXIT,
    FAR_FUTURE_EPOCH,
)
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import BlockProcessingError
from caplin.transition import block
from caplin.transition.block import attestation as attestation_module
from caplin.transition.block._common import find_validator_index
from caplin.transition.helpers import compute_domain, compute_signing_root
from caplin.transition.signatures import SignatureBatch

spec = MINIMAL


def _signed_header(state: Any, fork: Fork, proposer: int, body_byte: int) -> Any:
    types = spec.types(fork)
    header = types.BeaconBlockHeader(
        slot=int(state.slot),
        proposer_index=proposer,
        parent_root=b"\x11" * 32,
        state_root=b"\x22" * 32,
        body_root=bytes([body_byte]) * 32,
    )
    signature = sign(spec, state, proposer, header, DOMAIN_BEACON_PROPOSER, EPOCH)
    return types.SignedBeaconBlockHeader(message=header, signature=signature)


def _proposer_slashing(state: Any, fork: Fork, proposer: int, same: bool = False) -> Any:
    header_1 = _signed_header(state, fork, proposer, 1)
    header_2 = header_1 if same else _signed_header(state, fork, proposer, 2)
    return spec.types(fork).ProposerSlashing(signed_header_1=header_1, signed_header_2=header_2)


@pytest.mark.parametrize("fork", [Fork.PHASE0, Fork.ALTAIR, Fork.ELECTRA], ids=lambda f: f.lower)
def test_proposer_slashing_matches_reference(fork: Fork) -> None:
    state = make_state(fork)
    slashing = _proposer_slashing(state, fork, proposer=5)
    ref_state = to_reference(fork, state, "BeaconState")
    sigs = SignatureBatch()

    block.process_proposer_slashing(spec, state, slashing, sigs)
    sigs.verify()

    reference(fork).process_proposer_slashing(
        ref_state, to_reference(fork, slashing, "ProposerSlashing")
    )
    assert state.validators[5].slashed
    assert same_root(fork, state, ref_state)


def test_proposer_slashing_identical_headers_rejected() -> None:
    state = make_state(Fork.ALTAIR)
    slashing = _proposer_slashing(state, Fork.ALTAIR, proposer=5, same=True)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_proposer_slashing(spec, state, slashing, SignatureBatch())
    assert raised.value.rule == "proposer_slashing.same_header"


def test_proposer_slashing_unknown_proposer_rejected() -> None:
    state = make_state(Fork.ALTAIR, count=8)
    slashing = _proposer_slashing(state, Fork.ALTAIR, proposer=5)
    slashing.signed_header_1.message.proposer_index = 99
    slashing.signed_header_2.message.proposer_index = 99
    with pytest.raises(BlockProcessingError) as raised:
        block.process_proposer_slashing(spec, state, slashing, SignatureBatch())
    assert raised.value.rule == "proposer_slashing.proposer_index"
    assert raised.value.fields["index"] == 99


def test_proposer_slashing_bad_signature_fails_batch() -> None:
    state = make_state(Fork.ALTAIR)
    slashing = _proposer_slashing(state, Fork.ALTAIR, proposer=5)
    slashing.signed_header_2.signature = slashing.signed_header_1.signature
    sigs = SignatureBatch()
    block.process_proposer_slashing(spec, state, slashing, sigs)
    with pytest.raises(BlockProcessingError) as raised:
        sigs.verify()
    assert raised.value.rule == "signature"


def _voluntary_exit(state: Any, fork: Fork, index: int, epoch: int = EPOCH) -> Any:
    types = spec.types(fork)
    message = types.VoluntaryExit(epoch=epoch, validator_index=index)
    if fork >= Fork.DENEB:
        domain = compute_domain(
            spec, DOMAIN_VOLUNTARY_EXIT, spec.CAPELLA_FORK_VERSION, state.genesis_validators_root
        )
        signature = bls.Sign(secret_key(index), compute_signing_root(spec, message, domain))
    else:
        signature = sign(spec, state, index, message, DOMAIN_VOLUNTARY_EXIT, epoch)
    return types.SignedVoluntaryExit(message=message, signature=signature)


@pytest.mark.parametrize("fork", [Fork.PHASE0, Fork.DENEB, Fork.ELECTRA], ids=lambda f: f.lower)
def test_voluntary_exit_matches_reference(fork: Fork) -> None:
    state = make_state(fork)
    signed_exit = _voluntary_exit(state, fork, index=3)
    ref_state = to_reference(fork, state, "BeaconState")
    sigs = SignatureBatch()

    block.process_voluntary_exit(spec, state, signed_exit, sigs)
    sigs.verify()

    reference(fork).process_voluntary_exit(
        ref_state, to_reference(fork, signed_exit, "SignedVoluntaryExit")
    )
    assert int(state.validators[3].exit_epoch) != FAR_FUTURE_EPOCH
    assert same_root(fork, state, ref_state)


def test_voluntary_exit_future_epoch_rejected() -> None:
    state = make_state(Fork.CAPELLA)
    signed_exit = _voluntary_exit(state, Fork.CAPELLA, index=3, epoch=EPOCH + 1)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_voluntary_exit(spec, state, signed_exit, SignatureBatch())
    assert raised.value.rule == "voluntary_exit.epoch"
    assert raised.value.fields["exit_epoch"] == EPOCH + 1


def test_voluntary_exit_with_pending_withdrawal_rejected() -> None:
    state = make_state(Fork.ELECTRA)
    state.pending_partial_withdrawals.append(
        spec.types(Fork.ELECTRA).PendingPartialWithdrawal(
            validator_index=4, amount=ETH, withdrawable_epoch=EPOCH + 10
        )
    )
    signed_exit = _voluntary_exit(state, Fork.ELECTRA, index=4)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_voluntary_exit(spec, state, signed_exit, SignatureBatch())
    assert raised.value.rule == "voluntary_exit.pending_withdrawals"


def test_disabled_batch_accepts_bad_signature() -> None:
    state = make_state(Fork.CAPELLA)
    signed_exit = _voluntary_exit(state, Fork.CAPELLA, index=3)
    signed_exit.signature = bls.G2_POINT_AT_INFINITY
    sigs = SignatureBatch(enabled=False)
    block.process_voluntary_exit(spec, state, signed_exit, sigs)
    sigs.verify()
    assert int(state.validators[3].exit_epoch) != FAR_FUTURE_EPOCH


def test_find_validator_index_across_states() -> None:
    forward = make_state(Fork.ALTAIR, count=4)
    backward = make_state(Fork.ALTAIR, count=4)
    for position in range(4):
        backward.validators[position].pubkey = pubkey(3 - position)

    assert find_validator_index(forward, pubkey(1)) == 1
    assert find_validator_index(backward, pubkey(1)) == 2
    assert find_validator_index(forward, pubkey(1)) == 1
    assert find_validator_index(forward, pubkey(40)) is None


@pytest.mark.parametrize("prior_votes", [15, 16], ids=["minority", "majority"])
def test_eth1_vote_adopted_on_majority(prior_votes: int) -> None:
    types = spec.types(Fork.DENEB)
    vote = types.Eth1Data(deposit_root=b"\x05" * 32, deposit_count=9, block_hash=b"\x06" * 32)
    other = types.Eth1Data(deposit_count=1)
    state = make_state(Fork.DENEB, count=8)
    state.eth1_data_votes = [other] * 3 + [vote] * prior_votes
    body = types.BeaconBlockBody(eth1_data=vote)

    for attempt in range(2):
        copy = state.copy()
        block.process_eth1_data(spec, copy, body)
        assert len(copy.eth1_data_votes) == prior_votes + 4, attempt
        adopted = copy.eth1_data.hash_tree_root() == vote.hash_tree_root()
        assert adopted == (prior_votes == 16), attempt


def test_participation_paths_agree() -> None:
    rng = random.Random(3)
    for trial in range(5):
        state = make_state(Fork.ELECTRA, count=40)
        state.current_epoch_participation = [rng.randrange(8) for _ in range(40)]
        for index in range(40):
            state.validators[index].effective_balance = rng.choice([16, 31, 32, 2048]) * ETH
        attesting = sorted(rng.sample(range(40), rng.randrange(1, 40)))
        flag_indices = sorted(rng.sample(range(3), rng.randrange(0, 4)))
        one_by_one = state.copy()
        whole_list = state.copy()

        numerator_1 = attestation_module._add_flags_one_by_one(
            spec, one_by_one, "current_epoch_participation", attesting, flag_indices
        )
        numerator_2 = attestation_module._add_flags_to_list(
            spec, whole_list, "current_epoch_participation", attesting, flag_indices
        )

        assert numerator_1 == numerator_2, trial
        assert one_by_one.hash_tree_root() == whole_list.hash_tree_root(), trial
