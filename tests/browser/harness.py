"""What the browser tests share: how chromium is launched, the two screen sizes, and `Console`,
one backend's running Vigil with a tenant to sign in as (and the demo anomalies)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))

import re  # noqa: E402

from playwright.sync_api import Page  # noqa: E402
from vigil_serve import Api, VigilServe, wait_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# Playwright's own browser download cannot be reached from here: Debian's chromium, headless,
# with nothing that calls out (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, api_key: str) -> None:
    """Signs in through the page a signed-out visitor of `/` is sent to."""
    page.goto("/")
    page.get_by_label("API key").fill(api_key)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def row_of(page: Page, record_id: str):
    return page.locator(f'table tbody tr[data-id="{record_id}"]')


@dataclass
class Console:
    """One backend's running Vigil, with a tenant whose inbox has items."""

    backend: str
    server: VigilServe
    admin: Api
    viewer_key: str
    screenshots: Path

    @property
    def url(self) -> str:
        return self.server.url

    def inbox_item(self, item_id: str) -> dict:
        return self.admin.call("GET", f"/api/v1/inbox/{item_id}")

    def open_item(self, title: str) -> dict:
        """A new open inbox item: a test event, routed to the inbox by the dispatcher."""
        notification = self.admin.call("POST", "/api/v1/events/test", {"severity": "SEV3", "title": title})

        def delivered() -> dict | None:
            items = self.admin.call("GET", "/api/v1/inbox?limit=200")["items"]
            return next((i for i in items if i["notification_id"] == notification["id"]), None)

        return wait_for(f"the inbox item of {title!r}", delivered)

    def screenshot(self, page: Page, name: str, whole: bool = True) -> None:
        """The page as it is now, at desktop and phone size (only its first screenful when not
        `whole`: for pages too long to photograph in one piece)."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            page.screenshot(path=self.screenshots / f"{name}-{size['width']}x{size['height']}.png", full_page=whole)
        page.set_viewport_size(DESKTOP)
