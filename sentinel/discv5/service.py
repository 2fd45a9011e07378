"""The discv5 node: sessions, handshakes, requests and lookups on a trio UDP socket.

Start it inside a trio nursery with `await nursery.start(service.run)`; it
stops when the nursery is cancelled. Every request has a timeout, so a silent
peer costs at most `request_timeout` seconds per attempt.
"""

import logging
import os
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import coincurve
import trio

from sentinel.discv5 import crypto
from sentinel.discv5.messages import (
    FindNode,
    Message,
    MessageError,
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
    Packet,
    PacketError,
    decode_packet,
    encode_packet,
)
from sentinel.discv5.table import BUCKET_SIZE, RoutingTable, log_distance
from sentinel.enr import ENR, ENRError

log = logging.getLogger("sentinel.discv5")

Address = tuple[str, int]
TalkHandler = Callable[[ENR | None, bytes], Awaitable[bytes]]

# A NODES message carries at most this many records, so it stays under 1280 bytes
# (3 records of at most 300 bytes plus headers).
RECORDS_PER_NODES_MESSAGE = 3
# Caps on per-peer state, so a flood of packets from spoofed ids cannot grow memory.
MAX_SESSIONS = 4096
MAX_CHALLENGES = 1024
# A WHOAREYOU challenge expires after this many seconds (the handshake timeout is 1 s).
CHALLENGE_TTL_SECONDS = 5.0
MAX_NODES_RESPONSES = 16
LOOKUP_PARALLELISM = 3


class DiscoveryError(Exception):
    """A discv5 request that timed out or got an invalid response."""


@dataclass
class Session:
    """Keys agreed with one peer at one UDP address."""

    write_key: bytes
    read_key: bytes


@dataclass
class _PendingRequest:
    record: ENR
    address: Address
    message: Message
    responses: trio.MemorySendChannel
    nonce: bytes = b""
    replies: list = field(default_factory=list)


@dataclass
class _Challenge:
    challenge_data: bytes
    record: ENR | None
    sent_at: float = 0.0


def _store_bounded(table: OrderedDict, key: object, value: object, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


class Discv5Service:
    """A discv5 v5.1 node with a local record, a routing table and a UDP socket.

    `private_key` is the 32-byte secp256k1 identity key; `record` the signed
    local ENR (its `udp` port is where `run` binds unless `port` is given).
    """

    def __init__(
        self,
        private_key: bytes,
        record: ENR,
        host: str = "127.0.0.1",
        port: int | None = None,
        request_timeout: float = 1.0,
    ) -> None:
        self.private_key = private_key
        self.record = record
        self.node_id = record.node_id
        self.host = host
        self.port = port if port is not None else (record.udp or 0)
        self.request_timeout = request_timeout
        self.table = RoutingTable(self.node_id)
        self.talk_handlers: dict[bytes, TalkHandler] = {}
        self._socket: trio.socket.SocketType | None = None
        self._sessions: OrderedDict[tuple[bytes, Address], Session] = OrderedDict()
        self._challenges: OrderedDict[tuple[bytes, Address], _Challenge] = OrderedDict()
        self._nursery: trio.Nursery | None = None
        self._by_nonce: dict[bytes, _PendingRequest] = {}
        self._by_request_id: dict[bytes, _PendingRequest] = {}
        self._handshake_locks: dict[bytes, trio.Lock] = {}
        self.packets_received = 0
        self.packets_dropped = 0

    # Lifecycle.

    async def run(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Bind the UDP socket and serve packets until cancelled."""
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        log.info(
            "discv5 started node_id=%s addr=%s:%d", self.node_id.hex()[:16], self.host, self.port
        )
        task_status.started(self.port)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                while True:
                    data, address = await sock.recvfrom(2048)
                    nursery.start_soon(self._handle_datagram, data, (address[0], address[1]))
        finally:
            sock.close()
            log.info("discv5 stopped node_id=%s", self.node_id.hex()[:16])

    def update_record(self, **values: bytes | int) -> None:
        """Change fields of the local record (seq + 1); peers learn it from PING/PONG."""
        self.record = self.record.updated(self.private_key, **values)

    def add_node(self, record: ENR) -> bool:
        """Add a known record (a bootnode, for example) to the routing table."""
        if record.node_id == self.node_id or record.udp_endpoint() is None:
            return False
        return self.table.add(record)

    # Outgoing requests.

    async def ping(self, record: ENR) -> Pong:
        """PING a node; on a newer advertised record, fetch it. Raises `DiscoveryError`."""
        pong = (await self._request(record, Ping(self._request_id(), self.record.seq)))[0]
        if pong.enr_seq > record.seq:
            try:
                found = await self.find_node(record, [0])
            except DiscoveryError:
                found = []
            for newer in found:
                if newer.node_id == record.node_id:
                    self.table.add(newer)
        return pong

    async def find_node(self, record: ENR, distances: list[int]) -> list[ENR]:
        """Ask a node for records at the given log distances from it."""
        responses = await self._request(record, FindNode(self._request_id(), tuple(distances)))
        found: list[ENR] = []
        for response in responses:
            for raw in response.records:
                try:
                    candidate = ENR.decode(raw)
                except ENRError as error:
                    log.debug(
                        "invalid record in NODES peer=%s error=%s", record.node_id.hex()[:16], error
                    )
                    continue
                if log_distance(record.node_id, candidate.node_id) in distances:
                    found.append(candidate)
        return found

    async def talk(self, record: ENR, protocol: bytes, request: bytes) -> bytes:
        """Send TALKREQ and return the TALKRESP payload."""
        response = await self._request(record, TalkRequest(self._request_id(), protocol, request))
        return response[0].response

    async def lookup(self, target: bytes, max_results: int = BUCKET_SIZE) -> list[ENR]:
        """Run an iterative Kademlia lookup for `target` and return the closest records."""
        target_value = int.from_bytes(target, "big")

        def key(record: ENR) -> int:
            return int.from_bytes(record.node_id, "big") ^ target_value

        candidates = {record.node_id: record for record in self.table.closest(target)}
        queried: set[bytes] = set()
        while True:
            pending = sorted((r for r in candidates.values() if r.node_id not in queried), key=key)[
                :LOOKUP_PARALLELISM
            ]
            closest = sorted(candidates.values(), key=key)[:max_results]
            if (
                not pending
                or all(key(r) > key(closest[-1]) for r in pending)
                and len(closest) >= max_results
            ):
                break

            async def query(record: ENR) -> None:
                queried.add(record.node_id)
                distance = log_distance(record.node_id, target)
                distances = [d for d in (distance, distance - 1, distance + 1) if 1 <= d <= 256]
                try:
                    found = await self.find_node(record, distances or [256])
                except DiscoveryError:
                    self.table.remove(record.node_id)
                    candidates.pop(record.node_id, None)
                    return
                self.table.add(record)
                for new in found:
                    if new.node_id != self.node_id and new.udp_endpoint() is not None:
                        known = candidates.get(new.node_id)
                        if known is None or new.seq > known.seq:
                            candidates[new.node_id] = new
                        self.table.add(new)

            async with trio.open_nursery() as nursery:
                for record in pending:
                    nursery.start_soon(query, record)
        return sorted(candidates.values(), key=key)[:max_results]

    def _request_id(self) -> bytes:
        return secrets.token_bytes(8)

    async def _request(self, record: ENR, message: Message) -> list:
        address = record.udp_endpoint()
        if address is None:
            raise DiscoveryError(f"record of {record.node_id.hex()[:16]} has no UDP endpoint")
        send, receive = trio.open_memory_channel(MAX_NODES_RESPONSES)
        pending = _PendingRequest(record, address, message, send)
        self._by_request_id[message.request_id] = pending
        lock = self._handshake_locks.setdefault(record.node_id, trio.Lock())
        try:
            # Without a session, one request at a time carries the handshake.
            has_session = (record.node_id, address) in self._sessions
            async with lock if not has_session else _nullcontext():
                with trio.move_on_after(self.request_timeout):
                    await self._send_message(pending)
                    return await self._collect(pending, receive)
            raise DiscoveryError(
                f"{type(message).__name__} to {record.node_id.hex()[:16]} at "
                f"{address[0]}:{address[1]} timed out after {self.request_timeout}s"
            )
        finally:
            self._by_request_id.pop(message.request_id, None)
            self._by_nonce.pop(pending.nonce, None)

    async def _collect(self, pending: _PendingRequest, receive: trio.MemoryReceiveChannel) -> list:
        replies = []
        async for reply in receive:
            replies.append(reply)
            if not isinstance(reply, Nodes) or len(replies) >= min(
                reply.total, MAX_NODES_RESPONSES
            ):
                return replies
        return replies

    async def _send_message(self, pending: _PendingRequest) -> None:
        session = self._sessions.get((pending.record.node_id, pending.address))
        # Without a session the key is random, so the peer responds with WHOAREYOU.
        key = session.write_key if session else os.urandom(16)
        self._by_nonce.pop(pending.nonce, None)
        pending.nonce = os.urandom(12)
        self._by_nonce[pending.nonce] = pending
        header = Header(FLAG_MESSAGE, pending.nonce, self.node_id)
        packet = encode_packet(pending.record.node_id, header, encode_message(pending.message), key)
        await self._send(packet, pending.address)

    async def _send(self, packet: bytes, address: Address) -> None:
        assert self._socket is not None, "Discv5Service.run has not started"
        await self._socket.sendto(packet, address)

    # Incoming packets.

    async def _handle_datagram(self, data: bytes, address: Address) -> None:
        self.packets_received += 1
        try:
            packet = decode_packet(self.node_id, data)
            if packet.header.flag == FLAG_MESSAGE:
                await self._on_message_packet(packet, address)
            elif packet.header.flag == FLAG_WHOAREYOU:
                await self._on_whoareyou(packet, address)
            elif packet.header.flag == FLAG_HANDSHAKE:
                await self._on_handshake(packet, address)
        except (PacketError, MessageError, ENRError, crypto.DecryptionError, ValueError) as error:
            self.packets_dropped += 1
            log.debug("dropped discv5 packet from=%s:%d error=%s", *address, error)

    async def _on_message_packet(self, packet: Packet, address: Address) -> None:
        src_id = packet.src_id
        session = self._sessions.get((src_id, address))
        if session is not None:
            try:
                plaintext = packet.decrypt(session.read_key)
            except crypto.DecryptionError:
                plaintext = None
            if plaintext is not None:
                await self._on_message(src_id, address, decode_message(plaintext))
                return
        await self._send_whoareyou(src_id, address, packet.header.nonce)

    async def _send_whoareyou(self, src_id: bytes, address: Address, nonce: bytes) -> None:
        known = self.table.get(src_id)
        authdata = os.urandom(16) + (known.seq if known else 0).to_bytes(8, "big")
        header = Header(FLAG_WHOAREYOU, nonce, authdata)
        masking_iv = os.urandom(16)
        challenge = _Challenge(masking_iv + header.encode(), known, trio.current_time())
        _store_bounded(self._challenges, (src_id, address), challenge, MAX_CHALLENGES)
        await self._send(encode_packet(src_id, header, b"", None, masking_iv), address)

    async def _on_whoareyou(self, packet: Packet, address: Address) -> None:
        pending = self._by_nonce.get(packet.header.nonce)
        if pending is None or pending.address != address:
            raise PacketError("WHOAREYOU matches no pending request")
        _, enr_seq = packet.whoareyou()
        remote = pending.record

        ephemeral = coincurve.PrivateKey()
        ephemeral_pubkey = ephemeral.public_key.format(compressed=True)
        initiator_key, recipient_key = crypto.derive_session_keys(
            ephemeral.secret, remote.public_key, self.node_id, remote.node_id, packet.challenge_data
        )
        signature = crypto.sign_id_nonce(
            self.private_key, packet.challenge_data, ephemeral_pubkey, remote.node_id
        )
        record = self.record.encode() if enr_seq < self.record.seq else b""
        authdata = HandshakeAuthdata(self.node_id, signature, ephemeral_pubkey, record)

        self._by_nonce.pop(pending.nonce, None)
        pending.nonce = os.urandom(12)
        self._by_nonce[pending.nonce] = pending
        header = Header(FLAG_HANDSHAKE, pending.nonce, authdata.encode())
        session = Session(initiator_key, recipient_key)
        _store_bounded(self._sessions, (remote.node_id, address), session, MAX_SESSIONS)
        plaintext = encode_message(pending.message)
        await self._send(encode_packet(remote.node_id, header, plaintext, initiator_key), address)

    async def _on_handshake(self, packet: Packet, address: Address) -> None:
        auth = HandshakeAuthdata.decode(packet.header.authdata)
        challenge = self._challenges.pop((auth.src_id, address), None)
        if challenge is None:
            raise PacketError("handshake without a WHOAREYOU sent to that address")
        if trio.current_time() - challenge.sent_at > CHALLENGE_TTL_SECONDS:
            raise PacketError("handshake replies to an expired WHOAREYOU")
        record = ENR.decode(auth.record) if auth.record else challenge.record
        if record is None or record.node_id != auth.src_id:
            raise PacketError("handshake lacks a record for its source id")
        if not crypto.verify_id_nonce(
            record.public_key,
            auth.id_signature,
            challenge.challenge_data,
            auth.ephemeral_pubkey,
            self.node_id,
        ):
            raise PacketError("invalid handshake ID signature")
        secret = crypto.ecdh(auth.ephemeral_pubkey, self.private_key)
        initiator_key, recipient_key = crypto.derive_keys_from_secret(
            secret, auth.src_id, self.node_id, challenge.challenge_data
        )
        message = decode_message(packet.decrypt(initiator_key))
        session = Session(recipient_key, initiator_key)
        _store_bounded(self._sessions, (auth.src_id, address), session, MAX_SESSIONS)
        if record.udp_endpoint() == address:
            self.table.add(record)
        await self._on_message(auth.src_id, address, message, record)

    async def _on_message(
        self, src_id: bytes, address: Address, message: Message, record: ENR | None = None
    ) -> None:
        if isinstance(message, (Pong, Nodes, TalkResponse)):
            pending = self._by_request_id.get(message.request_id)
            if pending is None or pending.record.node_id != src_id:
                raise MessageError(f"unsolicited {type(message).__name__}")
            try:
                pending.responses.send_nowait(message)
            except trio.WouldBlock:
                log.debug("too many responses peer=%s", src_id.hex()[:16])
            return
        if isinstance(message, Ping):
            reply: Message = Pong(message.request_id, self.record.seq, *address)
            await self._reply(src_id, address, reply)
            known = record or self.table.get(src_id)
            if known is not None and message.enr_seq > known.seq and self._nursery is not None:
                # The peer changed its record: fetch the new one (FINDNODE at distance 0).
                self._nursery.start_soon(self._refresh_record, known)
        elif isinstance(message, FindNode):
            await self._answer_find_node(src_id, address, message)
        elif isinstance(message, TalkRequest):
            handler = self.talk_handlers.get(message.protocol)
            response = (
                await handler(record or self.table.get(src_id), message.request) if handler else b""
            )
            await self._reply(src_id, address, TalkResponse(message.request_id, response))

    async def _refresh_record(self, known: ENR) -> None:
        try:
            records = await self.find_node(known, [0])
        except DiscoveryError as error:
            log.debug("record refresh failed peer=%s error=%s", known.node_id.hex()[:16], error)
            return
        for record in records:
            if record.node_id == known.node_id and record.seq > known.seq:
                self.table.add(record)

    async def _answer_find_node(self, src_id: bytes, address: Address, message: FindNode) -> None:
        records: list[bytes] = []
        for distance in message.distances:
            if distance == 0:
                records.append(self.record.encode())
            else:
                records += [r.encode() for r in self.table.at_distance(distance)]
        records = records[:BUCKET_SIZE]
        chunks = [
            records[i : i + RECORDS_PER_NODES_MESSAGE]
            for i in range(0, len(records), RECORDS_PER_NODES_MESSAGE)
        ] or [[]]
        for chunk in chunks:
            await self._reply(src_id, address, Nodes(message.request_id, len(chunks), tuple(chunk)))

    async def _reply(self, dest_id: bytes, address: Address, message: Message) -> None:
        session = self._sessions.get((dest_id, address))
        if session is None:
            return
        header = Header(FLAG_MESSAGE, os.urandom(12), self.node_id)
        packet = encode_packet(dest_id, header, encode_message(message), session.write_key)
        await self._send(packet, address)


class _nullcontext:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None
