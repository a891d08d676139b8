#!/usr/bin/env bash
# The test command: starts the services the tests need, then runs every test in the workspace
# (unit, integration, property, doc tests, and each bench once in test mode) against real
# PostgreSQL. Services are required: a missing one fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
export STRONGROOM_REQUIRE_SERVICES=${STRONGROOM_REQUIRE_SERVICES:-1}
cargo test --workspace --all-features --all-targets --locked
cargo test --workspace --all-features --doc --locked
# The examples that check themselves.
cargo run --quiet --locked -p strongroom-examples --example rotate_api_key
cargo run --quiet --locked -p strongroom-examples --example embedded
cargo run --quiet --locked -p strongroom-examples --example custom_engine
