#!/usr/bin/env bash
# Builds every Lambda function with cargo-lambda and checks what would be deployed:
# each bootstrap at most 14 MB stripped, and no OpenSSL (rustls only, so the binaries run on
# provided.al2023 without system libraries).
#
# arm64 (what template.yaml deploys) when the aarch64-unknown-linux-gnu rust-std is installed,
# x86_64 otherwise: the script never downloads a toolchain.
# Needs .venv with cargo-lambda (it brings zig): .venv/bin/pip install cargo-lambda
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Folder = binary = package suffix, as in vigil_runtime::deployment::FunctionName.
functions=(ingest api rules summary dispatcher workflows approvals console)
max_bytes=$((14 * 1000 * 1000))

if [[ ! -x .venv/bin/cargo-lambda ]]; then
    # Not in requirements-test.txt: the tests don't need it, and it brings a whole zig toolchain.
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2'
fi
# cargo finds the `cargo-lambda` subcommand, and cargo-lambda finds zig (python3 -m ziglang), here.
export PATH="$root/.venv/bin:$PATH"

if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    arch_flag=--arm64
    triple=aarch64-unknown-linux-gnu
else
    arch_flag=--x86-64
    triple=x86_64-unknown-linux-gnu
    echo "note: aarch64-unknown-linux-gnu is not installed; building x86_64 (template.yaml deploys arm64," \
        "sam build builds that itself)"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# OpenSSL must not be in any function's normal dependency graph. `cargo tree -i` prints the
# dependents when it is, prints nothing when only other targets' graphs have it, and exits 101
# when no package of the lock file has that name.
for name in "${functions[@]}"; do
    set +e
    tree="$(cargo tree -p "vigil-$name" -e normal --target "$triple" -i openssl-sys 2>"$scratch/tree.err")"
    status=$?
    set -e
    errors="$(cat "$scratch/tree.err")"
    if [[ $status -eq 0 && -n "$tree" ]]; then
        fail "vigil-$name depends on openssl-sys:"$'\n'"$tree"
    elif [[ $status -ne 0 && "$errors" != *"did not match any packages"* ]]; then
        fail "cargo tree for vigil-$name: $errors"
    fi
done

packages=()
for name in "${functions[@]}"; do
    packages+=(-p "vigil-$name")
done

# Lambda builds optimise for size and abort on panic (a panic fails that one invocation and
# Lambda starts a fresh process); `vigil serve` keeps the release profile as written.
# `make sam-build` passes the same two settings to `sam build`.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_PANIC=abort

started=$SECONDS
echo "== cargo lambda build --release $arch_flag (${functions[*]}), opt-level z, panic abort"
cargo lambda build --release "$arch_flag" "${packages[@]}"
echo "   built in $((SECONDS - started)) s"

strip_tool="$(command -v llvm-strip || true)"

printf '%-12s %12s %9s\n' function bytes stripped
for name in "${functions[@]}"; do
    bootstrap="${CARGO_TARGET_DIR:-$root/target}/lambda/$name/bootstrap"
    if [[ ! -f "$bootstrap" ]]; then
        fail "$bootstrap was not built"
        continue
    fi
    # The release profile strips already; strip again where a tool can, so the figure is exact.
    measured="$bootstrap"
    if [[ -n "$strip_tool" ]]; then
        cp "$bootstrap" "$scratch/$name"
        "$strip_tool" --strip-all "$scratch/$name"
        measured="$scratch/$name"
    fi
    bytes="$(stat -c %s "$measured")"
    awk -v n="$name" -v b="$bytes" 'BEGIN { printf "%-12s %12d %6.1f MB\n", n, b, b / 1000000 }'
    if ((bytes > max_bytes)); then
        fail "$name: $bytes bytes is over the $max_bytes-byte budget"
    fi
    # Belt and braces: the binary itself must not ask for a system libssl / libcrypto.
    if readelf -d "$bootstrap" 2>/dev/null | grep -Eq 'NEEDED.*lib(ssl|crypto)\.so'; then
        fail "$name links the system OpenSSL"
    fi
done

if ((failures > 0)); then
    echo "build-lambdas: $failures check(s) failed" >&2
    exit 1
fi
echo "build-lambdas: all ${#functions[@]} functions built for $triple, within budget, without OpenSSL"
