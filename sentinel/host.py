"""The libp2p host of the beacon node: TCP, noise, mplex/yamux, identify, ping, req/resp.

Start it inside the node's trio nursery:

    host = SentinelHost(spec, private_key, forks, chain, HostConfig(tcp_port=4001))
    listen_addr = await nursery.start(host.run)

The host serves every req/resp protocol of `sentinel.reqresp.protocols`, asking
`chain` (a `ChainProvider`) for the status, metadata and stored objects, and it
exposes the client side as `request`, `status`, `ping`, `metadata`,
`blocks_by_range` and `blocks_by_root`.
"""

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

import coincurve
import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import Secp256k1PrivateKey, Secp256k1PublicKey
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from caplin.config.forks import Fork
from sentinel.enr import ENR
from sentinel.peers import PeerManager, Penalty
from sentinel.reqresp import protocols as p
from sentinel.reqresp.codec import CodecError, ErrorResponse, ResponseCode, StreamReader
from sentinel.reqresp.exchange import (
    encode_error,
    encode_request,
    encode_success,
    read_request,
    read_responses,
    request_penalty,
    validate_request,
)
from sentinel.reqresp.protocols import ForkContext, GoodbyeReason, Protocol
from sentinel.reqresp.ratelimit import RateLimiter

log = logging.getLogger("sentinel.host")

# Req/resp timeouts of the phase0 p2p spec, in seconds.
TTFB_TIMEOUT = 5.0
RESP_TIMEOUT = 10.0
# Connections accepted above max_peers, so a peer over the limit can still get a Goodbye.
INBOUND_SLACK = 8
# Score penalties per fault.
PENALTY_INVALID_REQUEST = 5.0
PENALTY_INVALID_RESPONSE = 10.0
PENALTY_TIMEOUT = 2.0
# Seconds a peer on another network gets to disconnect by itself after Status.
STATUS_GOODBYE_GRACE = 1.0


def _sidecar_slot(sidecar: Any) -> int:
    return sidecar.signed_block_header.message.slot


def _attested_slot(update: Any) -> int:
    return update.attested_header.beacon.slot


# Protocols served through optional ChainProvider methods:
# protocol id -> (method name, request -> method arguments, response -> slot of its fork).
OPTIONAL_PROTOCOLS: dict[str, tuple[str, Any, Any]] = {
    p.BLOBS_BY_RANGE.protocol_id: (
        "blob_sidecars_by_range",
        lambda request: (int(request.start_slot), int(request.count)),
        _sidecar_slot,
    ),
    p.BLOBS_BY_ROOT.protocol_id: (
        "blob_sidecars_by_root",
        lambda request: ([(bytes(i.block_root), int(i.index)) for i in request],),
        _sidecar_slot,
    ),
    p.COLUMNS_BY_RANGE.protocol_id: (
        "data_column_sidecars_by_range",
        lambda request: (
            int(request.start_slot),
            int(request.count),
            [int(c) for c in request.columns],
        ),
        _sidecar_slot,
    ),
    p.COLUMNS_BY_ROOT.protocol_id: (
        "data_column_sidecars_by_root",
        lambda request: ([(bytes(i.block_root), [int(c) for c in i.columns]) for i in request],),
        _sidecar_slot,
    ),
    p.LIGHT_CLIENT_BOOTSTRAP.protocol_id: (
        "light_client_bootstrap",
        lambda request: (bytes(request),),
        lambda bootstrap: bootstrap.header.beacon.slot,
    ),
    p.LIGHT_CLIENT_UPDATES_BY_RANGE.protocol_id: (
        "light_client_updates_by_range",
        lambda request: (int(request.start_period), int(request.count)),
        _attested_slot,
    ),
    p.LIGHT_CLIENT_FINALITY_UPDATE.protocol_id: (
        "light_client_finality_update",
        lambda request: (),
        _attested_slot,
    ),
    p.LIGHT_CLIENT_OPTIMISTIC_UPDATE.protocol_id: (
        "light_client_optimistic_update",
        lambda request: (),
        _attested_slot,
    ),
}


class ChainProvider(TypingProtocol):
    """The chain data the host reads to respond to peers."""

    def status(self) -> Any:
        """Return the local `Status`."""

    def metadata(self) -> Any:
        """Return the local `MetaData` (Altair layout, or Fulu's with custody_group_count)."""

    def blocks_by_range(self, start_slot: int, count: int) -> Iterable[Any]:
        """Yield stored signed blocks with slots in [start_slot, start_slot + count)."""

    def blocks_by_root(self, roots: list[bytes]) -> Iterable[Any]:
        """Yield the stored signed blocks among `roots`, skipping unknown ones."""

    # Optional methods, each enabling one protocol when present (see OPTIONAL_PROTOCOLS):
    # blob_sidecars_by_range(start_slot, count), blob_sidecars_by_root([(root, index)]),
    # data_column_sidecars_by_range(start_slot, count, columns),
    # data_column_sidecars_by_root([(root, columns)]), light_client_bootstrap(root),
    # light_client_updates_by_range(start_period, count), light_client_finality_update()
    # and light_client_optimistic_update(). Each returns an iterable of objects or one
    # object, or None when it has nothing to send.


@dataclass
class HostConfig:
    """Listening address, muxers and peer limits of a `SentinelHost`."""

    listen_host: str = "127.0.0.1"
    tcp_port: int = 0
    # Muxers in order of preference; Lodestar 1.5.1 speaks only mplex.
    muxers: tuple[str, ...] = ("mplex", "yamux")
    target_peers: int = 50
    max_peers: int = 64
    static_peers: list[str] = field(default_factory=list)


def key_pair_from_secret(private_key: bytes) -> KeyPair:
    """Return the libp2p secp256k1 key pair of a 32-byte secret (the ENR key)."""
    secret = Secp256k1PrivateKey(coincurve.PrivateKey(private_key))
    return KeyPair(secret, secret.get_public_key())


def peer_id_from_enr(record: ENR) -> str:
    """Return the libp2p peer id of a node record (its secp256k1 key)."""
    return ID.from_pubkey(Secp256k1PublicKey.from_bytes(record.public_key)).to_base58()


def enr_multiaddr(record: ENR) -> str | None:
    """Return `/ip4/{ip}/tcp/{port}/p2p/{peer_id}` of a record, or None without ip and tcp."""
    address = record.tcp_multiaddr()
    return None if address is None else f"{address}/p2p/{peer_id_from_enr(record)}"


def _muxer_options(names: tuple[str, ...]) -> dict:
    known = {"mplex": (MPLEX_PROTOCOL_ID, Mplex), "yamux": (YAMUX_PROTOCOL_ID, Yamux)}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown muxer {unknown[0]!r}; use 'mplex' or 'yamux'")
    return dict(known[name] for name in names)


async def _close_quietly(stream: Any) -> None:
    # py-libp2p 0.8 raises assorted errors (StreamError, MplexUnavailable,
    # RuntimeError) when closing a stream whose connection is already gone.
    try:
        await stream.close()
    except Exception as error:
        log.debug("stream close failed error=%r", error)


def _reader(stream: Any) -> StreamReader:
    async def read(size: int) -> bytes:
        try:
            return await stream.read(size)
        except StreamEOF:
            return b""

    return StreamReader(read)


class _NoAutoDial(AutoConnector):
    """py-libp2p's auto-connector with dialing turned off (discovery decides whom to dial)."""

    async def maybe_connect(self) -> None:
        return None


class _PeerNotifee(INotifee):
    """Forwards libp2p connection events to the `PeerManager`."""

    def __init__(self, host: "SentinelHost") -> None:
        self.host = host

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def connected(self, network: Any, conn: Any) -> None:
        self.host._on_connection(conn.muxed_conn.peer_id.to_base58())

    async def disconnected(self, network: Any, conn: Any) -> None:
        peer_id = conn.muxed_conn.peer_id.to_base58()
        if not self.host.libp2p.get_network().get_connections(conn.muxed_conn.peer_id):
            self.host.peers.on_disconnected(peer_id, self.host.peers.peer(peer_id).goodbye_reason)

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass


class SentinelHost:
    """A libp2p host speaking the Ethereum consensus req/resp protocols."""

    def __init__(
        self,
        spec: Any,
        private_key: bytes,
        forks: ForkContext,
        chain: ChainProvider,
        config: HostConfig | None = None,
    ) -> None:
        self.spec = spec
        self.forks = forks
        self.chain = chain
        self.config = config or HostConfig()
        self.peers = PeerManager(self.config.target_peers, self.config.max_peers)
        self.limiter = RateLimiter(spec)
        self._nursery: trio.Nursery | None = None
        self._leaving: set[str] = set()

        key_pair = key_pair_from_secret(private_key)
        noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
        limit = self.config.max_peers + INBOUND_SLACK
        connections = ConnectionConfig(
            max_connections=limit,
            min_connections=0,
            low_watermark=0,
            high_watermark=limit,
            max_connections_per_peer=1,
        )
        self.libp2p = new_host(
            key_pair=key_pair,
            sec_opt={NOISE_PROTOCOL_ID: noise},
            muxer_opt=_muxer_options(self.config.muxers),
            connection_config=connections,
        )

        # The PeerManager and discovery choose whom to dial, so py-libp2p must not
        # dial peerstore entries on its own to reach a connection target.
        swarm = self.libp2p.get_network()
        swarm.auto_connector = _NoAutoDial(swarm, connections.auto_connect_interval)
        swarm.register_notifee(_PeerNotifee(self))
        for protocol in p.PROTOCOLS:
            self.libp2p.set_stream_handler(protocol.protocol_id, self._handler(protocol))

    @property
    def peer_id(self) -> str:
        """The base58 libp2p peer id."""
        return self.libp2p.get_id().to_base58()

    # Lifecycle.

    async def run(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on TCP, dial the static peers, and serve until cancelled."""
        address = multiaddr.Multiaddr(f"/ip4/{self.config.listen_host}/tcp/{self.config.tcp_port}")
        async with self.libp2p.run([address]):
            listen = str(self.libp2p.get_addrs()[0])
            log.info("libp2p host started peer_id=%s addr=%s", self.peer_id, listen)
            task_status.started(listen)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for peer in self.config.static_peers:
                    nursery.start_soon(self._dial_logged, peer)
                await trio.sleep_forever()

    def _on_connection(self, peer_id: str) -> None:
        reason = self.peers.accept(peer_id)
        if reason is None:
            self.peers.on_connected(peer_id)
            return
        # Over the peer limit or banned: send Goodbye with the reason, then close.
        self.peers.log_rejected(peer_id, reason)
        self._send_goodbye_soon(peer_id, reason)

    async def _dial_logged(self, address: str) -> None:
        try:
            await self.dial(address)
        except (OSError, StreamError, ErrorResponse, CodecError, trio.TooSlowError) as error:
            log.warning("dial failed addr=%s error=%s", address, error)

    async def dial(self, address: str, timeout: float = RESP_TIMEOUT) -> str:
        """Connect to `/ip4/.../tcp/.../p2p/<id>` and exchange Status; return the peer id."""
        info = info_from_p2p_addr(multiaddr.Multiaddr(address))
        peer_id = info.peer_id.to_base58()
        reason = self.peers.accept(peer_id)
        if reason is not None:
            raise ConnectionRefusedError(f"peer {peer_id} rejected locally (reason {reason})")
        with trio.fail_after(timeout):
            await self.libp2p.connect(info)
        status = await self.status(peer_id)
        expected = bytes(self.chain.status().fork_digest)
        if bytes(status.fork_digest) != expected:
            await self.goodbye(peer_id, GoodbyeReason.IRRELEVANT_NETWORK)
            raise ConnectionError(
                f"peer {peer_id} has fork digest {bytes(status.fork_digest).hex()}, "
                f"expected {expected.hex()}"
            )
        return peer_id

    async def disconnect(self, peer_id: str) -> None:
        """Close every connection to a peer."""
        await self.libp2p.disconnect(ID.from_base58(peer_id))
        self.peers.on_disconnected(peer_id)

    # Client side.

    async def request(
        self, peer_id: str, protocol: Protocol, request: Any, fork: Fork = Fork.PHASE0
    ) -> list[tuple[Fork, Any]]:
        """Send one request and read its response chunks (within RESP_TIMEOUT).

        Raises `ErrorResponse` for an error chunk, `CodecError` for invalid data
        and `trio.TooSlowError` on timeout. The last two lower the peer's score.
        Raises `ConnectionRefusedError` for a peer that is not connected and that
        `PeerManager.accept` rejects (banned, or a score at the disconnect line).
        """
        max_chunks = protocol.max_responses(self.spec, request)
        # new_stream dials a peer that is not connected, so without this check a request
        # would reconnect a peer that was just disconnected for its score or banned.
        if not self.libp2p.get_network().get_connections(ID.from_base58(peer_id)):
            reason = self.peers.accept(peer_id)
            if reason is not None:
                raise ConnectionRefusedError(f"peer {peer_id} rejected locally (reason {reason})")
        try:
            with trio.fail_after(RESP_TIMEOUT):
                stream = await self.libp2p.new_stream(
                    ID.from_base58(peer_id), [protocol.protocol_id]
                )
                try:
                    await stream.write(encode_request(protocol, request))
                    await stream.close_write()
                    return await read_responses(
                        _reader(stream), protocol, self.spec, self.forks, max_chunks, fork
                    )
                finally:
                    await _close_quietly(stream)
        except CodecError:
            self.penalize(peer_id, PENALTY_INVALID_RESPONSE, f"invalid {protocol.name} response")
            raise
        except trio.TooSlowError:
            self.penalize(peer_id, PENALTY_TIMEOUT, f"{protocol.name} timed out")
            raise

    def penalize(self, peer_id: str, penalty: float, reason: str) -> None:
        """Lower a peer's score and disconnect it with Goodbye once the score requires it."""
        goodbye_reason = self.peers.report(peer_id, penalty, reason)
        if goodbye_reason is None or peer_id in self._leaving:
            return
        self.peers.log_disconnect(peer_id, goodbye_reason, reason)
        self._send_goodbye_soon(peer_id, goodbye_reason)

    def _send_goodbye_soon(self, peer_id: str, reason: int) -> None:
        # One Goodbye per peer: later faults while it is in flight change nothing.
        if self._nursery is None or peer_id in self._leaving:
            return
        self._leaving.add(peer_id)
        self._nursery.start_soon(self.goodbye, peer_id, reason)

    async def status(self, peer_id: str) -> Any:
        """Exchange Status with a peer and return theirs."""
        protocol = p.STATUS_V2 if self._fork() >= Fork.FULU else p.STATUS_V1
        ((_, status),) = await self.request(peer_id, protocol, self.chain.status())
        self.peers.peer(peer_id).status = status
        return status

    async def ping(self, peer_id: str) -> int:
        """Ping a peer with our metadata seq number and return theirs."""
        seq = int(self.chain.metadata().seq_number)
        ((_, value),) = await self.request(peer_id, p.PING, p._uint64(self.spec, Fork.PHASE0)(seq))
        return int(value)

    async def metadata(self, peer_id: str) -> Any:
        """Fetch a peer's MetaData (v3 from Fulu, v2 before)."""
        protocol = p.METADATA_V3 if self._fork() >= Fork.FULU else p.METADATA_V2
        ((_, metadata),) = await self.request(peer_id, protocol, None, Fork.ALTAIR)
        self.peers.peer(peer_id).metadata = metadata
        return metadata

    async def goodbye(self, peer_id: str, reason: int) -> None:
        """Send Goodbye and disconnect; never raises, because it runs as a background task.

        Delivery errors are expected (the peer may close first) and only logged.
        """
        value = p._uint64(self.spec, Fork.PHASE0)(reason)
        with trio.move_on_after(2):
            try:
                await self.request(peer_id, p.GOODBYE, value)
            except Exception as error:  # py-libp2p raises several types on a closing link
                log.debug("goodbye not delivered peer=%s error=%r", peer_id, error)
        try:
            await self.disconnect(peer_id)
        except Exception as error:
            log.debug("disconnect failed peer=%s error=%r", peer_id, error)
            self.peers.on_disconnected(peer_id, self.peers.peer(peer_id).goodbye_reason)
        finally:
            self._leaving.discard(peer_id)

    async def blocks_by_range(self, peer_id: str, start_slot: int, count: int) -> list[Any]:
        """Download signed blocks of [start_slot, start_slot + count) from a peer."""
        request_type = p.BLOCKS_BY_RANGE.request_type(self.spec, Fork.PHASE0)
        request = request_type(start_slot=start_slot, count=count, step=1)
        responses = await self.request(peer_id, p.BLOCKS_BY_RANGE, request)
        return [block for _, block in responses]

    async def blocks_by_root(self, peer_id: str, roots: list[bytes]) -> list[Any]:
        """Download the signed blocks with the given roots from a peer."""
        request = p.BLOCKS_BY_ROOT.request_type(self.spec, Fork.PHASE0)(*roots)
        return [block for _, block in await self.request(peer_id, p.BLOCKS_BY_ROOT, request)]

    async def blob_sidecars_by_range(self, peer_id: str, start_slot: int, count: int) -> list[Any]:
        """Download the blob sidecars of blocks in [start_slot, start_slot + count)."""
        request_type = p.BLOBS_BY_RANGE.request_type(self.spec, Fork.DENEB)
        request = request_type(start_slot=start_slot, count=count)
        return [sidecar for _, sidecar in await self.request(peer_id, p.BLOBS_BY_RANGE, request)]

    async def data_column_sidecars_by_range(
        self, peer_id: str, start_slot: int, count: int, columns: list[int]
    ) -> list[Any]:
        """Download the `columns` sidecars of blocks in [start_slot, start_slot + count)."""
        request_type = p.COLUMNS_BY_RANGE.request_type(self.spec, Fork.FULU)
        request = request_type(start_slot=start_slot, count=count, columns=columns)
        responses = await self.request(peer_id, p.COLUMNS_BY_RANGE, request)
        return [sidecar for _, sidecar in responses]

    def _fork(self) -> Fork:
        return self.forks.fork_of_digest(bytes(self.chain.status().fork_digest))

    # Server side.

    def _handler(self, protocol: Protocol):
        async def handle(stream: Any) -> None:
            peer_id = stream.muxed_conn.peer_id.to_base58()
            # Streams of a banned peer or one being sent Goodbye are reset unserved.
            if self.peers.is_banned(peer_id):
                await self._reset_stream(stream, peer_id)
                return
            refusal = "stream opened after Goodbye" if peer_id in self._leaving else None
            refusal = refusal or self.limiter.open_stream(peer_id, protocol.protocol_id)
            if refusal is not None:
                self.penalize(peer_id, Penalty.FLOOD, f"{protocol.name} stream reset: {refusal}")
                await self._reset_stream(stream, peer_id)
                return
            try:
                await self._serve(stream, protocol, peer_id)
            except (StreamError, trio.BrokenResourceError) as error:
                log.debug(
                    "stream failed protocol=%s peer=%s error=%s", protocol.name, peer_id, error
                )
            except Exception as error:  # a bug or a ChainProvider failure: tell the peer
                log.error(
                    "request handler failed protocol=%s peer=%s error=%r",
                    protocol.name,
                    peer_id,
                    error,
                )
                with trio.move_on_after(1):
                    try:
                        await stream.write(encode_error(ResponseCode.SERVER_ERROR, "server error"))
                    except StreamError:
                        pass
            finally:
                self.limiter.close_stream(peer_id, protocol.protocol_id)
                await _close_quietly(stream)

        return handle

    async def _reset_stream(self, stream: Any, peer_id: str) -> None:
        try:
            await stream.reset()
        except Exception as error:  # py-libp2p raises several types on a closing link
            log.debug("stream reset failed peer=%s error=%r", peer_id, error)

    async def _serve(self, stream: Any, protocol: Protocol, peer_id: str) -> None:
        # Request types only change in the fork that adds the protocol version.
        request_fork = protocol.first_fork
        try:
            with trio.fail_after(TTFB_TIMEOUT):
                request = await read_request(_reader(stream), protocol, self.spec, request_fork)
        except (CodecError, trio.TooSlowError) as error:
            reason = f"invalid {protocol.name} request: {str(error) or 'timed out'}"
            self.penalize(peer_id, request_penalty(error), reason)
            await stream.write(encode_error(ResponseCode.INVALID_REQUEST, str(error)))
            return
        problem = validate_request(self.spec, protocol, request)
        if problem is not None:
            self.penalize(peer_id, Penalty.MID_TOLERANCE, f"invalid {protocol.name}: {problem}")
            await stream.write(encode_error(ResponseCode.INVALID_REQUEST, problem))
            return
        if protocol is p.GOODBYE:
            log.info("goodbye received peer=%s reason=%d", peer_id, int(request))
            self.peers.on_disconnected(peer_id, int(request))
            return
        # Over quota, the response is withheld (never refused, as the p2p spec requires).
        await trio.sleep(self.limiter.request_delay(peer_id, protocol.name))
        try:
            chunks = self._respond(protocol, request, peer_id)
        except NotImplementedError as error:
            await stream.write(encode_error(ResponseCode.RESOURCE_UNAVAILABLE, str(error)))
            return
        for chunk in chunks:
            await trio.sleep(self.limiter.chunk_delay(peer_id, protocol.name))
            with trio.fail_after(RESP_TIMEOUT):
                await stream.write(chunk)

    def _respond(self, protocol: Protocol, request: Any, peer_id: str) -> Iterable[bytes]:
        if protocol in (p.STATUS_V1, p.STATUS_V2):
            status = self.chain.status()
            goodbye_reason = self.peers.on_status(peer_id, request, bytes(status.fork_digest))
            if goodbye_reason is not None and self._nursery is not None:
                # Another network: respond, then send Goodbye unless the peer leaves first.
                self._nursery.start_soon(self._goodbye_if_connected, peer_id, goodbye_reason)
            return [encode_success(protocol, status)]
        if protocol is p.PING:
            seq = p._uint64(self.spec, Fork.PHASE0)(int(self.chain.metadata().seq_number))
            return [encode_success(protocol, seq)]
        if protocol in (p.METADATA_V2, p.METADATA_V3):
            return [encode_success(protocol, self.chain.metadata())]
        if protocol is p.BLOCKS_BY_RANGE:
            count = protocol.max_responses(self.spec, request)
            if self._fork() >= Fork.DENEB:
                # Deneb lowered the blocks-per-request limit.
                count = min(count, int(self.spec.MAX_REQUEST_BLOCKS_DENEB))
            blocks = self.chain.blocks_by_range(int(request.start_slot), count)
            return self._block_chunks(protocol, blocks, count)
        if protocol is p.BLOCKS_BY_ROOT:
            blocks = self.chain.blocks_by_root([bytes(root) for root in request])
            return self._block_chunks(protocol, blocks, len(request))
        return self._respond_optional(protocol, request)

    async def _goodbye_if_connected(self, peer_id: str, reason: int) -> None:
        # A dialer that receives our Status on another fork disconnects by itself, as
        # the p2p spec asks, so its Goodbye usually arrives first. Ours is sent only
        # if the peer is still connected after the grace period.
        if reason != GoodbyeReason.BANNED:
            await trio.sleep(STATUS_GOODBYE_GRACE)
        if peer_id in self.peers.connected:
            self._send_goodbye_soon(peer_id, reason)

    def _respond_optional(self, protocol: Protocol, request: Any) -> Iterable[bytes]:
        # Served only when the ChainProvider has the method, so a node without blobs,
        # columns or light-client data responds RESOURCE_UNAVAILABLE.
        entry = OPTIONAL_PROTOCOLS.get(protocol.protocol_id)
        method = getattr(self.chain, entry[0], None) if entry else None
        if entry is None or method is None:
            raise NotImplementedError(f"{protocol.name} is not served by this node")
        _, arguments, slot_of = entry
        result = method(*arguments(request))
        if result is None:
            raise NotImplementedError(f"{protocol.name}: no data for this request")
        is_single = hasattr(result, "encode_bytes")
        limit = protocol.max_responses(self.spec, request)
        # Reading stops at the response limit: a provider may yield more than may be sent.
        items = [result] if is_single else list(itertools.islice(result, limit))
        return self._chunks(protocol, items, limit, slot_of)

    def _block_chunks(
        self, protocol: Protocol, blocks: Iterable[Any], limit: int
    ) -> Iterable[bytes]:
        return self._chunks(protocol, blocks, limit, lambda block: block.message.slot)

    def _chunks(
        self, protocol: Protocol, items: Iterable[Any], limit: int, slot_of: Any
    ) -> Iterable[bytes]:
        for index, item in enumerate(items):
            if index >= limit:
                return
            yield encode_success(protocol, item, self.forks.digest_at_slot(int(slot_of(item))))
