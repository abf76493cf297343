"""The console in a real browser: Debian's chromium driven by Playwright, against a `vigil serve`
child per backend (embedded SQLite, and `--store aws` against the emulator at
VIGIL_TEST_AWS_ENDPOINT). A missing chromium, Playwright or emulator fails the run; nothing
here skips.

Run alone (after `cargo test` built target/debug/vigil, with moto up for the aws half):
    .venv/bin/python -m pytest tests/browser -p no:cacheprovider [-k embedded]
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Browser, sync_playwright
except ImportError as missing:  # a plain error, not a skip: the step must not pass without it
    raise ImportError(
        "Playwright is missing: install infra/requirements-test.txt into .venv (infra/test.sh does)"
    ) from missing

from harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, ROOT, Console, VigilServe  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    parser.addoption("--vigil", default=str(target / "debug" / "vigil"), help="the vigil binary")
    parser.addoption(
        "--screenshots",
        default=str(target / "console-screenshots"),
        help="where each page's screenshots go, one folder per backend",
    )


@pytest.fixture(scope="session", params=["embedded", "aws"])
def console(request: pytest.FixtureRequest):
    backend = request.param
    endpoint = os.environ.get("VIGIL_TEST_AWS_ENDPOINT")
    if backend == "aws" and not endpoint:
        pytest.fail("VIGIL_TEST_AWS_ENDPOINT is not set: start moto server (infra/test.sh does)")
    vigil = request.config.getoption("--vigil")
    if not Path(vigil).is_file():
        pytest.fail(f"{vigil} is missing: `cargo test` builds it")
    server = VigilServe(vigil, backend, aws_endpoint=endpoint, label=f"browser-{backend}").start()
    failed_before = request.session.testsfailed
    keep = True
    try:
        admin = server.create_tenant("Acme")
        viewer = server.run_json("key", "create", "--tenant", admin.tenant, "--role", "viewer")
        server.run("demo", "seed", "--tenant", admin.tenant)  # three anomalies for their pages
        yield Console(
            backend=backend,
            server=server,
            admin=admin,
            viewer_key=viewer["api_key"],
            screenshots=Path(request.config.getoption("--screenshots")) / backend,
        )
        keep = request.session.testsfailed > failed_before
    finally:
        if keep:
            # Past pytest's capture, whichever test failed: the cause is often in the server's log.
            capture = request.config.pluginmanager.get_plugin("capturemanager")
            with capture.global_and_fixture_disabled():
                print(f"\nvigil serve ({backend}): log tail; data and logs kept in {server.work}")
                for line in server.log_tail():
                    print("  " + line)
        server.stop(keep=keep)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (infra/test.sh does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, console: Console):
    """A fresh browser context (no cookies) on the console's URL."""
    context = browser.new_context(base_url=console.url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()
