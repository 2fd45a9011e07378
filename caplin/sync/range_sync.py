"""Range sync: download the blocks between our head and a peer's head, and import them.

Each round refreshes the Status of the connected peers and picks the one with the highest
head. While that head is ahead of ours, batches of BeaconBlocksByRange go to that peer and
the blocks are imported in slot order through `BeaconChain.import_block`. A failed request
moves to the next peer. A peer that sends an invalid block loses score, and enough of those
disconnect it. At the head, new blocks arrive by gossip and range sync only waits.

While a batch is imported in a worker thread, the next batch is already requested from the
same peer, so the download overlaps the import.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from caplin.blobs import sidecar_matches_block
from caplin.config.forks import Fork
from caplin.errors import CaplinError
from caplin.transition.helpers import compute_start_slot_at_epoch
from forkchoice.errors import BlockNotReadyError, InvalidBlockError

log = logging.getLogger("caplin.sync")

BATCH_SLOTS = 64
IDLE_SECONDS = 2.0
# The shortest gap between two requests for the slots just after our head (`_fetch_tail`).
TAIL_FETCH_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 20.0
# Score lost for a batch with an invalid block. Two in a row reach the peer manager's
# disconnect threshold (-20) and five its ban threshold (-50).
PENALTY_INVALID_BLOCK = 10.0
PENALTY_FAILED_REQUEST = 2.0
PROGRESS_LOG_SECONDS = 10.0
# Minimum time between two Status requests to one peer. Lodestar 1.5.1 answered a Status every
# 2 seconds with REQUEST_ERROR_RATE_LIMITED and then banned the peer (Goodbye 251).
STATUS_REFRESH_SECONDS = 10.0
# The shortest gap when a gossip block shows a peer is ahead of its cached Status: Lodestar
# 1.5.1 takes 5 Status requests per 15 seconds from one peer.
STATUS_HINT_SECONDS = 3.5


@dataclass
class _Prefetch:
    """A BeaconBlocksByRange request started ahead of its turn."""

    peer: str
    start_slot: int
    count: int
    done: trio.Event = field(default_factory=trio.Event)
    blocks: list[Any] | None = None
    error: BaseException | None = None


class RangeSync:
    """Catch-up of one chain from its peers.

    Args:
        spec: the chain's `ChainSpec`.
        chain: the node's `BeaconChain`.
        host: the `SentinelHost` that sends the requests.
        current_slot: returns the wall-clock slot.
    """

    def __init__(self, spec: Any, chain: Any, host: Any, current_slot: Callable[[], int]) -> None:
        self.spec = spec
        self.chain = chain
        self.host = host
        self.current_slot = current_slot
        self.is_syncing = False
        self.target_slot = 0
        self.imported = 0
        self._cursor = 0
        self._wake = trio.Event()
        self._progress_at = 0.0
        self._progress_slot = 0
        self._nursery: trio.Nursery | None = None
        self._prefetch: _Prefetch | None = None
        # peer id -> (time.monotonic() of the Status, its head slot)
        self._statuses: dict[str, tuple[float, int]] = {}
        self._tail_fetched_at = 0.0

    def wake(self, seen_slot: int | None = None) -> None:
        """Start the next round now (a gossip block had an unknown parent, say).

        `seen_slot` is the slot of a block seen on gossip: cached Statuses with an older head
        are asked again (no more often than every `STATUS_HINT_SECONDS`), so a missed block
        is fetched within a slot or two instead of at the next regular Status refresh.
        """
        if seen_slot is not None:
            now = time.monotonic()
            for peer, (asked_at, head_slot) in list(self._statuses.items()):
                if head_slot < seen_slot and now - asked_at >= STATUS_HINT_SECONDS:
                    del self._statuses[peer]
        self._wake.set()

    async def run(self) -> None:
        """Run sync rounds until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            while True:
                progressed = await self.sync_round()
                if not progressed:
                    with trio.move_on_after(IDLE_SECONDS):
                        await self._wake.wait()
                    self._wake = trio.Event()

    async def sync_round(self) -> bool:
        """Run one batch against the best peer that is ahead of us.

        Returns True when the head or the cursor moved, so the next batch follows at once.
        """
        peers = await self._peers_by_head()
        head_slot = self.chain.snapshot.head_slot
        # A head past the wall clock cannot be imported yet, so the target stops at the clock.
        now_slot = self.current_slot()
        ahead = [(min(slot, now_slot), peer) for slot, peer in peers if slot > head_slot]
        ahead = [(slot, peer) for slot, peer in ahead if slot > head_slot]
        if not ahead:
            self._finish(head_slot)
            if peers and now_slot > head_slot + 1:
                return await self._fetch_tail(peers[0][1], head_slot, now_slot)
            return False
        if not self.is_syncing:
            self.is_syncing = True
            self._cursor = head_slot + 1
            self._progress_at, self._progress_slot = time.monotonic(), head_slot
            log.info("range sync started head_slot=%d target_slot=%d", head_slot, ahead[0][0])
        self.target_slot = ahead[0][0]
        self._cursor = max(self._cursor, head_slot + 1)
        for peer_slot, peer in ahead:
            if self._cursor > peer_slot:
                continue
            count = min(BATCH_SLOTS, peer_slot - self._cursor + 1)
            outcome = await self._sync_batch(peer, self._cursor, count)
            if outcome is not None:
                self._log_progress()
                return outcome
        return False

    async def _fetch_tail(self, peer: str, head_slot: int, now_slot: int) -> bool:
        """Ask `peer` for the slots after our head when the head is two or more slots behind
        the clock but no Status says a peer is ahead: gossip missed a block, or its mesh is
        still forming after the sync. At most every `TAIL_FETCH_SECONDS`; True when the head
        moved."""
        now = time.monotonic()
        if now - self._tail_fetched_at < TAIL_FETCH_SECONDS:
            return False
        self._tail_fetched_at = now
        count = min(BATCH_SLOTS, now_slot - head_slot)
        await self._sync_batch(peer, head_slot + 1, count)
        return self.chain.snapshot.head_slot > head_slot

    def _finish(self, head_slot: int) -> None:
        if self.is_syncing:
            log.info(
                "range sync reached the head head_slot=%d imported=%d", head_slot, self.imported
            )
        self.is_syncing = False
        self.target_slot = head_slot

    async def _peers_by_head(self) -> list[tuple[int, str]]:
        """Return (head_slot, peer) of every connected peer, highest head first.

        A peer's Status is requested again only `STATUS_REFRESH_SECONDS` after the last one.
        """
        connected = list(self.host.peers.connected)
        for peer in set(self._statuses) - set(connected):
            del self._statuses[peer]
        found = []
        for peer in connected:
            cached = self._statuses.get(peer)
            if cached is not None and time.monotonic() - cached[0] < STATUS_REFRESH_SECONDS:
                found.append((cached[1], peer))
                continue
            try:
                with trio.fail_after(REQUEST_TIMEOUT_SECONDS):
                    status = await self.host.status(peer)
            except Exception as error:  # py-libp2p raises several types on a closing link
                log.debug("status request failed peer=%s error=%r", peer, error)
                continue
            self._statuses[peer] = (time.monotonic(), int(status.head_slot))
            found.append((int(status.head_slot), peer))
        return sorted(found, reverse=True)

    async def _download(self, peer: str, start_slot: int, count: int) -> list[Any]:
        """Return the blocks of the range, from the prefetched request when it matches."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None and (prefetch.peer, prefetch.start_slot, prefetch.count) == (
            peer,
            start_slot,
            count,
        ):
            await prefetch.done.wait()
            if prefetch.error is not None:
                raise prefetch.error
            return prefetch.blocks or []
        with trio.fail_after(REQUEST_TIMEOUT_SECONDS):
            return list(await self.host.blocks_by_range(peer, start_slot, count))

    def _start_prefetch(self, peer: str, start_slot: int) -> None:
        """Request the batch after the one being imported, when the peer has it."""
        count = min(BATCH_SLOTS, self.target_slot - start_slot + 1)
        if self._nursery is None or count <= 0:
            return
        prefetch = _Prefetch(peer, start_slot, count)
        self._prefetch = prefetch

        async def fetch() -> None:
            try:
                with trio.fail_after(REQUEST_TIMEOUT_SECONDS):
                    prefetch.blocks = list(await self.host.blocks_by_range(peer, start_slot, count))
            except Exception as error:  # reported when the batch's turn comes
                prefetch.error = error
            finally:
                prefetch.done.set()

        self._nursery.start_soon(fetch)

    async def _sync_batch(self, peer: str, start_slot: int, count: int) -> bool | None:
        """Download and import one batch. Returns None when the peer failed, so the caller
        tries the next peer."""
        try:
            blocks = await self._download(peer, start_slot, count)
        except Exception as error:  # codec errors, timeouts and py-libp2p stream errors
            log.info(
                "blocks by range failed peer=%s start_slot=%d count=%d error=%r",
                peer,
                start_slot,
                count,
                error,
            )
            self.host.penalize(peer, PENALTY_FAILED_REQUEST, "blocks by range failed")
            return None
        blocks = sorted(blocks, key=lambda block: int(block.message.slot))
        if any(not start_slot <= int(b.message.slot) < start_slot + count for b in blocks):
            self.host.penalize(peer, PENALTY_INVALID_BLOCK, "block outside the requested range")
            return None
        if blocks and not self.chain.is_known(bytes(blocks[0].message.parent_root)):
            # Our head is on another branch: start again from the finalized checkpoint.
            self._restart_from_finalized(peer, start_slot)
            return True
        if not await self._fetch_blob_data(peer, blocks):
            return None
        self._start_prefetch(peer, start_slot + count)
        try:
            await trio.to_thread.run_sync(self._import_batch, blocks)
        except BlockNotReadyError as error:
            log.info("batch not importable yet peer=%s error=%s", peer, error)
            self._restart_from_finalized(peer, start_slot)
            return None
        except (InvalidBlockError, CaplinError) as error:
            log.warning("invalid block from peer peer=%s error=%s", peer, error)
            self.host.penalize(peer, PENALTY_INVALID_BLOCK, "range sync: invalid block")
            return None
        # Empty slots at the end of the range still count as covered.
        self._cursor = start_slot + count
        return True

    async def _fetch_blob_data(self, peer: str, blocks: list[Any]) -> bool:
        """Download the sidecars of the batch's blocks that carry blobs and offer them to
        their import. Returns False when the peer failed to send them or sent invalid ones."""
        with_blobs = [b for b in blocks if len(getattr(b.message.body, "blob_kzg_commitments", ()))]
        if not with_blobs:
            return True
        try:
            sidecars = await self._download_sidecars(peer, with_blobs)
        except Exception as error:  # codec errors, timeouts and py-libp2p stream errors
            log.info("sidecars by range failed peer=%s error=%r", peer, error)
            self.host.penalize(peer, PENALTY_FAILED_REQUEST, "sidecars by range failed")
            return False

        blocks_by_root = {bytes(b.message.hash_tree_root()): b for b in with_blobs}
        columns = set(self._sampled_columns())
        by_root: dict[bytes, list[Any]] = {root: [] for root in blocks_by_root}
        for sidecar in sidecars:
            root = bytes(sidecar.signed_block_header.message.hash_tree_root())
            signed_block = blocks_by_root.get(root)
            # Sidecars of other blocks, columns not requested, or sidecars not proven to be
            # the block's are never stored or served, because the peer sent invalid data.
            if (
                signed_block is None
                or (hasattr(sidecar, "column") and int(sidecar.index) not in columns)
                or not sidecar_matches_block(self.spec, sidecar, signed_block)
            ):
                log.info("sidecar does not match its block peer=%s root=0x%s", peer, root.hex())
                self.host.penalize(peer, PENALTY_INVALID_BLOCK, "range sync: invalid sidecar")
                return False
            by_root[root].append(sidecar)
        for root, found in by_root.items():
            wanted = len(blocks_by_root[root].message.body.blob_kzg_commitments)
            if self.spec.fork_of(blocks_by_root[root]) >= Fork.FULU:
                wanted = len(columns)
            if len(found) < wanted:
                # The peer may not custody these columns (or has pruned the blobs): the next
                # peer is tried, and nothing is held against this one.
                log.info(
                    "peer lacks sidecars peer=%s root=0x%s found=%d wanted=%d",
                    peer,
                    root.hex(),
                    len(found),
                    wanted,
                )
                return False
            self.chain.availability.offer(root, found)
        return True

    def _sampled_columns(self) -> list[int]:
        columns = self.chain.availability.custody_columns
        if columns is None:
            return list(range(int(self.spec.NUMBER_OF_COLUMNS)))
        return list(columns)

    async def _download_sidecars(self, peer: str, with_blobs: list[Any]) -> list[Any]:
        """Request blob sidecars for blocks before fulu and the custody columns' sidecars for
        fulu blocks, each over the slots those blocks span."""
        blob_blocks = [b for b in with_blobs if self.spec.fork_of(b) < Fork.FULU]
        column_blocks = [b for b in with_blobs if self.spec.fork_of(b) >= Fork.FULU]
        sidecars: list[Any] = []
        if blob_blocks:
            start_slot, count = _slot_range(blob_blocks)
            sidecars += await self.host.blob_sidecars_by_range(peer, start_slot, count)
        if column_blocks:
            start_slot, count = _slot_range(column_blocks)
            sidecars += await self.host.data_column_sidecars_by_range(
                peer, start_slot, count, self._sampled_columns()
            )
        return sidecars

    def _import_batch(self, blocks: list[Any]) -> None:
        # One engine batch for every payload first, so each block's import finds its payload run.
        execute_blocks = getattr(self.chain.execution, "execute_blocks", None)
        if execute_blocks is not None:
            execute_blocks(self.spec, blocks)
        # The batch's database writes land in one transaction (a failure keeps them queued).
        with self.chain.batched_writes():
            for signed_block in blocks:
                self.chain.import_block(signed_block)
                self.imported += 1
        self.chain.flush()

    def _restart_from_finalized(self, peer: str, start_slot: int) -> None:
        finalized = self.chain.snapshot.finalized.epoch
        restart = compute_start_slot_at_epoch(self.spec, finalized) + 1
        if restart >= start_slot:
            # Nothing earlier to retry, so the peer's chain does not connect to ours.
            self.host.penalize(peer, PENALTY_INVALID_BLOCK, "range sync: unknown parent")
            return
        log.info("range sync restarting from finalized slot=%d peer=%s", restart, peer)
        self._cursor = restart

    def _log_progress(self) -> None:
        now = time.monotonic()
        if now - self._progress_at < PROGRESS_LOG_SECONDS:
            return
        head_slot = self.chain.snapshot.head_slot
        rate = (head_slot - self._progress_slot) / (now - self._progress_at)
        remaining = max(0, self.target_slot - head_slot)
        eta = remaining / rate if rate > 0 else float("inf")
        log.info(
            "range sync progress head_slot=%d target_slot=%d slots_per_second=%.1f eta_seconds=%s",
            head_slot,
            self.target_slot,
            rate,
            "unknown" if eta == float("inf") else f"{eta:.0f}",
        )
        self._progress_at, self._progress_slot = now, head_slot


def _slot_range(blocks: list[Any]) -> tuple[int, int]:
    """Return (start slot, count) of the slots from the first to the last of `blocks`."""
    start_slot = int(blocks[0].message.slot)
    return start_slot, int(blocks[-1].message.slot) - start_slot + 1
