#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs and starts the real mail stack
# (Postfix, Dovecot; Prometheus and Alertmanager for the alerting tests), then checks formatting,
# lints, the warning-free release build, and runs every test. Run as root (apt-get, daemons).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

# Headless Chromium (and a font with the status page's ✓ ✗ marks) for the status-page test,
# tests/scenario_libero.rs. Idempotent and non-interactive.
install_test_tools() {
  local missing=""
  for p in chromium fonts-dejavu-core; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [[ -n "$missing" ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
      </dev/null >/dev/null
  fi
  /usr/bin/chromium --version 2>/dev/null
}

step "mail stack"
scripts/mailstack.sh up

step "test tools (chromium)"
install_test_tools

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
