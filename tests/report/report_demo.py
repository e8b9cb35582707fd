"""A hand-built Report of the demo shop's 9 revisions, shaped like a real recorded rehearsal.

Used until a recorded one exists at tests/report/data/demo_report.json. It carries what every
renderer must cope with: statements with locks and rewrites, a failed downgrade with a schema
diff, a data-losing rollback with a data diff, findings with evidence, an accepted finding,
a report-wide finding, and a revision whose re-upgrade was skipped.
"""

from __future__ import annotations

from rehearse import model, risk

V = "migrations/versions"

USERS = dict(rows=1_000_000, bytes=412_000_000)
ORDERS = dict(rows=3_000_000, bytes=230_000_000)
PRODUCTS = dict(rows=5_000, bytes=1_200_000)


def lock(relation, mode, held, *, reads=False, writes=True, size=None):
    return model.LockTaken(relation=relation, mode=mode, blocks_reads=reads, blocks_writes=writes,
                           held_s=held, **(size or {}))


def ae(relation, held, size=None):
    return lock(relation, "AccessExclusiveLock", held, reads=True, writes=True, size=size)


def stmt(sql, duration, *, locks=(), rewrites=(), location=None, ok=True, error=None, rows=None,
         catalog=(), probes=None, lock_wait=0.0):
    return model.StatementTrace(sql=sql, duration_s=duration, ok=ok, error=error, locks=tuple(locks),
                                rewrites=tuple(rewrites), location=location, rows_affected=rows,
                                catalog_changes=tuple(catalog), probes=probes or {}, lock_wait_s=lock_wait)


def step(*statements, ok=True, error=None, failed=None, traffic=(), would_fail=()):
    return model.StepResult(ok=ok, duration_s=round(sum(s.duration_s for s in statements) + 0.004, 3),
                            statements=tuple(statements), error=error, failed_statement=failed,
                            blocked_traffic=tuple(traffic), would_fail_lock_timeout=tuple(would_fail))


def blocked(table, kind, longest, total, queries, sql, mode):
    return model.BlockedTraffic(table=table, kind=kind, blocked_s=longest, total_blocked_s=total, queries=queries,
                                blocker_statement=sql, blocker_lock_mode=mode)


def finding(code, name, severity, message, rev, *, location=None, statement=None, evidence=None,
            help=None, accepted=None, phase="upgrade"):
    return model.Finding(code=code, name=name, severity=severity, message=message, revision=rev,
                         statement=statement, evidence=evidence or {}, help=help, location=location,
                         phase=phase, accepted=accepted)


OK_ROLLBACK = model.RollbackResult(ok=True, classification="reversible", duration_s=0.02)


def build_demo_report() -> model.Report:
    revs: list[model.RevisionResult] = []

    f1 = f"{V}/0001_create_users_and_products.py"
    revs.append(model.RevisionResult(
        id="0001a1b2c3d4", message="create users and products", down_revisions=(), file=f1,
        upgrade=step(
            stmt("CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL, name TEXT, "
                 "legacy_flags JSONB, created_at TIMESTAMPTZ NOT NULL DEFAULT now())", 0.011,
                 locks=[ae("public.users", 0.012)], location=f"{f1}:21", catalog=("table public.users",)),
            stmt("CREATE TABLE products (id BIGSERIAL PRIMARY KEY, sku TEXT NOT NULL, name TEXT NOT NULL, "
                 "price_cents INTEGER NOT NULL)", 0.008, locks=[ae("public.products", 0.009)],
                 location=f"{f1}:30", catalog=("table public.products",)),
        ),
        downgrade=step(stmt("DROP TABLE products", 0.004, location=f"{f1}:40"),
                       stmt("DROP TABLE users", 0.005, location=f"{f1}:41")),
        reupgrade=step(stmt("CREATE TABLE users (...)", 0.010), stmt("CREATE TABLE products (...)", 0.007)),
        rollback=OK_ROLLBACK,
    ))

    f2 = f"{V}/0002_create_orders.py"
    revs.append(model.RevisionResult(
        id="0002b2c3d4e5", message="create orders", down_revisions=("0001a1b2c3d4",), file=f2,
        upgrade=step(
            stmt("CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users (id), "
                 "amount INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())", 0.014,
                 locks=[ae("public.orders", 0.015), lock("public.users", "ShareRowExclusiveLock", 0.015,
                                                          size=USERS)],
                 location=f"{f2}:19"),
        ),
        downgrade=step(stmt("DROP TABLE orders", 0.006, location=f"{f2}:31")),
        reupgrade=step(stmt("CREATE TABLE orders (...)", 0.013)),
        rollback=OK_ROLLBACK,
    ))

    f3 = f"{V}/0003_add_users_phone.py"
    revs.append(model.RevisionResult(
        id="0003c3d4e5f6", message="add users.phone", down_revisions=("0002b2c3d4e5",), file=f3,
        upgrade=step(stmt("ALTER TABLE users ADD COLUMN phone TEXT", 0.003,
                          locks=[ae("public.users", 0.004, USERS)], location=f"{f3}:18")),
        downgrade=step(stmt("ALTER TABLE users DROP COLUMN phone", 0.003, locks=[ae("public.users", 0.003, USERS)],
                            location=f"{f3}:22")),
        reupgrade=step(stmt("ALTER TABLE users ADD COLUMN phone TEXT", 0.003)),
        rollback=OK_ROLLBACK,
        findings=(finding("RH001", "require-lock-timeout", "low",
                          "ALTER TABLE takes an ACCESS EXCLUSIVE lock without a lock_timeout: behind a long "
                          "transaction it queues every query on users.", "0003c3d4e5f6",
                          location=f"{f3}:18", statement="ALTER TABLE users ADD COLUMN phone TEXT",
                          help="SET lock_timeout = '2s' before the statement and retry on failure.",
                          accepted="deployed in the Sunday maintenance window (OPS-112)"),),
    ))

    f4 = f"{V}/0004_index_orders_created_at.py"
    idx_sql = "CREATE INDEX ix_orders_created_at ON orders (created_at)"
    revs.append(model.RevisionResult(
        id="0004d4e5f6a7", message="index orders.created_at", down_revisions=("0003c3d4e5f6",), file=f4,
        upgrade=step(stmt(idx_sql, 8.412, locks=[lock("public.orders", "ShareLock", 8.415, size=ORDERS)],
                          location=f"{f4}:17", catalog=("index public.ix_orders_created_at",)),
                     traffic=[blocked("public.orders", "write", 8.31, 412.6, 57, idx_sql, "ShareLock")]),
        downgrade=step(stmt("DROP INDEX ix_orders_created_at", 0.021, locks=[ae("public.orders", 0.022, ORDERS)],
                            location=f"{f4}:21")),
        reupgrade=step(stmt(idx_sql, 8.107, locks=[lock("public.orders", "ShareLock", 8.11, size=ORDERS)])),
        rollback=OK_ROLLBACK,
        findings=(finding("RH101", "require-concurrent-index", "high",
                          "CREATE INDEX without CONCURRENTLY blocked writes to orders (3,000,000 rows) "
                          "for 8.4 s.", "0004d4e5f6a7", location=f"{f4}:17", statement=idx_sql,
                          evidence={"table": "public.orders", "rows": 3_000_000, "lock": "ShareLock",
                                    "held_s": 8.415},
                          help="op.create_index(..., postgresql_concurrently=True) inside "
                               "op.get_context().autocommit_block()."),),
    ))

    f5 = f"{V}/0005_orders_amount_numeric.py"
    alter = "ALTER TABLE orders ALTER COLUMN amount TYPE NUMERIC(12, 2) USING amount / 100.0"
    revs.append(model.RevisionResult(
        id="0005e5f6a7b8", message="orders.amount to numeric", down_revisions=("0004d4e5f6a7",), file=f5,
        upgrade=step(stmt(alter, 21.37, locks=[ae("public.orders", 21.38, ORDERS)], rewrites=("public.orders",),
                          location=f"{f5}:20", rows=3_000_000),
                     traffic=[blocked("public.orders", "read", 21.2, 2804.1, 311, alter, "AccessExclusiveLock"),
                              blocked("public.orders", "write", 21.1, 1190.4, 98, alter, "AccessExclusiveLock")]),
        downgrade=step(stmt("ALTER TABLE orders ALTER COLUMN amount TYPE INTEGER USING (amount * 100)::int",
                            19.82, locks=[ae("public.orders", 19.83, ORDERS)], rewrites=("public.orders",),
                            location=f"{f5}:27")),
        reupgrade=step(stmt(alter, 20.91, locks=[ae("public.orders", 20.92, ORDERS)], rewrites=("public.orders",))),
        rollback=OK_ROLLBACK,
        findings=(finding("RH201", "avoid-table-rewrite", "high",
                          "Changing orders.amount from integer to numeric rewrote orders (3,000,000 rows) "
                          "under an ACCESS EXCLUSIVE lock held 21.4 s: reads and writes wait.",
                          "0005e5f6a7b8", location=f"{f5}:20", statement=alter,
                          evidence={"table": "public.orders", "rows": 3_000_000, "held_s": 21.38,
                                    "relfilenode_before": 16455, "relfilenode_after": 16502},
                          help="Add a new column, backfill in batches, swap in a later release."),),
    ))

    f6 = f"{V}/0006_users_email_not_null_unique.py"
    revs.append(model.RevisionResult(
        id="0006f6a7b8c9", message="users.email unique", down_revisions=("0005e5f6a7b8",), file=f6,
        upgrade=step(
            stmt("CREATE UNIQUE INDEX CONCURRENTLY uq_users_email ON users (email)", 4.83,
                 locks=[lock("public.users", "ShareUpdateExclusiveLock", 4.83, writes=False, size=USERS)],
                 location=f"{f6}:19", probes={"duplicate_emails": 0}),
            stmt("ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email", 0.004,
                 locks=[ae("public.users", 0.005, USERS)], location=f"{f6}:23"),
            stmt("ALTER TABLE users ALTER COLUMN email SET NOT NULL", 1.24,
                 locks=[ae("public.users", 1.25, USERS)], location=f"{f6}:26", probes={"violating_rows": 0},
                 lock_wait=0.82),
            would_fail=["ALTER TABLE users ALTER COLUMN email SET NOT NULL"],
        ),
        downgrade=step(stmt("ALTER TABLE users DROP CONSTRAINT uq_users_email", 0.012, location=f"{f6}:31"),
                       stmt("ALTER TABLE users ALTER COLUMN email DROP NOT NULL", 0.002, location=f"{f6}:32")),
        reupgrade=step(stmt("CREATE UNIQUE INDEX CONCURRENTLY uq_users_email ON users (email)", 4.71),
                       stmt("ALTER TABLE users ADD CONSTRAINT ...", 0.004),
                       stmt("ALTER TABLE users ALTER COLUMN email SET NOT NULL", 1.19)),
        rollback=OK_ROLLBACK,
        findings=(finding("RH104", "adding-not-nullable-field", "medium",
                          "SET NOT NULL scanned users (1,000,000 rows) under an ACCESS EXCLUSIVE lock for "
                          "1.2 s; 0 rows violate it today.", "0006f6a7b8c9", location=f"{f6}:26",
                          statement="ALTER TABLE users ALTER COLUMN email SET NOT NULL",
                          evidence={"violating_rows": 0, "held_s": 1.25},
                          help="Add a CHECK (email IS NOT NULL) NOT VALID constraint, VALIDATE it, "
                               "then SET NOT NULL (PostgreSQL 12+ skips the scan)."),),
    ))

    f7 = f"{V}/0007_drop_users_legacy_flags.py"
    revs.append(model.RevisionResult(
        id="0007a7b8c9d0", message="drop users.legacy_flags", down_revisions=("0006f6a7b8c9",), file=f7,
        upgrade=step(stmt("ALTER TABLE users DROP COLUMN legacy_flags", 0.006, locks=[ae("public.users", 0.007, USERS)],
                          location=f"{f7}:17")),
        downgrade=step(stmt("ALTER TABLE users ADD COLUMN legacy_flags JSONB", 0.004,
                            locks=[ae("public.users", 0.005, USERS)], location=f"{f7}:21")),
        reupgrade=step(stmt("ALTER TABLE users DROP COLUMN legacy_flags", 0.005)),
        rollback=model.RollbackResult(
            ok=False, classification="data-loss", duration_s=0.41,
            data_diff=(model.DataDiff(table="public.users", rows_before=1_000_000, rows_after=1_000_000,
                                      columns_changed=("legacy_flags",),
                                      message="legacy_flags was NULL in 1,000,000 rows after the downgrade; "
                                              "412,881 rows had a value before the upgrade."),)),
        findings=(finding("RH301", "ban-drop-column", "medium",
                          "Dropping users.legacy_flags cannot be undone: the downgrade re-creates the column "
                          "empty.", "0007a7b8c9d0", location=f"{f7}:17",
                          statement="ALTER TABLE users DROP COLUMN legacy_flags",
                          evidence={"non_null_rows": 412_881},
                          help="Stop reading the column in one release; drop it in a later one after a backup."),),
    ))

    f8 = f"{V}/0008_split_users_name.py"
    down_err = ('psycopg2.errors.UndefinedColumn: column "full_name" does not exist\n'
                "LINE 1: UPDATE users SET name = full_name\n                                ^")
    revs.append(model.RevisionResult(
        id="0008b8c9d0e1", message="split users.name into first and last name", down_revisions=("0007a7b8c9d0",),
        file=f8,
        upgrade=step(
            stmt("ALTER TABLE users ADD COLUMN first_name TEXT, ADD COLUMN last_name TEXT", 0.004,
                 locks=[ae("public.users", 14.61, USERS)], location=f"{f8}:18"),
            stmt("UPDATE users SET first_name = split_part(name, ' ', 1), last_name = split_part(name, ' ', 2)",
                 14.58, locks=[lock("public.users", "RowExclusiveLock", 14.58, writes=False, size=USERS)],
                 location=f"{f8}:22", rows=1_000_000),
            stmt("ALTER TABLE users DROP COLUMN name", 0.003, locks=[ae("public.users", 0.004, USERS)],
                 location=f"{f8}:26"),
        ),
        downgrade=step(
            stmt("ALTER TABLE users ADD COLUMN name TEXT", 0.003, location=f"{f8}:30"),
            stmt("UPDATE users SET name = full_name", 0.001, ok=False, error=down_err.splitlines()[0],
                 location=f"{f8}:31"),
            ok=False, error=down_err, failed="UPDATE users SET name = full_name"),
        reupgrade=model.StepResult(ok=False, duration_s=0.0, skipped=True),
        rollback=model.RollbackResult(
            ok=False, classification="broken", duration_s=0.05, error=down_err.splitlines()[0],
            schema_diff=(
                model.SchemaDiff(object="column public.users.name", kind="removed", before="name text",
                                 after=None, message="users.name is missing after the downgrade."),
                model.SchemaDiff(object="column public.users.first_name", kind="added", before=None,
                                 after="first_name text", message="users.first_name is still there after the downgrade."),
                model.SchemaDiff(object="column public.users.last_name", kind="added", before=None,
                                 after="last_name text", message="users.last_name is still there after the downgrade."),
            )),
        findings=(
            finding("RH105", "batch-large-updates", "medium",
                    "UPDATE of 1,000,000 users rows in one transaction held row locks for 14.6 s and "
                    "kept the ADD COLUMN's ACCESS EXCLUSIVE lock until commit.", "0008b8c9d0e1",
                    location=f"{f8}:22", evidence={"rows_affected": 1_000_000, "held_s": 14.61},
                    statement="UPDATE users SET first_name = ..., last_name = ...",
                    help="Backfill in batches of 10,000 rows outside the migration's transaction."),
            finding("RH401", "require-working-downgrade", "critical",
                    'The downgrade fails: column "full_name" does not exist.', "0008b8c9d0e1",
                    location=f"{f8}:31", phase="downgrade", statement="UPDATE users SET name = full_name",
                    evidence={"error": down_err.splitlines()[0]},
                    help="Fix downgrade() and rehearse again."),
        ),
    ))

    f9 = f"{V}/0009_orders_status_check.py"
    revs.append(model.RevisionResult(
        id="0009c9d0e1f2", message="orders.status check constraint", down_revisions=("0008b8c9d0e1",), file=f9,
        upgrade=step(
            stmt("ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'new'", 0.005,
                 locks=[ae("public.orders", 0.006, ORDERS)], location=f"{f9}:18"),
            stmt("ALTER TABLE orders ADD CONSTRAINT ck_orders_status CHECK (status IN ('new', 'paid', 'shipped')) "
                 "NOT VALID", 0.003, locks=[ae("public.orders", 0.004, ORDERS)], location=f"{f9}:21"),
            stmt("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status", 6.21,
                 locks=[lock("public.orders", "ShareUpdateExclusiveLock", 6.21, writes=False, size=ORDERS)],
                 location=f"{f9}:25"),
        ),
        downgrade=model.StepResult(ok=False, duration_s=0.0, skipped=True),
        reupgrade=None,
        rollback=model.RollbackResult(ok=False, classification="not-run"),
    ))

    report = model.Report(
        source="snapshots/prod", start_revision=None, target_revision="0009c9d0e1f2",
        revisions=tuple(revs),
        rollback=model.RollbackResult(
            ok=False, classification="broken", duration_s=0.05, error=down_err.splitlines()[0],
            schema_diff=revs[7].rollback.schema_diff),
        reupgrade=None, outcome="fail", staging="local", snapshot="snapshots/prod",
        findings=(finding("RH501", "single-head", "info",
                          "The revision graph has one head (0009c9d0e1f2).", None, phase="graph"),
                  finding("RH502", "models-match-schema", "low",
                          "Model Order declares index ix_orders_user_id that no migration creates.", None,
                          phase="drift", location="models.py:41")),
        started_at="2025-11-26T21:40:00+00:00", duration_s=97.4,
        stages={"restore": 18.2, "anonymize": 0.0, "migrate": 56.9, "checks": 0.8, "rollback": 21.5},
        warnings=("staging runs PostgreSQL 15.20; the snapshot came from 15.8",),
        failures=("0008b8c9d0e1: downgrade failed: column \"full_name\" does not exist",
                  "0007a7b8c9d0: rollback loses data in public.users"),
        tool_version="0.1.0",
    )
    return risk.assess(report)


def build_large_report(n: int = 300) -> model.Report:
    """A report of ``n`` revisions, every one with findings and long text (for size limits)."""
    base = build_demo_report()
    template = list(base.revisions)
    revs = []
    prev: tuple[str, ...] = ()
    for i in range(n):
        src = template[i % len(template)]
        rid = f"{i:04d}{src.id[4:]}"
        revs.append(model.RevisionResult(
            id=rid, message=f"{src.message} (#{i})", down_revisions=prev, file=src.file,
            upgrade=src.upgrade, downgrade=src.downgrade, reupgrade=src.reupgrade, rollback=src.rollback,
            findings=tuple(model.Finding(**{**model.to_dict(f), "evidence": f.evidence, "revision": rid})
                           for f in src.findings)))
        prev = (rid,)
    import dataclasses
    return risk.assess(dataclasses.replace(base, revisions=tuple(revs),
                                           target_revision=revs[-1].id))
