"""Helpers that drive a dev chain slot by slot without waiting for the wall clock.

The genesis time is set in the past, so every slot up to the one being driven has already
started by the clock and fork choice accepts the blocks at once.
"""

import time
from pathlib import Path
from typing import Any

from caplin.node.setup import DevChain, DevParameters, open_dev_chain
from caplin.validator.client import ValidatorClient

SLOT_SECONDS = 6

CROSSING_EPOCHS = {
    "ALTAIR_FORK_EPOCH": 1,
    "BELLATRIX_FORK_EPOCH": 2,
    "CAPELLA_FORK_EPOCH": 3,
    "DENEB_FORK_EPOCH": 4,
    "ELECTRA_FORK_EPOCH": 5,
    "FULU_FORK_EPOCH": 6,
}


def open_past_chain(
    datadir: Path,
    fork: str = "electra",
    slots: int = 64,
    validators: int = 64,
    overrides: dict[str, Any] | None = None,
    db_engine: str = "lmdb",
) -> DevChain:
    """Open a dev chain whose genesis lies `slots` slots (plus one) in the past."""
    parameters = DevParameters(
        validators=validators,
        genesis_fork=fork,
        overrides=tuple(sorted((overrides or {}).items())),
    )
    genesis_time = int(time.time()) - SLOT_SECONDS * (slots + 1)
    return open_dev_chain(datadir, parameters, db_engine=db_engine, genesis_time=genesis_time)


def drive(dev: DevChain, client: ValidatorClient, first_slot: int, last_slot: int) -> None:
    """Run every duty of slots first_slot .. last_slot, in the node's order."""
    for slot in range(first_slot, last_slot + 1):
        client.propose(slot)
        dev.chain.update_head()
        client.attest(slot)
        client.aggregate(slot)
        dev.chain.update_head()
        client.prepare(slot + 1)


def run_chain(datadir: Path, fork: str, slots: int, **options: Any) -> DevChain:
    """Open a chain and drive it through `slots` slots; the caller closes it."""
    dev = open_past_chain(datadir, fork, slots, **options)
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    drive(dev, client, 1, slots)
    return dev
