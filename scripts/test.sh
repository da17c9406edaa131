#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs and starts the real mail stack
# (Postfix with rspamd as its mail filter and Unbound serving example.test, Dovecot; Prometheus
# and Alertmanager for the alerting tests), then checks formatting, lints (on the release
# configuration too, so a warning that only a release build would show fails here), and runs
# every test: with cargo-nextest when it is installed (tests of different
# binaries side by side, see .config/nextest.toml), with `cargo test` otherwise. Run as root
# (apt-get, daemons).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

# Headless Chromium (and a font with the status page's ✓ ✗ marks) for the status-page test,
# tests/scenario_libero.rs; jsonnet for the monitoring mixin's tests, tests/mixin.rs; lintian for
# the package test, tests/e2e_deb. Idempotent and non-interactive.
install_test_tools() {
  local missing=""
  for p in chromium fonts-dejavu-core jsonnet lintian; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [[ -n "$missing" ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
      </dev/null >/dev/null
  fi
  /usr/bin/chromium --version 2>/dev/null
  jsonnet --version
}

step "mail stack"
scripts/mailstack.sh up

step "test tools (chromium, jsonnet, lintian)"
install_test_tools

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy -- -D warnings (debug and release configurations)"
cargo clippy --all-targets -- -D warnings
cargo clippy --release --all-targets -- -D warnings

# The package test (tests/e2e_deb) builds the .deb with scripts/deb.sh: cargo-deb and the
# release binary are ready before the tests start, so that no build competes with them.
step "cargo-deb and the release build"
cargo deb --version >/dev/null 2>&1 || cargo install cargo-deb --locked --quiet
cargo build --release --locked

step "cargo test"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --all-targets
else
  cargo test --all-targets
fi

step "all green"
