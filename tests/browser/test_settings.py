"""Settings and deliveries in a real browser: a webhook channel added that points at a receiver
this test runs on loopback, tested, and a test alert sent through the outbox that the receiver
gets and the deliveries page shows delivered; an API key created and shown once; the ingest URLs;
a viewer who reads but changes nothing; axe-core on every page, each photographed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from axe_playwright_python.sync_playwright import Axe
from harness import Console, path_of, row_of, sign_in, wait_for
from playwright.sync_api import Page, expect


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 204 and keeps each body it was sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                length = int(self.headers.get("content-length", "0"))
                bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def titled(self, title: str) -> dict | None:
        return next((b for b in self.bodies if title in json.dumps(b)), None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.close()


def no_serious_violations(page: Page) -> None:
    """axe-core on the page as it is: nothing serious or critical."""
    found = [
        f"{v['impact']} {v['id']}: {v['help']} at {[' '.join(n['target']) for n in v['nodes']]}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not found, f"{path_of(page)}: accessibility violations:\n" + "\n".join(found)


def look(page: Page, console: Console, name: str) -> None:
    """Checks the page with axe-core and photographs it at both widths."""
    no_serious_violations(page)
    console.screenshot(page, name)


def test_a_webhook_channel_gets_the_test_alert_and_the_delivery_shows_it(
    page: Page, console: Console, receiver: Receiver
) -> None:
    # GIVEN an admin on the channels page, and a receiver on loopback
    sign_in(page, console.admin.api_key)
    page.goto("/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    look(page, console, "settings")
    page.goto("/settings/channels")
    expect(page.get_by_role("heading", level=1)).to_have_text("Channels")

    # WHEN they add a webhook channel named default (where SEV2–SEV4 alerts are routed),
    # leaving its signing secret for Vigil to make
    page.get_by_label("Kind").select_option("webhook")
    page.get_by_label("Name").fill("default")
    page.get_by_label("URL (Slack and webhook)").fill(receiver.url)
    with page.expect_navigation():
        page.get_by_role("button", name="Add channel").click()

    # THEN the answer shows the secret made for it, once
    expect(page.get_by_role("heading", level=1)).to_have_text("Channel default added")
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    look(page, console, "settings-channel-added")

    # AND the channel is listed with its host and a secret that is set, never shown
    page.goto("/settings/channels")
    channel = next(c for c in console.admin.call("GET", "/api/v1/channels")["items"] if c["name"] == "default")
    row = row_of(page, channel["id"])
    expect(row).to_contain_text("webhook")
    expect(row).to_contain_text("127.0.0.1")
    assert secret[6:] not in page.content()
    look(page, console, "settings-channels")

    # WHEN "Send test" is pressed THEN the receiver gets the channel's test and the page says so
    with page.expect_navigation():
        row.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Delivered")
    wait_for("the channel's test at the receiver", lambda: receiver.titled("Test alert for channel default"))
    look(page, console, "settings-channel-test")

    # WHEN the alert settings' "Send test alert" is pressed
    page.goto("/settings/alerts")
    expect(page.get_by_label("Failed runs that alert")).to_have_value("3")
    look(page, console, "settings-alerts")
    with page.expect_navigation():
        page.get_by_role("button", name="Send test alert").click()

    # THEN the receiver gets it through the outbox, and its delivery page shows it sent
    assert path_of(page).startswith("/deliveries/ntf")
    wait_for("the test alert at the receiver", lambda: receiver.titled("Test failure alert"))

    def sent() -> bool:
        page.reload()
        return page.locator('tr[data-channel="default"] .status').text_content() == "sent"

    wait_for("the delivery shown as sent", sent)
    expect(page.get_by_role("heading", level=1)).to_have_text("Test failure alert")
    look(page, console, "delivery")
    notification = path_of(page).rsplit("/", 1)[1]
    page.goto("/deliveries")
    expect(row_of(page, notification)).to_contain_text("Test failure alert")
    look(page, console, "deliveries")
    page.goto("/deliveries/dead-letters")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dead letters")
    look(page, console, "dead-letters")

    # WHEN the channel is deleted through its confirmation page THEN it is gone
    page.goto("/settings/channels")
    with page.expect_navigation():
        row_of(page, channel["id"]).get_by_role("link", name="Delete").click()
    look(page, console, "settings-channel-delete")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete channel").click()
    expect(row_of(page, channel["id"])).to_have_count(0)


def test_an_api_key_is_shown_once_and_the_ingest_urls_are_copyable(page: Page, console: Console) -> None:
    # GIVEN an admin on the API keys page
    sign_in(page, console.admin.api_key)
    page.goto("/settings/keys")
    look(page, console, "settings-keys")
    # WHEN a viewer key is created
    page.get_by_label("Role").select_option("viewer")
    with page.expect_navigation():
        page.get_by_role("button", name="Create key").click()
    # THEN its secret is on the page, selectable, and works against the API
    key = page.get_by_label("API key").input_value()
    assert key.startswith("vgl_ak_")
    look(page, console, "settings-key-created")
    page.goto("/settings/keys")
    assert key not in page.content()

    # WHEN the ingest page is opened THEN each tool has the tenant's URL to copy
    page.goto("/settings/ingest")
    for tool, hook in [("Make", "runs"), ("n8n", "runs"), ("Zapier", "runs"), ("GoHighLevel", "events"), ("Stripe", "stripe")]:
        url = page.get_by_label(f"URL for {tool}")
        expect(url).to_have_value(f"{console.url}/hooks/{console.admin.tenant}/{hook}")
    look(page, console, "settings-ingest")


def test_routing_and_redaction_are_read_and_changed_in_forms(page: Page, console: Console) -> None:
    # GIVEN an admin on the routing page, where the default routing applies
    sign_in(page, console.admin.api_key)
    page.goto("/settings/routing")
    expect(page.get_by_role("heading", level=1)).to_have_text("Routing and redaction")
    look(page, console, "settings-routing")
    # WHEN a redaction pattern that is no regular expression is saved
    page.get_by_label("Extra patterns").fill("(unclosed")
    page.get_by_role("button", name="Save redaction").click()
    # THEN the problem is announced and shown at the field, which keeps what was typed
    patterns = page.get_by_label("Extra patterns")
    expect(patterns).to_have_attribute("aria-invalid", "true")
    expect(patterns).to_have_value("(unclosed")
    expect(page.get_by_role("alert")).to_be_visible()
    look(page, console, "settings-redaction-refused")
    page.goto("/settings/rules")
    expect(page.get_by_role("heading", level=1)).to_have_text("Revenue rules")
    look(page, console, "settings-rules")


def test_a_viewer_reads_settings_without_controls(page: Page, console: Console) -> None:
    # GIVEN a viewer
    sign_in(page, console.viewer_key)
    # WHEN they open the channels and alert settings THEN nothing there would change anything
    page.goto("/settings/channels")
    expect(page.get_by_role("button", name="Add channel")).to_have_count(0)
    expect(page.get_by_role("button", name="Send test")).to_have_count(0)
    look(page, console, "settings-channels-viewer")
    page.goto("/settings/alerts")
    expect(page.get_by_role("button", name="Save alert settings")).to_have_count(0)
    expect(page.get_by_role("button", name="Send test alert")).to_have_count(0)
    # AND a forged post with the viewer's own token is refused
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post("/settings/keys", form={"csrf": token, "role": "admin"}, max_redirects=0)
    assert answer.status == 403
