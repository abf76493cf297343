#!/usr/bin/env python3
"""Fuzzes Vigil's HTTP API from its own OpenAPI document (a step of infra/test.sh).

Starts `vigil serve` on a free loopback port with a fresh data dir (infra/vigil_serve.py),
creates a tenant, seeds a little of everything so that real ids exist, validates the served
document with openapi-spec-validator, then runs schemathesis over every operation with
`--checks all`, a fixed seed and a bounded number of examples. Exits non-zero on any finding.

Path ids and cursors are drawn from the seeded records (schemathesis dictionaries) most of the
time and generated at random otherwise; a cursor is only valid when the server issued it.

Usage: .venv/bin/python infra/api-fuzz.py --vigil target/debug/vigil [--max-examples N] [--seed N]
Run with the .venv of infra/requirements-test.txt (schemathesis, openapi-spec-validator).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from vigil_serve import Api, VigilServe, wait_for


def log(message: str) -> None:
    print(f"api-fuzz: {message}", flush=True)


def seed(api: Api, server: VigilServe) -> dict[str, list[str]]:
    """Creates one or more records of every kind; returns the ids per dictionary name."""
    ids: dict[str, list[str]] = {}

    def add(name: str, *values: str) -> None:
        ids.setdefault(name, []).extend(v for v in values if v)

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    channel = api.call(
        "POST",
        "/api/v1/channels",
        {
            "name": "default",
            "kind": "webhook",
            "url": "http://127.0.0.1:9/hook",
            "secret": "whsec_" + base64.b64encode(b"vigil-fuzz-signing-secret-24").decode(),
        },
    )
    add("channel", channel["id"])
    workflow = api.call(
        "POST",
        "/api/v1/workflows",
        {
            "name": "At-risk follow-up",
            "triggers": [{"type": "stage_changed", "to": "at_risk"}],
            "steps": [
                {"type": "create_task", "title": "Call {{client.name}}"},
                {"type": "approval", "timeout_minutes": 1440},
                {"type": "send_notification", "title": "{{client.name}} is at risk"},
            ],
        },
    )
    add("workflow", workflow["id"])
    for n in range(2):
        event = api.hook(
            "events",
            {
                "id": f"evt_seed_{n}",
                "type": "client.stage_changed",
                "occurred_at": now,
                "subject": {"client_id": f"c_seed_{n}", "client_name": f"Seed {n}"},
                "data": {"to": "at_risk"},
            },
        )
        add("domain_event", event["id"])
        add("client", f"c_seed_{n}")
    for n, status in enumerate(["Success", "Failed", "Failed"]):
        run = api.hook(
            "runs",
            {
                "run_id": f"RUN-SEED-{n}",
                "scenario_id": f"SEED-{n % 2}",
                "scenario_name": "Seed scenario",
                "status": status,
                "credits_total": 100 + n,
            },
        )
        add("run", run["run_id"])
    add("scenario", "SEED-0", "SEED-1")
    second = api.call("POST", "/api/v1/workflows", {
        "name": "Ticket triage",
        "triggers": [{"type": "ticket_created"}],
        "steps": [{"type": "create_task", "title": "Triage"}],
    })
    add("workflow", second["id"])
    client = api.call("POST", "/api/v1/clients", {"id": "c_api", "name": "Api Co"})
    add("client", client["id"])
    for kind in ["tasks", "tickets", "drafts"]:
        for n in range(2):
            record = api.call("POST", f"/api/v1/{kind}", {"title": f"Seed {kind} {n}", "client_id": "c_api"})
            add(kind, record["id"])
    for severity in ["SEV2", "SEV3"]:
        notification = api.call("POST", "/api/v1/events/test", {"severity": severity, "title": "Seed"})
        add("notification", notification["id"])
    api.call("PUT", "/api/v1/scan-schedule", {"frequency": "daily", "preferred_time": "09:00", "timezone": "UTC"})
    api.call("POST", "/api/v1/scan-schedule/run-now")
    api.call("POST", "/api/v1/scan-schedule/run-now")
    key = api.call("POST", "/api/v1/keys", {"role": "viewer"})
    add("key", key["id"])
    server.run("demo", "seed", "--tenant", api.tenant)
    for days_ago in [1, 2]:
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - days_ago * 86400))
        server.run("summary", "daily", "--date", day)

    add("anomaly", *[a["id"] for a in api.call("GET", "/api/v1/anomalies")["items"]])
    add("report", *[r["id"] for r in api.call("GET", "/api/v1/reports")["items"]])
    add("rule", *[r["id"] for r in api.call("GET", "/api/v1/rules")["items"]])
    # The outbox and the workflow queue are consumed in the background: wait for their effects.
    inbox = wait_for("inbox items", lambda: api.call("GET", "/api/v1/inbox")["items"])
    add("inbox", *[i["id"] for i in inbox])
    approvals = wait_for("a pending approval", lambda: api.call("GET", "/api/v1/approvals")["items"])
    add("workflow_run", *[a["run_id"] for a in approvals])
    return ids


def collect_cursors(api: Api, document: dict, ids: dict[str, list[str]]) -> dict[str, str]:
    """The cursor dictionary of each list operation: a cursor is opaque, and only valid for the
    list that issued it, so each one is asked for a second page."""
    cursors: dict[str, str] = {}
    for path, item in document["paths"].items():
        operation = item.get("get")
        if not operation or not any(p["name"] == "cursor" for p in operation.get("parameters", [])):
            continue
        concrete = path
        if path in PATH_IDS:
            concrete = re.sub(r"\{[a-z_]+\}", ids[PATH_IDS[path]][0], path)
        cursor = api.call("GET", f"{concrete}?limit=1").get("next_cursor")
        if not cursor:
            raise RuntimeError(f"GET {path} has no second page: seed more of it")
        name = "cursor_" + operation["operationId"]
        ids[name] = [cursor]
        cursors[operation["operationId"]] = name
    return cursors


# Operation path -> dictionary of its path ids (`{id}` unless named otherwise).
PATH_IDS = {
    "/api/v1/anomalies/{id}": "anomaly",
    "/api/v1/channels/{id}": "channel",
    "/api/v1/channels/{id}/test": "channel",
    "/api/v1/clients/{id}": "client",
    "/api/v1/domain-events/{id}": "domain_event",
    "/api/v1/events/{id}": "notification",
    "/api/v1/events/{id}/retry": "notification",
    "/api/v1/inbox/{id}": "inbox",
    "/api/v1/inbox/{id}/{action}": "inbox",
    "/api/v1/keys/{id}": "key",
    "/api/v1/reports/{id}": "report",
    "/api/v1/rules/{id}": "rule",
    "/api/v1/runs/{run_id}": "run",
    "/api/v1/scenarios/{id}": "scenario",
    "/api/v1/scenarios/{id}/baseline": "scenario",
    "/api/v1/scenarios/{id}/metrics": "scenario",
    "/api/v1/scenarios/{id}/failures": "scenario",
    "/api/v1/tasks/{id}": "tasks",
    "/api/v1/tickets/{id}": "tickets",
    "/api/v1/drafts/{id}": "drafts",
    "/api/v1/workflows/{id}": "workflow",
    "/api/v1/workflows/{id}/toggle": "workflow",
    "/api/v1/workflows/{id}/test": "workflow",
    "/api/v1/workflows/{id}/runs": "workflow",
    "/api/v1/workflows/runs/{run_id}": "workflow_run",
    "/api/v1/workflows/runs/{run_id}/retry": "workflow_run",
    "/api/v1/workflows/runs/{run_id}/approve": "workflow_run",
    "/api/v1/workflows/runs/{run_id}/reject": "workflow_run",
}


# schemathesis's own defaults for positive_data_acceptance, which a documented 422 extends.
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def toml_string(value: str) -> str:
    return json.dumps(value)


# Operations that would lock the fuzz out of the seeded tenant (a rotation ends its ingest token):
# they run with the admin key of a tenant of their own.
OWN_TENANT_OPERATIONS = {"rotate_credentials"}


def write_config(
    path: Path,
    api: Api,
    document: dict,
    ids: dict[str, list[str]],
    cursors: dict[str, str],
    seed_value: int,
    max_examples: int,
    bystander_key: str,
) -> None:
    lines = [
        f"seed = {seed_value}",
        "",
        "[generation]",
        f"max-examples = {max_examples}",
        "",
        "[headers]",
        f"Authorization = {toml_string('Bearer ' + api.api_key)}",
        "",
    ]
    for name, values in sorted(ids.items()):
        lines.append(f"[dictionaries.{name}]")
        lines.append("values = [" + ", ".join(toml_string(v) for v in values) + "]")
        lines.append("")
    for op_path, item in document["paths"].items():
        for method, operation in item.items():
            parameters = {}
            headers = None
            if op_path.startswith("/hooks/"):
                # Hooks: the tenant is a real one, the bearer is the ingest token.
                parameters["path.tenant"] = toml_string(api.tenant)
                headers = f"{{ Authorization = {toml_string('Bearer ' + api.ingest_token)} }}"
            if operation.get("operationId") in OWN_TENANT_OPERATIONS:
                headers = f"{{ Authorization = {toml_string('Bearer ' + bystander_key)} }}"
            if op_path in PATH_IDS:
                param = "run_id" if "{run_id}" in op_path else "id"
                parameters[f"path.{param}"] = f'{{ dictionary = "{PATH_IDS[op_path]}", probability = 0.8 }}'
            if method == "get" and operation["operationId"] in cursors:
                parameters["query.cursor"] = f'{{ dictionary = "{cursors[operation["operationId"]]}" }}'
            # A documented 422 is a rule the schema cannot say (between fields, or against stored
            # state): schema-valid data may meet it, and the refusal is then the right answer.
            unprocessable = "422" in operation.get("responses", {})
            if not parameters and headers is None and not unprocessable:
                continue
            lines += ["[[operations]]", f"include-operation-id = {toml_string(operation['operationId'])}"]
            if unprocessable:
                statuses = ", ".join(toml_string(s) for s in POSITIVE_ACCEPTED + ["422"])
                lines.append(f"checks.positive_data_acceptance.expected-statuses = [{statuses}]")
            if headers:
                lines.append(f"headers = {headers}")
            if parameters:
                lines.append("parameters = { " + ", ".join(f'"{k}" = {v}' for k, v in parameters.items()) + " }")
            lines.append("")
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vigil", required=True, help="the vigil binary")
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "15")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("VIGIL_FUZZ_SEED", "20261122")))
    parser.add_argument("--workers", default=os.environ.get("VIGIL_FUZZ_WORKERS", "2"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--validate-only",
        action="store_true",
        help="seed and validate the served document, without the schemathesis run",
    )
    args = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    server = VigilServe(
        args.vigil,
        "embedded",
        # The seeded webhook channel points at a closed loopback port (127.0.0.1:9): the egress
        # guard refuses loopback URLs unless the operator allows them.
        env={"VIGIL_EGRESS_ALLOW": "127.0.0.0/8,::1/128"},
        label="fuzz",
    )
    work = server.work
    status = 1
    try:
        server.start()
        log(f"vigil serve at {server.url} (data {server.data_dir})")
        api = server.create_tenant("Fuzz")
        ids = seed(api, server)
        bystander = server.create_tenant("Rotations")
        log("seeded " + ", ".join(f"{k}: {len(v)}" for k, v in sorted(ids.items())))

        served = api.call("GET", "/api/v1/openapi.json")
        cursors = collect_cursors(api, served, ids)
        document = work / "openapi.json"
        document.write_text(json.dumps(served))
        log("openapi-spec-validator")
        subprocess.run([str(bin_dir / "openapi-spec-validator"), str(document)], env=server.env, check=True)
        if args.validate_only:
            status = 0
            return status

        config = work / "schemathesis.toml"
        write_config(config, api, served, ids, cursors, args.seed, args.max_examples, bystander.api_key)
        command = [
            str(bin_dir / "schemathesis"),
            "--config-file", str(config),
            "run", str(document),
            "--url", server.url,
            "--checks", "all",
            "--workers", str(args.workers),
            "--seed", str(args.seed),
            "--max-examples", str(args.max_examples),
            "--no-color",
            "--suppress-health-check", "all",
            "--request-timeout", "20",
        ]
        log(" ".join(command[1:]))
        status = subprocess.run(command, env=server.env, cwd=work).returncode
        if status != 0:
            log(f"schemathesis found failures (exit {status}); server log tail:")
            for line in server.log_tail():
                print("  " + line)
        return status
    finally:
        keep = args.keep or status != 0
        server.stop(keep=keep)
        if keep:
            log(f"kept {work}")


if __name__ == "__main__":
    sys.exit(main())
