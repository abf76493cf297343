"""The automation-run and scan pages as a person uses them: runs posted through the real ingest
hook, the run table filtered, a run's classification, a scenario's chart and its baseline set by
hand, a scan run now and read from the history, a viewer without controls, and no serious
accessibility violation. Each test runs once per backend (`console` fixture) and saves the pages
it visits as screenshots."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from axe_playwright_python.sync_playwright import Axe
from harness import PHONE, Console, path_of, row_of, sign_in
from playwright.sync_api import Page, expect

SCENARIO = "BROWSER-SYNC"


def seed_runs(console: Console) -> None:
    """Twelve steady runs, one failed and one costly looping run of one scenario, through
    `POST /hooks/{tenant}/runs` with the tenant's ingest token (a repeat stores nothing new)."""
    now = datetime.now(timezone.utc)

    def run(run_id: str, credits: float, minutes_ago: int, **more: object) -> dict:
        at = (now - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")
        return {
            "run_id": run_id,
            "scenario_id": SCENARIO,
            "scenario_name": "Browser sync",
            "platform": "n8n",
            "status": "success",
            "credits_total": credits,
            "has_idempotency_key": True,
            "execution_time_ms": 900,
            "timestamp": at.replace("+00:00", "Z"),
            **more,
        }

    steady = [run(f"BR-{n:02}", 10.0 + n % 3, 300 - n * 10) for n in range(12)]
    failed = run("BR-FAILED", 9.0, 20, status="failed", failed_action_name="Post to Slack", error_message="HTTP 500")
    console.admin.hook("runs", steady + [failed])
    console.admin.call("PUT", f"/api/v1/scenarios/{SCENARIO}/baseline", {"expected_credits": 10.0})
    console.admin.hook("runs", run("BR-COSTLY", 95.0, 5, retry_count=4))


def open_as_admin(page: Page, console: Console, path: str, heading: str) -> None:
    """Runs posted, an admin signed in, and `path` open with its heading."""
    seed_runs(console)
    sign_in(page, console.admin.api_key)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def test_the_run_table_filters_and_opens_a_run(page: Page, console: Console) -> None:
    # GIVEN runs posted by the platform, and an admin on the run table
    open_as_admin(page, console, "/runs", "Automation runs")
    expect(row_of(page, "BR-COSTLY")).to_contain_text("SEV1")
    expect(row_of(page, "BR-COSTLY")).to_contain_text("n8n")
    console.screenshot(page, "runs")

    # WHEN the table is filtered to failed runs of the scenario
    page.get_by_label("Scenario id").fill(SCENARIO)
    page.get_by_label("Status").select_option("failed")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    # THEN only the failed run is listed
    expect(page.locator("table tbody tr[data-id]")).to_have_count(1)
    expect(row_of(page, "BR-FAILED")).to_be_visible()

    # WHEN the costly run is opened from the table
    page.goto(f"/runs?scenario={SCENARIO}&severity=SEV1")
    page.get_by_role("link", name="BR-COSTLY").click()
    # THEN its classification, risk flags and recommended actions are shown in words
    assert path_of(page) == "/runs/BR-COSTLY"
    expect(page.get_by_role("heading", level=1)).to_have_text("Run BR-COSTLY")
    stored = console.admin.call("GET", "/api/v1/runs/BR-COSTLY")
    expect(page.get_by_text(stored["risk_summary"])).to_be_visible()
    expect(page.locator(".flags li", has_text="retry loop")).to_be_visible()
    for action in stored["recommended_actions"]:
        expect(page.get_by_role("listitem").filter(has_text=action)).to_be_visible()
    console.screenshot(page, "run")


def test_a_scenario_shows_its_chart_and_takes_a_baseline_by_hand(page: Page, console: Console) -> None:
    # GIVEN the scenario list, and the scenario of the posted runs
    open_as_admin(page, console, "/runs/scenarios", "Scenarios")
    console.screenshot(page, "scenarios")
    page.get_by_role("link", name="Browser sync").click()
    assert path_of(page) == f"/runs/scenarios/{SCENARIO}"

    # THEN its chart of credits per run says in words what it shows
    chart = page.get_by_role("img").first
    expect(chart).to_be_visible()
    assert "credits" in (chart.get_attribute("aria-label") or chart.inner_text()).lower()

    # WHEN the baseline is set by hand
    page.get_by_label("Credits a healthy run uses").fill("12.5")
    with page.expect_navigation():
        page.get_by_role("button", name="Set baseline").click()
    # THEN the page shows it as set by hand, and it is stored and in the audit log
    baseline = page.locator("dl.baseline")
    expect(baseline).to_contain_text("12.5")
    expect(baseline).to_contain_text("set by hand")
    scenario = console.admin.call("GET", f"/api/v1/scenarios/{SCENARIO}")
    assert (scenario["baseline"]["expected_credits"], scenario["baseline"]["source"]) == (12.5, "manual")
    audit = console.admin.call("GET", "/api/v1/audit?limit=200")["items"]
    assert any(e["action"] == "scenario.baseline.set" and e["target"] == SCENARIO for e in audit)
    console.screenshot(page, "scenario")
    # AND at phone width the page, chart included, does not scroll sideways
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_scan_run_now_appears_in_the_history(page: Page, console: Console) -> None:
    # GIVEN runs of a scenario, and an admin on the scans page
    open_as_admin(page, console, "/scans", "Scans")

    # WHEN a schedule with a timezone that is no IANA name is saved
    page.get_by_label("Timezone").fill("Mars/Olympus")
    page.get_by_label("At (local time)").fill("06:45")
    page.get_by_role("button", name="Save schedule").click()
    # THEN the problem is shown at the timezone field, with the values kept
    expect(page.locator("#timezone-error")).to_contain_text("not an IANA timezone name")
    expect(page.get_by_label("Timezone")).to_have_value("Mars/Olympus")
    expect(page.get_by_label("At (local time)")).to_have_value("06:45")
    console.screenshot(page, "scans-schedule-refused")

    # WHEN a scan is run now
    page.goto("/scans")
    with page.expect_navigation():
        page.get_by_role("button", name="Run a scan now").click()
    # THEN it heads the history, and its page lists the scenarios behind the score
    scan = console.admin.call("GET", "/api/v1/scans?limit=1")["items"][0]
    expect(row_of(page, scan["id"])).to_contain_text("run by hand")
    console.screenshot(page, "scans")
    row_of(page, scan["id"]).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scan of")
    expect(row_of(page, SCENARIO)).to_be_visible()
    scored = next(r for r in scan["results"] if r["scenario_id"] == SCENARIO)
    expect(row_of(page, SCENARIO).locator("td.score")).to_have_text(str(scored["score"]))
    console.screenshot(page, "scan")


def test_a_viewer_sees_the_pages_without_controls(page: Page, console: Console) -> None:
    # GIVEN a viewer
    seed_runs(console)
    sign_in(page, console.viewer_key)
    # WHEN they open the scenario and the scans pages THEN nothing there would change anything
    for path in (f"/runs/scenarios/{SCENARIO}", "/scans"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("main form[method=post]")).to_have_count(0)
        expect(page.get_by_role("button", name="Set baseline")).to_have_count(0)
        expect(page.get_by_role("button", name="Run a scan now")).to_have_count(0)


def test_run_and_scan_pages_have_no_serious_accessibility_violations(page: Page, console: Console) -> None:
    # GIVEN runs and a scan, and an admin signed in
    seed_runs(console)
    console.admin.call("POST", "/api/v1/scan-schedule/run-now")
    scan = console.admin.call("GET", "/api/v1/scans?limit=1")["items"][0]
    sign_in(page, console.admin.api_key)
    # WHEN axe-core reads each page
    paths = ["/runs", "/runs/BR-COSTLY", "/runs/scenarios", f"/runs/scenarios/{SCENARIO}", "/scans"]
    page.goto("/scans")
    paths.append(row_of(page, scan["id"]).get_by_role("link").get_attribute("href") or "/scans/missing")
    serious = []
    for path in paths:
        page.goto(path)
        results = Axe().run(page).response["violations"]
        serious += [f"{path}: {v['id']} ({v['impact']}): {v['help']}" for v in results if v["impact"] in ("serious", "critical")]
    # THEN none is serious or critical
    assert not serious, "\n".join(serious)
