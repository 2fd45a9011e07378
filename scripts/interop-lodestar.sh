#!/usr/bin/env bash
# interop-lodestar.sh [INSTALL_DIR]
# Installs Lodestar 1.5.1 into INSTALL_DIR (default /tmp/caplin-lodestar) unless it
# is there already, then runs the sentinel interop test. The test starts a Lodestar
# dev chain on 127.0.0.1 (ports CAPLIN_LODESTAR_PORT_BASE, default 19700, and +596
# for REST) and finds it over discv5. It connects over noise + mplex, exchanges
# Status/Ping/MetaData, downloads blocks with BeaconBlocksByRange, receives a
# gossip block, and stops the chain.
# CAPLIN_LODESTAR_SCRIPTS is the folder with Lodestar's install.sh, devnet.sh and stop.sh
# (default: ../shared/interop/lodestar next to the repository).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INSTALL_DIR=${1:-/tmp/caplin-lodestar}
export CAPLIN_LODESTAR_SCRIPTS=${CAPLIN_LODESTAR_SCRIPTS:-$ROOT/../shared/interop/lodestar}
export CAPLIN_LODESTAR_PORT_BASE=${CAPLIN_LODESTAR_PORT_BASE:-19700}

if [ ! -x "$INSTALL_DIR/node_modules/.bin/lodestar" ]; then
  echo "installing Lodestar into $INSTALL_DIR"
  timeout 600 bash "$CAPLIN_LODESTAR_SCRIPTS/install.sh" "$INSTALL_DIR"
fi
export CAPLIN_LODESTAR_DIR=$INSTALL_DIR

cd "$ROOT"
exec timeout 600 .venv/bin/python -m pytest tests/sentinel/test_interop_lodestar.py \
  -m interop -s -p no:cacheprovider
