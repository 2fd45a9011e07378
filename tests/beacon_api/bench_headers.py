"""Measure `/eth/v1/beacon/headers/head` requests per second over keep-alive connections.

Run: `.venv/bin/python tests/beacon_api/bench_headers.py [requests] [clients]`. The server runs
in its own trio loop on a background thread, on 127.0.0.1, over the real fulu test chain of
the API tests. Each client is a separate process (so it does not share the server's GIL) that
sends its share of the requests one after another over one keep-alive httpx connection.
"""

import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from beacon_api_chain import DevChain  # noqa: E402
from conftest import ServerThread  # noqa: E402


def run_client(url: str, count: int, path: str) -> None:
    with httpx.Client(base_url=url) as client:
        for _ in range(count):
            response = client.get(path)
            assert response.status_code == 200, response.text


def start_client(url: str, count: int, path: str) -> subprocess.Popen:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench_headers import run_client; "
        "run_client(sys.argv[2], int(sys.argv[3]), sys.argv[4])"
    )
    folder = str(Path(__file__).parent)
    return subprocess.Popen([sys.executable, "-c", code, folder, url, str(count), path])


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    chain = DevChain()
    chain.extend(8)
    with ServerThread(chain) as server:
        for path in ("/eth/v1/beacon/headers/head", "/eth/v1/node/version"):
            run_client(server.url, 50, path)  # warm up
            start = time.perf_counter()
            cpu_start = time.process_time()
            processes = [start_client(server.url, total // clients, path) for _ in range(clients)]
            for process in processes:
                if process.wait() != 0:
                    raise RuntimeError(f"client failed with exit code {process.returncode}")
            # Includes each client's interpreter start-up (about 0.3 s), so the rate is a floor.
            elapsed = time.perf_counter() - start
            server_cpu = time.process_time() - cpu_start
            done = (total // clients) * clients
            print(
                f"{path}: {done} requests, {clients} clients, {done / elapsed:.0f} requests/s, "
                f"server CPU {1000 * server_cpu / done:.2f} ms per request"
            )


if __name__ == "__main__":
    main()
