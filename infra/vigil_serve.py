"""A `vigil serve` child for the steps of infra/test.sh that drive Vigil from outside, as a user
would (infra/api-fuzz.py, tests/browser): a free loopback port, a fresh data dir, and the CLI run
against the same data. The backend is the embedded store, or the AWS adapters against the
emulator (`--store aws`, its resources bootstrapped under a prefix of their own).

    server = VigilServe(vigil_bin, "aws", aws_endpoint=endpoint).start()
    api = server.create_tenant("Acme")
    api.call("GET", "/api/v1/inbox")
    server.stop()
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1,localhost"
BACKENDS = ("embedded", "aws")


class Api:
    """Vigil's HTTP API as one tenant's admin (or `token`'s holder) sees it."""

    def __init__(self, base: str, api_key: str, ingest_token: str, tenant: str) -> None:
        self.base = base
        self.api_key = api_key
        self.ingest_token = ingest_token
        self.tenant = tenant

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token or self.api_key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path} -> {e.code}: {e.read()[:500]!r}") from None
        return json.loads(text) if text else {}

    def hook(self, kind: str, body: object) -> dict:
        return self.call("POST", f"/hooks/{self.tenant}/{kind}", body, token=self.ingest_token)


def wait_for(what: str, probe, timeout: float = 20.0):
    """`probe()`'s first truthy value; queues are consumed in the background."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


class VigilServe:
    """`vigil serve` on a backend of its own; `run` invokes the CLI on the same data."""

    def __init__(
        self,
        vigil: str,
        backend: str = "embedded",
        *,
        aws_endpoint: str | None = None,
        env: dict[str, str] | None = None,
        label: str = "serve",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")
        if backend == "aws" and not aws_endpoint:
            raise ValueError("the aws backend needs the emulator's endpoint (VIGIL_TEST_AWS_ENDPOINT)")
        self.vigil = str(Path(vigil).resolve())
        self.backend = backend
        self.work = Path(tempfile.mkdtemp(prefix=f"vigil-{label}."))
        self.data_dir = self.work / "data"
        self.log_path = self.work / "serve.log"
        self.env = self._environment(backend, aws_endpoint, env or {})
        self.url = ""
        self._server: subprocess.Popen | None = None

    @staticmethod
    def _environment(backend: str, aws_endpoint: str | None, extra: dict[str, str]) -> dict[str, str]:
        # Vigil's settings come from the caller of this module only, never from the shell.
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env.update(NO_PROXY=LOOPBACK, no_proxy=LOOPBACK, VIGIL_LOG=os.environ.get("VIGIL_LOG", "warn"))
        if backend == "aws":
            env.update(
                VIGIL_STORE="aws",
                # Resources of its own, so runs on one emulator never see each other's data.
                VIGIL_RESOURCE_PREFIX="t" + secrets.token_hex(5),
                AWS_ENDPOINT_URL=aws_endpoint or "",
                AWS_REGION="us-east-1",
                AWS_ACCESS_KEY_ID="test",
                AWS_SECRET_ACCESS_KEY="test",
                AWS_EC2_METADATA_DISABLED="true",
            )
        # The receivers tests start listen on loopback: channels may send there unless the
        # caller gives its own list.
        env.update(VIGIL_EGRESS_ALLOW="127.0.0.0/8,::1/128")
        env.update(extra)
        return env

    def run(self, *args: str) -> str:
        """The CLI on this server's data; its standard output."""
        done = subprocess.run(
            [self.vigil, "--data-dir", str(self.data_dir), *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"vigil {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def run_json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "--json"))

    def create_tenant(self, name: str) -> Api:
        tenant = self.run_json("tenant", "create", name)
        return Api(self.url, tenant["api_key"], tenant["ingest_token"], tenant["tenant_id"])

    def start(self) -> VigilServe:
        if self.backend == "aws":
            self.run("infra", "bootstrap")
        self._server = subprocess.Popen(
            # No scheduled flows: the tests drive every effect through the API and the CLI, so
            # nothing changes behind them (the queue consumers still run).
            [self.vigil, "serve", "--addr", "127.0.0.1:0", "--data-dir", str(self.data_dir), "--flows", "none"],
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "wb"),
            env=self.env,
        )
        assert self._server.stdout is not None
        ready, _, _ = select.select([self._server.stdout], [], [], 60)
        first = self._server.stdout.readline().decode() if ready else ""
        match = re.search(r"(http://\S+)", first)
        if not match:
            self.stop(keep=True)
            raise RuntimeError(f"vigil serve did not print its URL (first line: {first!r}); log: {self.log_path}")
        self.url = match.group(1)
        stdout = self._server.stdout

        def drain() -> None:
            with open(self.log_path.with_suffix(".stdout"), "wb") as out:
                shutil.copyfileobj(stdout, out)

        threading.Thread(target=drain, daemon=True).start()
        return self

    def log_tail(self, lines: int = 40) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()[-lines:]

    def stop(self, keep: bool = False) -> None:
        """Stops the server; its directory (data, logs) stays when `keep`."""
        if self._server is not None:
            self._server.terminate()
            try:
                self._server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
            self._server = None
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)
