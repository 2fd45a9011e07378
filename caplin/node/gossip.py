"""The node's gossip: the topics it subscribes to, and where accepted messages go.

`NodeGossip` plans its subscriptions again at every slot (`sentinel.gossip.subscriptions`).
It joins the global topics of each fork digest in its switch window and every blob sidecar
subnet. It also joins the attestation subnets of its validators' committees in this and the
next epoch, plus the node id's long-lived subnets, the sync committee subnets of its
validators, and the data column subnets of its custody columns. Every topic has its own
reader task, which sees only messages the `GossipValidator` accepted. Accepted messages go to:

- beacon_block: block import (an unknown parent wakes range sync);
- beacon_aggregate_and_proof, beacon_attestation_{i}: fork choice and the attestation pool;
- voluntary_exit, proposer_slashing, attester_slashing, bls_to_execution_change: the
  operation pool (attester slashings also mark equivocators in fork choice);
- sync_committee_contribution_and_proof, sync_committee_{i}: the sync committee pool;
- blob_sidecar_{i}, data_column_sidecar_{i}: the sidecar pool.

The ENR and MetaData advertise the long-lived attestation subnets (`attnets`) and the sync
committee subnets of the node's validators (`syncnets`); a change bumps the MetaData
sequence number and re-signs the ENR, as does a new fork digest.
"""

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from caplin.config.forks import Fork
from caplin.errors import CaplinError
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_start_slot_at_epoch,
    get_beacon_committee,
    get_committee_count_per_slot,
)
from forkchoice.errors import BlockNotReadyError
from sentinel.gossip import message_type, parse_topic
from sentinel.gossip.attestations import compute_subnet_for_attestation
from sentinel.gossip.subscriptions import (
    SubnetDuties,
    compute_subscribed_subnets,
    custody_column_subnets,
    digest_schedule,
    plan_topics,
)
from sentinel.gossip.sync_committee import (
    compute_subnets_for_sync_committee,
    get_sync_subcommittee_pubkeys,
)
from sentinel.gossip.topics import decompress_payload

log = logging.getLogger("caplin.node.gossip")

Handler = Callable[[Any, Fork, int | None], Awaitable[bool]]


class NodeGossip:
    """The gossip subscriptions of one `NodeNetwork` and the handlers of accepted messages."""

    def __init__(self, network: Any) -> None:
        self.network = network
        self.node = network.node
        self.spec = network.spec
        self.chain = network.chain
        self.sentinel = network.sentinel
        self.periods = digest_schedule(self.spec, network.genesis_validators_root)
        self.node_id = int.from_bytes(self.sentinel.discovery.record.node_id, "big")
        self.duties = SubnetDuties()
        # Messages applied per topic name (accepted by validation and taken by the handler).
        self.applied: Counter[str] = Counter()
        # Gossip blocks whose blob data had not arrived, by block root (see `_on_block`),
        # and the roots whose import is being retried.
        self._awaiting_data: dict[bytes, Any] = {}
        self._retrying: set[bytes] = set()
        self._retry_again: set[bytes] = set()
        self._readers: dict[str, trio.CancelScope] = {}
        self._duties_key: tuple[int, int] | None = None
        self._record_digest: bytes | None = None
        self._nursery: trio.Nursery | None = None
        self._handlers: dict[str, Handler] = {
            "beacon_block": self._on_block,
            "beacon_aggregate_and_proof": self._on_aggregate,
            "beacon_attestation": self._on_attestation,
            "voluntary_exit": self._on_voluntary_exit,
            "proposer_slashing": self._on_proposer_slashing,
            "attester_slashing": self._on_attester_slashing,
            "bls_to_execution_change": self._on_bls_to_execution_change,
            "sync_committee_contribution_and_proof": self._on_contribution,
            "sync_committee": self._on_sync_committee_message,
            "blob_sidecar": self._on_blob_sidecar,
            "data_column_sidecar": self._on_data_column_sidecar,
        }

    @property
    def topics(self) -> list[str]:
        """The topic strings subscribed to now."""
        return sorted(self._readers)

    # --- subscriptions -----------------------------------------------------------------

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe, then plan the subscriptions again at every slot start until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.update()
            task_status.started()
            while True:
                next_slot = self.node.current_slot() + 1
                await trio.sleep(max(0.0, self.node.slot_start_ms(next_slot) / 1000 - time.time()))
                try:
                    await self.update()
                except Exception as error:  # noqa: BLE001 - the next slot plans again
                    log.warning(
                        "gossip subscription update failed slot=%d error=%r", next_slot, error
                    )

    async def update(self) -> None:
        """Join the topics wanted at the current epoch, leave the others, and advertise
        the subnets in the ENR and MetaData."""
        epoch = compute_epoch_at_slot(self.spec, self.node.current_slot())
        state_epoch = compute_epoch_at_slot(self.spec, self.chain.snapshot.head_slot)
        if self._duties_key != (epoch, state_epoch):
            duties, attnets, syncnets = await trio.to_thread.run_sync(self.compute_duties, epoch)
            self.duties = duties
            self._duties_key = (epoch, state_epoch)
            self.network.advertise_subnets(attnets, syncnets)
        plan = plan_topics(self.spec, self.periods, epoch, self.duties)
        for topic in [topic for topic in self._readers if topic not in plan.topics]:
            await self._leave(topic)
        joined = [topic for topic in plan.topics if topic not in self._readers]
        for topic in joined:
            await self._join(topic)
        if joined:
            log.debug("gossip topics joined count=%d total=%d", len(joined), len(self._readers))
        digest = self.sentinel.fork_digest
        if digest != self._record_digest:
            if self._record_digest is not None:
                self.sentinel.refresh_record()
                log.info("fork digest changed digest=%s epoch=%d", digest.hex(), epoch)
            self._record_digest = digest

    def compute_duties(self, epoch: int) -> tuple[SubnetDuties, frozenset[int], frozenset[int]]:
        """Return the subnets to join at `epoch`, and the attnets and syncnets to advertise.

        Committees come from the head state, which knows them only one epoch ahead and
        behind. So a node far behind the clock joins only its long-lived subnets.
        """
        spec = self.spec
        state = self.chain.snapshot.head_state
        ours = set(self.node.validators.keys)
        long_lived = compute_subscribed_subnets(spec, self.node_id, epoch)
        state_epoch = compute_epoch_at_slot(spec, int(state.slot))
        attestation_subnets = set(long_lived)
        for duty_epoch in (epoch, epoch + 1):
            if ours and state_epoch - 1 <= duty_epoch <= state_epoch + 1:
                attestation_subnets |= self._committee_subnets(state, duty_epoch, ours)
        sync_subnets: set[int] = set()
        if spec.fork_of(state) >= Fork.ALTAIR:
            for index in ours:
                sync_subnets |= compute_subnets_for_sync_committee(spec, state, index)
        column_subnets: frozenset[int] = frozenset()
        if self.network.custody_group_count is not None:
            column_subnets = custody_column_subnets(
                spec, self.node_id, self.network.custody_group_count
            )
        duties = SubnetDuties(
            frozenset(attestation_subnets), frozenset(sync_subnets), column_subnets
        )
        return duties, long_lived, frozenset(sync_subnets)

    def _committee_subnets(self, state: Any, epoch: int, ours: set[int]) -> set[int]:
        spec = self.spec
        count = get_committee_count_per_slot(spec, state, epoch)
        start = compute_start_slot_at_epoch(spec, epoch)
        subnets = set()
        for slot in range(start, start + int(spec.SLOTS_PER_EPOCH)):
            for index in range(count):
                if ours.intersection(get_beacon_committee(spec, state, slot, index)):
                    subnets.add(compute_subnet_for_attestation(spec, count, slot, index))
        return subnets

    async def _join(self, topic: str) -> None:
        assert self._nursery is not None, "NodeGossip.run starts the readers"
        try:
            queue = await self.sentinel.subscribe_topic(topic, self.network.guarded_validator)
        except Exception as error:  # py-libp2p raises its own types; the next slot retries
            log.warning("gossip subscribe failed topic=%s error=%r", topic, error)
            return
        scope = trio.CancelScope()
        self._readers[topic] = scope
        self._nursery.start_soon(self._read, topic, queue, scope)

    async def _leave(self, topic: str) -> None:
        self._readers.pop(topic).cancel()
        try:
            await self.sentinel.unsubscribe_topic(topic)
        except Exception as error:  # py-libp2p raises its own types on closing streams
            log.warning("gossip unsubscribe failed topic=%s error=%r", topic, error)
            return
        log.debug("gossip topic left topic=%s", topic)

    async def _read(self, topic: str, queue: Any, scope: trio.CancelScope) -> None:
        parsed = parse_topic(topic)
        fork = self.sentinel.forks.fork_of_digest(parsed.fork_digest)
        message_class = message_type(self.spec, parsed.name, fork)
        handler = self._handlers[parsed.name]
        with scope:
            async for message in queue:
                try:
                    value = message_class.decode_bytes(
                        decompress_payload(self.spec, bytes(message.data))
                    )
                except Exception as error:  # noqa: BLE001 - validation decoded it already
                    log.debug("gossip message not decoded topic=%s error=%r", topic, error)
                    continue
                try:
                    applied = await handler(value, fork, parsed.subnet_id)
                except (CaplinError, ValueError, IndexError) as error:
                    log.debug("gossip message not applied topic=%s error=%s", topic, error)
                    continue
                except Exception as error:  # noqa: BLE001 - one message must not stop a topic
                    log.warning("gossip handler failed topic=%s error=%r", topic, error)
                    continue
                if applied:
                    self.applied[parsed.name] += 1

    # --- handlers ----------------------------------------------------------------------

    async def _on_block(self, signed_block: Any, fork: Fork, subnet_id: int | None) -> bool:
        slot = int(signed_block.message.slot)
        try:
            await trio.to_thread.run_sync(self.chain.import_block, signed_block)
        except BlockNotReadyError as error:
            if error.rule == "data_available":
                # Its sidecars may still be on their way: they retry the import on arrival.
                root = bytes(signed_block.message.hash_tree_root())
                self._awaiting_data[root] = signed_block
                self._drop_stale_awaiting(slot)
                log.debug("gossip block waits for its blob data slot=%d", slot)
                # The last sidecar may have come while the import ran, before the block
                # was waiting, so one retry now.
                await self._retry_awaiting(root)
                return False
            log.info("gossip block not imported slot=%d error=%s", slot, error)
            self.network.sync.wake(seen_slot=slot)
            return False
        except CaplinError as error:
            # An unknown parent means we are behind: range sync fetches the gap.
            log.info("gossip block not imported slot=%d error=%s", slot, error)
            self.network.sync.wake(seen_slot=slot)
            return False
        log.debug("gossip block imported slot=%d", slot)
        return True

    async def _retry_awaiting(self, block_root: bytes) -> None:
        """Import a gossip block that waited for blob data, once a sidecar of it arrives."""
        if block_root in self._retrying:
            # A retry is running and may have looked before this sidecar came: it runs again.
            self._retry_again.add(block_root)
            return
        self._retrying.add(block_root)
        try:
            while (signed_block := self._awaiting_data.get(block_root)) is not None:
                self._retry_again.discard(block_root)
                await self._import_awaiting(block_root, signed_block)
                if block_root not in self._retry_again:
                    break
        finally:
            self._retrying.discard(block_root)
            self._retry_again.discard(block_root)

    async def _import_awaiting(self, block_root: bytes, signed_block: Any) -> None:
        try:
            await trio.to_thread.run_sync(self.chain.import_block, signed_block)
        except BlockNotReadyError as error:
            if error.rule != "data_available":
                self._awaiting_data.pop(block_root, None)
            return
        except CaplinError as error:
            self._awaiting_data.pop(block_root, None)
            log.info(
                "gossip block not imported slot=%d error=%s", int(signed_block.message.slot), error
            )
            return
        self._awaiting_data.pop(block_root, None)
        self.applied["beacon_block"] += 1
        log.debug("gossip block imported with its blob data slot=%d", signed_block.message.slot)

    def _drop_stale_awaiting(self, slot: int) -> None:
        # Blocks more than an epoch older than the newest one are left to range sync.
        horizon = slot - int(self.spec.SLOTS_PER_EPOCH)
        for root, waiting in list(self._awaiting_data.items()):
            if int(waiting.message.slot) < horizon:
                del self._awaiting_data[root]

    async def _on_aggregate(self, signed: Any, fork: Fork, subnet_id: int | None) -> bool:
        aggregate = signed.message.aggregate
        await trio.to_thread.run_sync(self.chain.on_attestation, aggregate)
        if fork >= Fork.ELECTRA:
            # Electra (EIP-7549): an aggregate on gossip covers exactly one committee.
            committee_index = list(aggregate.committee_bits).index(True)
        else:
            committee_index = int(aggregate.data.index)
        bits = {i for i, bit in enumerate(aggregate.aggregation_bits) if bit}
        self.node.validators.attestations.add_aggregate(
            aggregate.data,
            committee_index,
            len(aggregate.aggregation_bits),
            bits,
            bytes(aggregate.signature),
        )
        return True

    async def _on_attestation(self, attestation: Any, fork: Fork, subnet_id: int | None) -> bool:
        return await trio.to_thread.run_sync(self._apply_attestation, attestation, fork)

    def _apply_attestation(self, attestation: Any, fork: Fork) -> bool:
        spec = self.spec
        data = attestation.data
        slot = int(data.slot)
        if fork >= Fork.ELECTRA:
            # A `SingleAttestation` names its attester; fork choice takes an `Attestation`.
            state = self.chain.snapshot.head_state
            committee_index = int(attestation.committee_index)
            committee = list(get_beacon_committee(spec, state, slot, committee_index))
            position = committee.index(int(attestation.attester_index))
            size = len(committee)
            committee_bits = [i == committee_index for i in range(spec.MAX_COMMITTEES_PER_SLOT)]
            vote = spec.types(fork).Attestation(
                aggregation_bits=[i == position for i in range(size)],
                data=data,
                signature=attestation.signature,
                committee_bits=committee_bits,
            )
        else:
            committee_index = int(data.index)
            size = len(attestation.aggregation_bits)
            position = list(attestation.aggregation_bits).index(True)
            vote = attestation
        self.chain.on_attestation(vote)
        self.node.validators.attestations.add(
            data, committee_index, size, [(position, bytes(attestation.signature))]
        )
        return True

    async def _on_voluntary_exit(self, signed_exit: Any, fork: Fork, subnet_id: int | None) -> bool:
        self.network.operations.add_voluntary_exit(signed_exit)
        return True

    async def _on_proposer_slashing(self, slashing: Any, fork: Fork, subnet_id: int | None) -> bool:
        self.network.operations.add_proposer_slashing(slashing)
        return True

    async def _on_attester_slashing(self, slashing: Any, fork: Fork, subnet_id: int | None) -> bool:
        self.network.operations.add_attester_slashing(slashing)
        await trio.to_thread.run_sync(self._mark_equivocators, slashing)
        return True

    def _mark_equivocators(self, slashing: Any) -> None:
        # TODO(shared): use a BeaconChain.on_attester_slashing once the chain has one.
        with self.chain.lock:
            self.chain.store.on_attester_slashing(slashing)

    async def _on_bls_to_execution_change(
        self, signed_change: Any, fork: Fork, subnet_id: int | None
    ) -> bool:
        self.network.operations.add_bls_to_execution_change(signed_change)
        return True

    async def _on_contribution(self, signed: Any, fork: Fork, subnet_id: int | None) -> bool:
        self.node.validators.sync_contributions.add_contribution(signed.message.contribution)
        return True

    async def _on_sync_committee_message(
        self, message: Any, fork: Fork, subnet_id: int | None
    ) -> bool:
        assert subnet_id is not None, "sync_committee topics carry a subnet id"
        state = self.chain.snapshot.head_state
        pubkey = bytes(state.validators[int(message.validator_index)].pubkey)
        subcommittee = get_sync_subcommittee_pubkeys(self.spec, state, subnet_id)
        positions = [i for i, key in enumerate(subcommittee) if key == pubkey]
        self.node.validators.sync_contributions.add_message(
            int(message.slot),
            bytes(message.beacon_block_root),
            subnet_id,
            positions,
            bytes(message.signature),
        )
        return bool(positions)

    async def _on_blob_sidecar(self, sidecar: Any, fork: Fork, subnet_id: int | None) -> bool:
        self.network.sidecars.add_blob_sidecar(sidecar)
        await self._retry_awaiting(bytes(sidecar.signed_block_header.message.hash_tree_root()))
        return True

    async def _on_data_column_sidecar(
        self, sidecar: Any, fork: Fork, subnet_id: int | None
    ) -> bool:
        self.network.sidecars.add_data_column_sidecar(sidecar)
        await self._retry_awaiting(bytes(sidecar.signed_block_header.message.hash_tree_root()))
        return True
