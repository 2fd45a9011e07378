"""Light client gossip topics: a full node forwards only its own, newer updates."""

from typing import Any

from caplin.config import ChainSpec
from caplin.config.constants import BASIS_POINTS
from caplin.config.forks import Fork
from caplin.lightclient import create_light_client_optimistic_update
from sentinel.gossip import BlockTree, GossipValidator, Verdict
from tests.gossip.chain_helpers import anchor_block, genesis_state

SPEC = ChainSpec.for_preset("minimal")
TYPES = SPEC.types(Fork.ALTAIR)
SIGNATURE_SLOT = 10
DUE_MS = SPEC.SYNC_MESSAGE_DUE_BPS * SPEC.SLOT_DURATION_MS // BASIS_POINTS
ON_TIME_MS = SIGNATURE_SLOT * SPEC.SLOT_DURATION_MS + DUE_MS


def _finality_update(finalized_slot: int, participants: int) -> Any:
    update = TYPES.LightClientFinalityUpdate(signature_slot=SIGNATURE_SLOT)
    update.attested_header.beacon.slot = SIGNATURE_SLOT - 1
    update.finalized_header.beacon.slot = finalized_slot
    bits = [index < participants for index in range(SPEC.SYNC_COMMITTEE_SIZE)]
    update.sync_aggregate.sync_committee_bits = bits
    return update


class LocalData:
    def __init__(self, finality_update: Any) -> None:
        self.finality_update = finality_update

    def get_light_client_finality_update(self) -> Any:
        return self.finality_update

    def get_light_client_optimistic_update(self) -> Any:
        return create_light_client_optimistic_update(SPEC, self.finality_update)


def _validator(local: LocalData | None) -> GossipValidator:
    state = genesis_state()
    return GossipValidator(
        SPEC, BlockTree(SPEC, state, anchor_block(state)), light_client_data=local
    )


def _verdict(validator: GossipValidator, topic: str, update: Any, now_ms: int) -> Verdict:
    return validator.validate(topic, update, now_ms, Fork.ALTAIR).verdict


def test_finality_update_forwarding() -> None:
    update = _finality_update(8, 20)
    validator = _validator(LocalData(update))
    topic = "light_client_finality_update"
    too_early_ms = ON_TIME_MS - SPEC.MAXIMUM_GOSSIP_CLOCK_DISPARITY - 1

    assert _verdict(validator, topic, update, too_early_ms) is Verdict.IGNORE
    assert _verdict(validator, topic, _finality_update(8, 21), ON_TIME_MS) is Verdict.IGNORE
    assert _verdict(validator, topic, update, ON_TIME_MS) is Verdict.ACCEPT
    assert _verdict(validator, topic, update, ON_TIME_MS) is Verdict.IGNORE


def test_finality_update_reaching_supermajority() -> None:
    weak, strong = _finality_update(8, 20), _finality_update(8, 30)
    local = LocalData(weak)
    validator = _validator(local)
    topic = "light_client_finality_update"

    assert _verdict(validator, topic, weak, ON_TIME_MS) is Verdict.ACCEPT
    local.finality_update = strong
    assert _verdict(validator, topic, strong, ON_TIME_MS) is Verdict.ACCEPT
    assert _verdict(validator, topic, strong, ON_TIME_MS) is Verdict.IGNORE


def test_optimistic_update_forwarding() -> None:
    local = LocalData(_finality_update(8, 20))
    validator = _validator(local)
    optimistic = local.get_light_client_optimistic_update()
    topic = "light_client_optimistic_update"

    assert _verdict(validator, topic, optimistic, ON_TIME_MS) is Verdict.ACCEPT
    assert _verdict(validator, topic, optimistic, ON_TIME_MS) is Verdict.IGNORE


def test_light_client_topics_without_local_data() -> None:
    update = _finality_update(8, 20)
    validator = _validator(None)
    assert _verdict(validator, "light_client_finality_update", update, ON_TIME_MS) is Verdict.IGNORE
