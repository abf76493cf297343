#!/usr/bin/env bash
# Load test of a hook through `vigil serve` on the embedded store.
# Usage: benches/load/ingest.sh [seconds=20] [connections=16] [script=ingest]
#   script: ingest (domain events, /hooks/{tenant}/events) or runs (/hooks/{tenant}/runs);
#   both load benches/load/common.lua.
# Needs wrk (Debian package `wrk`). Prints requests/s, p50/p99 and store requests per event.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
connections=${2:-16}
script=${3:-ingest}
[ -f "benches/load/$script.lua" ] || { echo "no load script benches/load/$script.lua" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/vigil
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
VIGIL_LOG=warn "$bin" --data-dir "$data" serve --addr "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done

tenant_json=$("$bin" --data-dir "$data" tenant create Load --json)
export VIGIL_TENANT=$(echo "$tenant_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
export VIGIL_INGEST_TOKEN=$(echo "$tenant_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ingest_token"])')

echo "== wrk ($script): ${seconds}s, 2 threads, ${connections} connections, unique ids"
out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "benches/load/$script.lua" "http://127.0.0.1:$port")
echo "$out" | grep -E "Requests/sec|Latency|status|p50|99%|50%" || { echo "$out"; exit 1; }
accepted=$(echo "$out" | awk '/^status 202:/ {print $3}')

kill -TERM $server; wait $server || true
echo "== vigil serve at shutdown"
grep -E "store requests" "$log" || true
writes=$(awk '/store requests/ {for (i=1;i<=NF;i++) if ($i=="writes") print $(i+1)}' "$log")
reads=$(awk '/store requests/ {for (i=1;i<=NF;i++) if ($i=="reads") print $(i+1)}' "$log")
if [ -n "${accepted:-}" ] && [ "${accepted:-0}" -gt 0 ]; then
  python3 -c "print(f'store writes per accepted request: {int(\"$writes\")/int(\"$accepted\"):.3f}; reads per request: {int(\"$reads\")/int(\"$accepted\"):.4f}')"
fi
