#!/usr/bin/env bash
# Runs every test against real services: installs what is missing, then `cargo test`.
# Tests create a fresh database per test on DATABASE_URL's server, else on 127.0.0.1:5432
# (user postgres), else in a private cluster they start; each test starts its own Mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
exec cargo test --workspace --all-targets "$@"
