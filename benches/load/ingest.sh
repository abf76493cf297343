#!/usr/bin/env bash
# Load test of a hook through `vigil serve` on the embedded store.
# Usage: benches/load/ingest.sh [seconds=20] [connections=16] [script=ingest]
#   script: ingest (domain events no workflow acts on, /hooks/{tenant}/events), client_events
#   (client.activity events, which the workflow executor also consumes), runs (/hooks/{tenant}/runs) or
#   stripe (signed Stripe events, /hooks/{tenant}/stripe, pre-signed by stripe_events.py);
#   each loads benches/load/common.lua.
# Needs wrk (Debian package `wrk`). Prints requests/s, p50/p99 and store requests per event.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
connections=${2:-16}
script=${3:-ingest}
[ -f "benches/load/$script.lua" ] || { echo "no load script benches/load/$script.lua" >&2; exit 1; }
[ "$script" != stripe ] || [ "$seconds" -le 240 ] || { echo "stripe runs at most 240 s (signature tolerance)" >&2; exit 1; }
. benches/load/serve.sh
start_serve

stripe_secret=whsec_load_test_endpoint_secret
tenant_json=$("$bin" --data-dir "$data" tenant create Load --stripe-secret "$stripe_secret" --json)
export VIGIL_TENANT=$(echo "$tenant_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
export VIGIL_INGEST_TOKEN=$(echo "$tenant_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ingest_token"])')

if [ "$script" = stripe ]; then
  # Signed now: the 300 s tolerance covers the run. Enough events for ~30,000/s.
  export VIGIL_STRIPE_EVENTS="$data/stripe-events.txt"
  python3 benches/load/stripe_events.py "$stripe_secret" $((seconds * 30000)) >"$VIGIL_STRIPE_EVENTS"
fi

# One wrk thread: it drives 16 connections easily, and a second one only takes CPU from the
# server on the same cores (measured: ~10% fewer events/s).
export VIGIL_WRK_THREADS=1
echo "== wrk ($script): ${seconds}s, 1 thread, ${connections} connections, unique ids"
out=$(wrk -t"$VIGIL_WRK_THREADS" -c"$connections" -d"${seconds}s" --latency -s "benches/load/$script.lua" "http://127.0.0.1:$port")
echo "$out" | grep -E "Requests/sec|Latency|answered|p50|99%|50%" || { echo "$out"; exit 1; }
accepted=$(echo "$out" | awk '/^answered 2xx:/ {print $3+0}')

stop_serve
echo "== vigil serve at shutdown"
grep -E "store requests" "$log" || true
writes=$(awk '/store requests/ {for (i=1;i<=NF;i++) if ($i=="writes") print $(i+1)}' "$log")
reads=$(awk '/store requests/ {for (i=1;i<=NF;i++) if ($i=="reads") print $(i+1)}' "$log")
if [ -n "${accepted:-}" ] && [ "${accepted:-0}" -gt 0 ]; then
  python3 -c "print(f'store writes per accepted request: {int(\"$writes\")/int(\"$accepted\"):.3f}; reads per request: {int(\"$reads\")/int(\"$accepted\"):.4f}')"
fi
