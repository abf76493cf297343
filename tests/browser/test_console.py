"""The console's pages as a person uses them: signing in and out, the overview, the inbox and its
actions by role, a forged action refused, the anomaly and inbox item pages, and no serious
accessibility violation. Each test runs once per backend (`console` fixture) and saves the pages
it visits as screenshots."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from harness import PHONE, Console, path_of, row_of, sign_in, wait_for
from playwright.sync_api import Browser, Page, expect

ACTIONS = ("Acknowledge", "Resolve", "Dismiss")
REDIRECTS = (302, 303, 307)


def test_signed_out_visitor_is_sent_to_sign_in(page: Page, console: Console) -> None:
    # GIVEN no session
    # WHEN the visitor asks for the overview
    answer = page.request.get("/", max_redirects=0)
    # THEN they are redirected to the sign-in page, which brings them back afterwards
    assert answer.status in REDIRECTS, f"GET / answered {answer.status}"
    assert re.sub(r"^https?://[^/]+", "", answer.headers["location"]) == "/sign-in?next=%2F"

    page.goto("/")
    assert path_of(page) == "/sign-in?next=%2F"
    key = page.get_by_label("API key")
    expect(key).to_have_attribute("id", "api_key")
    expect(key).to_have_attribute("name", "api_key")
    expect(key).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    console.screenshot(page, "sign-in")


def test_a_wrong_key_is_refused_on_the_sign_in_page(page: Page, console: Console) -> None:
    # GIVEN the sign-in page
    page.goto("/sign-in")
    # WHEN a key that is no key is entered
    page.get_by_label("API key").fill("vgl_ak_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    # THEN an alert says so and the visitor stays on the sign-in page
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("alert")).not_to_be_empty()
    assert path_of(page).startswith("/sign-in")
    expect(page.get_by_label("API key")).to_be_visible()
    console.screenshot(page, "sign-in-refused")


def test_an_admin_lands_on_the_overview(page: Page, console: Console) -> None:
    # GIVEN an admin key
    # WHEN its holder signs in
    sign_in(page, console.admin.api_key)
    # THEN the overview shows, with the main navigation and a way out
    assert path_of(page) == "/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Overview", exact=True)).to_be_visible()
    expect(navigation.get_by_role("link", name="Inbox", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    console.screenshot(page, "overview")


def test_an_admin_resolves_an_inbox_item(page: Page, console: Console) -> None:
    # GIVEN an open inbox item, and an admin on the inbox
    item = console.open_item("Browser check: resolved from the inbox")
    sign_in(page, console.admin.api_key)
    page.goto("/inbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    # Every row is an item with its title; every open one offers the three actions.
    listed = {i["id"]: i for i in console.admin.call("GET", "/api/v1/inbox?limit=200")["items"]}
    rows = page.locator("table tbody tr[data-id]")
    expect(rows.first).to_be_visible()
    for row_id in [rows.nth(n).get_attribute("data-id") for n in range(rows.count())]:
        assert row_id in listed, f"row {row_id} is no inbox item of the tenant"
        row = row_of(page, row_id)
        expect(row).to_contain_text(listed[row_id]["title"])
        if listed[row_id]["status"] == "open":
            for action in ACTIONS:
                expect(row.get_by_role("button", name=action, exact=True)).to_be_visible()
    console.screenshot(page, "inbox")

    # WHEN the admin resolves the item
    with page.expect_navigation():
        row_of(page, item["id"]).get_by_role("button", name="Resolve", exact=True).click()

    # THEN the inbox shows it resolved, with nothing left to resolve, and the API agrees
    assert path_of(page) == "/inbox"
    row = row_of(page, item["id"])
    expect(row).to_contain_text("resolved")
    expect(row.get_by_role("button", name="Resolve", exact=True)).to_have_count(0)
    assert console.inbox_item(item["id"])["status"] == "resolved"
    console.screenshot(page, "inbox-resolved")


def test_a_viewer_sees_the_inbox_but_cannot_act(page: Page, console: Console) -> None:
    # GIVEN an open inbox item, and a viewer on the inbox
    item = console.open_item("Browser check: left open by a viewer")
    sign_in(page, console.viewer_key)
    page.goto("/inbox")
    # THEN the viewer sees the item, and no action
    expect(row_of(page, item["id"])).to_contain_text(item["title"])
    for action in ACTIONS:
        expect(page.get_by_role("button", name=action, exact=True)).to_have_count(0)
    console.screenshot(page, "inbox-viewer")

    # WHEN the viewer's page forges the resolve action, without and then with its CSRF token
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token, "the page carries no CSRF token"
    forged = [
        # A form post as another site's page would send it: no token.
        page.request.post(f"/inbox/{item['id']}/resolve", form={}, max_redirects=0),
        page.request.post(f"/inbox/{item['id']}/resolve", form={"csrf": token}, max_redirects=0),
    ]
    # THEN both are forbidden and the item is unchanged
    assert [answer.status for answer in forged] == [403, 403]
    assert console.inbox_item(item["id"])["status"] == "open"


def test_anomalies_and_inbox_items_have_pages_of_their_own(page: Page, console: Console) -> None:
    # GIVEN the demo anomalies and an inbox item
    item = console.open_item("Browser check: a page of its own")
    anomalies = console.admin.call("GET", "/api/v1/anomalies")["items"]
    assert anomalies, "the demo seed opened no anomaly"
    sign_in(page, console.admin.api_key)
    # THEN the anomalies list shows each, and each anomaly and inbox item has its page
    page.goto("/anomalies")
    expect(page.get_by_role("heading", level=1)).to_have_text("Anomalies")
    for anomaly in anomalies:
        expect(row_of(page, anomaly["id"])).to_contain_text(anomaly["title"])
    console.screenshot(page, "anomalies")
    page.goto(f"/anomalies/{anomalies[0]['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(anomalies[0]["title"])
    console.screenshot(page, "anomaly")

    # WHEN an open demo anomaly is acknowledged with a note on its page
    anomaly = next(a for a in anomalies if a["status"] == "open")
    page.goto(f"/anomalies/{anomaly['id']}")
    page.get_by_label("Note (optional)").fill("Looking into it from the browser")
    with page.expect_navigation():
        page.get_by_role("button", name="Acknowledge").click()
    # THEN the page and the API say acknowledged, and its history shows who and why
    expect(page.locator("dd.status")).to_have_text("acknowledged")
    expect(page.get_by_role("table")).to_contain_text("Looking into it from the browser")
    stored = console.admin.call("GET", f"/api/v1/anomalies/{anomaly['id']}")
    assert stored["status"] == "acknowledged", stored
    console.screenshot(page, "anomaly-acknowledged")
    page.goto(f"/inbox/{item['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(item["title"])
    console.screenshot(page, "inbox-item")


def test_an_approval_is_decided_at_phone_width(page: Page, console: Console) -> None:
    # GIVEN a run of a gated workflow waiting for approval
    flow = console.admin.call("POST", "/api/v1/workflows", {
        "name": "Gated in the browser", "triggers": [{"type": "message_received"}],
        "steps": [{"type": "approval", "timeout_minutes": 60},
                  {"type": "create_task", "title": "Call {{client.id}}"}]})
    console.admin.hook("events", {
        "id": f"msg_{flow['id']}", "type": "message.received", "occurred_at": "2026-12-08T00:00:00Z",
        "subject": {"client_id": "c_phone"}, "data": {"text": "hello"}})

    def waiting() -> dict | None:
        items = console.admin.call("GET", "/api/v1/approvals?limit=200")["items"]
        return next((a for a in items if a["workflow_id"] == flow["id"]), None)

    approval = wait_for("the approval request", waiting)

    # WHEN an admin approves it on a phone-sized screen
    page.set_viewport_size(PHONE)
    sign_in(page, console.admin.api_key)
    page.goto("/approvals")
    expect(page.get_by_role("heading", level=1)).to_have_text("Approvals")
    card = page.locator(f'[data-run="{approval["run_id"]}"]')
    expect(card).to_contain_text("c_phone")
    # (nothing wider than the phone: no sideways scrolling)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    console.screenshot(page, "approvals")
    page.set_viewport_size(PHONE)
    with page.expect_navigation():
        card.get_by_role("button", name="Approve").click()

    # THEN the run goes on and completes, and the request has left the queue
    def completed() -> dict | None:
        run = console.admin.call("GET", f"/api/v1/workflows/runs/{approval['run_id']}")
        return run if run["status"] == "completed" else None

    wait_for("the approved run to complete", completed)
    expect(page.locator(f'[data-run="{approval["run_id"]}"]')).to_have_count(0)


def test_signing_out_ends_the_session(browser: Browser, page: Page, console: Console) -> None:
    # GIVEN a signed-in admin, whose session cookie opens the inbox from anywhere
    sign_in(page, console.admin.api_key)
    cookies = page.context.cookies()
    assert cookies, "signing in set no cookie"
    elsewhere = browser.new_context(base_url=console.url)
    try:
        elsewhere.add_cookies(cookies)
        assert elsewhere.request.get("/inbox", max_redirects=0).status == 200

        # WHEN they sign out
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()

        # THEN the old cookie no longer opens the inbox
        answer = elsewhere.request.get("/inbox", max_redirects=0)
        assert answer.status in REDIRECTS, f"GET /inbox after sign-out answered {answer.status}"
        assert re.sub(r"^https?://[^/]+", "", answer.headers["location"]).startswith("/sign-in")
    finally:
        elsewhere.close()


def test_pages_have_no_serious_accessibility_violations(page: Page, console: Console) -> None:
    axe = Axe()
    found: list[str] = []

    def check(path: str) -> None:
        page.goto(path)
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [" ".join(node["target"]) for node in violation["nodes"]]
                found.append(f"{path}: {violation['impact']} {violation['id']}: {violation['help']} at {targets}")

    # GIVEN the sign-in page, then the pages behind it
    item = console.open_item("Browser check: read by axe")
    anomaly = console.admin.call("GET", "/api/v1/anomalies?limit=1")["items"][0]
    check("/sign-in")
    sign_in(page, console.admin.api_key)
    for path in ["/", "/inbox", f"/inbox/{item['id']}", "/anomalies", f"/anomalies/{anomaly['id']}", "/approvals"]:
        check(path)
    # THEN axe-core finds nothing serious or critical
    assert not found, "accessibility violations:\n" + "\n".join(found)
