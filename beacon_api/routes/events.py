"""The `events` namespace: `/eth/v1/events`, a server-sent event stream of node events."""

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from beacon_api.event_bus import (
    TOPICS,
    AttestationEvent,
    BlockEvent,
    ChainReorgEvent,
    Event,
    EventBus,
    FinalizedCheckpointEvent,
    HeadEvent,
)
from beacon_api.routes.common import chain_of, query_list
from caplin.errors import ApiError
from caplin.types.json import to_json

router = APIRouter()


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def event_json(event: Event) -> Any:
    """Return the `data` object the specification defines for an event's topic."""
    if isinstance(event, HeadEvent):
        return {
            "slot": str(event.slot),
            "block": _hex(event.block_root),
            "state": _hex(event.state_root),
            "epoch_transition": event.epoch_transition,
            "previous_duty_dependent_root": _hex(event.previous_duty_dependent_root),
            "current_duty_dependent_root": _hex(event.current_duty_dependent_root),
            "execution_optimistic": event.execution_optimistic,
        }
    if isinstance(event, BlockEvent):
        return {
            "slot": str(event.slot),
            "block": _hex(event.block_root),
            "execution_optimistic": event.execution_optimistic,
        }
    if isinstance(event, AttestationEvent):
        return to_json(event.attestation)
    if isinstance(event, FinalizedCheckpointEvent):
        return {
            "block": _hex(event.block_root),
            "state": _hex(event.state_root),
            "epoch": str(event.epoch),
            "execution_optimistic": event.execution_optimistic,
        }
    if isinstance(event, ChainReorgEvent):
        return {
            "slot": str(event.slot),
            "depth": str(event.depth),
            "old_head_block": _hex(event.old_head_block),
            "new_head_block": _hex(event.new_head_block),
            "old_head_state": _hex(event.old_head_state),
            "new_head_state": _hex(event.new_head_state),
            "epoch": str(event.epoch),
            "execution_optimistic": event.execution_optimistic,
        }
    raise TypeError(f"unknown event type {type(event).__name__}")


def format_event(event: Event) -> bytes:
    """Return one server-sent event frame: `event:` and `data:` lines, then a blank line."""
    return (
        b"event: " + event.topic.encode() + b"\ndata: " + orjson.dumps(event_json(event)) + b"\n\n"
    )


async def _stream(bus: EventBus, topics: list[str]) -> AsyncIterator[bytes]:
    with bus.subscribe(topics) as receive:
        # A comment line first, so clients see the stream open before the first event.
        yield b": subscribed\n\n"
        async for event in receive:
            yield format_event(event)


@router.get("/eth/v1/events")
async def get_events(request: Request) -> StreamingResponse:
    topics = query_list(request, "topics")
    if not topics:
        raise ApiError(400, f"missing topics: expected a comma-separated list of {sorted(TOPICS)}")
    unknown = sorted(set(topics) - TOPICS)
    if unknown:
        raise ApiError(400, f"invalid topics {unknown}: this node serves {sorted(TOPICS)}")
    return StreamingResponse(
        _stream(chain_of(request).events, topics),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )
