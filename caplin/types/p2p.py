"""SSZ containers of the p2p networking specs (req/resp messages, ENR fields).

NOTE: MetaData's `attnets` length is the config value ATTESTATION_SUBNET_COUNT,
but types are built per preset, so it is fixed at 64 here: the value of every
bundled network and of both spec configs.
"""

from typing import Any

from caplin.config.constants import SYNC_COMMITTEE_SUBNET_COUNT
from caplin.config.forks import Fork
from caplin.types.basic import (
    Bitvector,
    ColumnIndex,
    Container,
    Epoch,
    ForkDigest,
    List,
    Root,
    Slot,
    Version,
    container,
    extend,
    uint64,
)

ATTESTATION_SUBNET_COUNT = 64


def build(p: Any, fork: Fork, classes: dict[str, type]) -> dict[str, type]:
    """Return the networking containers that `fork` adds or changes."""
    if fork == Fork.PHASE0:
        return _phase0()
    if fork == Fork.ALTAIR:
        return {
            "MetaData": extend(classes["MetaData"], syncnets=Bitvector[SYNC_COMMITTEE_SUBNET_COUNT])
        }
    if fork == Fork.DENEB:
        return {"BlobSidecarsByRangeRequest": _blob_range_request()}
    if fork == Fork.FULU:
        return _fulu(p, classes)
    return {}


def _phase0() -> dict[str, type]:
    class Status(Container):
        fork_digest: ForkDigest
        finalized_root: Root
        finalized_epoch: Epoch
        head_root: Root
        head_slot: Slot

    class MetaData(Container):
        seq_number: uint64
        attnets: Bitvector[ATTESTATION_SUBNET_COUNT]

    class BeaconBlocksByRangeRequest(Container):
        start_slot: Slot
        count: uint64
        step: uint64

    class ENRForkID(Container):
        fork_digest: ForkDigest
        next_fork_version: Version
        next_fork_epoch: Epoch

    class LightClientUpdatesByRangeRequest(Container):
        start_period: uint64
        count: uint64

    return {
        "Status": Status,
        "MetaData": MetaData,
        "BeaconBlocksByRangeRequest": BeaconBlocksByRangeRequest,
        "ENRForkID": ENRForkID,
        "LightClientUpdatesByRangeRequest": LightClientUpdatesByRangeRequest,
    }


def _blob_range_request() -> type:
    class BlobSidecarsByRangeRequest(Container):
        start_slot: Slot
        count: uint64

    return BlobSidecarsByRangeRequest


def _fulu(p: Any, classes: dict[str, type]) -> dict[str, type]:
    class DataColumnSidecarsByRangeRequest(Container):
        start_slot: Slot
        count: uint64
        columns: List[ColumnIndex, p.NUMBER_OF_COLUMNS]

    # Fulu's Status v2 and MetaData v3 append one field each.
    return {
        "StatusV2": container(
            "StatusV2", {**classes["Status"].fields(), "earliest_available_slot": Slot}
        ),
        "MetaData": extend(classes["MetaData"], custody_group_count=uint64),
        "DataColumnSidecarsByRangeRequest": DataColumnSidecarsByRangeRequest,
    }
