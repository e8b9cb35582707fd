"""The HTML report: self-contained, and it renders in a real browser (headless Chromium)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from rehearse.report import render
from rehearse.report.html import timeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium) and could not be used")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio"]


def run_chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-{uuid.uuid4().hex[:8]}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=2000", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line]


def test_html_is_self_contained(any_report):
    page = render(any_report, "html")
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r"url\((?!#)", page), "CSS must not fetch anything"
    assert not re.search(r"""src=["']https?://""", page)  # links to rule pages are fine; nothing is fetched
    assert all(m.startswith("https://") or m.startswith("#") for m in re.findall(r"""href=["']([^"']*)""", page))
    for rev in any_report.revisions:
        assert f'id="rev-{rev.id}"' in page


def test_html_escapes_user_text(built_report):
    rev = dataclasses.replace(built_report.revisions[0], message="<img src=x onerror=alert(1)>")
    page = render(dataclasses.replace(built_report, revisions=(rev,)), "html")
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_timeline_lanes(built_report):
    rev = built_report.revisions[7]  # ADD COLUMN's ACCESS EXCLUSIVE held through a 14.6 s UPDATE
    tl = timeline(rev.upgrade)
    assert [b.width for b in tl["statements"].bars][1] > 90
    lock_lanes = [lane for lane in tl["tables"] if lane.name == "public.users"]
    assert len(lock_lanes) == 2  # one per mode, strongest first
    assert lock_lanes[0].bars[0].kind == "lock-rw" and lock_lanes[0].bars[0].width > 99
    names = [lane.name for lane in tl["traffic"]]
    assert names == ["writes to public.users", "reads to public.users"]
    for lane in [tl["statements"], *tl["tables"], *tl["traffic"]]:
        for bar in lane.bars:
            assert 0 <= bar.left and bar.left + bar.width <= 100.001


@needs_chromium
def test_html_renders_in_chromium_without_console_errors(demo_report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(demo_report, "html"), encoding="utf-8")
    done = run_chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert not console_problems(done.stderr), console_problems(done.stderr)
    dom = done.stdout
    # Written by the page's script: proof it ran to the end.
    assert 'data-js="ready"' in dom
    n = len(demo_report.revisions)
    assert f"Showing {n} of {n} revisions" in dom


@needs_chromium
@pytest.mark.parametrize("fixture", ["queries_report", "rewrites_report"])
def test_the_sections_of_real_runs_render_in_chromium(fixture, request, tmp_path):
    """Production's queries, app checks, --scale, --setting, --target-version and rewrites, in a real browser."""
    report = request.getfixturevalue(fixture)
    page = tmp_path / "report.html"
    page.write_text(render(report, "html"), encoding="utf-8")
    done = run_chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert not console_problems(done.stderr), console_problems(done.stderr)
    assert 'data-js="ready"' in done.stdout
    for section, present in (("production-queries", report.queries), ("app-checks", report.app_checks),
                             ("scale", report.scale), ("settings-change", report.settings_change),
                             ("version-change", report.version_change)):
        assert (f'id="{section}"' in done.stdout) == bool(present), section


@needs_chromium
def test_console_error_detection_works(tmp_path):
    """The check above must be able to fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    done = run_chromium(page, tmp_path, "--dump-dom")
    assert console_problems(done.stderr)


@needs_chromium
def test_html_screenshot(demo_report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(demo_report, "html"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    done = run_chromium(page, tmp_path, "--hide-scrollbars", "--window-size=1280,1600", f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
