#!/usr/bin/env bash
# Load test of workflow runs through `vigil serve` on the embedded store: each posted event starts
# a run of a 3-step workflow (trigger → IF on the message text → signed HTTP notify). The notify
# goes to a minimal HTTP receiver (benches/load/receiver.py) on the same machine.
# Usage: benches/load/workflows.sh [seconds=20] [connections=16]
# Needs wrk. Prints events/s accepted, runs completed/s end to end (until the last run finished),
# each run's latency from its event's 202 to its completion (p50/p99) and the server's peak memory.
# With many connections the hook outruns the executor and the figure is the executor's
# throughput; with one connection the executor keeps up and the latency is a run's own.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
connections=${2:-16}
. benches/load/serve.sh
receiver_port=$(free_port)
python3 benches/load/receiver.py "$receiver_port" &
extra_pids=$!
# No rate limit in the way of the measurement; the receiver is on loopback, which the egress guard
# refuses unless allowed.
start_serve VIGIL_WORKFLOW_RUNS_PER_MINUTE=10000000 VIGIL_EGRESS_ALLOW=127.0.0.0/8,::1/128

tenant_json=$("$bin" --data-dir "$data" tenant create Load --json)
field() { echo "$tenant_json" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
export VIGIL_TENANT=$(field tenant_id)
export VIGIL_INGEST_TOKEN=$(field ingest_token)
key=$(field api_key)
notify="http://127.0.0.1:$receiver_port/notify"
body='{"id":"notify_{{trigger.event_id}}","type":"notify.sent","occurred_at":"{{time.now}}","subject":{"client_id":"{{client.id}}"},"data":{"urgent":URGENT}}'
workflow=$(cat <<JSON
{"name": "Notify on message", "dedupe_minutes": 0,
 "triggers": [{"type": "message_received"}],
 "steps": [{"type": "if", "condition": {"field": "trigger.text", "operator": "contains", "value": "urgent"},
            "then": [{"type": "http_request", "url": "$notify", "body": ${body/URGENT/true}}],
            "else": [{"type": "http_request", "url": "$notify", "body": ${body/URGENT/false}}]}]}
JSON
)
curl -sf -X POST "http://127.0.0.1:$port/api/v1/workflows" -H "authorization: Bearer $key" \
  -H 'content-type: application/json' -d "$workflow" >/dev/null

threads=$(( connections < 2 ? connections : 2 ))
echo "== wrk (workflows): ${seconds}s, ${threads} threads, ${connections} connections"
started=$(date +%s.%N)
out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s benches/load/workflows.lua "http://127.0.0.1:$port")
echo "$out" | grep -E "Requests/sec|answered|p50" || { echo "$out"; exit 1; }
accepted=$(echo "$out" | awk '/^answered 2xx:/ {print $3+0}')

# Wait until every accepted event's run has finished, counting runs in the store itself.
count_runs() {
  python3 - "$data/vigil.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT json_extract(body, '$.status'), count(*) FROM items WHERE pk LIKE '%#WFRUN' GROUP BY 1").fetchall()
print(" ".join(f"{s}={n}" for s, n in rows))
PY
}
while :; do
  counts=$(count_runs)
  completed=$(echo "$counts" | tr ' ' '\n' | awk -F= '$1=="completed" {print $2}')
  [ "${completed:-0}" -ge "${accepted:-0}" ] && break
  now=$(date +%s.%N)
  if python3 -c "import sys; sys.exit(0 if $now - $started > $seconds * 20 else 1)"; then
    echo "runs did not finish: $counts" >&2; break
  fi
  sleep 0.5
done
finished=$(date +%s.%N)
rss=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
echo "runs: $counts"
python3 -c "print(f'runs completed end to end: {int(\"${completed:-0}\") / ($finished - $started):.0f}/s over {$finished - $started:.1f} s; server peak memory {int(\"$rss\") / 1024:.0f} MB')"
# Each run's latency: from its event's acceptance (the 202) to the run's completion.
python3 - "$data/vigil.db" "$VIGIL_TENANT" <<'PY'
import sqlite3, sys
from datetime import datetime
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("""
  SELECT json_extract(r.body, '$.finished_at'), json_extract(e.body, '$.received_at')
  FROM items r JOIN items e
    ON e.pk = 'T#' || ? || '#DEVT#' || json_extract(r.body, '$.snapshot.trigger.event_id') AND e.sk = 'DEVT'
  WHERE r.pk LIKE '%#WFRUN' AND json_extract(r.body, '$.status') = 'completed'""", (sys.argv[2],)).fetchall()
def at(text):
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).timestamp() + (float("0." + frac) if frac else 0.0)
latency = sorted(at(done) - at(received) for done, received in rows)
pick = lambda p: latency[min(len(latency) - 1, int(p * (len(latency) - 1)))]
print(f"event accepted → run completed: p50 {pick(0.5) * 1000:.1f} ms, p99 {pick(0.99) * 1000:.1f} ms over {len(latency)} runs")
PY
