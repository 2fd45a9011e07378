"""discv5 v5.1 packet encoding: masked header, ordinary / WHOAREYOU / handshake.

    packet        = masking-iv (16) || masked-header || message
    static-header = "discv5" || version 0x0001 || flag (1) || nonce (12) || authdata-size (2)
    flag 0        authdata = src-id (32)
    flag 1        authdata = id-nonce (16) || enr-seq (8), and the message is empty
    flag 2        authdata = src-id || sig-size || eph-key-size || id-signature || eph-pubkey
                             || record (optional RLP ENR)

The message is AES-GCM sealed with `masking-iv || header` as associated data.
"""

import os
from dataclasses import dataclass

from sentinel.discv5.crypto import aes_ctr, aes_gcm_decrypt, aes_gcm_encrypt

PROTOCOL_ID = b"discv5"
VERSION = b"\x00\x01"
STATIC_HEADER_SIZE = 23
MASKING_IV_SIZE = 16
NONCE_SIZE = 12
MIN_PACKET_SIZE = 63
MAX_PACKET_SIZE = 1280

FLAG_MESSAGE = 0
FLAG_WHOAREYOU = 1
FLAG_HANDSHAKE = 2


class PacketError(ValueError):
    """A datagram that is not a well-formed discv5 v5.1 packet for this node."""


@dataclass(frozen=True)
class Header:
    """An unmasked packet header."""

    flag: int
    nonce: bytes
    authdata: bytes

    def encode(self) -> bytes:
        """Return `static-header || authdata`."""
        size = len(self.authdata).to_bytes(2, "big")
        return PROTOCOL_ID + VERSION + bytes([self.flag]) + self.nonce + size + self.authdata


@dataclass(frozen=True)
class HandshakeAuthdata:
    """The authdata of a handshake packet."""

    src_id: bytes
    id_signature: bytes
    ephemeral_pubkey: bytes
    record: bytes

    def encode(self) -> bytes:
        """Return the authdata bytes."""
        head = self.src_id + bytes([len(self.id_signature), len(self.ephemeral_pubkey)])
        return head + self.id_signature + self.ephemeral_pubkey + self.record

    @classmethod
    def decode(cls, authdata: bytes) -> "HandshakeAuthdata":
        """Split handshake authdata. Raises `PacketError` when the sizes do not fit."""
        if len(authdata) < 34:
            raise PacketError("handshake authdata is shorter than 34 bytes")
        sig_size, key_size = authdata[32], authdata[33]
        if len(authdata) < 34 + sig_size + key_size:
            raise PacketError("handshake authdata is shorter than its signature and key")
        signature_end = 34 + sig_size
        key_end = signature_end + key_size
        return cls(
            authdata[:32],
            authdata[34:signature_end],
            authdata[signature_end:key_end],
            authdata[key_end:],
        )


@dataclass(frozen=True)
class Packet:
    """A decoded packet; `message` is still encrypted (empty for WHOAREYOU)."""

    masking_iv: bytes
    header: Header
    message: bytes

    @property
    def message_ad(self) -> bytes:
        """The associated data of the message: `masking-iv || header`."""
        return self.masking_iv + self.header.encode()

    @property
    def challenge_data(self) -> bytes:
        """For WHOAREYOU: the bytes both sides feed into key derivation."""
        return self.message_ad

    @property
    def src_id(self) -> bytes:
        """The sender id of an ordinary or handshake packet."""
        if self.header.flag == FLAG_WHOAREYOU:
            raise PacketError("WHOAREYOU packets carry no source id")
        return self.header.authdata[:32]

    def whoareyou(self) -> tuple[bytes, int]:
        """Return (id-nonce, enr-seq) of a WHOAREYOU packet."""
        authdata = self.header.authdata
        return authdata[:16], int.from_bytes(authdata[16:24], "big")

    def decrypt(self, key: bytes) -> bytes:
        """Return the message plaintext. Raises `DecryptionError` under a wrong key."""
        return aes_gcm_decrypt(key, self.header.nonce, self.message, self.message_ad)


def encode_packet(
    dest_id: bytes, header: Header, plaintext: bytes, key: bytes | None, masking_iv: bytes = b""
) -> bytes:
    """Seal `plaintext` with `key` (None for WHOAREYOU) and mask the header for `dest_id`."""
    masking_iv = masking_iv or os.urandom(MASKING_IV_SIZE)
    raw_header = header.encode()
    message = b""
    if key is not None:
        message = aes_gcm_encrypt(key, header.nonce, plaintext, masking_iv + raw_header)
    packet = masking_iv + aes_ctr(dest_id[:16], masking_iv, raw_header) + message
    if len(packet) > MAX_PACKET_SIZE:
        raise PacketError(f"packet of {len(packet)} bytes exceeds {MAX_PACKET_SIZE} bytes")
    return packet


def decode_packet(local_id: bytes, data: bytes) -> Packet:
    """Unmask a datagram sent to `local_id`. Raises `PacketError` when malformed."""
    if not MIN_PACKET_SIZE <= len(data) <= MAX_PACKET_SIZE:
        raise PacketError(f"datagram of {len(data)} bytes is outside 63..1280 bytes")
    masking_iv = data[:MASKING_IV_SIZE]
    key = local_id[:16]
    # CTR is a stream, so unmasking the static header first and the rest after works.
    unmasked = aes_ctr(key, masking_iv, data[MASKING_IV_SIZE:])
    static = unmasked[:STATIC_HEADER_SIZE]
    if static[:6] != PROTOCOL_ID or static[6:8] != VERSION:
        raise PacketError("datagram has no discv5 v1 protocol header")
    flag = static[8]
    nonce = static[9:21]
    authdata_size = int.from_bytes(static[21:23], "big")
    header_end = STATIC_HEADER_SIZE + authdata_size
    if header_end > len(unmasked):
        raise PacketError(f"authdata size {authdata_size} exceeds the datagram")

    header = Header(flag, nonce, unmasked[STATIC_HEADER_SIZE:header_end])
    message = data[MASKING_IV_SIZE + header_end :]
    if flag == FLAG_MESSAGE and authdata_size != 32:
        raise PacketError(f"message packet authdata is {authdata_size} bytes, expected 32")
    elif flag == FLAG_WHOAREYOU and (authdata_size != 24 or message):
        raise PacketError("WHOAREYOU packet must have 24 bytes of authdata and no message")
    elif flag == FLAG_HANDSHAKE:
        HandshakeAuthdata.decode(header.authdata)
    elif flag > FLAG_HANDSHAKE:
        raise PacketError(f"unknown packet flag {flag}")
    return Packet(masking_iv, header, message)
