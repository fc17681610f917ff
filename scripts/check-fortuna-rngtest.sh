#!/usr/bin/env bash
# FIPS 140-2 check (rngtest, Debian's rng-tools5) of a running Fortuna service's
# output, read through its documented REST endpoint GET /generate?size=N.
# The same check runs in `npm run test:unit -- fortuna` against the gRPC stream.
#
#   scripts/check-fortuna-rngtest.sh [base-url] [blocks]
#   (defaults: http://127.0.0.1:8082, 2000 blocks = 5 MB; the service must be seeded)
#
# rngtest's documentation expects about 0.08% of blocks from a good source to
# fail by chance; more than the Poisson bound below (p < 1e-6) fails the check.
set -euo pipefail
base="${1:-http://127.0.0.1:8082}"
blocks="${2:-2000}"
command -v rngtest >/dev/null || { echo "rngtest not found: apt-get install -y rng-tools5" >&2; exit 2; }

# rngtest reads 32 bits, then 2500 bytes per block.
need=$((blocks * 2500 + 4))
report=$(
  {
    got=0
    while [ "$got" -lt "$need" ]; do
      curl -fsS "$base/generate?size=1048576" | jq -r .data | xxd -r -p
      got=$((got + 1048576))
    done
  } | head -c "$need" | rngtest -c "$blocks" 2>&1 || true
)
echo "$report" | grep -E "successes|failures|Monobit|Poker|Runs|Long run|Continuous"
failures=$(echo "$report" | sed -n 's/.*FIPS 140-2 failures: \([0-9]*\).*/\1/p')
[ -n "$failures" ] || { echo "no rngtest result (is the service seeded?)" >&2; exit 1; }
bound=$(python3 -c "
import math
lam = $blocks * 0.0008; k = 0; term = math.exp(-lam); cdf = term
while 1 - cdf >= 1e-6:
    k += 1; term *= lam / k; cdf += term
print(k)")
if [ "$failures" -le "$bound" ]; then
  echo "ok: $failures failures in $blocks blocks (at most $bound expected)"
else
  echo "FAILED: $failures failures in $blocks blocks (at most $bound expected)" >&2
  exit 1
fi
