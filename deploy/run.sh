#!/usr/bin/env bash
# Runs the whole system on this machine: installs what is missing, builds, and starts the
# all-in-one (embedded broker, private PostgreSQL in ./var, simulated field gateways).
# Extra arguments go to `geohazard`, e.g. `deploy/run.sh --config deploy/geohazard.example.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
exec cargo run --release -p geohazard -- run "$@"
