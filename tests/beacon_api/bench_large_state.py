"""Measure large-state routes and how responsive the loop stays while they run.

Run: `.venv/bin/python tests/beacon_api/bench_large_state.py [validators]`. The fulu test
chain's head state gets `validators` registry entries (copies of the genesis ones, decoded from
SSZ bytes), then the script times `debug/beacon/states/head` as JSON and SSZ and the validators
route, while a second client polls `/eth/v1/node/version` and records its worst latency.
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from beacon_api_chain import DevChain  # noqa: E402
from conftest import ServerThread  # noqa: E402

from caplin.types.ssz import decode, encode  # noqa: E402


def grow_registry(chain: DevChain, count: int) -> None:
    """Give the head state `count` validators and balances, repeating the existing ones."""
    root = chain.head()[0]
    state = chain.post_states[root].copy()
    validators = encode(state.validators)
    balances = encode(state.balances)
    repeat = count // len(state.validators)
    state.validators = decode(type(state.validators), validators * repeat)
    state.balances = decode(type(state.balances), balances * repeat)
    for name in (
        "previous_epoch_participation",
        "current_epoch_participation",
        "inactivity_scores",
    ):
        field = getattr(state, name)
        setattr(state, name, decode(type(field), encode(field) * repeat))
    chain.post_states[root] = state


def poll(url: str, seconds: str) -> None:
    """Request /node/version every 10 ms for `seconds`; print the latencies in ms as JSON."""
    latencies = []
    deadline = time.perf_counter() + float(seconds)
    with httpx.Client(base_url=url) as client:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            client.get("/eth/v1/node/version")
            latencies.append(1000 * (time.perf_counter() - start))
            time.sleep(0.01)
    print(json.dumps(latencies))


def fetch(url: str, path: str, accept: str) -> None:
    """Request `path` once; print the seconds it took and the body size."""
    with httpx.Client(base_url=url, timeout=600) as client:
        start = time.perf_counter()
        response = client.get(path, headers={"accept": accept})
        assert response.status_code == 200, response.text[:300]
        print(json.dumps([time.perf_counter() - start, len(response.content)]))


def run_script(*args: str) -> subprocess.Popen:
    code = "import sys; sys.path.insert(0, sys.argv[1]); import bench_large_state as b; "
    code += "getattr(b, sys.argv[2])(*sys.argv[3:])"
    folder = str(Path(__file__).parent)
    return subprocess.Popen(
        [sys.executable, "-c", code, folder, *args], stdout=subprocess.PIPE, text=True
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    chain = DevChain()
    chain.extend(2)
    grow_registry(chain, count)
    with ServerThread(chain) as server:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            client.get("/eth/v1/beacon/states/head/root")  # hash the grown state once
        cases = [
            ("/eth/v2/debug/beacon/states/head", "application/json"),
            ("/eth/v2/debug/beacon/states/head", "application/octet-stream"),
            ("/eth/v1/beacon/states/head/validators", "application/json"),
            ("/eth/v1/beacon/states/head/validator_balances", "application/json"),
        ]
        for path, accept in cases:
            fetcher = run_script("fetch", server.url, path, accept)
            seconds, size = json.loads(fetcher.communicate()[0])
            # Poll again for as long as the request took, now with the request running.
            poller = run_script("poll", server.url, str(seconds))
            fetcher = run_script("fetch", server.url, path, accept)
            fetcher.communicate()
            latencies = json.loads(poller.communicate()[0])
            print(
                f"{path} {accept}: {seconds:.2f} s, {size / 1e6:.1f} MB; /node/version meanwhile "
                f"median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms "
                f"over {len(latencies)} requests"
            )


if __name__ == "__main__":
    main()
