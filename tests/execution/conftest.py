import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from execution_testkit import Chain, build_chain  # noqa: E402


@pytest.fixture(scope="session")
def chain() -> Chain:
    """A four-block chain built by the engine, with withdrawals and EIP-7685 requests."""
    return build_chain()
