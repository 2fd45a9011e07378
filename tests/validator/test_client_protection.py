"""The node's validator client on a real dev chain: every block and vote passes the database."""

import logging
import threading

import pytest

from caplin.transition.helpers import get_beacon_proposer_index
from caplin.validator.client import ValidatorClient
from caplin.validator.slashing_protection import (
    SlashingProtection,
    SlashingProtectionError,
    protection_path,
)
from tests.node.devnet import drive, open_past_chain


@pytest.fixture
def dev(tmp_path):
    chain = open_past_chain(tmp_path / "chain", "electra", slots=8, validators=16)
    yield chain
    chain.close()


def client_of(dev, datadir) -> ValidatorClient:
    return ValidatorClient(
        dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool, datadir=datadir
    )


def test_duties_recorded(dev, tmp_path):
    client = client_of(dev, tmp_path)
    try:
        drive(dev, client, 1, 3)
        pubkeys = client.protection.pubkeys()
    finally:
        client.close()
    assert dev.chain.snapshot.head_slot == 3
    with SlashingProtection.open(protection_path(tmp_path), None) as db:
        assert db.pubkeys() == pubkeys
        slots = {record.slot for pubkey in pubkeys for record in db.signed_blocks(pubkey)}
        assert slots == {1, 2, 3}
        # Validators that have only proposed so far have no attestation record yet.
        targets = [db.watermarks(pubkey).target_epoch for pubkey in pubkeys]
        assert set(targets) - {None} == {0}
        assert targets.count(0) >= 3


def test_conflicting_records_skip_duties(dev, tmp_path, caplog):
    # Another signer with the same keys already signed slot 1's block and every epoch-0 vote.
    _, state = client_of(dev, None).head_state_at(1)
    proposer = get_beacon_proposer_index(dev.spec, state)
    root = bytes(state.genesis_validators_root)
    with SlashingProtection.open(protection_path(tmp_path), root) as db:
        db.check_and_record_block(dev.keys[proposer].pubkey, 1, b"\x01" * 32)
        for key in dev.keys:
            db.check_and_record_attestation(key.pubkey, 0, 0, b"\x01" * 32)

    client = client_of(dev, tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="caplin.validator"):
            assert client.propose(1) is None
            assert client.attest(1) == 0
    finally:
        client.close()
    messages = [record.getMessage() for record in caplog.records]
    assert any("block not signed" in m and "double_proposal" in m for m in messages)
    assert any("attestations not signed" in m and "double_vote" in m for m in messages)
    assert dev.chain.snapshot.head_slot == 0


def test_database_of_other_chain_rejected(dev, tmp_path):
    with SlashingProtection.open(protection_path(tmp_path), b"\x33" * 32):
        pass
    with pytest.raises(SlashingProtectionError, match="another chain"):
        client_of(dev, tmp_path)


def test_signature_follows_committed_record(dev, tmp_path):
    """Each block and vote signature is made only after its record is readable on disk."""
    client = client_of(dev, tmp_path)
    seen = []
    original = client.protection

    class CheckingKey:
        def __init__(self, key):
            self.secret_key = key.secret_key
            self.pubkey = key.pubkey
            self._key = key

        def sign(self, signing_root):
            marks = original.watermarks(self.pubkey)
            seen.append((marks.block_root, marks.attestation_root, signing_root))
            return self._key.sign(signing_root)

    client.keys = {index: CheckingKey(key) for index, key in client.keys.items()}
    try:
        drive(dev, client, 1, 2)
    finally:
        client.close()
    protected = [s for s in seen if s[2] in (s[0], s[1])]
    # Two blocks, and one vote per validator in epoch 0's first two slots (16 validators over
    # 8 slots): every protected signature saw its own record first.
    assert len(protected) >= 2 + 2


def test_remove_key_waits_for_running_duty(dev, tmp_path):
    client = client_of(dev, tmp_path)
    pubkey = dev.keys[3].pubkey
    try:
        removed = []
        worker = threading.Thread(target=lambda: removed.append(client.remove_key(pubkey)))
        with client.duty_lock:
            worker.start()
            worker.join(0.2)
            # A duty holds the lock here, so the key must still be usable.
            assert worker.is_alive()
            assert 3 in client.keys
        worker.join(30)
        assert removed == [True]
        assert 3 not in client.keys
        assert pubkey not in client.pubkeys()
        assert client.remove_key(pubkey) is False
    finally:
        client.close()
