#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs and starts the real mail stack
# (Postfix, Dovecot; Prometheus and Alertmanager for the alerting tests), then checks formatting,
# lints, the warning-free release build, and runs every test. Run as root (apt-get, daemons).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "mail stack"
scripts/mailstack.sh up

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo build --release (must be warning-free)"
out=$(cargo build --release 2>&1) || { echo "$out"; exit 1; }
if grep -q '^warning' <<<"$out"; then echo "$out"; echo "release build has warnings"; exit 1; fi

step "cargo test"
cargo test --all-targets

step "all green"
