"""A beacon database that stops taking writes (file size limit, full disk) loses nothing.

The chain runs in a child process whose file size limit (RLIMIT_FSIZE) is lowered to the
database's current size, so LMDB commits fail for real once the file must grow. The node
keeps importing in memory; once the limit is lifted the queued writes land in order, and a
reopened datadir resumes at the same head.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, logging, resource, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from caplin.errors import CaplinError
    from caplin.validator.client import ValidatorClient
    from tests.node.devnet import drive, open_past_chain

    def run_duties(slot):
        # As the node does: a duty that fails (its slashing protection write, say) is
        # skipped and the slot goes on.
        for duty in (client.propose, client.attest, client.aggregate, client.prepare):
            try:
                duty(slot + 1 if duty == client.prepare else slot)
            except CaplinError:
                pass
            dev.chain.update_head()

    logging.basicConfig(level=logging.ERROR)
    datadir = Path(sys.argv[1])
    dev = open_past_chain(datadir, "phase0", slots=48, validators=32)
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    drive(dev, client, 1, 8)
    dev.chain.flush()
    size = (datadir / "beacon" / "data.mdb").stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    failed = 0
    for slot in range(9, 25):
        run_duties(slot)
        dev.chain.flush()
        failed = max(failed, len(dev.chain._unwritten))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    drive(dev, client, 25, 48)
    dev.chain.flush()
    snapshot = dev.chain.snapshot
    result = {
        "most_queued": failed,
        "queued_after": len(dev.chain._unwritten),
        "head": snapshot.head_root.hex(),
        "head_slot": snapshot.head_slot,
        "finalized": snapshot.finalized.epoch,
    }
    client.close()
    dev.close()
    print(json.dumps(result))
    """
)

REOPEN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from tests.node.devnet import open_past_chain

    dev = open_past_chain(Path(sys.argv[1]), "phase0", slots=48, validators=32)
    snapshot = dev.chain.snapshot
    print(json.dumps({"head": snapshot.head_root.hex(), "finalized": snapshot.finalized.epoch}))
    dev.close()
    """
)


def _run(script: str, datadir: Path) -> dict:
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", script, str(datadir), root],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_failed_writes_are_kept_and_land_in_order(tmp_path):
    result = _run(CHILD, tmp_path)
    assert result["most_queued"] > 0, "the file size limit never made a write fail"
    assert result["queued_after"] == 0
    assert result["head_slot"] == 48
    assert result["finalized"] >= 3

    reopened = _run(REOPEN, tmp_path)
    assert reopened["head"] == result["head"]
    assert reopened["finalized"] == result["finalized"]
