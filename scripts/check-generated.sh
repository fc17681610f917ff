#!/usr/bin/env bash
# Fails when gen/ is not what `buf generate` makes from proto/ now: generated
# code is committed, so a proto change without regeneration must not pass CI.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx buf generate --output "$tmp"
if ! diff -r "$tmp/gen" gen >"$tmp/diff.txt"; then
  echo "gen/ is stale: run 'npm run generate' and commit the result" >&2
  head -50 "$tmp/diff.txt" >&2
  exit 1
fi
echo "gen/ is up to date"
