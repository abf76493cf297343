"""The workflow pages as a person uses them: a two-trigger workflow with an IF/ELSE and an
approval built in the builder (no script: every button posts the form back), test mode's trace,
the workflow triggered by a real event, its approval decided at phone width from a queue that
says what comes next, and the run's timeline; every workflow page photographed and checked by
axe-core. Each test runs once per backend (`console` fixture)."""

from __future__ import annotations

import uuid

from axe_playwright_python.sync_playwright import Axe
from harness import PHONE, Console, path_of, sign_in, wait_for
from playwright.sync_api import Page, expect


def post(page: Page, button) -> None:
    """Clicks a builder button: the form is posted and the page comes back changed."""
    with page.expect_navigation():
        button.click()


def build_two_trigger_workflow(page: Page, console: Console, name: str, word: str) -> str:
    """Builds the workflow in the builder and saves it; its id."""
    page.goto("/workflows")
    post(page, page.get_by_role("link", name="New workflow"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New workflow")
    page.get_by_label("Name").fill(name)

    # two triggers, both must hold: a message with the word, from a client with a low health score
    page.get_by_label("Type of trigger 1").select_option("message_received")
    post(page, page.get_by_role("button", name="Show the fields of trigger 1's type"))
    page.get_by_label("Contains (optional)").fill(word)
    post(page, page.get_by_role("button", name="Add a trigger"))
    page.get_by_label("Type of trigger 2").select_option("kpi_threshold")
    post(page, page.get_by_role("button", name="Show the fields of trigger 2's type"))
    page.get_by_label("Metric").fill("health_score")
    page.get_by_label("Operator").select_option("below")
    page.get_by_label("Value", exact=True).fill("50")
    expect(page.get_by_role("button", name="Add a trigger")).to_have_count(0)

    # step 1 notes the message; step 2 is an IF/ELSE on the client's revenue
    page.locator('[name="s.0.f.title"]').fill("Note {{client.name}}'s message")
    post(page, page.get_by_role("button", name="Add an IF/ELSE to the end"))
    page.get_by_label("Field 1", exact=True).fill("client.mrr")
    page.get_by_label("Comparison 1", exact=True).select_option("greater_than")
    page.get_by_label("Value 1", exact=True).fill("1000")
    page.locator('[name="s.1.then.0.f.title"]').fill("Escalate {{client.name}}")
    # else: an approval, then a call
    post(page, page.get_by_role("button", name="Add an approval to the else branch of step 2"))
    post(page, page.get_by_role("button", name="Add an action to the else branch of step 2"))
    page.locator('[name="s.1.else.1.f.title"]').fill("Call {{client.name}}")
    expect(page.get_by_label("What step 2 · else · step 1 does")).to_have_value("approval")
    console.screenshot(page, "workflow-builder")

    post(page, page.get_by_role("button", name="Save workflow").first)
    assert path_of(page).startswith("/workflows/wf_"), path_of(page)
    return path_of(page).removeprefix("/workflows/")


def test_a_workflow_is_built_tested_triggered_and_approved_from_a_phone(page: Page, console: Console) -> None:
    # GIVEN a client with a low health score and a small revenue, and an admin signed in
    client = f"c_wf_{uuid.uuid4().hex[:8]}"
    word = f"help-{client}"
    console.admin.call("POST", "/api/v1/clients", {
        "id": client, "name": "Browser Ltd", "mrr": 200, "metrics": {"health_score": 30}})
    sign_in(page, console.admin.api_key)

    # WHEN the admin builds a two-trigger workflow with an IF/ELSE and an approval, and saves it
    flow = build_two_trigger_workflow(page, console, f"Follow up {client}", word)

    # THEN it exists through the API as built
    stored = console.admin.call("GET", f"/api/v1/workflows/{flow}")
    assert [t["type"] for t in stored["triggers"]] == ["message_received", "kpi_threshold"]
    assert stored["steps"][1]["else"][0]["type"] == "approval"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Follow up {client}")

    # WHEN test mode runs it for the client
    page.get_by_label("Client id").fill(client)
    page.get_by_label("What the trigger carries (JSON)").fill(f'{{"type": "message.received", "text": "{word}"}}')
    post(page, page.get_by_role("button", name="Test", exact=True))
    # THEN the trace shows each step as a run would take it, and nothing was written
    trace = page.locator("ol.trace")
    expect(trace).to_contain_text("Create the task “Note Browser Ltd's message”")
    expect(trace).to_contain_text("The condition does not hold: the else branch")
    expect(trace).to_contain_text("Wait for an approval")
    expect(trace).to_contain_text("Create the task “Call Browser Ltd”")
    assert console.admin.call("GET", f"/api/v1/workflows/{flow}/runs")["items"] == []
    console.screenshot(page, "workflow")

    # WHEN a message with the word arrives for the client, as a real event does
    console.admin.hook("events", {
        "id": f"msg_{client}", "type": "message.received", "occurred_at": "2026-12-08T00:00:00Z",
        "subject": {"client_id": client}, "data": {"text": f"we need {word} please"}})

    def waiting() -> dict | None:
        items = console.admin.call("GET", "/api/v1/approvals?limit=200")["items"]
        return next((a for a in items if a["workflow_id"] == flow), None)

    approval = wait_for("the run's approval request", waiting)

    # THEN on a phone-sized screen the queue says what approving leads to, without sideways scroll
    page.set_viewport_size(PHONE)
    page.goto("/approvals")
    card = page.locator(f'[data-run="{approval["run_id"]}"]')
    expect(card.locator("ol.next-steps")).to_have_text("Create the task “Call Browser Ltd”")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    console.screenshot(page, "approvals-next-steps")
    page.set_viewport_size(PHONE)

    # WHEN it is approved there
    post(page, card.get_by_role("button", name="Approve"))

    # THEN the run completes, and its page shows the timeline of each step
    def completed() -> dict | None:
        run = console.admin.call("GET", f"/api/v1/workflows/runs/{approval['run_id']}")
        return run if run["status"] == "completed" else None

    wait_for("the approved run to complete", completed)
    page.goto(f"/workflows/runs/{approval['run_id']}")
    expect(page.locator("dd.status")).to_have_text("completed")
    timeline = page.locator("ol.timeline > li")
    expect(timeline).to_have_count(4)
    expect(timeline.nth(0)).to_contain_text("create_task: done")
    expect(timeline.nth(1)).to_contain_text("if: condition did not hold: else")
    expect(timeline.nth(2)).to_contain_text("approval: approved")
    expect(timeline.nth(3)).to_contain_text("create_task: done")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    console.screenshot(page, "workflow-run")


def test_the_workflow_list_and_templates_lead_to_the_builder(page: Page, console: Console) -> None:
    # GIVEN an admin signed in
    sign_in(page, console.admin.api_key)
    # WHEN they open the templates gallery and use a template
    page.goto("/workflows")
    expect(page.get_by_role("heading", level=1)).to_have_text("Workflows")
    console.screenshot(page, "workflows")
    post(page, page.get_by_role("link", name="Templates"))
    console.screenshot(page, "workflow-templates")
    post(page, page.get_by_role("link", name="Use the template Weekly client digest"))
    # THEN the builder holds it, with the schedule's next five times in its timezone
    expect(page.get_by_label("Name")).to_have_value("Weekly client digest")
    expect(page.get_by_label("Cron")).to_have_value("0 9 * * MON")
    times = page.locator(".next-times li")
    expect(times).to_have_count(5)
    expect(times.first).to_contain_text("Monday")
    expect(times.first).to_contain_text("at 09:00 (CST)")
    console.screenshot(page, "workflow-builder-template")


def test_workflow_pages_have_no_serious_accessibility_violations(page: Page, console: Console) -> None:
    # GIVEN a workflow with a run, and an admin signed in
    flow = console.admin.call("POST", "/api/v1/workflows", {
        "name": "Checked by axe", "triggers": [{"type": "message_received", "contains": "axe-check"}],
        "steps": [{"type": "create_task", "title": "Read it"},
                  {"type": "if", "condition": {"field": "client.mrr", "operator": "exists"},
                   "then": [{"type": "delay", "minutes": 5}], "else": [{"type": "approval"}]}]})
    console.admin.hook("events", {
        "id": f"msg_axe_{flow['id']}", "type": "message.received", "occurred_at": "2026-12-08T00:00:00Z",
        "subject": {"client_id": "c_axe"}, "data": {"text": "axe-check"}})

    def a_run() -> str | None:
        runs = console.admin.call("GET", f"/api/v1/workflows/{flow['id']}/runs")["items"]
        return runs[0]["run_id"] if runs else None

    run_id = wait_for("a run of the workflow", a_run)
    sign_in(page, console.admin.api_key)
    axe = Axe()
    found: list[str] = []
    # WHEN axe-core reads every workflow page
    for path in ["/workflows", "/workflows/new", "/workflows/templates", f"/workflows/{flow['id']}",
                 f"/workflows/{flow['id']}/edit", f"/workflows/runs/{run_id}", "/approvals"]:
        page.goto(path)
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [" ".join(node["target"]) for node in violation["nodes"]]
                found.append(f"{path}: {violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    # AND the builder showing a save's problems
    page.goto("/workflows/new")
    post(page, page.get_by_role("button", name="Save workflow").first)
    expect(page.get_by_role("alert")).to_contain_text("$.name")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            found.append(f"builder with problems: {violation['id']}: {violation['help']}")
    console.screenshot(page, "workflow-builder-problems")
    # THEN it finds nothing serious or critical
    assert not found, "accessibility violations:\n" + "\n".join(found)
