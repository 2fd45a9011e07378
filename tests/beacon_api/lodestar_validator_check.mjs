// node lodestar_validator_check.mjs URL [SLOT RANDAO_REVEAL [BLOCK_URL]]
//
// Calls caplin's validator routes through the typed @lodestar/api client, as a validator client
// would, and prints one PASS or FAIL line per call. The exit status is 1 if any call failed.
// The client decodes every response with its own SSZ types and JSON codecs, so a PASS means
// the body has the shape Lodestar's validator client expects.
//
// CAPLIN_LODESTAR_API_DIR is a folder where `npm i @lodestar/api@1.48.0` was run. SLOT and
// RANDAO_REVEAL (0x hex, signed by the slot's proposer) let it request a block with a real
// reveal; without them it asks with skip_randao_verification. BLOCK_URL, when given, is the
// node asked for the block (one whose head does not move meanwhile); it defaults to URL.
import {readFileSync} from "node:fs";
import {pathToFileURL} from "node:url";

const url = process.argv[2] ?? "http://127.0.0.1:25900";
const dir = process.env.CAPLIN_LODESTAR_API_DIR ?? "lodestar-api";
const timeoutMs = 20000;

// The packages are ESM-only: import the file their "exports" entry names.
async function load(name) {
  const base = `${dir}/node_modules/${name}/`;
  const manifest = JSON.parse(readFileSync(base + "package.json", "utf8"));
  return import(pathToFileURL(base + manifest.exports["."].import));
}

// The SSZ types depend on the preset, which must be set before the libraries load.
const specResponse = await fetch(`${url}/eth/v1/config/spec`, {signal: AbortSignal.timeout(timeoutMs)});
const spec = (await specResponse.json()).data;
process.env.LODESTAR_PRESET ??= spec.PRESET_BASE;
const [{getClient}, {createChainForkConfig, chainConfigFromJson}, {ssz}] = await Promise.all([
  load("@lodestar/api"),
  load("@lodestar/config"),
  load("@lodestar/types"),
]);
const config = createChainForkConfig(chainConfigFromJson(spec));
const api = getClient({baseUrl: url, globalInit: {timeoutMs}}, {config});

const toHex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
const slotsPerEpoch = Number(spec.SLOTS_PER_EPOCH);
const syncing = (await api.node.getSyncingStatus()).value();
const headSlot = Number(syncing.headSlot);
const epoch = Math.floor(headSlot / slotsPerEpoch);
const indices = Array.from({length: 64}, (_, index) => index);
const blockSlot = process.argv[3] !== undefined ? Number(process.argv[3]) : headSlot + 1;
const reveal = process.argv[4];
const blockApi = process.argv[5] ? getClient({baseUrl: process.argv[5], globalInit: {timeoutMs}}, {config}) : api;
const infinity = new Uint8Array(96);
infinity[0] = 0xc0;

let attestationData;
const checks = {
  "block production v3": async () => {
    const randaoReveal = reveal !== undefined ? Buffer.from(reveal.slice(2), "hex") : infinity;
    const response = await blockApi.validator.produceBlockV3({
      slot: blockSlot,
      randaoReveal,
      graffiti: "lodestar-api-check",
      skipRandaoVerification: reveal === undefined,
    });
    const meta = response.meta();
    const value = response.value();
    const block = value.block ?? value;
    if (Number(block.slot) !== blockSlot) throw new Error(`expected slot ${blockSlot}, got ${block.slot}`);
    return `fork=${meta.version} slot=${block.slot} proposer=${block.proposerIndex} blinded=${meta.executionPayloadBlinded} payload_value=${meta.executionPayloadValue} block_value=${meta.consensusBlockValue}`;
  },
  "proposer duties": async () => {
    const response = await api.validator.getProposerDuties({epoch});
    const duties = response.value();
    if (duties.length !== slotsPerEpoch) throw new Error(`expected ${slotsPerEpoch} duties, got ${duties.length}`);
    return `epoch=${epoch} slot0_proposer=${duties[0].validatorIndex} dependent_root=${response.meta().dependentRoot}`;
  },
  "proposer duties v2": async () => {
    const response = await api.validator.getProposerDutiesV2({epoch: epoch + 1});
    return `epoch=${epoch + 1} duties=${response.value().length}`;
  },
  "attester duties": async () => {
    const response = await api.validator.getAttesterDuties({epoch, indices});
    const duties = response.value();
    if (duties.length !== indices.length) throw new Error(`expected ${indices.length} duties, got ${duties.length}`);
    return `duties=${duties.length} first_slot=${duties[0].slot} dependent_root=${response.meta().dependentRoot}`;
  },
  "sync duties": async () => {
    const duties = (await api.validator.getSyncCommitteeDuties({epoch, indices})).value();
    const positions = duties.reduce((count, duty) => count + duty.validatorSyncCommitteeIndices.length, 0);
    return `members=${duties.length} positions=${positions}`;
  },
  "attestation data": async () => {
    attestationData = (await api.validator.produceAttestationData({slot: headSlot, committeeIndex: 0})).value();
    return `slot=${attestationData.slot} root=${toHex(attestationData.beaconBlockRoot)} target_epoch=${attestationData.target.epoch}`;
  },
  "aggregate attestation": async () => {
    // The node's own aggregates of the previous slot are in its pool by now.
    const data = (await api.validator.produceAttestationData({slot: headSlot - 1, committeeIndex: 0})).value();
    const root = ssz.phase0.AttestationData.hashTreeRoot(data);
    const response = await api.validator.getAggregatedAttestationV2({attestationDataRoot: root, slot: headSlot - 1, committeeIndex: 0});
    const aggregate = response.value();
    const votes = aggregate.aggregationBits.getTrueBitIndexes().length;
    return `fork=${response.meta().version} votes=${votes}`;
  },
  "prepare beacon proposer": async () => {
    (await api.validator.prepareBeaconProposer({proposers: [{validatorIndex: 1, feeRecipient: "0x" + "11".repeat(20)}]})).assertOk();
    return "accepted";
  },
  "committee subscriptions": async () => {
    const subscription = {validatorIndex: 1, committeeIndex: 0, committeesAtSlot: 1, slot: headSlot + 1, isAggregator: false};
    (await api.validator.prepareBeaconCommitteeSubnet({subscriptions: [subscription]})).assertOk();
    return "accepted";
  },
  "liveness": async () => {
    const live = (await api.validator.getLiveness({epoch: Math.max(epoch - 1, 0), indices})).value();
    return `live=${live.filter((item) => item.isLive).length}/${live.length}`;
  },
};

for (const [name, check] of Object.entries(checks)) {
  try {
    console.log(`PASS ${name}: ${await check()}`);
  } catch (error) {
    process.exitCode = 1;
    console.log(`FAIL ${name}: ${String(error?.message ?? error).split("\n")[0].slice(0, 300)}`);
  }
}
