"""The overview's charts, the reports, the API reference and in-place updates (htmx) as a person
meets them in the browser. Each test runs once per backend (`console` fixture), checks the pages
it adds with axe-core and saves them as screenshots."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from axe_playwright_python.sync_playwright import Axe
from harness import DESKTOP, PHONE, Console, path_of, row_of, sign_in, wait_for
from playwright.sync_api import Page, expect

CHARTS = (
    "Failure rate of automation runs per day, last 7 days",
    "Credits used by automation runs per day, last 7 days",
)


def no_serious_violations(page: Page) -> None:
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, results.generate_report()


def test_the_overview_charts_the_last_seven_days(page: Page, console: Console) -> None:
    # GIVEN runs of the last days, one of them failed
    now = datetime.now(timezone.utc)
    runs = [
        {"run_id": f"ov-{console.backend}-{n}", "scenario_id": "OVERVIEW", "status": status,
         "credits_total": credits, "timestamp": (now - timedelta(hours=hours)).isoformat(),
         "has_idempotency_key": True}
        for n, (status, credits, hours) in enumerate(
            [("success", 12.5, 1), ("failed", 2.0, 2), ("success", 10.0, 30), ("success", 8.0, 50)])
    ]
    console.admin.hook("runs", runs)
    # WHEN the admin signs in
    sign_in(page, console.admin.api_key)
    # THEN the overview shows both charts, each named for screen readers with a table of its days
    assert path_of(page) == "/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    for name in CHARTS:
        expect(page.get_by_role("img", name=name)).to_be_visible()
        table = page.get_by_role("table", name=name)
        expect(table.locator("tbody tr")).to_have_count(7)
    # (nothing wider than the phone: the charts' tables for screen readers stay out of sight)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(DESKTOP)
    # AND the approvals waiting and yesterday's summary have their places
    expect(page.get_by_role("link", name="approvals waiting").or_(
        page.get_by_role("link", name="approval waiting"))).to_be_visible()
    expect(page.get_by_role("heading", name="Yesterday")).to_be_visible()
    no_serious_violations(page)
    console.screenshot(page, "overview-charts")


def test_a_report_reads_as_a_page_with_its_digest(page: Page, console: Console) -> None:
    # GIVEN yesterday's summary and last week's review, made as the schedule makes them
    console.server.run("summary", "daily")
    console.server.run("weekly-review")
    daily = console.admin.call("GET", "/api/v1/reports?kind=daily_summary")["items"][0]
    weekly = console.admin.call("GET", "/api/v1/reports?kind=weekly_review")["items"][0]
    sign_in(page, console.admin.api_key)

    # WHEN the reports are listed THEN the daily summary is there, and the weekly review by its kind
    page.goto("/reports")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    expect(row_of(page, daily["id"])).to_be_visible()
    no_serious_violations(page)
    console.screenshot(page, "reports")
    page.get_by_label("Kind").select_option("weekly_review")
    page.get_by_role("button", name="Show").click()
    expect(row_of(page, weekly["id"])).to_be_visible()

    # WHEN the review is opened THEN it reads in sections and tables, with its digest explained
    row_of(page, weekly["id"]).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Weekly review")
    assert path_of(page) == f"/reports/{weekly['id']}"
    for section in ("Overall", "Highlights", "Watch", "The figures", "Digest"):
        expect(page.get_by_role("heading", level=2, name=section)).to_be_visible()
    expect(page.get_by_role("table", name="Runs of the week")).to_be_visible()
    expect(page.locator("code.digest")).to_have_text(weekly["digest"])
    expect(page.get_by_text("The SHA-256 of this report")).to_be_visible()
    no_serious_violations(page)
    console.screenshot(page, "report-weekly")

    page.goto(f"/reports/{daily['id']}")
    expect(page.get_by_role("table", name="Payments and subscriptions")).to_be_visible()
    expect(page.locator("code.digest")).to_have_text(daily["digest"])
    no_serious_violations(page)
    console.screenshot(page, "report-daily")


def test_the_api_reference_shows_every_operation(page: Page, console: Console) -> None:
    # GIVEN the served OpenAPI document
    document = console.admin.call("GET", "/api/v1/openapi.json")
    # WHEN a viewer opens the API reference
    sign_in(page, console.viewer_key)
    page.goto("/api-reference")
    # THEN every path is there, grouped under its tag, and a section link leads to its operations
    expect(page.get_by_role("heading", level=1)).to_have_text("API reference")
    shown = set(page.locator("code.path").all_text_contents())
    assert set(document["paths"]) <= shown, set(document["paths"]) - shown
    page.get_by_role("navigation", name="API sections").get_by_role("link", name="inbox", exact=True).click()
    assert path_of(page).endswith("#tag-inbox")
    expect(page.get_by_role("heading", level=2, name="inbox", exact=True)).to_be_in_viewport()
    no_serious_violations(page)
    # (its first screenful: the whole reference is many thousands of pixels long)
    page.evaluate("() => window.scrollTo(0, 0)")
    console.screenshot(page, "api-reference", whole=False)


def test_an_inbox_action_happens_in_place(page: Page, console: Console) -> None:
    # GIVEN an open inbox item, and an admin on the inbox, with htmx loaded
    item = console.open_item("Browser check: acknowledged in place")
    sign_in(page, console.admin.api_key)
    page.goto("/inbox")
    page.wait_for_function("() => window.htmx !== undefined")
    # (a mark on this document: a full page load would lose it)
    page.evaluate("() => { window.vigilStayed = true }")
    # The loading indicator keeps its place while hidden, so nothing moves when it shows.
    indicator = page.locator("#loading")
    expect(indicator).to_be_hidden()
    box = indicator.bounding_box()
    assert box and box["width"] > 0, "the indicator reserves no space"

    # WHEN the admin acknowledges the item
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/acknowledge")) as sent:
        row_of(page, item["id"]).get_by_role("button", name="Acknowledge", exact=True).click()

    # THEN the request went in place with the session's CSRF token in its header, the row says
    # so without a new page, and the API agrees
    headers = sent.value.headers
    assert headers.get("hx-request") == "true"
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert headers.get("x-csrf-token") == token
    expect(row_of(page, item["id"]).locator(".status")).to_have_text("acknowledged")
    assert page.evaluate("() => window.vigilStayed === true"), "the page was loaded anew"
    assert path_of(page) == "/inbox"
    wait_for("the item acknowledged", lambda: console.inbox_item(item["id"])["status"] == "acknowledged" or None)
