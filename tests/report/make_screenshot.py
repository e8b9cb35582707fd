"""Regenerate docs/report-screenshot.png from the demo report: python tests/report/make_screenshot.py"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(HERE)]

from report_demo import build_demo_report  # noqa: E402

from rehearse import model  # noqa: E402
from rehearse.report import render  # noqa: E402


def main() -> None:
    recorded = HERE / "data" / "demo_report.json"
    report = (model.report_from_dict(json.loads(recorded.read_text())) if recorded.exists()
              else build_demo_report())
    chromium = shutil.which("chromium") or sys.exit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="rh_shot_") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(render(report, "html"), encoding="utf-8")
        out = REPO / "docs" / "report-screenshot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp}/profile", "--hide-scrollbars", "--window-size=1280,1760",
                        f"--screenshot={out}", page.as_uri()], check=True, capture_output=True, timeout=120)
    print(out)


if __name__ == "__main__":
    main()
