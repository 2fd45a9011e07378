"""The beacon chain req/resp protocols: ids, SSZ types per fork, context bytes, limits.

A protocol id is `/eth2/beacon_chain/req/{name}/{version}/ssz_snappy`. Protocols
whose response type changes by fork prefix each response chunk with the 4-byte
fork digest of the object's fork ("context bytes").
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caplin.config.forks import Fork
from caplin.transition.helpers import compute_epoch_at_slot, compute_fork_digest
from sentinel.gossip.topics import fork_digests
from sentinel.reqresp.codec import CodecError

PROTOCOL_PREFIX = "/eth2/beacon_chain/req"
ENCODING = "ssz_snappy"
# A constant of the Altair light-client networking spec.
MAX_REQUEST_LIGHT_CLIENT_UPDATES = 128

TypeOf = Callable[[Any, Fork], type | None]


@dataclass(frozen=True)
class Protocol:
    """One req/resp protocol version.

    `request_type(spec, fork)` is None for protocols with an empty request.
    `response_type(spec, fork)` is the type of each response chunk.
    `max_responses(spec, request)` bounds how many chunks a response may hold.
    """

    name: str
    version: int
    request_type: TypeOf
    response_type: TypeOf
    has_context: bool
    max_responses: Callable[[Any, Any], int]
    first_fork: Fork = Fork.PHASE0

    @property
    def protocol_id(self) -> str:
        """The libp2p protocol id."""
        return f"{PROTOCOL_PREFIX}/{self.name}/{self.version}/{ENCODING}"


def _type(name: str) -> TypeOf:
    return lambda spec, fork: getattr(spec.types(fork), name)


def _none(spec: Any, fork: Fork) -> None:
    return None


def _one(spec: Any, request: Any) -> int:
    return 1


def _list_of(name: str, limit: str) -> TypeOf:
    from caplin.types.basic import List

    return lambda spec, fork: List[getattr(spec.types(fork), name), int(getattr(spec, limit))]


def _root_list(limit: str) -> TypeOf:
    from caplin.types.basic import List, Root

    return lambda spec, fork: List[Root, int(getattr(spec, limit))]


def _uint64(spec: Any, fork: Fork) -> type:
    from caplin.types.basic import uint64

    return uint64


def _range_count(limit: str) -> Callable[[Any, Any], int]:
    return lambda spec, request: min(int(request.count), int(getattr(spec, limit)))


def _blob_count(spec: Any, request: Any) -> int:
    limit = int(spec.MAX_REQUEST_BLOB_SIDECARS_ELECTRA)
    return min(int(request.count) * int(spec.MAX_BLOBS_PER_BLOCK_ELECTRA), limit)


def _column_count(spec: Any, request: Any) -> int:
    limit = int(spec.MAX_REQUEST_DATA_COLUMN_SIDECARS)
    return min(int(request.count) * len(request.columns), limit)


def _by_root_count(spec: Any, request: Any) -> int:
    return len(request)


def _columns_by_root_count(spec: Any, request: Any) -> int:
    return sum(len(identifier.columns) for identifier in request)


def _block_type(spec: Any, fork: Fork) -> type:
    return spec.types(fork).SignedBeaconBlock


def _status_type(spec: Any, fork: Fork) -> type:
    return spec.types(fork).Status


def _status_v2_type(spec: Any, fork: Fork) -> type:
    return spec.types(Fork.FULU).StatusV2


def _metadata_v2(spec: Any, fork: Fork) -> type:
    return spec.types(Fork.ALTAIR).MetaData


def _metadata_v3(spec: Any, fork: Fork) -> type:
    return spec.types(Fork.FULU).MetaData


STATUS_V1 = Protocol("status", 1, _status_type, _status_type, False, _one)
STATUS_V2 = Protocol("status", 2, _status_v2_type, _status_v2_type, False, _one, Fork.FULU)
GOODBYE = Protocol("goodbye", 1, _uint64, _uint64, False, lambda spec, request: 0)
PING = Protocol("ping", 1, _uint64, _uint64, False, _one)
METADATA_V2 = Protocol("metadata", 2, _none, _metadata_v2, False, _one, Fork.ALTAIR)
METADATA_V3 = Protocol("metadata", 3, _none, _metadata_v3, False, _one, Fork.FULU)
BLOCKS_BY_RANGE = Protocol(
    "beacon_blocks_by_range",
    2,
    _type("BeaconBlocksByRangeRequest"),
    _block_type,
    True,
    _range_count("MAX_REQUEST_BLOCKS"),
)
BLOCKS_BY_ROOT = Protocol(
    "beacon_blocks_by_root", 2, _root_list("MAX_REQUEST_BLOCKS"), _block_type, True, _by_root_count
)
BLOBS_BY_RANGE = Protocol(
    "blob_sidecars_by_range",
    1,
    _type("BlobSidecarsByRangeRequest"),
    _type("BlobSidecar"),
    True,
    _blob_count,
    Fork.DENEB,
)
BLOBS_BY_ROOT = Protocol(
    "blob_sidecars_by_root",
    1,
    _list_of("BlobIdentifier", "MAX_REQUEST_BLOB_SIDECARS_ELECTRA"),
    _type("BlobSidecar"),
    True,
    _by_root_count,
    Fork.DENEB,
)
COLUMNS_BY_RANGE = Protocol(
    "data_column_sidecars_by_range",
    1,
    _type("DataColumnSidecarsByRangeRequest"),
    _type("DataColumnSidecar"),
    True,
    _column_count,
    Fork.FULU,
)
COLUMNS_BY_ROOT = Protocol(
    "data_column_sidecars_by_root",
    1,
    _list_of("DataColumnsByRootIdentifier", "MAX_REQUEST_BLOCKS_DENEB"),
    _type("DataColumnSidecar"),
    True,
    _columns_by_root_count,
    Fork.FULU,
)
LIGHT_CLIENT_BOOTSTRAP = Protocol(
    "light_client_bootstrap",
    1,
    lambda spec, fork: _root(spec),
    _type("LightClientBootstrap"),
    True,
    _one,
    Fork.ALTAIR,
)
LIGHT_CLIENT_UPDATES_BY_RANGE = Protocol(
    "light_client_updates_by_range",
    1,
    _type("LightClientUpdatesByRangeRequest"),
    _type("LightClientUpdate"),
    True,
    lambda spec, request: min(int(request.count), MAX_REQUEST_LIGHT_CLIENT_UPDATES),
    Fork.ALTAIR,
)
LIGHT_CLIENT_FINALITY_UPDATE = Protocol(
    "light_client_finality_update",
    1,
    _none,
    _type("LightClientFinalityUpdate"),
    True,
    _one,
    Fork.ALTAIR,
)
LIGHT_CLIENT_OPTIMISTIC_UPDATE = Protocol(
    "light_client_optimistic_update",
    1,
    _none,
    _type("LightClientOptimisticUpdate"),
    True,
    _one,
    Fork.ALTAIR,
)


def _root(spec: Any) -> type:
    from caplin.types.basic import Root

    return Root


PROTOCOLS: tuple[Protocol, ...] = (
    STATUS_V1,
    STATUS_V2,
    GOODBYE,
    PING,
    METADATA_V2,
    METADATA_V3,
    BLOCKS_BY_RANGE,
    BLOCKS_BY_ROOT,
    BLOBS_BY_RANGE,
    BLOBS_BY_ROOT,
    COLUMNS_BY_RANGE,
    COLUMNS_BY_ROOT,
    LIGHT_CLIENT_BOOTSTRAP,
    LIGHT_CLIENT_UPDATES_BY_RANGE,
    LIGHT_CLIENT_FINALITY_UPDATE,
    LIGHT_CLIENT_OPTIMISTIC_UPDATE,
)
BY_ID = {protocol.protocol_id: protocol for protocol in PROTOCOLS}


@dataclass(frozen=True)
class BlockSlot:
    """The `message.slot` of an `EncodedBlock`."""

    slot: int


@dataclass(frozen=True)
class EncodedBlock:
    """A `SignedBeaconBlock` kept as its SSZ bytes, so serving it needs no decoding.

    It has the two members the host reads from a served block, `message.slot` and
    `encode_bytes()`, so a `ChainProvider` may yield it in place of a decoded block.
    """

    message: BlockSlot
    ssz: bytes

    @classmethod
    def from_ssz(cls, ssz: bytes) -> "EncodedBlock":
        """Wrap the SSZ bytes of a `SignedBeaconBlock` of any fork, reading its slot.

        Raises `ValueError` when the bytes are too short to hold the slot.
        """
        # A SignedBeaconBlock is the 4-byte offset of `message` and the 96-byte signature,
        # then the BeaconBlock, whose first field is the uint64 slot in every fork.
        offset = int.from_bytes(ssz[:4], "little")
        if len(ssz) < offset + 8 or offset < 100:
            raise ValueError(f"{len(ssz)} bytes are not a SignedBeaconBlock")
        return cls(BlockSlot(int.from_bytes(ssz[offset : offset + 8], "little")), bytes(ssz))

    def encode_bytes(self) -> bytes:
        """Return the SSZ bytes."""
        return self.ssz


class GoodbyeReason:
    """Goodbye reason codes of the p2p spec, plus the common client-defined ones."""

    CLIENT_SHUTDOWN = 1
    IRRELEVANT_NETWORK = 2
    FAULT_OR_ERROR = 3
    UNABLE_TO_VERIFY_NETWORK = 128
    TOO_MANY_PEERS = 129
    BAD_SCORE = 250
    BANNED = 251


def ssz_bounds(ssz_type: type, spec: Any) -> tuple[int, int]:
    """Return the (min, max) serialized size of a type, capped at MAX_PAYLOAD_SIZE."""
    return _ssz_bounds(ssz_type, int(spec.MAX_PAYLOAD_SIZE))


@functools.lru_cache(maxsize=256)
def _ssz_bounds(ssz_type: type, limit: int) -> tuple[int, int]:
    # remerkleable walks the whole type tree for these, so they are computed once per type.
    return ssz_type.min_byte_length(), min(ssz_type.max_byte_length(), limit)


class ForkContext:
    """Maps fork digests (context bytes) to forks for one chain."""

    def __init__(self, spec: Any, genesis_validators_root: bytes) -> None:
        self.spec = spec
        self.genesis_validators_root = bytes(genesis_validators_root)
        self.forks = fork_digests(spec, self.genesis_validators_root)

    def fork_of_digest(self, digest: bytes) -> Fork:
        """Return the fork of a digest. Raises `CodecError` for an unknown digest."""
        fork = self.forks.get(bytes(digest))
        if fork is None:
            raise CodecError(f"unknown fork digest {bytes(digest).hex()} in context bytes")
        return fork

    def digest_of_fork(self, fork: Fork) -> bytes:
        """Return the first fork digest of `fork` (Fulu has one per blob schedule entry)."""
        for digest, digest_fork in self.forks.items():
            if digest_fork == fork:
                return digest
        raise CodecError(f"fork {fork.name} has no fork digest on this chain")

    def digest_at_epoch(self, epoch: int) -> bytes:
        """Return the fork digest in force at `epoch`."""
        return compute_fork_digest(self.spec, self.genesis_validators_root, epoch)

    def digest_at_slot(self, slot: int) -> bytes:
        """Return the fork digest in force at `slot`."""
        return self.digest_at_epoch(compute_epoch_at_slot(self.spec, slot))
