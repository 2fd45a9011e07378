#!/usr/bin/env bash
# interop-lodestar.sh [INSTALL_DIR]
# Installs Lodestar 1.5.1 into INSTALL_DIR (default /tmp/caplin-lodestar) and the
# @lodestar/api 1.48.0 client into INSTALL_DIR-api unless they are
# there already, then runs every test marked `interop`. The tests start Lodestar
# dev chains on 127.0.0.1 only (each test file has its own port range) and stop
# them by PID: the sentinel finds Lodestar over discv5, exchanges Status, Ping and
# MetaData, downloads blocks and receives gossip; a caplin node follows a Lodestar
# chain, and a Lodestar node syncs the chain from caplin.
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

# The typed Beacon API client (phase0..fulu types) that checks caplin's JSON.
export CAPLIN_LODESTAR_API_DIR=${CAPLIN_LODESTAR_API_DIR:-$INSTALL_DIR-api}
if [ ! -d "$CAPLIN_LODESTAR_API_DIR/node_modules/@lodestar/api" ]; then
  echo "installing @lodestar/api 1.48.0 into $CAPLIN_LODESTAR_API_DIR"
  mkdir -p "$CAPLIN_LODESTAR_API_DIR"
  (cd "$CAPLIN_LODESTAR_API_DIR" && [ -f package.json ] || echo '{"private": true}' > package.json)
  timeout 600 npm install --prefix "$CAPLIN_LODESTAR_API_DIR" --no-audit --no-fund \
    @lodestar/api@1.48.0 >/dev/null
fi

cd "$ROOT"
exec timeout 2700 .venv/bin/python -m pytest tests -m interop -s -p no:cacheprovider
