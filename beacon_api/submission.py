"""Decode the bodies of POST requests: blocks (JSON or SSZ) and lists of pool operations."""

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from remerkleable.complex import Container, List

from beacon_api.ids import parse_uint
from beacon_api.responses import JSON, SSZ
from caplin.config import ChainSpec
from caplin.config.forks import Fork
from caplin.errors import ApiError, SSZError
from caplin.types.basic import KZGProof
from caplin.types.json import from_json
from caplin.types.ssz import decode


@dataclass(frozen=True)
class BlockSubmission:
    """A published block with the blobs and KZG proofs sent with it (deneb and later)."""

    signed_block: Any
    blobs: list[bytes]
    kzg_proofs: list[bytes]


@cache
def signed_block_contents_type(spec: ChainSpec, fork: Fork) -> Any:
    """Return the SSZ `SignedBlockContents` container of a deneb or later fork."""
    types = spec.types(fork)
    max_blobs = spec.MAX_BLOB_COMMITMENTS_PER_BLOCK
    # Fulu sends every cell proof of the extended blob, not one proof per blob.
    proofs = max_blobs * spec.CELLS_PER_EXT_BLOB if fork >= Fork.FULU else max_blobs

    class SignedBlockContents(Container):
        signed_block: types.SignedBeaconBlock
        kzg_proofs: List[KZGProof, proofs]
        blobs: List[types.Blob, max_blobs]

    return SignedBlockContents


def media_type_of(content_type: str) -> str:
    """Return the media type of a Content-Type header, JSON when the header is empty."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media or JSON


def parse_json_body(body: bytes) -> Any:
    """Return the parsed JSON of a request body, raising a 400 ApiError when it is invalid."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"invalid JSON body: {error}") from None


def decode_block_submission(
    spec: ChainSpec, fork: Fork, content_type: str, body: bytes
) -> BlockSubmission:
    """Decode a POST /eth/v2/beacon/blocks body of `fork`, given as JSON or SSZ.

    Raises:
        ApiError: 415 for another content type, 400 for a body that does not decode or whose
            block slot belongs to another fork than `fork`.
    """
    media = media_type_of(content_type)
    types = spec.types(fork)
    with_contents = fork >= Fork.DENEB
    try:
        if media == SSZ:
            kind = (
                signed_block_contents_type(spec, fork) if with_contents else types.SignedBeaconBlock
            )
            value = decode(kind, body)
        elif media == JSON:
            data = parse_json_body(body)
            if with_contents:
                value = from_json(
                    signed_block_contents_type(spec, fork), data, "SignedBlockContents"
                )
            else:
                value = from_json(types.SignedBeaconBlock, data)
        else:
            raise ApiError(415, f"unsupported Content-Type {content_type!r}; use {JSON} or {SSZ}")
    except SSZError as error:
        raise ApiError(400, f"invalid {fork.lower} block body: {error}") from None

    if with_contents:
        signed_block = value.signed_block
        blobs = [bytes(blob) for blob in value.blobs]
        proofs = [bytes(proof) for proof in value.kzg_proofs]
    else:
        signed_block, blobs, proofs = value, [], []

    slot_fork = spec.fork_at_slot(int(signed_block.message.slot))
    if slot_fork != fork:
        raise ApiError(
            400,
            f"block at slot {int(signed_block.message.slot)} belongs to {slot_fork.lower}, "
            f"not {fork.lower}",
        )
    return BlockSubmission(signed_block, blobs, proofs)


def decode_json_list(cls: Any, body: bytes, what: str) -> list[Any]:
    """Decode a JSON array of SSZ values of type `cls` (the pool POST bodies).

    Raises:
        ApiError: 400 when the body is not an array or an item does not decode; the message
            names the item's index.
    """
    data = parse_json_body(body)
    if not isinstance(data, list):
        raise ApiError(400, f"invalid body: expected a JSON array of {what}")
    values = []
    for index, item in enumerate(data):
        try:
            values.append(from_json(cls, item, f"{what}[{index}]"))
        except SSZError as error:
            raise ApiError(400, f"invalid {what} at index {index}: {error}") from None
    return values


@cache
def block_contents_type(spec: ChainSpec, fork: Fork) -> Any:
    """Return the SSZ `BlockContents` container (unsigned block, proofs, blobs) of deneb on."""
    types = spec.types(fork)
    fields = signed_block_contents_type(spec, fork).fields()
    proofs_type, blobs_type = fields["kzg_proofs"], fields["blobs"]

    class BlockContents(Container):
        block: types.BeaconBlock
        kzg_proofs: proofs_type
        blobs: blobs_type

    return BlockContents


# A documented cap on the validator indices or ids of one request (duties, liveness, the
# POST validator queries). The Beacon API sets none for POST bodies; 2**16 ids cover the
# largest single operators and keep one request to a few megabytes of JSON.
MAX_REQUEST_IDS = 2**16


def require_media(content_type: str, accepted: tuple[str, ...] = (JSON,)) -> str:
    """Return the media type of a POST body, JSON when the header is missing.

    Raises:
        ApiError: 415 when the Content-Type is not in `accepted`.
    """
    media = media_type_of(content_type)
    if media not in accepted:
        raise ApiError(
            415, f"unsupported Content-Type {content_type!r}; use {' or '.join(accepted)}"
        )
    return media


def json_body(content_type: str, body: bytes) -> Any:
    """Return the parsed JSON of a POST body whose schema marks it required.

    Raises:
        ApiError: 415 for a Content-Type other than JSON, 400 for an empty or invalid body.
    """
    require_media(content_type)
    if not body.strip():
        raise ApiError(400, "missing request body: expected JSON")
    return parse_json_body(body)


def check_id_count(count: int, what: str) -> None:
    """Raise a 400 ApiError when a request names more than `MAX_REQUEST_IDS` ids."""
    if count > MAX_REQUEST_IDS:
        raise ApiError(400, f"too many {what} ({count} > {MAX_REQUEST_IDS}); split the request")


def parse_index_list(data: Any, what: str = "validator indices") -> list[int]:
    """Return a non-empty JSON array of uint64 decimal strings as ints.

    Raises:
        ApiError: 400 naming the first bad item, or when the array is empty or too long.
    """
    if not isinstance(data, list):
        raise ApiError(400, f"invalid body: expected a JSON array of {what}")
    if not data:
        raise ApiError(400, f"invalid body: expected at least one of the {what}")
    check_id_count(len(data), what)
    indices = []
    for position, item in enumerate(data):
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str) or not text.isdigit() or not text.isascii():
            raise ApiError(
                400, f"invalid {what} at index {position}: {str(item)[:80]!r} is not a uint64"
            )
        indices.append(parse_uint(text, f"{what} at index {position}"))
    return indices
