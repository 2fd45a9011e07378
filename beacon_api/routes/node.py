"""The `node` namespace: health, version, syncing, identity and peers."""

import platform
import sys
from dataclasses import asdict

from fastapi import APIRouter, Request, Response

from beacon_api.chain import PeerInfo
from beacon_api.responses import json_response
from beacon_api.routes.common import chain_of, query_list
from caplin.errors import ApiError

router = APIRouter()

PEER_STATES = ("disconnected", "connecting", "connected", "disconnecting")
PEER_DIRECTIONS = ("inbound", "outbound")


def node_version() -> str:
    """Return the client version string, `caplin/v<version>/<os>-<arch>/python<x.y>`."""
    try:
        from importlib.metadata import version

        release = version("caplin")
    except Exception:  # noqa: BLE001 - a source checkout without metadata still has a version
        release = "0.0.0"
    system = f"{platform.system().lower()}-{platform.machine().lower()}"
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return f"caplin/v{release}/{system}/{python}"


VERSION = node_version()


@router.get("/eth/v1/node/health")
async def get_health(request: Request) -> Response:
    syncing_status = request.query_params.get("syncing_status")
    status = 200
    if chain_of(request).sync_status().is_syncing:
        status = 206
        if syncing_status is not None:
            if not syncing_status.isdigit() or not 100 <= int(syncing_status) <= 599:
                raise ApiError(400, f"invalid syncing_status {syncing_status!r}")
            status = int(syncing_status)
    return Response(status_code=status)


@router.get("/eth/v1/node/version")
async def get_version(request: Request) -> Response:
    return json_response({"data": {"version": VERSION}})


@router.get("/eth/v1/node/syncing")
async def get_syncing(request: Request) -> Response:
    status = chain_of(request).sync_status()
    data = {
        "head_slot": str(status.head_slot),
        "sync_distance": str(status.sync_distance),
        "is_syncing": status.is_syncing,
        "is_optimistic": status.is_optimistic,
        "el_offline": status.el_offline,
    }
    return json_response({"data": data})


@router.get("/eth/v1/node/identity")
async def get_identity(request: Request) -> Response:
    identity = chain_of(request).identity()
    metadata = {
        "seq_number": str(identity.seq_number),
        "attnets": "0x" + identity.attnets.hex(),
        "syncnets": "0x" + identity.syncnets.hex(),
    }
    if identity.custody_group_count is not None:
        metadata["custody_group_count"] = str(identity.custody_group_count)
    data = {
        "peer_id": identity.peer_id,
        "enr": identity.enr,
        "p2p_addresses": list(identity.p2p_addresses),
        "discovery_addresses": list(identity.discovery_addresses),
        "metadata": metadata,
    }
    return json_response({"data": data})


def _peer_json(peer: PeerInfo) -> dict:
    return asdict(peer)


@router.get("/eth/v1/node/peers")
async def get_peers(request: Request) -> Response:
    states = query_list(request, "state")
    directions = query_list(request, "direction")
    for value in states:
        if value not in PEER_STATES:
            raise ApiError(400, f"invalid peer state {value!r}: expected one of {PEER_STATES}")
    for value in directions:
        if value not in PEER_DIRECTIONS:
            raise ApiError(400, f"invalid direction {value!r}: expected one of {PEER_DIRECTIONS}")

    peers = [
        _peer_json(peer)
        for peer in chain_of(request).peers()
        if (not states or peer.state in states) and (not directions or peer.direction in directions)
    ]
    return json_response({"data": peers, "meta": {"count": len(peers)}})


@router.get("/eth/v1/node/peers/{peer_id}")
async def get_peer(request: Request, peer_id: str) -> Response:
    for peer in chain_of(request).peers():
        if peer.peer_id == peer_id:
            return json_response({"data": _peer_json(peer)})
    raise ApiError(404, f"peer not found: {peer_id}")


@router.get("/eth/v1/node/peer_count")
async def get_peer_count(request: Request) -> Response:
    counts = dict.fromkeys(PEER_STATES, 0)
    for peer in chain_of(request).peers():
        counts[peer.state] = counts.get(peer.state, 0) + 1
    return json_response({"data": {state: str(count) for state, count in counts.items()}})
