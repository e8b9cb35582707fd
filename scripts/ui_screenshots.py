"""Screenshots of the web UI for docs/img/: a real service, a real worker, real rehearsals, Chromium.

    .venv/bin/python scripts/ui_screenshots.py [--out docs/img] [--rehearsals 4]

Makes a throwaway service database and a "production" database of tests/projects/service_sleep,
runs a few rehearsals of it (with different sleep times, so the trend has a shape), approves one,
leaves one running, and photographs the dashboard, the target's trends and a rehearsal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import PROJECTS, at_revision  # noqa: E402
from tests.service.conftest import PG, Service, drop_database, make_database  # noqa: E402
from tests.service.uikit import browser_login, launch, make_user  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--rehearsals", type=int, default=4)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    svc_db, src_db = make_database("svc_shots"), make_database("svc_shots_src")
    tmp = Path(tempfile.mkdtemp(prefix="rehearse-shots-"))
    at_revision(PROJECTS / "service_sleep" / "alembic.ini", f"{PG}/{src_db}", "sv01")
    service = Service(f"{PG}/{svc_db}", tmp)
    try:
        service.start_server()
        service.target("shop", source_db=src_db, approval_threshold="low")
        service.target("billing", source_db=src_db)
        pw = {n: make_user(service, n, r) for n, r in (("dana", "requester"), ("omar", "approver"))}
        tokens = {n: service.http.post("/api/tokens", json={"user": n}).json()["token"] for n in pw}
        done = []
        for i in range(args.rehearsals):
            service.env["SERVICE_SLEEP_S"] = str(0.3 + 0.4 * i)  # each rehearsal slower than the last
            worker = service.start_worker()
            rid = service.submit("shop", ref=f"release-{i + 1}", token=tokens["dana"])
            service.wait_for(rid, ("passed", "failed", "error"))
            done.append(rid)
            worker.terminate()
            worker.wait(timeout=60)
        service.http.post(f"/api/rehearsals/{done[-2]}/approve", json={"reason": "checked the lock on chores"},
                          headers={"Authorization": f"Bearer {tokens['omar']}"})
        service.env["SERVICE_SLEEP_S"] = "30"
        service.start_worker()
        running = service.submit("shop", ref="release-next", token=tokens["dana"])
        service.submit("billing", ref="main", token=tokens["dana"])  # queued behind the one worker
        service.wait_for(running, ("running",))
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            browser_login(page, service.base, "omar", pw["omar"])
            page.wait_for_function(f"document.querySelector('.live[data-events=\"{running}\"]') && "
                                   f"document.querySelector('.live[data-events=\"{running}\"]').textContent.length > 12")
            time.sleep(1.5)
            page.screenshot(path=str(args.out / "ui-dashboard.png"), full_page=True)
            page.goto(f"{service.base}/targets/shop")
            page.screenshot(path=str(args.out / "ui-target.png"), full_page=True)
            page.goto(f"{service.base}/rehearsals/{done[-1]}")
            page.wait_for_timeout(1500)  # the embedded report
            page.screenshot(path=str(args.out / "ui-rehearsal.png"), full_page=False)
            browser.close()
        print(f"wrote {', '.join(str(args.out / n) for n in ('ui-dashboard.png', 'ui-target.png', 'ui-rehearsal.png'))}")
    finally:
        service.close()
        drop_database(svc_db)
        drop_database(src_db)


if __name__ == "__main__":
    main()
