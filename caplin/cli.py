"""The `caplin` command."""

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    try:
        return version("caplin")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caplin", description="Ethereum beacon node")
    parser.add_argument("--version", action="version", version=f"caplin {_version()}")
    parser.parse_args(argv)
    # TODO(node): start the beacon node; the dev chain, storage and Beacon API are not built yet.
    print(
        "error: the caplin node cannot run yet; this build provides the consensus "
        "spec-test runner (caplin-spec-tests) and the libraries under caplin/",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
