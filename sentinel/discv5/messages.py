"""discv5 protocol messages: `message-type || rlp(message-data)`.

Every message starts with a request id of at most 8 bytes, which a response
mirrors.
"""

import ipaddress
from dataclasses import dataclass

from sentinel import rlp

MAX_REQUEST_ID_SIZE = 8


class MessageError(ValueError):
    """A message that does not decode as any known discv5 message."""


@dataclass(frozen=True)
class Ping:
    request_id: bytes
    enr_seq: int
    TYPE = 0x01

    def fields(self) -> list[rlp.Item]:
        return [self.request_id, rlp.encode_int(self.enr_seq)]


@dataclass(frozen=True)
class Pong:
    request_id: bytes
    enr_seq: int
    ip: str
    port: int
    TYPE = 0x02

    def fields(self) -> list[rlp.Item]:
        packed = ipaddress.ip_address(self.ip).packed
        return [self.request_id, rlp.encode_int(self.enr_seq), packed, rlp.encode_int(self.port)]


@dataclass(frozen=True)
class FindNode:
    request_id: bytes
    distances: tuple[int, ...]
    TYPE = 0x03

    def fields(self) -> list[rlp.Item]:
        return [self.request_id, [rlp.encode_int(d) for d in self.distances]]


@dataclass(frozen=True)
class Nodes:
    request_id: bytes
    total: int
    records: tuple[bytes, ...]
    TYPE = 0x04

    def fields(self) -> list[rlp.Item]:
        # Records are embedded as RLP lists, not as byte strings.
        return [self.request_id, rlp.encode_int(self.total), [rlp.decode(r) for r in self.records]]


@dataclass(frozen=True)
class TalkRequest:
    request_id: bytes
    protocol: bytes
    request: bytes
    TYPE = 0x05

    def fields(self) -> list[rlp.Item]:
        return [self.request_id, self.protocol, self.request]


@dataclass(frozen=True)
class TalkResponse:
    request_id: bytes
    response: bytes
    TYPE = 0x06

    def fields(self) -> list[rlp.Item]:
        return [self.request_id, self.response]


Message = Ping | Pong | FindNode | Nodes | TalkRequest | TalkResponse


def encode_message(message: Message) -> bytes:
    """Return the message plaintext."""
    return bytes([message.TYPE]) + rlp.encode(message.fields())


def _bytes(item: rlp.Item, what: str) -> bytes:
    if not isinstance(item, bytes):
        raise MessageError(f"{what} must be a byte string")
    return item


def _int(item: rlp.Item, what: str, max_bytes: int = 8) -> int:
    try:
        return rlp.decode_int(_bytes(item, what), max_bytes)
    except rlp.RLPError as error:
        raise MessageError(f"invalid {what}: {error}") from None


def _list(item: rlp.Item, what: str) -> list[rlp.Item]:
    if not isinstance(item, list):
        raise MessageError(f"{what} must be a list")
    return item


def decode_message(data: bytes) -> Message:
    """Decode a message plaintext. Raises `MessageError` when invalid."""
    if not data:
        raise MessageError("empty message")
    try:
        fields = rlp.decode(data[1:])
    except rlp.RLPError as error:
        raise MessageError(f"invalid message RLP: {error}") from None
    fields = _list(fields, "message data")
    if not fields:
        raise MessageError("message has no request id")
    request_id = _bytes(fields[0], "request id")
    if len(request_id) > MAX_REQUEST_ID_SIZE:
        raise MessageError(f"request id of {len(request_id)} bytes exceeds 8 bytes")

    kind, rest = data[0], fields[1:]
    try:
        if kind == Ping.TYPE:
            return Ping(request_id, _int(rest[0], "enr-seq"))
        if kind == Pong.TYPE:
            ip = _bytes(rest[1], "recipient-ip")
            if len(ip) not in (4, 16):
                raise MessageError(f"recipient-ip of {len(ip)} bytes")
            address = str(ipaddress.ip_address(ip))
            return Pong(request_id, _int(rest[0], "enr-seq"), address, _int(rest[2], "port", 2))
        if kind == FindNode.TYPE:
            distances = tuple(_int(d, "distance", 2) for d in _list(rest[0], "distances"))
            if any(d > 256 for d in distances):
                raise MessageError("FINDNODE distance above 256")
            return FindNode(request_id, distances)
        if kind == Nodes.TYPE:
            records = tuple(rlp.encode(r) for r in _list(rest[1], "records"))
            return Nodes(request_id, _int(rest[0], "total"), records)
        if kind == TalkRequest.TYPE:
            return TalkRequest(request_id, _bytes(rest[0], "protocol"), _bytes(rest[1], "request"))
        if kind == TalkResponse.TYPE:
            return TalkResponse(request_id, _bytes(rest[0], "response"))
    except IndexError:
        raise MessageError(f"message type {kind} has too few fields") from None
    raise MessageError(f"unknown message type {kind}")
