"""The server-sent event stream and the event bus behind it."""

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import trio
from beacon_api_chain import DevChain
from conftest import ServerThread

from beacon_api.event_bus import BlockEvent, EventBus, HeadEvent

ROOT = b"\x01" * 32


def read_events(lines: Iterator[str], count: int) -> list[tuple[str, dict]]:
    """Return the next `count` (topic, data) events of an SSE line stream."""
    events = []
    topic = None
    for line in lines:
        if line.startswith("event: "):
            topic = line.removeprefix("event: ")
        elif line.startswith("data: "):
            assert topic is not None, "data line before its event line"
            events.append((topic, json.loads(line.removeprefix("data: "))))
            topic = None
            if len(events) == count:
                break
    return events


def test_stream_sends_block_and_head() -> None:
    chain = DevChain()
    chain.extend(1)
    with ServerThread(chain) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        with client.stream("GET", "/eth/v1/events?topics=block,head") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines) == ": subscribed"

            block = chain.make_block(2)
            root = chain.import_block(block)
            events = read_events(lines, 2)

    assert [topic for topic, _ in events] == ["block", "head"]
    block_data, head_data = events[0][1], events[1][1]
    assert block_data == {"slot": "2", "block": "0x" + root.hex(), "execution_optimistic": False}
    assert head_data["block"] == "0x" + root.hex()
    assert head_data["state"] == "0x" + bytes(block.message.state_root).hex()
    assert head_data["epoch_transition"] is False


def test_closed_stream_unsubscribes() -> None:
    chain = DevChain()
    with ServerThread(chain) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        with client.stream("GET", "/eth/v1/events?topics=finalized_checkpoint") as response:
            # Keep the line iterator: dropping it closes the response and the connection.
            lines = response.iter_lines()
            assert next(lines) == ": subscribed"
            assert chain.events.subscriber_count == 1
        # The server notices the disconnect asynchronously; wait for it up to a deadline.
        deadline = time.monotonic() + 30
        while chain.events.subscriber_count and time.monotonic() < deadline:
            chain.extend(1)
        assert chain.events.subscriber_count == 0


def test_stream_topics_filtered() -> None:
    chain = DevChain()
    with ServerThread(chain) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        with client.stream("GET", "/eth/v1/events", params={"topics": "head"}) as response:
            lines = response.iter_lines()
            assert next(lines) == ": subscribed"
            chain.extend(1)
            events = read_events(lines, 1)
    assert events[0][0] == "head"


def test_bus_rejects_unknown_topic() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="blob_sidecar"):
            with EventBus().subscribe(["head", "blob_sidecar"]):
                pass

    trio.run(main)


def test_bus_closes_slow_subscriber() -> None:
    async def main() -> None:
        bus = EventBus(buffer_size=2)
        with bus.subscribe(["block"]) as receive:
            for slot in range(3):
                bus.publish(BlockEvent(slot=slot, block_root=ROOT))
            received = [event.slot async for event in receive]
        # The third event overflowed the buffer, so the stream ended after the first two.
        assert received == [0, 1]
        assert bus.subscriber_count == 0

    trio.run(main)


def test_bus_delivers_from_thread() -> None:
    async def main() -> None:
        bus = EventBus()
        event = HeadEvent(
            slot=1,
            block_root=ROOT,
            state_root=ROOT,
            epoch_transition=False,
            previous_duty_dependent_root=ROOT,
            current_duty_dependent_root=ROOT,
        )
        with bus.subscribe(["head"]) as receive:
            await trio.to_thread.run_sync(bus.publish, event)
            with trio.fail_after(10):
                assert await receive.receive() == event

    trio.run(main)
