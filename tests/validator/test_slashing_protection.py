"""The slashing protection database on real LMDB files: rules, restarts, crashes, locking."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from caplin.validator.slashing_protection import (
    ATTESTATION_HISTORY_EPOCHS,
    BLOCK_HISTORY_SLOTS,
    AttestationRequest,
    SlashableSigningError,
    SlashingProtection,
    SlashingProtectionError,
)

CHAIN = b"\x11" * 32
OTHER_CHAIN = b"\x22" * 32
KEY = b"\xaa" * 48
OTHER_KEY = b"\xbb" * 48


def root(number: int) -> bytes:
    return number.to_bytes(32, "big")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "slashing_protection"


def reopen(path):
    return SlashingProtection.open(path, CHAIN)


def rejected_rule(call, *args) -> str:
    with pytest.raises(SlashableSigningError) as info:
        call(*args)
    return info.value.rule


def test_block_rules(path):
    with reopen(path) as db:
        db.check_and_record_block(KEY, 10, root(1))
        db.check_and_record_block(KEY, 10, root(1))
        assert rejected_rule(db.check_and_record_block, KEY, 10, root(2)) == "double_proposal"
        assert rejected_rule(db.check_and_record_block, KEY, 9, root(3)) == (
            "block_slot_not_above_newest"
        )
        db.check_and_record_block(KEY, 11, root(4))
        db.check_and_record_block(OTHER_KEY, 10, root(2))


def test_double_proposal_rejected_after_restart(path):
    with reopen(path) as db:
        db.check_and_record_block(KEY, 7, root(1))
    with reopen(path) as db:
        with pytest.raises(SlashableSigningError) as info:
            db.check_and_record_block(KEY, 7, root(2))
        assert info.value.fields["slot"] == 7
        assert info.value.fields["signed_root"] == root(1)
        assert info.value.fields["pubkey"] == KEY
        db.check_and_record_block(KEY, 7, root(1))


def test_attestation_rules(path):
    with reopen(path) as db:
        db.check_and_record_attestation(KEY, 2, 3, root(1))
        db.check_and_record_attestation(KEY, 2, 3, root(1))
        check = db.check_and_record_attestation
        assert rejected_rule(check, KEY, 2, 3, root(2)) == "double_vote"
        assert rejected_rule(check, KEY, 4, 3, root(3)) == "source_after_target"
        assert rejected_rule(check, KEY, 1, 2, root(4)) == "target_not_above_newest"
        db.check_and_record_attestation(KEY, 3, 5, root(5))
        assert rejected_rule(check, KEY, 2, 6, root(6)) == "surrounding_vote"
        assert rejected_rule(check, KEY, 3, 4, root(7)) == "target_not_above_newest"
        db.check_and_record_attestation(KEY, 5, 6, root(8))


def test_surround_votes_rejected_after_restart(path):
    with reopen(path) as db:
        db.check_and_record_attestation(KEY, 10, 20, root(1))
        db.check_and_record_attestation(KEY, 12, 21, root(2))
    with reopen(path) as db:
        check = db.check_and_record_attestation
        with pytest.raises(SlashableSigningError) as info:
            check(KEY, 11, 22, root(3))
        assert info.value.rule == "surrounding_vote"
        assert info.value.fields["signed_source_epoch"] == 12
        assert info.value.fields["signed_target_epoch"] == 21
        assert rejected_rule(check, KEY, 11, 19, root(4)) == "surrounded_vote"
        assert rejected_rule(check, KEY, 12, 21, root(5)) == "double_vote"
        check(KEY, 12, 22, root(6))


def test_batch_checks_in_order(path):
    with reopen(path) as db:
        requests = [
            AttestationRequest(KEY, 1, 2, root(1)),
            AttestationRequest(KEY, 1, 2, root(2)),
            AttestationRequest(OTHER_KEY, 1, 2, root(2)),
        ]
        results = db.check_and_record_attestations(requests)
        assert results[0] is None
        assert results[1] is not None
        assert results[1].rule == "double_vote"
        assert results[2] is None


def test_rejection_records_nothing(path):
    with reopen(path) as db:
        db.check_and_record_attestation(KEY, 5, 6, root(1))
        with pytest.raises(SlashableSigningError):
            db.check_and_record_attestation(KEY, 4, 7, root(2))
        assert [a.target_epoch for a in db.signed_attestations(KEY)] == [6]
        assert db.watermarks(KEY).source_epoch == 5


def test_other_chain_rejected(path):
    with reopen(path):
        pass
    with pytest.raises(SlashingProtectionError) as info:
        SlashingProtection.open(path, OTHER_CHAIN)
    assert info.value.fields["stored_genesis_validators_root"] == CHAIN
    assert info.value.fields["genesis_validators_root"] == OTHER_CHAIN


def test_second_open_rejected_while_locked(path):
    with reopen(path):
        with pytest.raises(SlashingProtectionError, match="in use by another process"):
            reopen(path)
    with reopen(path):
        pass


def test_history_pruned(path):
    with reopen(path) as db:
        for slot in range(0, 3 * BLOCK_HISTORY_SLOTS, 64):
            db.check_and_record_block(KEY, slot, root(slot))
        for epoch in range(1, 3 * ATTESTATION_HISTORY_EPOCHS):
            db.check_and_record_attestation(KEY, epoch - 1, epoch, root(epoch))
        blocks = db.signed_blocks(KEY)
        attestations = db.signed_attestations(KEY)
        assert len(blocks) == BLOCK_HISTORY_SLOTS // 64
        assert len(attestations) == ATTESTATION_HISTORY_EPOCHS
        assert rejected_rule(db.check_and_record_block, KEY, 64, root(1)) == (
            "block_slot_not_above_newest"
        )
        assert rejected_rule(db.check_and_record_attestation, KEY, 1, 2, root(1)) == (
            "target_not_above_newest"
        )


def test_temporary_database_removed_on_close():
    db = SlashingProtection.temporary(CHAIN)
    db.check_and_record_block(KEY, 1, root(1))
    assert db.path.exists()
    db.close()
    assert not db.path.exists()


RECORD_THEN_WAIT = textwrap.dedent(
    """
    import sys, time
    from caplin.validator.slashing_protection import SlashingProtection
    db = SlashingProtection.open(sys.argv[1], bytes.fromhex(sys.argv[2]))
    db.check_and_record_block(b"\\xaa" * 48, 5, b"\\x01" * 32)
    db.check_and_record_attestation(b"\\xaa" * 48, 1, 2, b"\\x01" * 32)
    print("recorded", flush=True)
    time.sleep(60)
    """
)


def test_kill_after_record_keeps_record(path):
    process = subprocess.Popen(
        [sys.executable, "-c", RECORD_THEN_WAIT, str(path), CHAIN.hex()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "recorded"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    with reopen(path) as db:
        assert rejected_rule(db.check_and_record_block, KEY, 5, b"\x02" * 32) == "double_proposal"
        check = db.check_and_record_attestation
        assert rejected_rule(check, KEY, 1, 2, b"\x02" * 32) == "double_vote"


RECORD_IN_LOOP = textwrap.dedent(
    """
    import sys
    from caplin.validator.slashing_protection import SlashingProtection
    db = SlashingProtection.open(sys.argv[1], bytes.fromhex(sys.argv[2]))
    for epoch in range(1, 1_000_000):
        db.check_and_record_attestation(b"\\xaa" * 48, epoch - 1, epoch, epoch.to_bytes(32, "big"))
        print(epoch, flush=True)
    """
)


def test_kill_during_writes_keeps_consistent_records(path):
    process = subprocess.Popen(
        [sys.executable, "-c", RECORD_IN_LOOP, str(path), CHAIN.hex()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        printed = [int(process.stdout.readline()) for _ in range(50)]
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with reopen(path) as db:
        marks = db.watermarks(KEY)
        records = db.signed_attestations(KEY)
    # Every epoch the child printed had returned, so it is on disk; a later one may be too.
    assert marks.target_epoch >= printed[-1]
    assert records[-1].target_epoch == marks.target_epoch
    assert records[-1].source_epoch == marks.source_epoch
    assert records[-1].signing_root == marks.attestation_root
    targets = [record.target_epoch for record in records]
    assert targets == list(range(targets[0], marks.target_epoch + 1))
