# Sourced by the load scripts: builds the release binary (or takes the one VIGIL_BIN names, for
# A/B runs of two builds) and starts `vigil serve` on a fresh data dir and a free port, with any
# VAR=value arguments in its environment; waits until it answers.
# Sets: bin, data, port, log, server. Call `stop_serve` to end it (the EXIT trap also does).
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_serve() {
  if [ -n "${VIGIL_BIN:-}" ]; then
    bin=$VIGIL_BIN
  else
    cargo build --release --quiet
    bin=${CARGO_TARGET_DIR:-target}/release/vigil
  fi
  data=$(mktemp -d)
  port=$(free_port)
  log=$(mktemp)
  env VIGIL_LOG=warn "$@" "$bin" --data-dir "$data" serve --addr "127.0.0.1:$port" >"$log" 2>&1 &
  server=$!
  trap 'kill $server ${extra_pids:-} 2>/dev/null || true; rm -rf "$data"' EXIT
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null && break; sleep 0.1; done
}

stop_serve() {
  kill -TERM "$server"
  wait "$server" || true
}
