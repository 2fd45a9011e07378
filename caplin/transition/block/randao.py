"""process_randao: check the proposer's RANDAO reveal and mix it into the state."""

from typing import Any

from remerkleable.basic import uint64

from caplin.config.constants import DOMAIN_RANDAO
from caplin.crypto.hash import sha256
from caplin.transition.helpers import (
    compute_signing_root,
    get_beacon_proposer_index,
    get_current_epoch,
    get_domain,
    get_randao_mix,
)
from caplin.transition.signatures import SignatureBatch

from ._common import uint64_checked


@uint64_checked("randao")
def process_randao(spec: Any, state: Any, body: Any, sigs: SignatureBatch) -> None:
    """Add the RANDAO reveal signature to `sigs` and mix the reveal's hash into the state."""
    epoch = get_current_epoch(spec, state)
    proposer_index = get_beacon_proposer_index(spec, state)
    proposer = state.validators[proposer_index]

    reveal = bytes(body.randao_reveal)
    signing_root = compute_signing_root(spec, uint64(epoch), get_domain(spec, state, DOMAIN_RANDAO))
    sigs.add(
        [bytes(proposer.pubkey)],
        signing_root,
        reveal,
        "randao_reveal",
        slot=int(state.slot),
        proposer_index=proposer_index,
    )

    previous_mix = bytes(get_randao_mix(spec, state, epoch))
    reveal_hash = sha256(reveal)
    mix = bytes(a ^ b for a, b in zip(previous_mix, reveal_hash, strict=True))
    state.randao_mixes[epoch % spec.EPOCHS_PER_HISTORICAL_VECTOR] = mix
