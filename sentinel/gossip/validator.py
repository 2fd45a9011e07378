"""`GossipValidator`: one entry point that decodes and validates a message of any topic."""

import logging
from typing import Any

from caplin.config.forks import Fork
from caplin.errors import CaplinError
from sentinel.gossip.attestations import (
    validate_beacon_aggregate_and_proof,
    validate_beacon_attestation,
)
from sentinel.gossip.blocks import (
    validate_beacon_block,
    validate_blob_sidecar,
    validate_data_column_sidecar,
    validate_partial_data_column_sidecar,
)
from sentinel.gossip.chain import ChainView
from sentinel.gossip.clock import GossipClock
from sentinel.gossip.context import GossipCaches, GossipContext
from sentinel.gossip.light_client import (
    LightClientDataSource,
    validate_light_client_finality_update,
    validate_light_client_optimistic_update,
)
from sentinel.gossip.operations import (
    validate_attester_slashing,
    validate_bls_to_execution_change,
    validate_proposer_slashing,
    validate_voluntary_exit,
)
from sentinel.gossip.result import (
    ACCEPT,
    GossipValidationError,
    ValidationResult,
    Verdict,
)
from sentinel.gossip.seen import SeenCache
from sentinel.gossip.sync_committee import (
    validate_sync_committee_contribution_and_proof,
    validate_sync_committee_message,
)
from sentinel.gossip.topics import SUBNET_TOPICS, decompress_payload, fork_digests, parse_topic

log = logging.getLogger(__name__)

# Topic name (without fork digest, subnet and encoding) -> (SSZ type name, first fork, last fork)
TOPICS: dict[str, tuple[str, Fork, Fork]] = {
    "beacon_block": ("SignedBeaconBlock", Fork.PHASE0, Fork.FULU),
    "beacon_aggregate_and_proof": ("SignedAggregateAndProof", Fork.PHASE0, Fork.FULU),
    "beacon_attestation": ("Attestation", Fork.PHASE0, Fork.FULU),
    "voluntary_exit": ("SignedVoluntaryExit", Fork.PHASE0, Fork.FULU),
    "proposer_slashing": ("ProposerSlashing", Fork.PHASE0, Fork.FULU),
    "attester_slashing": ("AttesterSlashing", Fork.PHASE0, Fork.FULU),
    "sync_committee": ("SyncCommitteeMessage", Fork.ALTAIR, Fork.FULU),
    "sync_committee_contribution_and_proof": (
        "SignedContributionAndProof",
        Fork.ALTAIR,
        Fork.FULU,
    ),
    "bls_to_execution_change": ("SignedBLSToExecutionChange", Fork.CAPELLA, Fork.FULU),
    "blob_sidecar": ("BlobSidecar", Fork.DENEB, Fork.ELECTRA),
    "data_column_sidecar": ("DataColumnSidecar", Fork.FULU, Fork.FULU),
    "partial_data_column_sidecar": ("PartialDataColumnSidecar", Fork.FULU, Fork.FULU),
    "light_client_finality_update": ("LightClientFinalityUpdate", Fork.ALTAIR, Fork.FULU),
    "light_client_optimistic_update": ("LightClientOptimisticUpdate", Fork.ALTAIR, Fork.FULU),
}


def message_type(spec: Any, topic: str, fork: Fork) -> Any:
    """Return the SSZ class of `topic`'s messages under `fork`.

    Raises `KeyError` for a topic unknown to `fork`.
    """
    type_name, first, last = TOPICS[topic]
    if not first <= fork <= last:
        raise KeyError(f"topic {topic} does not exist in {fork.lower}")
    # Electra (EIP-7549): subnets carry one attester's `SingleAttestation`.
    if topic == "beacon_attestation" and fork >= Fork.ELECTRA:
        type_name = "SingleAttestation"
    return getattr(spec.types(fork), type_name)


class GossipValidator:
    """Validation of gossip messages against one chain, with the seen-caches it keeps.

    `chain` answers questions about blocks, states and finality (a `ChainView`,
    normally backed by fork choice). Accepted messages are recorded in `seen`
    so later duplicates are ignored. `light_client_data` supplies the node's
    own light client updates, which the light client topics forward only when
    they match; without it those topics are ignored. A validator is not thread-safe: run it on
    one task, as gossipsub validates one message at a time per topic.
    """

    def __init__(
        self,
        spec: Any,
        chain: ChainView,
        seen: SeenCache | None = None,
        light_client_data: LightClientDataSource | None = None,
    ) -> None:
        self.spec = spec
        self.chain = chain
        self.seen = seen if seen is not None else SeenCache()
        self.light_client_data = light_client_data
        self.caches = GossipCaches()
        self._digests: dict[bytes, Fork] | None = None

    def clock(self) -> GossipClock:
        return GossipClock.for_chain(self.spec, self.chain.genesis_time)

    def prune(self, now_ms: int) -> None:
        """Drop seen-cache entries that no message can match at `now_ms` or later.

        Call it once per slot. Attestations stay for the longer of the two
        windows (`ATTESTATION_PROPAGATION_SLOT_RANGE` slots before Deneb, the
        previous epoch from Deneb on), plus one epoch of margin.
        """
        clock = self.clock()
        slots_per_epoch = int(self.spec.SLOTS_PER_EPOCH)
        current_slot = clock.slot_at(now_ms)
        range_start = max(current_slot - int(self.spec.ATTESTATION_PROPAGATION_SLOT_RANGE), 0)
        oldest_epoch = max(
            min(range_start // slots_per_epoch, current_slot // slots_per_epoch - 1) - 1, 0
        )
        finalized_slot = int(self.chain.finalized_checkpoint.epoch) * slots_per_epoch
        self.seen.prune(finalized_slot, max(current_slot - 1, 0), oldest_epoch)

    def fork_of_digest(self, digest: bytes) -> Fork | None:
        """Return the fork of a topic's fork digest on this chain, or None for another chain."""
        if self._digests is None:
            root = bytes(self.chain.head_state().genesis_validators_root)
            self._digests = fork_digests(self.spec, root)
        return self._digests.get(bytes(digest))

    def validate_message(self, topic: str, data: bytes, now_ms: int) -> ValidationResult:
        """Validate a raw gossip message: `data` as received (snappy) on topic string `topic`.

        A message on a topic of another chain or fork is IGNOREd, because the
        sender may be on a fork this node does not know yet. A payload that does
        not decompress is a REJECT.
        """
        try:
            parsed = parse_topic(topic)
        except ValueError as error:
            return ValidationResult(Verdict.REJECT, str(error))
        fork = self.fork_of_digest(parsed.fork_digest)
        if fork is None:
            return ValidationResult(Verdict.IGNORE, f"unknown fork digest in topic {topic}")
        try:
            payload = decompress_payload(self.spec, data)
        except ValueError as error:
            return ValidationResult(Verdict.REJECT, str(error))
        if parsed.name not in TOPICS or parsed.name == "partial_data_column_sidecar":
            return ValidationResult(Verdict.IGNORE, f"no validation for topic {parsed.name}")
        if parsed.name in SUBNET_TOPICS and parsed.subnet_id is None:
            return ValidationResult(Verdict.REJECT, f"topic {parsed.name} without a subnet id")
        subnet_args = {} if parsed.subnet_id is None else {"subnet_id": parsed.subnet_id}
        return self.validate_bytes(parsed.name, payload, now_ms, fork, **subnet_args)

    def validate_bytes(
        self, topic: str, data: bytes, now_ms: int, fork: Fork, **topic_args: Any
    ) -> ValidationResult:
        """Decode `data` (uncompressed SSZ) as a `topic` message, then validate it.

        Undecodable bytes are a REJECT: an honest peer never sends them.
        """
        try:
            message = message_type(self.spec, topic, fork).decode_bytes(bytes(data))
        except KeyError:
            return ValidationResult(Verdict.REJECT, f"topic {topic} does not exist in {fork.lower}")
        except Exception as error:  # noqa: BLE001 - remerkleable raises several types on bad input
            return ValidationResult(Verdict.REJECT, f"message is not valid SSZ: {error}")
        return self.validate(topic, message, now_ms, fork, **topic_args)

    def validate(
        self,
        topic: str,
        message: Any,
        now_ms: int,
        fork: Fork,
        subnet_id: int | None = None,
        group_id: Any = None,
        column_index: int | None = None,
    ) -> ValidationResult:
        """Validate a decoded `topic` message received at `now_ms` (Unix milliseconds).

        `fork` is the fork of the topic the message came on; `subnet_id` is
        required for subnet topics, `group_id` and `column_index` for partial
        data columns. An invalid message yields IGNORE or REJECT. Raises
        `ValueError` for an unknown topic or a missing subnet or column index.
        """
        context = GossipContext(
            self.spec, self.chain, self.seen, self.clock(), Fork(fork), self.caches
        )
        try:
            self._dispatch(context, topic, message, now_ms, subnet_id, group_id, column_index)
        except GossipValidationError as error:
            return error.result()
        except CaplinError as error:
            # A helper refused the message's values (an index past a committee, say).
            log.debug("gossip message rejected by a helper topic=%s error=%s", topic, error)
            return ValidationResult(Verdict.REJECT, str(error))
        return ACCEPT

    def _dispatch(
        self,
        context: GossipContext,
        topic: str,
        message: Any,
        now_ms: int,
        subnet_id: int | None,
        group_id: Any,
        column_index: int | None,
    ) -> None:
        if topic == "beacon_block":
            validate_beacon_block(context, message, now_ms)
        elif topic == "beacon_aggregate_and_proof":
            validate_beacon_aggregate_and_proof(context, message, now_ms)
        elif topic == "beacon_attestation":
            validate_beacon_attestation(context, message, now_ms, _required(subnet_id, topic))
        elif topic == "voluntary_exit":
            validate_voluntary_exit(context, message, now_ms)
        elif topic == "proposer_slashing":
            validate_proposer_slashing(context, message)
        elif topic == "attester_slashing":
            validate_attester_slashing(context, message)
        elif topic == "sync_committee":
            validate_sync_committee_message(context, message, now_ms, _required(subnet_id, topic))
        elif topic == "sync_committee_contribution_and_proof":
            validate_sync_committee_contribution_and_proof(context, message, now_ms)
        elif topic == "bls_to_execution_change":
            validate_bls_to_execution_change(context, message, now_ms)
        elif topic == "blob_sidecar":
            validate_blob_sidecar(context, message, now_ms, _required(subnet_id, topic))
        elif topic == "data_column_sidecar":
            validate_data_column_sidecar(context, message, now_ms, _required(subnet_id, topic))
        elif topic == "partial_data_column_sidecar":
            if group_id is None:
                raise ValueError("topic partial_data_column_sidecar needs its group id")
            validate_partial_data_column_sidecar(
                context, message, now_ms, group_id, _required(column_index, topic)
            )
        elif topic == "light_client_finality_update":
            validate_light_client_finality_update(context, message, now_ms, self.light_client_data)
        elif topic == "light_client_optimistic_update":
            validate_light_client_optimistic_update(
                context, message, now_ms, self.light_client_data
            )
        else:
            raise ValueError(f"unknown gossip topic {topic!r}")


def _required(value: int | None, topic: str) -> int:
    if value is None:
        raise ValueError(f"topic {topic} needs its subnet or column index")
    return int(value)
