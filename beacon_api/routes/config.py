"""The `config` namespace: the chain's spec values, fork schedule and deposit contract."""

from functools import cache
from typing import Any

from fastapi import APIRouter, Request, Response

from beacon_api.responses import json_response
from beacon_api.routes.common import chain_of
from caplin.config import ChainSpec, constants
from caplin.config.forks import Fork

router = APIRouter()


def spec_value_json(value: Any) -> Any:
    """Return a preset or config value in the specification's JSON form (strings throughout)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {key: spec_value_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [spec_value_json(item) for item in value]
    return str(value)


@cache
def spec_json(spec: ChainSpec) -> dict[str, Any]:
    """Return every preset, config and constant value of `spec`, as /config/spec lists them."""
    values: dict[str, Any] = {}
    for name in dir(constants):
        if name.isupper() and isinstance(getattr(constants, name), (int, bytes)):
            values[name] = getattr(constants, name)
    values.update(spec.preset)
    values.update(spec.config)
    return {
        key: spec_value_json(value) for key, value in sorted(values.items()) if value is not None
    }


def fork_schedule(spec: ChainSpec) -> list[dict[str, str]]:
    """Return the `Fork` objects (previous and current version, epoch) of every fork."""
    schedule = []
    previous = spec.fork_version(Fork.PHASE0)
    for fork in Fork:
        current = spec.fork_version(fork)
        schedule.append(
            {
                "previous_version": "0x" + previous.hex(),
                "current_version": "0x" + current.hex(),
                "epoch": str(spec.fork_epoch(fork)),
            }
        )
        previous = current
    return schedule


@router.get("/eth/v1/config/spec")
async def get_spec(request: Request) -> Response:
    return json_response({"data": spec_json(chain_of(request).spec)})


@router.get("/eth/v1/config/fork_schedule")
async def get_fork_schedule(request: Request) -> Response:
    return json_response({"data": fork_schedule(chain_of(request).spec)})


@router.get("/eth/v1/config/deposit_contract")
async def get_deposit_contract(request: Request) -> Response:
    spec = chain_of(request).spec
    data = {
        "chain_id": str(spec.DEPOSIT_CHAIN_ID),
        "address": "0x" + bytes(spec.DEPOSIT_CONTRACT_ADDRESS).hex(),
    }
    return json_response({"data": data})
