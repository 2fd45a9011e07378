import pytest

from sentinel import rlp
from sentinel.enr import ENR, ENRError, ENRForkID, decode_bitvector, encode_bitvector
from sentinel.host import enr_multiaddr

EXAMPLE = (
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5w"
    "BgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
)
EXAMPLE_KEY = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")


def test_eip778_example_decodes():
    record = ENR.from_text(EXAMPLE)
    assert record.seq == 1
    assert record.ip == "127.0.0.1"
    assert record.udp == 30303
    assert record.tcp is None
    assert (
        record.node_id.hex() == "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
    )
    assert record.to_text() == EXAMPLE


def test_eip778_example_signs_identically():
    # secp256k1 signing is deterministic (RFC 6979), so the example is reproducible.
    record = ENR.create(EXAMPLE_KEY, seq=1, ip="127.0.0.1", udp=30303)
    assert record.to_text() == EXAMPLE


def test_eth2_fields_round_trip():
    fork_id = ENRForkID(bytes.fromhex("01020304"), bytes.fromhex("05060708"), 2**64 - 1)
    record = ENR.create(
        EXAMPLE_KEY,
        seq=7,
        ip="127.0.0.1",
        tcp=9000,
        udp=9001,
        eth2=fork_id.encode(),
        attnets=encode_bitvector({0, 9, 63}, 64),
        syncnets=encode_bitvector({3}, 4),
        cgc=128,
    )
    decoded = ENR.from_text(record.to_text())
    assert decoded.eth2 == fork_id
    assert decoded.attnets == {0, 9, 63}
    assert decoded.syncnets == {3}
    assert decoded.cgc == 128
    assert decoded.tcp_multiaddr() == "/ip4/127.0.0.1/tcp/9000"
    assert decoded.udp_endpoint() == ("127.0.0.1", 9001)


def test_update_bumps_seq():
    record = ENR.create(EXAMPLE_KEY, seq=1, ip="127.0.0.1", udp=30303)
    updated = record.updated(EXAMPLE_KEY, udp=30304)
    assert updated.seq == 2
    assert updated.udp == 30304
    assert updated.ip == "127.0.0.1"


def test_tampered_value_rejected():
    items = rlp.decode(ENR.from_text(EXAMPLE).encode())
    items[-1] = rlp.encode_int(30304)
    with pytest.raises(ENRError, match="signature"):
        ENR.decode(rlp.encode(items))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc0",
        rlp.encode([b"\x00" * 64]),
        rlp.encode([b"\x00" * 64, b"\x01", b"id"]),
        rlp.encode([b"\x00" * 64, b"\x01", b"id", b"v5"]),
        rlp.encode([b"\x00" * 64, b"\x01", b"secp256k1", b"\x02" * 33, b"id", b"v4"]),
        b"\xf9\x01\x2d" + b"\x80" * 301,
    ],
)
def test_malformed_records_rejected(data):
    with pytest.raises(ENRError):
        ENR.decode(data)


def test_bitvector_rejects_high_bits():
    with pytest.raises(ENRError):
        decode_bitvector(b"\x10", 4)
    assert decode_bitvector(b"\x0f", 4) == {0, 1, 2, 3}


def test_rlp_rejects_noncanonical():
    with pytest.raises(rlp.RLPError):
        rlp.decode(b"\x81\x05")
    with pytest.raises(rlp.RLPError):
        rlp.decode(b"\xb8\x01\x00")
    with pytest.raises(rlp.RLPError):
        rlp.decode(b"\x82\x01")


def test_lodestar_record_peer_id():
    # Record and multiaddr printed by a Lodestar 1.5.1 dev node on 127.0.0.1:19700.
    text = (
        "enr:-LK4QCCqQvsaOwelgLq5iv7F28VWeYzQlIAU1D9HT3vV0DHNSFo-yX7R0BCprs03BIWu7HfX4K1br7d_"
        "EdK1Pr6w8mEGh2F0dG5ldHOIAAAAAAAAAACEZXRoMpAwyBhKAQAAAQEAAAAAAAAAgmlkgnY0gmlwhH8AAAGJc2V"
        "jcDI1NmsxoQLfqaH052AVIhDT7RUDh4PyDfhiJntpuPz6uIKpwCgbKoN0Y3CCTPSDdWRwgkz0"
    )
    record = ENR.from_text(text)
    assert record.eth2 == ENRForkID(bytes.fromhex("30c8184a"), bytes.fromhex("01000001"), 1)
    assert record.attnets == frozenset()
    assert enr_multiaddr(record) == (
        "/ip4/127.0.0.1/tcp/19700/p2p/16Uiu2HAmAUkvM4CiQpqqoVCqCaanBP6L4GpEVwECdkxNZDvCoYND"
    )
