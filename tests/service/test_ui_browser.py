"""The web UI in real headless Chromium (Playwright from PyPI, Debian's chromium) against the real
server and a real worker: sign in, submit, watch the live progress, read the charts, approve as an
approver, be refused as the requester, find both in the audit log; no console error on any page."""

from __future__ import annotations

import re

import playwright.sync_api as sync_api  # a test extra: missing it is a set-up error, not a skip
import pytest

from .uikit import browser_login, launch, make_user


class Watched:
    """A browser page whose console errors and uncaught exceptions are collected (and must stay empty)."""

    def __init__(self, context) -> None:
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda msg: self.problems.append(f"console {msg.type}: {msg.text}")
                     if msg.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))


@pytest.fixture()
def chromium():
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


def test_sign_in_submit_watch_progress_charts_and_approvals(service, source_db, chromium):
    expect = sync_api.expect
    service.target("shop", source_db=source_db(), approval_threshold="low")  # every passed rehearsal needs sign-off
    pw = {name: make_user(service, name, role) for name, role in
          (("rhea", "requester"), ("abe", "approver"), ("amy", "approver"))}
    service.env["SERVICE_SLEEP_S"] = "3"
    service.start_worker()
    base = service.base

    # rhea, a requester, submits from the dashboard and watches it run, live
    rhea = Watched(chromium.new_context())
    browser_login(rhea.page, base, "rhea", pw["rhea"])
    rhea.page.fill("#submit input[name=ref]", "main")
    rhea.page.click("#submit button")
    rhea.page.wait_for_url(re.compile(r"/rehearsals/\d+$"))
    first = int(rhea.page.url.rsplit("/", 1)[1])
    expect(rhea.page.locator("#log")).to_contain_text("started: run --alembic-ini", timeout=120_000)
    # the log grows from the events stream while the page stays open, then the page shows the outcome
    expect(rhea.page.locator("#status")).to_contain_text("passed", timeout=180_000)
    expect(rhea.page.locator("#log")).to_contain_text("finished: passed")
    expect(rhea.page.locator("#approval")).to_contain_text("awaiting approval")
    assert rhea.page.locator("#approve").count() == 0  # no sign-off form for a requester
    expect(rhea.page.locator("iframe.report")).to_be_visible()
    expect(rhea.page.frame_locator("iframe.report").locator("h1")).to_contain_text("rehearse report")
    formats = rhea.page.locator(".downloads a").all_inner_texts()
    assert formats == ["html", "markdown", "json", "junit", "sarif"]

    # the dashboard follows a running rehearsal on the events stream
    abe = Watched(chromium.new_context())
    browser_login(abe.page, base, "abe", pw["abe"])
    abe.page.fill("#submit input[name=ref]", "main")
    abe.page.click("#submit button")
    abe.page.wait_for_url(re.compile(r"/rehearsals/\d+$"))
    second = int(abe.page.url.rsplit("/", 1)[1])
    rhea.page.goto(f"{base}/")
    live = rhea.page.locator(f'.live[data-events="{second}"]')
    expect(live).to_be_visible(timeout=120_000)
    shown = live.inner_text()
    expect(live).not_to_have_text(shown, timeout=60_000)  # a newer progress line arrived on the stream
    expect(rhea.page.locator(f'#recent tr[data-id="{second}"]')).to_be_visible(timeout=180_000)  # ended: refreshed
    assert rhea.page.locator(f'.live[data-events="{second}"]').count() == 0

    # abe may not approve his own rehearsal: the page says so, and a forged post is refused and logged
    abe.page.goto(f"{base}/rehearsals/{second}")
    expect(abe.page.locator("#status")).to_contain_text("passed", timeout=180_000)
    expect(abe.page.locator("#approval")).to_contain_text("You requested this rehearsal")
    refused = abe.page.evaluate("""async (rid) => {
        const r = await fetch(`/api/rehearsals/${rid}/approve`, {method: "POST", headers: {
            "content-type": "application/json", "x-csrf-token": document.body.dataset.csrf},
            body: JSON.stringify({reason: "my own"})});
        return [r.status, await r.json()];
    }""", second)
    assert refused[0] == 403 and set(refused[1]) == {"what", "why", "hint"}
    # ...but he signs off rhea's, with a reason shown on the page
    abe.page.goto(f"{base}/rehearsals/{first}")
    abe.page.fill("#approval input[name=reason]", "sv02 only adds a nullable column")
    abe.page.click("#approve")
    expect(abe.page.locator("#approval")).to_contain_text("approved by abe: sv02 only adds a nullable column")

    # the target's trends: one point per rehearsal in each chart, budget lines drawn
    abe.page.goto(f"{base}/targets/shop")
    for chart in ("chart-duration", "chart-lock", "chart-size", "chart-data"):
        assert abe.page.locator(f"svg.{chart} circle.point").count() == 2, chart
    assert abe.page.locator("svg.chart-duration circle.point[data-series=sv02]").count() == 2
    assert abe.page.locator("svg.chart-lock line.budget").count() >= 1
    assert abe.page.locator("#history tbody tr").count() == 2
    abe.page.click("text=Compare a with b")
    expect(abe.page.locator("h1")).to_contain_text(f"#{first}")

    # the audit log has both, and exports them
    abe.page.goto(f"{base}/audit")
    expect(abe.page.locator('#audit tr[data-action="rehearsal.approve"]')).to_contain_text("abe")
    expect(abe.page.locator('#audit tr[data-action="rehearsal.approve.refused"]')).to_contain_text("abe")
    csv_text = abe.page.evaluate("async () => (await fetch(document.getElementById('export-csv').href)).text()")
    assert "rehearsal.approve," in csv_text and "rehearsal.approve.refused" in csv_text

    # a requester has no audit page and no settings
    rhea.page.goto(f"{base}/audit")
    expect(rhea.page.locator("h1")).to_contain_text("role requester may not do this")
    assert rhea.page.locator("nav >> text=Audit log").count() == 0

    for page in (abe.page, rhea.page):
        for path in ("/", "/rules", f"/rehearsals/{first}", "/targets/shop", f"/compare?a={first}&b={second}"):
            page.goto(base + path)
    # the only console lines allowed are Chromium's notes on the two 403 answers the test asked for
    expected = "the server responded with a status of 403"
    assert [p for p in abe.problems + rhea.problems if expected not in p] == [], (abe.problems, rhea.problems)
    assert len(abe.problems + rhea.problems) <= 2


def test_an_admin_edits_a_targets_run_options_on_its_page(service, chromium):
    expect = sync_api.expect
    from .conftest import PROJECTS
    service.http.post("/api/targets", json={"name": "shop", "project_path": str(PROJECTS / "app_check"),
                                            "snapshot": "/s"})
    pw = make_user(service, "ada", "admin")
    ada = Watched(chromium.new_context())
    browser_login(ada.page, service.base, "ada", pw)
    ada.page.goto(f"{service.base}/targets/shop")
    expect(ada.page.locator("#run-options")).to_contain_text("None: rehearsals run with the project's own")
    ada.page.fill("#run-options-form textarea", "scale: 1%,3%,10%\nsettings: {work_mem: 64MB}\n"
                                                "app_checks:\n  - {cmd: python smoke.py, env: APP_DB}\n")
    ada.page.click("#run-options-form button")
    ada.page.wait_for_url(f"{service.base}/targets/shop")
    expect(ada.page.locator('#run-options tr[data-option="scale"]')).to_contain_text("1%, 3%, 10%")
    expect(ada.page.locator('#run-options tr[data-option="settings"]')).to_contain_text("work_mem = 64MB")
    expect(ada.page.locator('#run-options tr[data-option="app_checks"]')).to_contain_text(
        "python smoke.py (URL in APP_DB)")
    # the form shows what is stored, so saving it again changes nothing
    assert "work_mem: 64MB" in ada.page.locator("#run-options-form textarea").input_value()
    # a refused change is an error page with the validator's own words
    ada.page.fill("#run-options-form textarea", "scale: 10%")
    ada.page.click("#run-options-form button")
    expect(ada.page.locator("main")).to_contain_text("at least two subset sizes")
    assert service.http.get("/api/targets/shop").json()["run_options"]["scale"] == [0.01, 0.03, 0.1]
    assert ada.problems == [] or all("status of 422" in p for p in ada.problems), ada.problems


def test_an_admin_disables_and_enables_a_user_on_the_admin_page(service, chromium):
    expect = sync_api.expect
    pw = make_user(service, "ada", "admin")
    make_user(service, "vic", "viewer")
    ada = Watched(chromium.new_context())
    browser_login(ada.page, service.base, "ada", pw)
    ada.page.goto(f"{service.base}/admin")
    row = ada.page.locator('#users tr[data-user="vic"]')
    expect(ada.page.locator('#users tr[data-user="ada"] button')).to_have_count(0)  # no button to disable yourself
    row.get_by_role("button", name="Disable").click()
    ada.page.wait_for_url(f"{service.base}/admin")
    expect(row).to_contain_text("disabled")
    expect(row).to_contain_text("by ada")
    assert next(u for u in service.http.get("/api/users").json() if u["name"] == "vic")["disabled_by"] == "ada"
    row.get_by_role("button", name="Enable").click()
    ada.page.wait_for_url(f"{service.base}/admin")
    expect(row).to_contain_text("enabled")
    assert [r["action"] for r in service.http.get("/api/audit", params={"actor": "ada"}).json()
            if r["action"].startswith("user.")] == ["user.disable", "user.enable"]
    assert ada.problems == [], ada.problems
