"""The `fork_choice` runner: replay `steps.yaml` against a `forkchoice.Store`.

A case has `anchor_state` and `anchor_block` to build the store from, then
steps: `tick` (seconds), `block` (with optional `blobs`/`proofs` or
`columns`), `attestation`, `attester_slashing`, `pow_block`, payload statuses
(`block_hash` with `payload_status`, used by the `sync` runner) and `checks`.
A step with `valid: false` must be rejected with a `ForkChoiceError`; any
other step must be accepted. A block step also feeds the block's
attestations and attester slashings to the store, as the test format says.
"""

from collections.abc import Sequence
from typing import Any

from caplin.errors import ForkChoiceError
from forkchoice import Store
from forkchoice.availability import DataUnavailable
from forkchoice.proposer import get_proposer_head, should_override_forkchoice_update
from spec_tests.case import Case
from spec_tests.registry import register

# meta.yaml `bls_setting`: 2 means signatures are not checked.
_BLS_IGNORED = 2

# Payload statuses of the engine API that reject a payload.
_INVALID_STATUSES = ("INVALID", "INVALID_BLOCK_HASH")
# Statuses for which the block is imported before its payload is verified.
_NOT_VALIDATED_STATUSES = ("SYNCING", "ACCEPTED")


class StepSidecars:
    """The blobs, proofs or columns of the current block step (the spec's retrieve_* stubs)."""

    def __init__(self) -> None:
        self.blobs: Sequence[Any] = []
        self.proofs: Sequence[Any] = []
        self.columns: Sequence[Any] | None = []

    def retrieve_blobs_and_proofs(self, block_root: bytes) -> tuple[Sequence[Any], Sequence[Any]]:
        return self.blobs, self.proofs

    def retrieve_column_sidecars(self, block_root: bytes) -> Sequence[Any]:
        if self.columns is None:
            raise DataUnavailable("not all required columns have been sampled")
        return self.columns


class PayloadStatuses:
    """An execution engine that answers each payload as the `payload_status` steps set it."""

    def __init__(self) -> None:
        self.statuses: dict[bytes, dict[str, Any]] = {}

    def status_of(self, block_hash: bytes) -> str:
        return str(self.statuses.get(block_hash, {}).get("status") or "VALID")

    def _valid(self, request: Any) -> bool:
        payload = getattr(request, "execution_payload", request)
        return self.status_of(bytes(payload.block_hash)) not in _INVALID_STATUSES

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        return self._valid(new_payload_request)

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        return self._valid(new_payload_request)


class StepRunner:
    """Runs the steps of one case against one store; `store_options` go to `Store`."""

    def __init__(self, case: Case, **store_options: Any) -> None:
        self.case = case
        self.spec = case.spec
        self.types = self.spec.types(case.fork_enum)
        self.sidecars = StepSidecars()
        self.engine = PayloadStatuses()
        self.pow_blocks: dict[bytes, Any] = {}
        anchor_state = self.types.BeaconState.decode_bytes(case.ssz("anchor_state"))
        anchor_block = self.types.BeaconBlock.decode_bytes(case.ssz("anchor_block"))
        self.store = Store(
            self.spec,
            anchor_state,
            anchor_block,
            engine=self.engine,
            verify_signatures=int(case.meta.get("bls_setting", 0)) != _BLS_IGNORED,
            availability=self.sidecars,
            get_pow_block=self.pow_blocks.get,
            **store_options,
        )

    def run(self) -> None:
        for number, step in enumerate(self.case.yaml("steps")):
            try:
                self.run_step(step)
            except AssertionError as error:
                raise AssertionError(f"step {number} {_describe(step)}: {error}") from None

    def run_step(self, step: dict[str, Any]) -> None:
        valid = step.get("valid", True)
        if "checks" in step:
            self.check(step["checks"])
        elif "block_hash" in step:
            self.engine.statuses[_root(step["block_hash"])] = step["payload_status"]
        elif "pow_block" in step:
            pow_block = self.types.PowBlock.decode_bytes(self.case.ssz(step["pow_block"]))
            self.pow_blocks[bytes(pow_block.block_hash)] = pow_block
        else:
            self._expect(valid, lambda: self.execute(step))

    def execute(self, step: dict[str, Any]) -> None:
        store = self.store
        if "tick" in step:
            store.on_tick(int(step["tick"]) * 1000)
        elif "block" in step:
            self.add_block(step)
        elif "attestation" in step:
            attestation = self.types.Attestation.decode_bytes(self.case.ssz(step["attestation"]))
            store.on_attestation(attestation)
        elif "attester_slashing" in step:
            slashing = self.types.AttesterSlashing.decode_bytes(
                self.case.ssz(step["attester_slashing"])
            )
            store.on_attester_slashing(slashing)
        else:
            raise AssertionError(f"unknown step kind {sorted(step)}")

    def add_block(self, step: dict[str, Any]) -> None:
        signed_block = self.types.SignedBeaconBlock.decode_bytes(self.case.ssz(step["block"]))
        self._set_sidecars(step)
        block = signed_block.message
        optimistic = self._prepare_payload_status(block)
        self.store.on_block(signed_block, optimistic=optimistic)
        # The test format feeds the block's attestations and slashings after the block.
        for attestation in block.body.attestations:
            self.store.on_attestation(attestation, is_from_block=True)
        for slashing in block.body.attester_slashings:
            self.store.on_attester_slashing(slashing)

    def _prepare_payload_status(self, block: Any) -> bool:
        """Apply the payload status set for the block's payload; return True when optimistic."""
        body = block.body
        if not hasattr(body, "execution_payload"):
            return False
        block_hash = bytes(body.execution_payload.block_hash)
        payload_status = self.engine.statuses.get(block_hash)
        if payload_status is None:
            return False
        status = str(payload_status.get("status"))
        if status in _INVALID_STATUSES:
            latest_valid = payload_status.get("latest_valid_hash")
            parent_root = bytes(block.parent_root)
            if latest_valid is not None and parent_root in self.store.blocks:
                self.store.on_payload_invalid(parent_root, _root(latest_valid))
        return status in _NOT_VALIDATED_STATUSES

    def _set_sidecars(self, step: dict[str, Any]) -> None:
        sidecars = self.sidecars
        sidecars.blobs, sidecars.proofs, sidecars.columns = [], [], []
        if "blobs" in step:
            blobs_type = self.types.Blobs if hasattr(self.types, "Blobs") else None
            raw = self.case.ssz(step["blobs"])
            sidecars.blobs = list(blobs_type.decode_bytes(raw)) if blobs_type else _split(raw)
            sidecars.proofs = [_root(proof) for proof in step.get("proofs", [])]
        if "columns" in step:
            names = step["columns"]
            if not names:
                sidecars.columns = None
            else:
                sidecars.columns = [
                    self.types.DataColumnSidecar.decode_bytes(self.case.ssz(name))
                    for name in names
                ]

    def _expect(self, valid: bool, action: Any) -> None:
        if valid:
            try:
                action()
            except ForkChoiceError as error:
                raise AssertionError(f"rejected a valid step: {error}") from error
            return
        try:
            action()
        except ForkChoiceError:
            return
        raise AssertionError("accepted a step that must be rejected")

    def check(self, checks: dict[str, Any]) -> None:
        store = self.store
        for name, expected in checks.items():
            if name == "head":
                head = store.get_head()
                actual: Any = {"slot": int(store.blocks[head].slot), "root": head}
                expected = {"slot": int(expected["slot"]), "root": _root(expected["root"])}
            elif name == "time":
                actual = store.time
            elif name == "genesis_time":
                actual = store.genesis_time
            elif name in ("justified_checkpoint", "finalized_checkpoint"):
                checkpoint = getattr(store, name)
                actual = {"epoch": checkpoint.epoch, "root": checkpoint.root}
                expected = {"epoch": int(expected["epoch"]), "root": _root(expected["root"])}
            elif name == "proposer_boost_root":
                actual = store.proposer_boost_root
                expected = _root(expected)
            elif name == "get_proposer_head":
                actual = get_proposer_head(store, store.get_head(), store.current_slot)
                expected = _root(expected)
            elif name == "should_override_forkchoice_update":
                actual = should_override_forkchoice_update(store, store.get_head())
                expected = bool(expected["result"]) if isinstance(expected, dict) else expected
            elif name == "viable_for_head_roots_and_weights":
                actual = sorted(viable_for_head_roots_and_weights(store))
                expected = sorted(
                    (_root(item["root"]), int(item["weight"])) for item in expected
                )
            else:
                raise AssertionError(f"unknown check {name}")
            if actual != expected:
                raise AssertionError(f"{name} is {_show(actual)}, expected {_show(expected)}")


def viable_for_head_roots_and_weights(store: Store) -> list[tuple[bytes, int]]:
    """Return (root, weight) of each viable leaf of the justified block's subtree."""
    from forkchoice.proposer import viable_leaves

    return [(root, store.get_weight(root)) for root in viable_leaves(store)]


def _root(value: Any) -> bytes:
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


def _split(raw: bytes) -> list[bytes]:
    size = 131072
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_show(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)


def _describe(step: dict[str, Any]) -> str:
    kind = next((key for key in step if key != "valid"), "?")
    return f"({kind})"


def run_case(case: Case) -> None:
    StepRunner(case).run()


@register("fork_choice")
def run(case: Case) -> None:
    run_case(case)
