#!/usr/bin/env bash
# Noisy neighbour through `vigil serve` on the embedded store: a quiet tenant's hook latency
# alone, then while a noisy tenant floods its hooks far past its rate.
# Usage: benches/load/noisy-neighbour.sh [seconds=15] [rate=1000] [noisy_connections=16]
#   rate: VIGIL_INGEST_RATE_PER_SECOND for every tenant (burst: twice that).
#   The quiet tenant sends from 4 connections, each waiting 10 ms between requests (~400/s,
#   within its rate); the noisy one sends as fast as its connections allow.
# Needs wrk (Debian package `wrk`). Prints each phase's answers and p50/p99; the quiet tenant's
# answers must all be 2xx.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
rate=${2:-1000}
noisy_connections=${3:-16}
. benches/load/serve.sh
start_serve VIGIL_INGEST_RATE_PER_SECOND="$rate" VIGIL_INGEST_BURST=$((rate * 2))

tenant() {
  "$bin" --data-dir "$data" tenant create "$1" --json
}
field() {
  python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"
}
quiet=$(tenant Quiet)
noisy=$(tenant Noisy)

quiet_load() {
  VIGIL_TENANT=$(field "$quiet" tenant_id) VIGIL_INGEST_TOKEN=$(field "$quiet" ingest_token) \
    wrk -t1 -c4 -d"${seconds}s" --latency -s benches/load/paced.lua "http://127.0.0.1:$port" \
    | grep -E "answered|p50"
}

echo "== quiet tenant alone: ${seconds}s, 4 connections, 10 ms between requests"
quiet_load

echo "== quiet tenant while the noisy one floods (${noisy_connections} connections, rate ${rate}/s)"
VIGIL_TENANT=$(field "$noisy" tenant_id) VIGIL_INGEST_TOKEN=$(field "$noisy" ingest_token) \
  wrk -t1 -c"$noisy_connections" -d"$((seconds + 2))s" -s benches/load/ingest.lua "http://127.0.0.1:$port" \
  >"$data/noisy.txt" &
flood=$!
extra_pids=$flood
sleep 1
quiet_load
wait "$flood"
echo "== noisy tenant (2xx within its rate, the rest 429)"
grep -E "answered|p50" "$data/noisy.txt"
stop_serve
