"""Blob sidecar, blob and data column sidecar routes over in-memory chains with a blob block.

The electra and fulu chains come from `blob_chain`: their head block carries two blobs, and
the reader stores every sidecar of it. Readers that store fewer sidecars, or have no
`sidecars` method at all, wrap those chains.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from beacon_api_chain import DevChain, blob_chain, make_blob
from conftest import ServerThread
from oapi_check import validate

from caplin.config.forks import Fork
from caplin.crypto.kzg import kzg_commitment_to_versioned_hash
from caplin.types.basic import List
from caplin.types.json import to_json

SSZ = "application/octet-stream"
V4 = "beacon-node-oapi-v4.0.0.yaml"
BLOBS = [make_blob(1), make_blob(2)]


class ReaderWithoutSidecars:
    """A reader over `chain` without the optional `sidecars` method."""

    def __init__(self, chain: DevChain) -> None:
        self._chain = chain

    def __getattr__(self, name: str) -> Any:
        if name == "sidecars":
            raise AttributeError(name)
        return getattr(self._chain, name)


class PartialReader(ReaderWithoutSidecars):
    """A reader over `chain` that stores only the sidecars with an index in `indices`."""

    def __init__(self, chain: DevChain, indices: set[int]) -> None:
        super().__init__(chain)
        self._indices = indices

    def sidecars(self, block_root: bytes) -> list[Any]:
        stored = self._chain.sidecars(block_root)
        return [sidecar for sidecar in stored if int(sidecar.index) in self._indices]


@contextmanager
def served(reader: Any) -> Iterator[httpx.Client]:
    """Serve the Beacon API for `reader` and yield a client of it."""
    with ServerThread(reader) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def electra() -> Iterator[httpx.Client]:
    with served(blob_chain(Fork.ELECTRA)) as client:
        yield client


@pytest.fixture(scope="module")
def fulu() -> Iterator[httpx.Client]:
    with served(blob_chain(Fork.FULU)) as client:
        yield client


def versioned_hash(chain: DevChain, position: int) -> str:
    block = chain.block_by_root(chain.head()[0])
    commitment = bytes(block.message.body.blob_kzg_commitments[position])
    return "0x" + kzg_commitment_to_versioned_hash(commitment).hex()


def decode_blobs(data: bytes) -> list[bytes]:
    size = len(BLOBS[0])
    assert len(data) % size == 0
    return [data[start : start + size] for start in range(0, len(data), size)]


def test_blob_sidecars_json_and_ssz(electra: httpx.Client) -> None:
    chain = blob_chain(Fork.ELECTRA)
    spec = chain.spec
    stored = chain.sidecars(chain.head()[0])

    response = electra.get("/eth/v1/beacon/blob_sidecars/head")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["eth-consensus-version"] == "electra"
    body = response.json()
    assert body["version"] == "electra"
    assert body["execution_optimistic"] is False
    assert body["finalized"] is False
    assert body["data"] == [to_json(sidecar) for sidecar in stored]
    assert [bytes.fromhex(item["blob"][2:]) for item in body["data"]] == BLOBS

    ssz = electra.get("/eth/v1/beacon/blob_sidecars/head", headers={"Accept": SSZ})
    assert ssz.status_code == 200
    assert ssz.headers["eth-consensus-version"] == "electra"
    types = spec.types(Fork.ELECTRA)
    sidecars = List[types.BlobSidecar, spec.MAX_BLOB_COMMITMENTS_PER_BLOCK].decode_bytes(
        ssz.content
    )
    assert [bytes(sidecar.blob) for sidecar in sidecars] == BLOBS


def test_blob_sidecars_indices_filter(electra: httpx.Client) -> None:
    second = electra.get("/eth/v1/beacon/blob_sidecars/head?indices=1").json()["data"]
    assert [item["index"] for item in second] == ["1"]
    both = electra.get("/eth/v1/beacon/blob_sidecars/head?indices=1,0&indices=1").json()["data"]
    assert [item["index"] for item in both] == ["0", "1"]
    absent = electra.get("/eth/v1/beacon/blob_sidecars/head?indices=4").json()["data"]
    assert absent == []


def test_blob_sidecars_index_too_large(electra: httpx.Client) -> None:
    limit = blob_chain(Fork.ELECTRA).spec.max_blobs_per_block(0)
    response = electra.get(f"/eth/v1/beacon/blob_sidecars/head?indices={limit}")
    assert response.status_code == 400
    assert f"invalid blob index {limit}" in response.json()["message"]


def test_blobs_in_commitment_order(electra: httpx.Client, fulu: httpx.Client) -> None:
    for client in (electra, fulu):
        body = client.get("/eth/v1/beacon/blobs/head").json()
        assert [bytes.fromhex(blob[2:]) for blob in body["data"]] == BLOBS
        ssz = client.get("/eth/v1/beacon/blobs/head", headers={"Accept": SSZ})
        assert ssz.status_code == 200
        assert decode_blobs(ssz.content) == BLOBS


def test_blobs_versioned_hash_filter(electra: httpx.Client, fulu: httpx.Client) -> None:
    for fork, client in ((Fork.ELECTRA, electra), (Fork.FULU, fulu)):
        chain = blob_chain(fork)
        second = versioned_hash(chain, 1)
        path = f"/eth/v1/beacon/blobs/head?versioned_hashes={second}"
        data = client.get(path).json()["data"]
        assert [bytes.fromhex(blob[2:]) for blob in data] == [BLOBS[1]]

        unknown = "0x01" + "cd" * 31
        both = f"{second},{unknown}&versioned_hashes={versioned_hash(chain, 0)}"
        data = client.get(f"/eth/v1/beacon/blobs/head?versioned_hashes={both}").json()["data"]
        assert [bytes.fromhex(blob[2:]) for blob in data] == BLOBS

        ssz = client.get(path, headers={"Accept": SSZ})
        assert decode_blobs(ssz.content) == [BLOBS[1]]


def test_blobs_bad_versioned_hash(electra: httpx.Client) -> None:
    response = electra.get("/eth/v1/beacon/blobs/head?versioned_hashes=0x" + "ab" * 31)
    assert response.status_code == 400
    assert "invalid versioned hash" in response.json()["message"]


def test_data_column_sidecars_json_and_ssz(fulu: httpx.Client) -> None:
    chain = blob_chain(Fork.FULU)
    spec = chain.spec
    stored = chain.sidecars(chain.head()[0])
    path = "/eth/v1/debug/beacon/data_column_sidecars/head"

    response = fulu.get(path)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["eth-consensus-version"] == "fulu"
    body = response.json()
    assert body["version"] == "fulu"
    assert len(body["data"]) == spec.NUMBER_OF_COLUMNS
    assert body["data"] == [to_json(sidecar) for sidecar in stored]

    filtered = fulu.get(path + "?indices=64,3").json()["data"]
    assert [item["index"] for item in filtered] == ["3", "64"]

    ssz = fulu.get(path + "?indices=5", headers={"Accept": SSZ})
    assert ssz.status_code == 200
    assert ssz.headers["eth-consensus-version"] == "fulu"
    types = spec.types(Fork.FULU)
    columns = List[types.DataColumnSidecar, spec.NUMBER_OF_COLUMNS].decode_bytes(ssz.content)
    assert [int(column.index) for column in columns] == [5]
    assert columns[0] == stored[5]


def test_blob_sidecars_of_fulu_block(fulu: httpx.Client) -> None:
    response = fulu.get("/eth/v1/beacon/blob_sidecars/head")
    assert response.status_code == 400
    message = response.json()["message"]
    assert "blob sidecars do not exist from fulu on" in message
    assert "/eth/v1/beacon/blobs/head" in message


def test_data_columns_of_electra_block(electra: httpx.Client) -> None:
    response = electra.get("/eth/v1/debug/beacon/data_column_sidecars/head")
    assert response.status_code == 400
    message = response.json()["message"]
    assert "data column sidecars exist from fulu on" in message
    assert "/eth/v1/beacon/blob_sidecars/head" in message


def test_missing_blob_sidecar_is_404() -> None:
    reader = PartialReader(blob_chain(Fork.ELECTRA), indices={1})
    with served(reader) as client:
        response = client.get("/eth/v1/beacon/blobs/head")
        assert response.status_code == 404
        assert "stores 1 of its 2 blob sidecars" in response.json()["message"]
        validate("/eth/v1/beacon/blobs/{block_id}", "GET", 404, response.json(), document=V4)

        response = client.get("/eth/v1/beacon/blob_sidecars/head")
        assert response.status_code == 404
        assert "blob sidecars [0]" in response.json()["message"]

        present = client.get("/eth/v1/beacon/blob_sidecars/head?indices=1")
        assert present.status_code == 200
        assert [item["index"] for item in present.json()["data"]] == ["1"]


def test_missing_columns_is_404() -> None:
    # A node custodying the upper half of the columns cannot read the blobs out of them.
    reader = PartialReader(blob_chain(Fork.FULU), indices=set(range(64, 128)))
    with served(reader) as client:
        response = client.get("/eth/v1/beacon/blobs/head")
        assert response.status_code == 404
        assert "stores 0 of the data columns 0 to 63" in response.json()["message"]

        columns = client.get("/eth/v1/debug/beacon/data_column_sidecars/head").json()["data"]
        assert [int(item["index"]) for item in columns] == list(range(64, 128))


def test_reader_without_sidecars_method() -> None:
    for fork in (Fork.ELECTRA, Fork.FULU):
        with served(ReaderWithoutSidecars(blob_chain(fork))) as client:
            assert client.get("/eth/v1/beacon/blobs/head").status_code == 404
            # Blocks without blobs need no sidecars.
            assert client.get("/eth/v1/beacon/blobs/genesis").json()["data"] == []
            if fork == Fork.FULU:
                path = "/eth/v1/debug/beacon/data_column_sidecars/head"
                assert client.get(path).json()["data"] == []


def test_routes_on_capella_block() -> None:
    chain = DevChain(Fork.CAPELLA)
    chain.extend(1)
    with served(chain) as client:
        response = client.get("/eth/v1/beacon/blob_sidecars/head?indices=0")
        assert response.status_code == 400
        assert "from deneb on" in response.json()["message"]
        validate(
            "/eth/v1/beacon/blob_sidecars/{block_id}", "GET", 400, response.json(), document=V4
        )

        blobs = client.get("/eth/v1/beacon/blobs/head")
        assert blobs.status_code == 200
        assert blobs.json()["data"] == []
        validate("/eth/v1/beacon/blobs/{block_id}", "GET", 200, blobs.json(), document=V4)

        columns = client.get("/eth/v1/debug/beacon/data_column_sidecars/head")
        assert columns.status_code == 400
        assert "from fulu on" in columns.json()["message"]
