#!/usr/bin/env bash
# Runs every check and test of the workspace, as CI does (`make test`, `.ci/run`):
#   1. .venv with the Python tools of infra/requirements-test.txt, every dependency pinned by
#      infra/constraints-test.txt (re-installed only when either file changed), and Debian's
#      chromium for the browser tests (apt-get, when /usr/bin/chromium is missing),
#   2. moto server on a free loopback port for the AWS-side tests (VIGIL_TEST_AWS_ENDPOINT),
#      stopped on exit,
#   3. cargo fmt --check, clippy -D warnings, cargo test, cargo deny (installed when missing)
#      and infra/lint-template.sh,
#   4. the served OpenAPI document validated against a seeded `vigil serve`, and schemathesis
#      --checks all over every operation (infra/api-fuzz.py),
#   5. the console in a browser: tests/browser (pytest, Playwright driving chromium) against a
#      `vigil serve` child on each backend, screenshots in target/console-screenshots/,
#   6. a timing summary.
# Works from any directory; honours CARGO_TARGET_DIR. Needs python3 (with venv), a Rust
# toolchain with rustfmt and clippy, and access to PyPI and crates.io on a fresh machine (and to
# Debian's packages, as root, where chromium is missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.venv"
requirements="$root/infra/requirements-test.txt"
constraints="$root/infra/constraints-test.txt"
stamp="$venv/.requirements-test.sha256"

# Loopback never goes through a proxy: moto, the sinks and `vigil serve` children all listen on
# 127.0.0.1, and a caller's HTTP_PROXY must not decide whether the tests can reach them.
loopback="127.0.0.1,localhost,::1"
export NO_PROXY="${NO_PROXY:+$NO_PROXY,}$loopback"
export no_proxy="${no_proxy:+$no_proxy,}$loopback"

# Vigil's own settings come from the tests, never from the caller's shell.
while IFS='=' read -r name _; do
    [[ "$name" == VIGIL_* ]] && unset "$name"
done < <(env)

# ---- timing -----------------------------------------------------------------------------------
started_all=$SECONDS
steps=()
current=""
step_started=0

begin() {
    current="$1"
    step_started=$SECONDS
    echo
    echo "== $current"
}

end() {
    steps+=("$(printf '  %-40s %5d s' "$current" $((SECONDS - step_started)))")
    current=""
}

moto_pid=""
moto_log=""

finish() {
    local status=$?
    if [[ -n "$moto_pid" ]]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    echo
    echo "== timing"
    local line
    for line in "${steps[@]}"; do
        echo "$line"
    done
    if [[ -n "$current" ]]; then
        printf '  %-40s %5d s  FAILED\n' "$current" $((SECONDS - step_started))
    fi
    printf '  %-40s %5d s\n' "total" $((SECONDS - started_all))
    if [[ $status -eq 0 ]]; then
        echo "test: all passed"
        if [[ -n "$moto_log" ]]; then
            rm -f "$moto_log"
        fi
    else
        echo "test: FAILED (exit $status)${moto_log:+; moto server log: $moto_log}" >&2
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. Python tools --------------------------------------------------------------------------
begin "python tools (.venv)"
if ! command -v python3 >/dev/null; then
    echo "test: python3 is required (3.11 or newer, with the venv module)" >&2
    exit 2
fi
wanted="$(cat "$requirements" "$constraints" | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "up to date with infra/requirements-test.txt"
else
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv" || {
            echo "test: python3 -m venv failed; on Debian/Ubuntu install python3-venv" >&2
            exit 2
        }
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$requirements" -c "$constraints"
    echo "$wanted" >"$stamp"
    echo "installed infra/requirements-test.txt"
fi
end

# Playwright's own browser download cannot be reached from these machines: the browser tests
# drive Debian's chromium instead.
begin "chromium (browser tests)"
chromium="/usr/bin/chromium"
if [[ ! -x "$chromium" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "test: $chromium is missing; install Debian's chromium package (as root: apt-get install chromium)" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# The Debian wrapper script's stderr is noise here.
"$chromium" --version 2>/dev/null
end

# ---- 2. moto server ---------------------------------------------------------------------------
begin "moto server"
free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
answers() {
    "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "$1/moto-api/" 2>/dev/null
}
moto_log="$(mktemp "${TMPDIR:-/tmp}/vigil-moto.XXXXXX")"
endpoint=""
# moto serves each request on a thread of its own and does not lock an item between reading
# and writing it, so two concurrent UpdateItem calls can lose one add. A long interpreter
# switch interval makes each request run to its next blocking I/O undisturbed, which is
# per-request atomicity as DynamoDB gives it; the concurrency contract tests rely on that.
# (Long-polling receives wait on a condition, which still lets other requests through.)
serialised_moto='import sys; sys.setswitchinterval(10); from moto.server import main; sys.argv[0] = "moto_server"; sys.exit(main())'
for attempt in 1 2 3; do
    port="$(free_port)"
    "$venv/bin/python" -c "$serialised_moto" -H 127.0.0.1 -p "$port" >>"$moto_log" 2>&1 &
    moto_pid=$!
    for _ in $(seq 1 100); do
        if answers "http://127.0.0.1:$port"; then
            endpoint="http://127.0.0.1:$port"
            break 2
        fi
        kill -0 "$moto_pid" 2>/dev/null || break
        sleep 0.1
    done
    # Not up (port taken between the probe and the bind, or a slow start): try another port.
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    moto_pid=""
    echo "moto server did not answer on port $port (attempt $attempt)" >&2
done
if [[ -z "$endpoint" ]]; then
    echo "test: moto server did not start; its log:" >&2
    cat "$moto_log" >&2
    exit 1
fi
export VIGIL_TEST_AWS_ENDPOINT="$endpoint"
echo "moto server at $endpoint (pid $moto_pid, log $moto_log)"
end

# ---- 3. checks and tests ----------------------------------------------------------------------
begin "cargo fmt --check"
cargo fmt --all -- --check
end

begin "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
end

begin "cargo test"
cargo test --workspace --all-features --no-fail-fast
end

begin "cargo deny (bans, licenses, sources)"
deny_version="0.20.2"
if ! cargo deny --version 2>/dev/null | grep -q "$deny_version"; then
    echo "installing cargo-deny $deny_version (a few minutes, once)"
    cargo install --locked --quiet "cargo-deny@$deny_version"
fi
cargo deny --log-level error check bans licenses sources
# The advisory database is a git repository fetched from outside; check against a local copy
# when there is one (README: "Dependency checks").
advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if [[ -n "$(ls -A "$advisory_dbs" 2>/dev/null)" ]]; then
    cargo deny --log-level error check --disable-fetch advisories
else
    echo "advisories: no local copy of the advisory database in $advisory_dbs; not checked"
fi
end

# Run through bash, so a lost execute bit cannot turn the lint into a silent skip.
begin "template lint (cfn-lint, sam validate)"
bash "$root/infra/lint-template.sh"
end

# The served document, seeded with real records, must validate, and schemathesis runs every
# operation against it with --checks all (a fixed seed, so a finding reproduces).
begin "API fuzz (openapi-spec-validator, schemathesis)"
# The binary `cargo test` built for the CLI tests (a separate `cargo build` would unify other
# features and build the AWS SDK again).
vigil_bin="${CARGO_TARGET_DIR:-$root/target}/debug/vigil"
[[ -x "$vigil_bin" ]] || { echo "test: $vigil_bin is missing after cargo test" >&2; exit 1; }
"$venv/bin/python" "$root/infra/api-fuzz.py" --vigil "$vigil_bin"
end

# Every console page in a real browser, on both backends; a missing chromium, Playwright or
# emulator fails the step (tests/browser/conftest.py).
begin "console in a browser"
"$venv/bin/python" -m pytest "$root/tests/browser" -p no:cacheprovider -q --vigil "$vigil_bin"
end
