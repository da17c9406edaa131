#!/usr/bin/env bash
# Generates alerts/ and dashboards/ from the monitoring mixin in mixin/ (the default `_config`):
# every file listed in mixin/outputs.jsonnet. With --check, generates into a temporary directory
# and fails, naming the files, if any differs from the committed one (tests/mixin.rs runs it).
# Needs `jsonnet` (Debian package `jsonnet`).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: scripts/mixin.sh [--check]" >&2; exit 2 ;;
esac

if ! command -v jsonnet >/dev/null 2>&1; then
  echo "scripts/mixin.sh: jsonnet not found: install the Debian package (apt-get install jsonnet)" >&2
  exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The files to write: the fields of mixin/outputs.jsonnet (jsonnet -m creates no directories).
files=$(jsonnet -J mixin -S -e 'std.join("\n", std.objectFields(import "mixin/outputs.jsonnet"))')
for f in $files; do mkdir -p "$out/$(dirname "$f")"; done
jsonnet -J mixin -S -m "$out" mixin/outputs.jsonnet >/dev/null

status=0
for f in $files; do
  if $check; then
    if ! cmp -s "$out/$f" "$f"; then
      echo "scripts/mixin.sh --check: $f differs from what mixin/ generates:" >&2
      diff -u "$f" "$out/$f" | head -40 >&2 || true
      status=1
    fi
  else
    mkdir -p "$(dirname "$f")"
    cp "$out/$f" "$f"
    echo "wrote $f"
  fi
done
if ! $check; then exit 0; fi
if [[ $status -ne 0 ]]; then
  echo "run scripts/mixin.sh to regenerate them from mixin/ (and commit both)" >&2
fi
exit $status
