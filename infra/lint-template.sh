#!/usr/bin/env bash
# Lints template.yaml three ways; each catches mistakes the others miss:
# cfn-lint (resource schemas, intrinsics), sam validate (the SAM transform) and
# sam validate --lint (cfn-lint over the transformed template).
# Needs .venv with cfn-lint and aws-sam-cli (see infra/DESIGN.md). Works offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.venv/bin"
for tool in cfn-lint sam; do
    if [[ ! -x "$venv/$tool" ]]; then
        echo "lint-template: $venv/$tool is missing; install it with: .venv/bin/pip install cfn-lint aws-sam-cli" >&2
        exit 2
    fi
done

export SAM_CLI_TELEMETRY=0
# sam validate needs a region but never calls AWS.
region="us-east-1"

step() {
    local name="$1"
    shift
    local started=$SECONDS
    echo "== $name"
    "$@"
    echo "   ok ($((SECONDS - started)) s)"
}

step "cfn-lint template.yaml" "$venv/cfn-lint" template.yaml
step "sam validate" "$venv/sam" validate --template template.yaml --region "$region"
step "sam validate --lint" "$venv/sam" validate --lint --template template.yaml --region "$region"
