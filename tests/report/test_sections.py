"""The HTML and terminal reports show what the Markdown report shows of issue #15 and #16's data.

The reports are real rehearsals (tests/report/record_reports.py), read back with the report's own
loader; every assertion compares the page with a value of that report, never with a number
written here. Hostile text is put into each section's fields to prove the page escapes it.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from pagetext import element_text

from rehearse import model
from rehearse.report import render
from rehearse.report._common import calls_rate, fmt_s, plan_scans, scale_rows, short_sql

HOSTILE = "<img src=x onerror=alert(1)>"


def _rev(report: model.Report, rev_id: str) -> model.RevisionResult:
    return next(r for r in report.revisions if r.id == rev_id)


def _broken(findings, moment: str) -> list[dict]:
    return [s for f in findings if f.code == "RH410" and f.evidence["moment"] == moment for s in f.evidence["shapes"]]


@pytest.fixture(scope="module")
def queries_page(queries_report) -> str:
    return render(queries_report, "html")


@pytest.fixture(scope="module")
def rewrites_page(rewrites_report) -> str:
    return render(rewrites_report, "html")


def test_a_revision_shows_the_shapes_it_breaks(queries_report, queries_page):
    [shape] = _broken(_rev(queries_report, "qs02").findings, "after-step")
    qs02 = element_text(queries_page, "rev-qs02")
    assert f"after this revision {shape['query']}" in qs02
    assert shape["error"] in qs02 and calls_rate(shape["calls_per_s"]) in qs02
    assert "legacy_status" in shape["query"]  # the run broke the shape qs02's column drop should break
    for later in ("qs03", "qs04"):  # judged once, after the first revision that breaks it
        assert shape["error"] not in element_text(queries_page, f"rev-{later}")


def test_a_revision_shows_the_requests_its_locks_block_at_production_rates(queries_report, queries_page):
    q = queries_report.queries
    [blocking] = [d for d in q.downtime if d.reads_blocked + d.writes_blocked >= 1]
    assert (blocking.revision, blocking.step, blocking.table) == ("qs04", "upgrade", "public.customers")
    qs04 = element_text(queries_page, "rev-qs04")
    assert (f"upgrade {blocking.table} {blocking.lock_mode} {fmt_s(blocking.window_s)} "
            f"{blocking.reads_blocked:,.0f} {blocking.read_shapes} shape(s) "
            f"{blocking.writes_blocked:,.0f} {blocking.write_shapes} shape(s)") in qs04
    assert "the source's lock_timeout is 0, so they wait rather than fail" in qs04
    brief = [d for d in q.downtime if d.revision == "qs04" and d is not blocking]
    assert f"{len(brief)} more blocking lock(s) last too briefly" in qs04
    # a revision whose locks block no request has no queries section at all
    assert "Production's queries" not in element_text(queries_page, "rev-qs03")


def test_the_report_shows_the_capture_and_the_plans(queries_report, queries_page):
    q = queries_report.queries
    section = element_text(queries_page, "production-queries")
    assert f"{q.shapes} shape(s) from {q.origin}" in section
    assert "1 lock span(s) block production's requests: qs04" in section
    lost = next(p for p in q.plans if p.lost_indexes)
    assert f"loses {', '.join(lost.lost_indexes)}; new sequential scan on {', '.join(lost.new_seq_scans)}" in section
    assert f"{plan_scans(lost.before)} " in section and f"{plan_scans(lost.after)} " in section
    assert lost.before.plan.strip().splitlines()[0].strip() in section  # the whole plan, folded away
    failing = next(p for p in q.plans if not p.after.ok)  # the shape qs02 broke cannot be planned after it
    row = section[section.index(failing.query):]
    assert row.split(" fails ", 1)[1].startswith("(") and f"fails ({failing.after.error})" in row
    assert f"plans compared for {len(q.plans)} of the busiest shape(s)" in section


def test_shapes_broken_after_the_rollback_are_listed_in_the_report_section(queries_report):
    """query_shapes' rollback breaks nothing: the shape that prepares again is not listed as broken."""
    assert not _broken(queries_report.findings, "after-rollback")
    section = element_text(render(queries_report, "html"), "production-queries")
    assert "Shapes that break" not in section
    # with a finding after the rollback, its shapes are listed under that moment
    [step] = [f for f in _rev(queries_report, "qs02").findings if f.code == "RH410"]
    rolled = dataclasses.replace(step, revision=None, phase="after-rollback",
                                 evidence={**step.evidence, "moment": "after-rollback"})
    page = render(dataclasses.replace(queries_report, findings=queries_report.findings + (rolled,)), "html")
    section = element_text(page, "production-queries")
    assert f"Shapes that break breaks query shape tables error rate after the rollback {step.evidence['shapes'][0]['query']}" \
        in section


def test_app_checks_show_result_duration_and_output(queries_report, queries_page):
    section = element_text(queries_page, "app-checks")
    for run in queries_report.app_checks:
        result = "passed" if run.ok else f"exit {run.exit_code}"
        assert f"{run.moment} {run.command} {result} {fmt_s(run.duration_s)}" in section
    failed = next(r for r in queries_report.app_checks if not r.ok)
    assert failed.moment == "after-upgrade" and 'column "legacy_status" does not exist' in failed.output_tail
    assert " ".join(failed.output_tail.split()) in section
    # the old application printed a script tag: shown as text, never run
    assert "<script>alert(" not in queries_page and "&lt;script&gt;alert(" in queries_page


def test_settings_and_target_version_show_statements_and_plans(queries_report, queries_page):
    change = queries_report.settings_change
    section = element_text(queries_page, "settings-change")
    differs = [s for s in change.statements if s.differs]
    assert (f"With enable_indexscan=off, enable_bitmapscan=off: {len(differs)} of {len(change.statements)} "
            "upgrade statement(s) behave differently") in section
    for p in change.plans:
        verdict = "loses " + ", ".join(p.lost_indexes) if p.lost_indexes else "unchanged"
        assert f"{short_sql(p.query, 140)} {calls_rate(p.calls_per_s)} {plan_scans(p.before)}" in section
        assert verdict in section
    version = queries_report.version_change
    section = element_text(queries_page, "version-change")
    assert f"On PostgreSQL {version.target_version} (staging: {version.baseline_version})" in section
    assert f"Query plans before the upgrade query shape {version.baseline_version} {version.target_version}" in section
    assert section.count("plans compared for") == 2


def test_a_differing_statement_on_the_target_version_shows_both_sides(queries_report):
    """query_shapes behaves the same on 18: mark one real statement as the pg_versions run reports uuidv7()."""
    version = queries_report.version_change
    first = dataclasses.replace(version.statements[0], differs=True, baseline_ok=False,
                                baseline_error="function uuidv7() does not exist", note="fails on the source's version only",
                                locks_target_only=("ShareLock on public.orders",))
    changed = dataclasses.replace(version, statements=(first,) + version.statements[1:])
    section = element_text(render(dataclasses.replace(queries_report, version_change=changed), "html"), "version-change")
    assert f"1 of {len(version.statements)} upgrade statement(s) behave differently" in section
    assert f"{first.revision} {first.sql} {fmt_s(first.baseline_s)} failed {fmt_s(first.target_s)}" in section
    assert f"{version.baseline_version}: function uuidv7() does not exist" in section
    assert f"only on {version.target_version}: ShareLock on public.orders" in section


def test_scale_shows_every_growing_statement_with_its_confidence(rewrites_report, rewrites_page, queries_page):
    scale = rewrites_report.scale
    section = element_text(rewrites_page, "scale")
    rows = scale_rows(rewrites_report, limit=len(scale.predictions))
    assert rows and len(rows) < len(scale.predictions)
    for p in rows:
        assert f"{p.revision} {short_sql(p.sql, 120)} {p.model}" in section
        assert f"{p.operation} {p.target_rows:,} {fmt_s(p.duration_s)}" in section
    for p in (p for p in rows if p.low_confidence):
        assert "low confidence: " + "; ".join(p.reasons) in section
    assert f"{len(scale.predictions) - len(rows)} more statement(s) cost about the same at any size" in section
    # query_shapes' statements are all catalog changes: the table says none grows
    assert "no statement's cost grows with the data" in element_text(queries_page, "scale")


def test_scale_says_how_a_parallel_index_build_was_predicted(rewrites_report):
    scale = rewrites_report.scale
    first = scale_rows(rewrites_report)[0]
    built = dataclasses.replace(first, parallel_workers=1, parallel_speedup=1.62, low_confidence=False, reasons=())
    report = dataclasses.replace(rewrites_report, scale=dataclasses.replace(
        scale, predictions=tuple(built if p is first else p for p in scale.predictions)))
    note = "built with 1 parallel worker: 1.62x faster than alone on the largest subset"
    assert note in element_text(render(report, "html"), "scale")
    for fmt in ("markdown", "terminal"):
        assert note in render(report, fmt)
    assert note not in render(rewrites_report, "markdown")


def test_a_revision_shows_its_rewrite_comparison_and_diff(rewrites_report, rewrites_page):
    assert rewrites_report.rewrites
    for r in rewrites_report.rewrites:
        text = element_text(rewrites_page, f"rev-{r.revision}")
        heading = "Suggested rewrite" if r.suggested else "Rewrite not suggested"
        assert f"{heading} {', '.join(r.patterns)} for {', '.join(r.codes)}: {r.reason}" in text
        original = r.original.lock_mode or "none"
        assert f"original {original}" in text and f"{fmt_s(r.original.lock_held_s)}" in text
        assert f"rewrite {r.rewritten.lock_mode or 'none'}" in text and "same" in text
        if r.releases > 1:
            assert f"This needs more than one release: {r.releases} revisions" in text
        shows_diff = r.suggested  # each of these was rehearsed: the patch is shown only when suggested
        added = next(line for line in r.diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
        assert (" ".join(added.split()) in text) == shows_diff, r.revision
    suggested = next(r for r in rewrites_report.rewrites if r.suggested)
    section = rewrites_page[rewrites_page.index(f'id="rev-{suggested.revision}"'):]
    assert re.search(r'<pre class="diff"><span class="diff-file">--- ', section)
    assert '<span class="diff-added">+' in section and '<span class="diff-removed">-' in section


def test_terminal_lists_each_rewrite_on_one_line(rewrites_report):
    text = render(rewrites_report, "terminal")
    lines = [line for line in text.splitlines() if line.startswith("rewrite ")]
    assert len(lines) == len(rewrites_report.rewrites)
    for r, line in zip(rewrites_report.rewrites, lines):
        assert line.startswith(f"rewrite {r.revision} {', '.join(r.patterns)}: ")
        assert (": suggested;" in line) == r.suggested
        if not r.suggested:
            assert f"not suggested ({r.reason})" in line
        assert f"{fmt_s(r.original.lock_held_s)} -> " in line
        after = "no blocking lock" if r.rewritten.lock_mode is None else fmt_s(r.rewritten.lock_held_s)
        assert line.split(" -> ")[-1].split(";")[0].endswith(after)
        assert (f"needs {r.releases} releases" in line) == (r.releases > 1)


def test_sections_appear_only_with_their_data(built_report, queries_report, rewrites_report):
    page = render(built_report, "html")  # the hand-built demo predates issue #15 and #16
    for section in ("production-queries", "app-checks", "scale", "settings-change", "version-change"):
        assert f'id="{section}"' not in page
    assert "Suggested rewrite" not in page and "Rewrite not suggested" not in page
    assert 'id="app-checks"' not in render(rewrites_report, "html")
    assert "rewrite" not in [w for line in render(queries_report, "terminal").splitlines() for w in line.split()[:1]]


def test_not_checked_queries_say_why(queries_report):
    q = dataclasses.replace(queries_report.queries, checked=False, shapes=0, note="the snapshot has no query shapes")
    section = element_text(render(dataclasses.replace(queries_report, queries=q), "html"), "production-queries")
    assert section == "Production's queries Not checked: the snapshot has no query shapes"


def test_every_section_escapes_what_it_quotes(queries_report, rewrites_report):
    q = queries_report.queries
    step = next(f for f in _rev(queries_report, "qs02").findings if f.code == "RH410")
    shape = {**step.evidence["shapes"][0], "query": HOSTILE, "error": HOSTILE, "tables": [HOSTILE]}
    finding = dataclasses.replace(step, evidence={**step.evidence, "shapes": [shape]})
    qs02 = dataclasses.replace(_rev(queries_report, "qs02"), findings=(finding,))
    plan = dataclasses.replace(q.plans[0], query=HOSTILE, before=dataclasses.replace(q.plans[0].before, plan=HOSTILE))
    downtime = tuple(dataclasses.replace(d, table=HOSTILE, statement=HOSTILE, lock_mode=HOSTILE) for d in q.downtime)
    settings = queries_report.settings_change
    version = queries_report.version_change
    scale = rewrites_report.scale
    rewrite = rewrites_report.rewrites[0]
    report = dataclasses.replace(
        queries_report,
        revisions=tuple(qs02 if r.id == "qs02" else r for r in queries_report.revisions) + rewrites_report.revisions[:1],
        queries=dataclasses.replace(q, origin=HOSTILE, note=HOSTILE, plans=(plan,) + q.plans[1:], downtime=downtime),
        app_checks=tuple(dataclasses.replace(a, command=HOSTILE, output_tail=HOSTILE) for a in queries_report.app_checks),
        settings_change=dataclasses.replace(
            settings, settings={HOSTILE: HOSTILE}, warnings=(HOSTILE,),
            statements=(dataclasses.replace(settings.statements[0], differs=True, sql=HOSTILE, note=HOSTILE),)),
        version_change=dataclasses.replace(
            version, target_version=HOSTILE, bindir=HOSTILE, warnings=(HOSTILE,),
            statements=(dataclasses.replace(version.statements[0], differs=True, sql=HOSTILE, note=HOSTILE,
                                            target_error=HOSTILE, locks_target_only=(HOSTILE,)),)),
        scale=dataclasses.replace(scale, predictions=tuple(
            dataclasses.replace(p, sql=HOSTILE, relation=HOSTILE, reasons=(HOSTILE,), low_confidence=True)
            for p in scale.predictions)),
        rewrites=(dataclasses.replace(rewrite, revision=rewrites_report.revisions[0].id, reason=HOSTILE,
                                      patterns=(HOSTILE,), diff=f"+{HOSTILE}\n-{HOSTILE}", differences=(HOSTILE,),
                                      notes=(HOSTILE,)),))
    page = render(report, "html")
    assert "<img" not in page
    escaped = page.count("&lt;img src=x onerror=alert(1)&gt;")
    assert escaped >= 30, escaped  # every field above, most of them several times
