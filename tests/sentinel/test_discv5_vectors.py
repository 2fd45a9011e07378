"""The discv5 v5.1 wire test vectors (devp2p discv5-wire-test-vectors.md), as tables."""

import coincurve
import pytest

from sentinel.discv5 import crypto
from sentinel.discv5.messages import (
    FindNode,
    Nodes,
    Ping,
    Pong,
    TalkRequest,
    TalkResponse,
    decode_message,
    encode_message,
)
from sentinel.discv5.packet import (
    FLAG_HANDSHAKE,
    FLAG_MESSAGE,
    FLAG_WHOAREYOU,
    HandshakeAuthdata,
    Header,
    decode_packet,
    encode_packet,
)
from sentinel.enr import ENR, node_id_from_pubkey

NODE_A_KEY = bytes.fromhex("eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f")
NODE_B_KEY = bytes.fromhex("66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628")
NODE_A_ID = bytes.fromhex("aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb")
NODE_B_ID = bytes.fromhex("bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9")
ZERO_IV = bytes(16)
NONCE = bytes.fromhex("ffffffffffffffffffffffff")
EPHEMERAL_KEY = bytes.fromhex("0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6")
EPHEMERAL_PUBKEY = bytes.fromhex(
    "039a003ba6517b473fa0cd74aefe99dadfdb34627f90fec6362df85803908f53a5"
)
CHALLENGE_PREFIX = "000000000000000000000000000000006469736376350001010102030405060708090a0b0c0018"
ID_NONCE_HEX = "0102030405060708090a0b0c0d0e0f10"


def challenge(enr_seq: int) -> bytes:
    return bytes.fromhex(CHALLENGE_PREFIX + ID_NONCE_HEX + f"{enr_seq:016x}")


PING_PACKET = (
    "00000000000000000000000000000000088b3d4342774649325f313964a39e55"
    "ea96c005ad52be8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3"
    "4c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc"
)
WHOAREYOU_PACKET = (
    "00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad"
    "1d6035f15e528627dde75cd68292f9e6c27d6b66c8100a873fcbaed4e16b8d"
)
HANDSHAKE_PACKET = (
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55"
    "ea96c005ad521d8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3"
    "4c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef"
    "268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfb"
    "a776b21301f8b65efd5796706adff216ab862a9186875f9494150c4ae06fa4d1"
    "f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d83"
    "9cf8"
)
HANDSHAKE_ENR_PACKET = (
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55"
    "ea96c005ad539c8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3"
    "4c4f53245d08da4bb23698868350aaad22e3ab8dd034f548a1c43cd246be9856"
    "2fafa0a1fa86d8e7a3b95ae78cc2b988ded6a5b59eb83ad58097252188b902b2"
    "1481e30e5e285f19735796706adff216ab862a9186875f9494150c4ae06fa4d1"
    "f0396c93f215fa4ef524e0ed04c3c21e39b1868e1ca8105e585ec17315e755e6"
    "cfc4dd6cb7fd8e1a1f55e49b4b5eb024221482105346f3c82b15fdaae36a3bb1"
    "2a494683b4a3c7f2ae41306252fed84785e2bbff3b022812d0882f06978df84a"
    "80d443972213342d04b9048fc3b1d5fcb1df0f822152eced6da4d3f6df27e70e"
    "4539717307a0208cd208d65093ccab5aa596a34d7511401987662d8cf62b1394"
    "71"
)

# (name, packet hex, read key hex, enr-seq of the WHOAREYOU that preceded a handshake)
MESSAGE_PACKETS = [
    ("ping", PING_PACKET, "00000000000000000000000000000000", None),
    ("handshake", HANDSHAKE_PACKET, "4f9fac6de7567d1e3b1241dffe90f662", 1),
    ("handshake_with_enr", HANDSHAKE_ENR_PACKET, "53b1c075f41876423154e157470c2f48", 0),
]


def test_vector_node_ids():
    assert node_id_from_pubkey(coincurve.PrivateKey(NODE_A_KEY).public_key.format()) == NODE_A_ID
    assert node_id_from_pubkey(coincurve.PrivateKey(NODE_B_KEY).public_key.format()) == NODE_B_ID


@pytest.mark.parametrize(("name", "packet", "read_key", "enr_seq"), MESSAGE_PACKETS)
def test_vector_packet_decrypts(name, packet, read_key, enr_seq):
    decoded = decode_packet(NODE_B_ID, bytes.fromhex(packet))
    assert decoded.src_id == NODE_A_ID
    assert decoded.header.nonce == NONCE
    message = decode_message(decoded.decrypt(bytes.fromhex(read_key)))
    assert message == Ping(b"\x00\x00\x00\x01", 2 if name == "ping" else 1)


@pytest.mark.parametrize(("name", "packet", "read_key", "enr_seq"), MESSAGE_PACKETS[1:])
def test_vector_handshake_recipient_side(name, packet, read_key, enr_seq):
    decoded = decode_packet(NODE_B_ID, bytes.fromhex(packet))
    assert decoded.header.flag == FLAG_HANDSHAKE
    auth = HandshakeAuthdata.decode(decoded.header.authdata)
    assert auth.ephemeral_pubkey == EPHEMERAL_PUBKEY

    secret = crypto.ecdh(auth.ephemeral_pubkey, NODE_B_KEY)
    initiator_key, _ = crypto.derive_keys_from_secret(
        secret, NODE_A_ID, NODE_B_ID, challenge(enr_seq)
    )
    assert initiator_key.hex() == read_key

    node_a_pubkey = coincurve.PrivateKey(NODE_A_KEY).public_key.format()
    assert crypto.verify_id_nonce(
        node_a_pubkey, auth.id_signature, challenge(enr_seq), auth.ephemeral_pubkey, NODE_B_ID
    )
    if enr_seq == 0:
        record = ENR.decode(auth.record)
        assert record.node_id == NODE_A_ID
    else:
        assert auth.record == b""


@pytest.mark.parametrize(("name", "packet", "read_key", "enr_seq"), MESSAGE_PACKETS)
def test_vector_packet_encodes(name, packet, read_key, enr_seq):
    plaintext = encode_message(Ping(b"\x00\x00\x00\x01", 2 if name == "ping" else 1))
    if name == "ping":
        header = Header(FLAG_MESSAGE, NONCE, NODE_A_ID)
    else:
        challenge_data = challenge(enr_seq)
        signature = crypto.sign_id_nonce(NODE_A_KEY, challenge_data, EPHEMERAL_PUBKEY, NODE_B_ID)
        record = (
            ENR.decode(
                HandshakeAuthdata.decode(
                    decode_packet(NODE_B_ID, bytes.fromhex(packet)).header.authdata
                ).record
            ).encode()
            if enr_seq == 0
            else b""
        )
        authdata = HandshakeAuthdata(NODE_A_ID, signature, EPHEMERAL_PUBKEY, record)
        header = Header(FLAG_HANDSHAKE, NONCE, authdata.encode())
    encoded = encode_packet(NODE_B_ID, header, plaintext, bytes.fromhex(read_key), ZERO_IV)
    assert encoded.hex() == packet


def test_vector_whoareyou():
    decoded = decode_packet(NODE_B_ID, bytes.fromhex(WHOAREYOU_PACKET))
    assert decoded.header.flag == FLAG_WHOAREYOU
    assert decoded.header.nonce.hex() == "0102030405060708090a0b0c"
    assert decoded.whoareyou() == (bytes.fromhex(ID_NONCE_HEX), 0)
    assert decoded.challenge_data == challenge(0)
    header = Header(FLAG_WHOAREYOU, decoded.header.nonce, decoded.header.authdata)
    assert encode_packet(NODE_B_ID, header, b"", None, ZERO_IV).hex() == WHOAREYOU_PACKET


def test_vector_ecdh():
    public_key = bytes.fromhex("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231")
    secret_key = bytes.fromhex("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    expected = "033b11a2a1f214567e1537ce5e509ffd9b21373247f2a3ff6841f4976f53165e7e"
    assert crypto.ecdh(public_key, secret_key).hex() == expected


def test_vector_key_derivation():
    initiator_key, recipient_key = crypto.derive_session_keys(
        bytes.fromhex("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736"),
        bytes.fromhex("0317931e6e0840220642f230037d285d122bc59063221ef3226b1f403ddc69ca91"),
        NODE_A_ID,
        NODE_B_ID,
        challenge(0),
    )
    assert initiator_key.hex() == "dccc82d81bd610f4f76d3ebe97a40571"
    assert recipient_key.hex() == "ac74bb8773749920b0d3a8881c173ec5"


def test_vector_id_signature():
    static_key = bytes.fromhex("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    ephemeral = bytes.fromhex("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231")
    expected = (
        "94852a1e2318c4e5e9d422c98eaf19d1d90d876b29cd06ca7cb7546d0fff7b48"
        "4fe86c09a064fe72bdbef73ba8e9c34df0cd2b53e9d65528c2c7f336d5dfc6e6"
    )
    signature = crypto.sign_id_nonce(static_key, challenge(0), ephemeral, NODE_B_ID)
    assert signature.hex() == expected
    pubkey = coincurve.PrivateKey(static_key).public_key.format()
    assert crypto.verify_id_nonce(pubkey, signature, challenge(0), ephemeral, NODE_B_ID)
    assert not crypto.verify_id_nonce(pubkey, signature, challenge(1), ephemeral, NODE_B_ID)


def test_vector_aes_gcm():
    key = bytes.fromhex("9f2d77db7004bf8a1a85107ac686990b")
    nonce = bytes.fromhex("27b5af763c446acd2749fe8e")
    ad = bytes.fromhex("93a7400fa0d6a694ebc24d5cf570f65d04215b6ac00757875e3f3a5f42107903")
    ciphertext = crypto.aes_gcm_encrypt(key, nonce, bytes.fromhex("01c20101"), ad)
    assert ciphertext.hex() == "a5d12a2d94b8ccb3ba55558229867dc13bfa3648"
    assert crypto.aes_gcm_decrypt(key, nonce, ciphertext, ad) == bytes.fromhex("01c20101")
    with pytest.raises(crypto.DecryptionError):
        crypto.aes_gcm_decrypt(key, nonce, ciphertext, ad[1:])


# (message, expected plaintext hex); values from the v5.0 message vectors, with the
# v5.1 FINDNODE taking a list of distances.
MESSAGES = [
    (Ping(b"\x01", 1), "01c20101"),
    (Pong(b"\x01", 1, "127.0.0.1", 5000), "02ca0101847f000001821388"),
    (FindNode(b"\x01", (256,)), "03c501c3820100"),
    (TalkRequest(b"\x01", b"eth2", b"hi"), "05c9018465746832826869"),
    (TalkResponse(b"\x01", b""), "06c20180"),
]


@pytest.mark.parametrize(("message", "expected"), MESSAGES)
def test_message_encoding(message, expected):
    assert encode_message(message).hex() == expected
    assert decode_message(bytes.fromhex(expected)) == message


def test_nodes_message_round_trip():
    record = ENR.create(NODE_A_KEY, seq=3, ip="127.0.0.1", udp=9000)
    message = Nodes(b"\x07", 1, (record.encode(),))
    decoded = decode_message(encode_message(message))
    assert decoded == message
    assert ENR.decode(decoded.records[0]).node_id == NODE_A_ID
