"""The rehearsal's child process: runs the project's Alembic environment in the project's own Python.

rehearse starts this file as a script (``<project python> .../child.py IN_FD OUT_FD``), so
it never imports the rehearse package: it needs only the standard library, Alembic,
SQLAlchemy (1.4 or 2.x) and whatever driver the project's env.py uses. It stays up for the
whole rehearsal (revision files and env.py are imported once) and answers requests, one
JSON object per line: ``describe``, ``heads``, ``step``, ``stamp``, ``shutdown``.

While a step runs, the tracer here sees every statement on the migration's own connection
(SQLAlchemy events on the ``Engine`` class, so whatever engine env.py builds): after each
one it reads the locks its backend holds, compares ``relfilenode`` to spot rewrites and
diffs the catalog. What only the parent can do (preflight probes planned with pglast,
traffic bookkeeping, watching locks from outside for statements outside a transaction) is
asked for over the same pipe as a request the child waits on; the parent's probes then run
their SQL here (``exec`` requests), inside the migration's transaction.

The protocol channel is a pair of file descriptors of its own: env.py and the revisions may
print to stdout freely.
"""

import os
import sys

# run as a script, Python puts this file's folder first on sys.path: its neighbours (trace.py,
# runner.py...) would shadow the standard library's and the project's modules of those names
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import json  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

IN = OUT = None  # the protocol's file objects, set in main()
_write_lock = threading.Lock()


def send(message):
    line = json.dumps(message, default=str) + "\n"
    with _write_lock:
        OUT.write(line)
        OUT.flush()


def receive():
    line = IN.readline()
    if not line:
        raise SystemExit(0)  # the parent is gone: nothing left to do
    return json.loads(line)


def ask(kind, **payload):
    """A synchronous request to the parent; serves the parent's ``exec`` requests meanwhile."""
    send({"request": kind, **payload})
    while True:
        message = receive()
        if "exec" in message:
            send(_exec(message))
            continue
        return message.get("reply")


_EXEC_CURSOR = [None]  # the DBAPI connection the parent's probe SQL runs on, during ask("preflight")


def _exec(message):
    dbapi = _EXEC_CURSOR[0]
    if message["exec"] == "status":
        return {"result": _transaction_status(dbapi)}
    try:
        cur = dbapi.cursor()
        try:
            cur.execute(message["exec"])
            rows = None
            if message.get("fetch"):
                try:
                    rows = [list(r) for r in cur.fetchall()]
                except Exception:
                    rows = []
            return {"result": rows}
        finally:
            cur.close()
    except Exception as exc:
        return {"error": _first_line(exc)}


# --- SQL the tracer runs on the migration's connection ---------------------------------------

TRACE_MARKER = "/* rehearse:trace */"  # lets the traffic probe tell these queries from the migration's

# relkind is cast to text: asyncpg returns the "char" type as bytes
_LOCKS_SQL = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, l.mode,
       greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid)
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S', 'v')
"""

_RELATIONS_SQL = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""

_FILENODES_SQL = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, c.relfilenode
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND c.relkind IN ('r', 'm', 'i', 't')
"""

_CATALOG_SQL = """
SELECT 'column ' || a.attrelid::regclass::text || '.' || quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL
SELECT 'constraint ' || quote_ident(co.conname) || ' on ' || co.conrelid::regclass::text,
       pg_get_constraintdef(co.oid) || CASE WHEN co.convalidated THEN '' ELSE ' (not validated)' END
FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
WHERE co.conrelid <> 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'index ' || quote_ident(n.nspname) || '.' || quote_ident(ic.relname),
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL
SELECT 'table ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
"""

_DML = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(select|insert|update|delete|with|values|show|set|reset)\b", re.I)


# --- the tracer ------------------------------------------------------------------------------


class StepTracer:
    """Collects the statements of one step (one revision, one direction) as plain dicts."""

    def __init__(self, revision_file, version_table, preflight, traffic, statement_timeout_ms):
        self.revision_file = revision_file
        self.version_table = version_table
        self.preflight = preflight
        self.traffic = traffic
        self.statement_timeout_ms = statement_timeout_ms
        self.statements = []
        self.recording = False
        self.pid = None
        self._held = {}  # (connection id, relation, mode) -> lock dict
        self._pending = {}
        self._thread = threading.get_ident()
        self._preexisting = None
        self._timeout_set = set()

    def start(self):
        """Record from now on, statements of the calling thread only (the one running the migrations)."""
        self._thread = threading.get_ident()
        self.recording = True

    def before(self, conn, cursor, statement, parameters, context, executemany):
        if not self.recording or threading.get_ident() != self._thread:
            return
        if self._is_bookkeeping(statement):
            return
        dbapi = _dbapi_connection(cursor)
        if self._preexisting is None:
            rows = _query(dbapi, _RELATIONS_SQL)
            self._preexisting = {row[0] for row in rows} if rows is not None else set()
            pid = _query(dbapi, "SELECT pg_backend_pid()")
            self.pid = int(pid[0][0]) if pid else None
            if self.pid is not None:
                send({"event": "backend", "pid": self.pid})
        if self.statement_timeout_ms and id(dbapi) not in self._timeout_set:
            # session level, so it covers every statement of the step on this connection
            _query(dbapi, f"SET statement_timeout = {int(self.statement_timeout_ms)}", fetch=False)
            self._timeout_set.add(id(dbapi))
        in_txn = _in_transaction(dbapi)
        record = {"sql": _render(statement, parameters, cursor), "started": 0.0, "location": self._location(),
                  "in_transaction": in_txn, "duration_s": 0.0, "ok": True, "error": None, "locks": [],
                  "rewrites": [], "catalog_changes": [], "rows_affected": None, "probes": {}}
        ddl = not _DML.match(statement)
        nodes = catalog = None
        sampler = None
        if ddl:
            nodes = _query(dbapi, _FILENODES_SQL)
            catalog = _query(dbapi, _CATALOG_SQL)
            if self.preflight and in_txn:
                _EXEC_CURSOR[0] = dbapi
                try:
                    record["probes"] = ask("preflight", sql=statement) or {}
                finally:
                    _EXEC_CURSOR[0] = None
            if not in_txn and self.pid is not None:
                # its locks are released before after() can look: the parent watches them from outside
                sampler = ask("sample_start", pid=self.pid, preexisting=sorted(self._preexisting or ()),
                              version_table=self.version_table)
        self._pending[id(cursor)] = (record, nodes, catalog, sampler)
        send({"event": "statement_start", "sql": record["sql"][:2000]})
        record["started"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        pending = self._pending.pop(id(cursor), None)
        if pending is None:
            return
        record, nodes, catalog, sampler = pending
        now = time.perf_counter()
        record["duration_s"] = now - record["started"]
        try:
            rowcount = cursor.rowcount
            record["rows_affected"] = rowcount if rowcount is not None and rowcount >= 0 else None
        except Exception:
            record["rows_affected"] = None
        dbapi = _dbapi_connection(cursor)
        self._stop_sampler(sampler, record, now)
        if record["in_transaction"] or _in_transaction(dbapi):
            self._collect_locks(dbapi, record)
        if nodes is not None:
            after_nodes = _query(dbapi, _FILENODES_SQL)
            if after_nodes is not None:
                before = {row[0]: row for row in nodes}
                record["rewrites"] = sorted(
                    row[1] for row in after_nodes
                    if row[0] in before and before[row[0]][3] != row[3] and row[2] in ("r", "m", "i"))
        if catalog is not None:
            after_catalog = _query(dbapi, _CATALOG_SQL)
            if after_catalog is not None:
                record["catalog_changes"] = _catalog_diff(dict(catalog), dict(after_catalog))
        self.statements.append(record)
        if self.traffic:
            ask("statement", sql=record["sql"], pid=self.pid)

    def error(self, context):
        cursor = getattr(context, "cursor", None)  # SQLAlchemy 1.4 and 2.0
        if cursor is None and getattr(context, "execution_context", None) is not None:
            cursor = getattr(context.execution_context, "cursor", None)  # 2.1
        pending = self._pending.pop(id(cursor), None) if cursor is not None else None
        if pending is None and len(self._pending) == 1:
            pending = self._pending.popitem()[1]
        if pending is None:
            return
        record, _, _, sampler = pending
        record["duration_s"] = time.perf_counter() - record["started"]
        self._stop_sampler(sampler, record, time.perf_counter())
        record["ok"] = False
        err = context.original_exception
        record["error"] = _first_line(err)
        record["timed_out"] = _is_statement_timeout(err)
        self.statements.append(record)

    def on_commit(self, conn):
        if not self.recording:
            return
        now = time.perf_counter()
        for lock in self._held.values():
            if lock.get("released") is None:
                lock["released"] = now
        self._held.clear()

    on_rollback = on_commit

    def _collect_locks(self, dbapi, record):
        rows = _query(dbapi, _LOCKS_SQL)
        if not rows:
            return
        for oid, relation, relkind, mode, reltuples, size in rows:
            # locks on objects this step created are invisible to other sessions, and the
            # version table is Alembic's own bookkeeping: neither can block normal traffic
            if self._preexisting is not None and oid not in self._preexisting:
                continue
            if self.version_table in relation:
                continue
            key = (id(dbapi), relation, mode)
            if key in self._held:
                continue
            lock = {"relation": relation, "mode": mode, "acquired": record["started"],
                    "rows": int(reltuples) if relkind in ("r", "p", "m") else None, "bytes": int(size),
                    "released": None}
            self._held[key] = lock
            record["locks"].append(lock)

    def _stop_sampler(self, sampler, record, now):
        if sampler is None:
            return
        for relation, mode, rows, size in ask("sample_stop", id=sampler) or ():
            # outside a transaction a lock lasts as long as its statement
            record["locks"].append({"relation": relation, "mode": mode, "acquired": record["started"],
                                    "rows": rows, "bytes": size, "released": now})

    def _is_bookkeeping(self, statement):
        lowered = statement.lower()
        return self.version_table in lowered and ("alembic" in self.version_table or "version" in lowered)

    def _location(self):
        if not self.revision_file:
            return None
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self.revision_file:
                return f"{self.revision_file}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    def finish(self):
        """The statements, with each lock's holding time in seconds (open locks end now)."""
        end = time.perf_counter()
        out = []
        for s in self.statements:
            locks = []
            for lock in s["locks"]:
                released = lock["released"] if lock["released"] is not None else end
                locks.append({"relation": lock["relation"], "mode": lock["mode"],
                              "held_s": round(released - lock["acquired"], 6), "rows": lock["rows"],
                              "bytes": lock["bytes"]})
            item = dict(s, locks=locks, duration_s=round(s["duration_s"], 6))
            item.pop("started", None)
            out.append(item)
        return out


def _is_statement_timeout(err):
    code = getattr(err, "pgcode", None) or getattr(err, "sqlstate", None)
    orig = getattr(err, "orig", None)
    code = code or getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return code == "57014" and "statement timeout" in str(err)


def _dbapi_connection(cursor):
    # SQLAlchemy's asyncpg adapter cursor has no DB-API ``connection`` attribute; its adapted
    # connection runs the catalog queries synchronously, in the migration's own transaction
    return getattr(cursor, "connection", None) or getattr(cursor, "_adapt_connection", None)


def _transaction_status(dbapi):
    """0 idle (autocommit), 1/2 in a transaction, 3 in error: the psycopg2 numbers the probes expect."""
    if dbapi is None:
        return 4
    status = getattr(dbapi, "get_transaction_status", None)
    if status is not None:
        try:
            return int(status())
        except Exception:
            return 4
    info = getattr(dbapi, "info", None)  # psycopg 3
    if info is not None and hasattr(info, "transaction_status"):
        return int(info.transaction_status)  # IDLE 0, ACTIVE 1, INTRANS 2, INERROR 3
    return 2 if _in_transaction(dbapi) else 0


def _in_transaction(dbapi):
    """Whether the next statement on ``dbapi`` runs inside a transaction (its locks last until the commit).

    psycopg2 and psycopg 3 open a transaction lazily, with the first statement after a commit:
    the server says idle until then, but a connection that is not in autocommit mode runs that
    statement inside the transaction it opens (the first DDL after an autocommit block, or of a
    migration whose first statement is its own). psycopg2 decides by its own state, not the
    server's: after ``op.execute("COMMIT")`` (a common way to run CREATE INDEX CONCURRENTLY) it
    still thinks it is in a transaction and sends no BEGIN, so the next statement runs outside one.
    """
    if dbapi is None:
        return False
    status = getattr(dbapi, "get_transaction_status", None)
    if status is not None:  # psycopg2: 0 idle, 1 active, 2 in transaction, 3 in error
        try:
            if status() in (1, 2, 3):
                return True
            # psycopg2's STATUS_READY (1): its next statement starts with a BEGIN; STATUS_BEGIN (2)
            # while the server is idle: a COMMIT went through a cursor, no BEGIN comes
            return not getattr(dbapi, "autocommit", True) and getattr(dbapi, "status", 1) == 1
        except Exception:
            return False
    info = getattr(dbapi, "info", None)
    if info is not None and hasattr(info, "transaction_status"):  # psycopg 3
        return int(info.transaction_status) in (1, 2, 3) or not getattr(dbapi, "autocommit", True)
    driver = getattr(dbapi, "driver_connection", None) or getattr(dbapi, "_connection", None)
    is_in = getattr(driver, "is_in_transaction", None)  # asyncpg
    if callable(is_in):
        try:
            if is_in():
                return True
        except Exception:
            return False
        # SQLAlchemy's asyncpg adapter opens its transaction lazily, at the next statement,
        # unless it is in autocommit mode (an autocommit_block)
        return not getattr(dbapi, "autocommit", True)
    return not getattr(dbapi, "autocommit", False)


def _query(dbapi, sql, fetch=True):
    """Run a catalog query on the migration's own connection; None when it cannot be run."""
    if dbapi is None:
        return None
    try:
        cur = dbapi.cursor()
        try:
            cur.execute(TRACE_MARKER + " " + sql)
            return cur.fetchall() if fetch else []
        finally:
            cur.close()
    except Exception:
        return None


def _catalog_diff(before, after):
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            changes.append(f"added {key}: {new}" if not key.startswith("table ") else f"added {key}")
        elif new is None:
            changes.append(f"dropped {key}")
        else:
            changes.append(f"changed {key}: {old} -> {new}")
    return changes


def _render(statement, parameters, cursor):
    text = statement.strip()
    if parameters:
        mogrify = getattr(cursor, "mogrify", None)
        if mogrify is not None and not isinstance(parameters, list):
            try:
                rendered = mogrify(statement, parameters)
                text = (rendered.decode() if isinstance(rendered, bytes) else str(rendered)).strip()
            except Exception:
                pass
    return text


def _first_line(err):
    if err is None:
        return "unknown error"
    text = str(err).strip() or type(err).__name__
    orig = getattr(err, "orig", None)
    if orig is not None and str(orig).strip():
        text = str(orig).strip()
    return text.splitlines()[0]


# --- the project -----------------------------------------------------------------------------


class MissingDowngrade(Exception):
    pass


class Project:
    """The project's alembic.ini and env.py, pointed at the staging database."""

    def __init__(self, ini, url, url_env, flask_app, statement_timeout_ms):
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        self.ini = ini
        self.config = Config(ini)
        if not self.config.get_main_option("script_location") and \
                os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(ini)), "env.py")):
            # Flask-Migrate's alembic.ini names no script_location: `flask db` passes its folder
            self.config.set_main_option("script_location", os.path.dirname(os.path.abspath(ini)))
        self.env_url = with_project_driver(url, self.config.get_main_option("sqlalchemy.url"),
                                           os.environ.get(url_env) if url_env else None)
        if url_env:
            # this process exists for the rehearsal: the variable can hold the staging URL for good,
            # before any project code (which may read it at import) runs
            os.environ[url_env] = self.env_url
        # configparser treats % as interpolation: escape it in passwords and socket paths
        self.config.set_main_option("sqlalchemy.url", self.env_url.replace("%", "%%"))
        self.statement_timeout_ms = statement_timeout_ms
        self.version_table = "alembic_version"
        self.version_table_schema = None
        self.worker_thread = False
        self.identity = None
        self._app_context = None
        project_dir = os.path.dirname(os.path.abspath(ini))
        if project_dir not in sys.path:
            sys.path.insert(0, project_dir)
        self.script = ScriptDirectory.from_config(self.config)
        if flask_app is None and _env_uses_flask(self.script):
            flask_app = "auto"
        if flask_app:
            self._push_flask_app(flask_app)

    def _push_flask_app(self, spec):
        """Flask-Migrate env.py files read ``current_app``: push the application's context, with its
        database URI pointed at staging (before the factory runs, for factories that read it)."""
        # Flask-Migrate keeps alembic.ini in migrations/ of the application's folder
        app_dir = os.path.dirname(os.path.dirname(os.path.abspath(self.ini)))
        if app_dir not in sys.path:
            sys.path.insert(0, app_dir)
        if spec == "auto":
            os.chdir(app_dir)  # where `flask db` finds app.py / wsgi.py
            from flask.cli import ScriptInfo
            app = ScriptInfo().load_app()
        else:
            import importlib
            module_name, _, attr = spec.partition(":")
            module = importlib.import_module(module_name)
            target = getattr(module, attr or "create_app", None) or getattr(module, "app")
            app = target() if callable(target) and not hasattr(target, "app_context") else target
        app.config["SQLALCHEMY_DATABASE_URI"] = self.env_url
        _repoint_flask_sqlalchemy(app, self.env_url)
        self._app_context = app.app_context()
        self._app_context.push()

    def describe(self):
        revisions = []
        for script in self.script.walk_revisions("base", "heads"):
            revisions.append({
                "id": script.revision,
                "message": (script.doc or "").strip().splitlines()[0] if script.doc else "",
                "down_revisions": list(_tuple(script.down_revision)),
                "dependencies": list(_tuple(script.dependencies)),
                # the labels the file declares: the map copies them onto descendants
                "branch_labels": sorted(_declared_labels(script)),
                "file": str(os.path.abspath(script.path)) if script.path else None,
                "has_downgrade": hasattr(script.module, "downgrade"),
            })
        return {"revisions": revisions,
                "version_locations": [str(p) for p in self.script._version_locations],
                "recursive": bool(getattr(self.script, "recursive_version_locations", False)),
                "env_url": self.env_url}

    def heads(self):
        seen = {}

        def probe(heads, context):
            seen["heads"] = sorted(_tuple(heads))
            seen["where"] = _identity(context.connection)
            self.version_table = context.version_table
            self.version_table_schema = context.version_table_schema
            return []

        error = self.run_env(probe, destination_rev=None)
        if "heads" not in seen:
            # env.py did not reach run_migrations: fall back to the default version table
            from alembic.runtime.migration import MigrationContext
            from sqlalchemy import create_engine
            try:
                engine = create_engine(self.env_url.replace("+asyncpg", ""))
            except Exception:  # no sync driver in this environment
                return {"error": f"the project's env.py cannot run against the staging database: {error}"}
            try:
                with engine.connect() as conn:
                    ctx = MigrationContext.configure(conn, opts={"version_table": self.version_table})
                    seen["heads"] = sorted(ctx.get_current_heads())
                    seen["where"] = None
            except Exception:
                return {"error": f"the project's env.py cannot run against the staging database: {error}"}
            finally:
                engine.dispose()
        return {"heads": seen["heads"], "where": seen["where"], "version_table": self.version_table,
                "version_table_schema": self.version_table_schema}

    def run_env(self, fn, destination_rev):
        """Run env.py once with ``fn`` as its work function; the error as one line, or None."""
        from alembic.runtime.environment import EnvironmentContext

        def run():
            with EnvironmentContext(self.config, self.script, fn=fn, destination_rev=destination_rev):
                self.script.run_env()

        try:
            _in_anyio_worker(run) if self.worker_thread else run()
        except Exception as exc:
            if not self.worker_thread and _needs_anyio_worker(exc):
                # env.py calls anyio.from_thread (prefect's run_async_from_worker_thread):
                # its own command runs it from an event loop's worker thread; do the same
                self.worker_thread = True
                return self.run_env(fn, destination_rev)
            return _first_line(exc)
        return None

    def step(self, rev_id, upgrade, preflight, traffic):
        from alembic.runtime.migration import RevisionStep
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        script = self.script.get_revision(rev_id)
        path = os.path.abspath(script.path) if script.path else None
        tracer = StepTracer(path, self.version_table, preflight, traffic, self.statement_timeout_ms)

        def work(heads, context):
            tracer.start()  # in the thread env.py runs migrations in (a worker thread for some)
            if not upgrade and not hasattr(script.module, "downgrade"):
                raise MissingDowngrade(rev_id)
            return [RevisionStep(self.script.revision_map, script, upgrade)]

        hooks = [("before_cursor_execute", tracer.before), ("after_cursor_execute", tracer.after),
                 ("handle_error", tracer.error), ("commit", tracer.on_commit),
                 ("rollback", tracer.on_rollback)]
        for name, fn in hooks:
            event.listen(Engine, name, fn)
        started = time.perf_counter()
        try:
            error = self.run_env(work, destination_rev=rev_id if upgrade else None)
        finally:
            tracer.recording = False
            for name, fn in hooks:
                event.remove(Engine, name, fn)
        if error is not None and error.startswith(rev_id) and not hasattr(script.module, "downgrade"):
            error = f"revision {rev_id} has no downgrade() function"
        return {"error": error, "duration_s": round(time.perf_counter() - started, 6),
                "statements": tracer.finish()}

    def stamp(self, heads):
        """Record ``heads`` in the version table, through env.py (its driver, its version table)."""
        target = tuple(sorted(heads)) or "base"

        def work(current, context):
            context.stamp(self.script, target)
            return []

        error = self.run_env(work, destination_rev=None)
        return {"error": error} if error else {"ok": True}


def _repoint_flask_sqlalchemy(app, url):
    """Flask-SQLAlchemy 3 builds its engines when the app is created: replace them with one on ``url``."""
    ext = app.extensions.get("sqlalchemy")
    engines = getattr(ext, "_app_engines", None)
    if engines is None:
        return  # Flask-SQLAlchemy 2 creates engines lazily, from the config just set
    from sqlalchemy import create_engine
    with app.app_context():
        current = engines.get(app)
        if current is not None:
            for key, engine in list(current.items()):
                engine.dispose()
                current[key] = create_engine(url) if key is None else engine


def _declared_labels(script):
    declared = getattr(script, "_orig_branch_labels", None)
    return declared if declared is not None else (script.branch_labels or ())


def _env_uses_flask(script):
    env = os.path.join(script.dir, "env.py")
    try:
        with open(env, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return False
    return "current_app" in text and "flask" in text


def with_project_driver(url, *candidates):
    """``url`` with the PostgreSQL driver the project names in its own URL (ini or env var)."""
    from sqlalchemy.engine import make_url
    for candidate in candidates:
        if not candidate or "%(" in candidate:
            continue
        try:
            driver = make_url(candidate.strip()).drivername
        except Exception:
            continue
        if driver.split("+", 1)[0] in ("postgresql", "postgres") and "+" in driver:
            rendered = make_url(url).set(drivername="postgresql+" + driver.split("+", 1)[1])
            return _render_url(rendered)
    return url


def _render_url(url):
    try:
        return url.render_as_string(hide_password=False)
    except AttributeError:  # SQLAlchemy 1.3
        return str(url.__to_string__(hide_password=False))


def _identity(connection):
    from sqlalchemy import text
    try:
        return list(connection.execute(text("SELECT current_database(), pg_postmaster_start_time()::text")).one())
    except Exception:
        return None


def _tuple(value):
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _needs_anyio_worker(exc):
    return type(exc).__name__ == "NoEventLoopError" or "AnyIO worker thread" in str(exc)


def _in_anyio_worker(fn):
    import anyio
    import anyio.to_thread

    async def main():
        await anyio.to_thread.run_sync(fn)

    anyio.run(main)


def _quiet_logging():
    """env.py re-applies the ini's logging config on every step; keep its INFO lines quiet."""
    import logging
    if not os.environ.get("REHEARSE_VERBOSE"):
        logging.disable(logging.INFO)


def main():
    global IN, OUT
    IN = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
    OUT = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    try:
        import alembic
        import sqlalchemy
    except ImportError as exc:
        send({"fatal": "import", "message": str(exc), "python": sys.executable})
        return
    send({"ready": True, "python": sys.executable, "versions": {
        "python": sys.version.split()[0], "alembic": alembic.__version__, "sqlalchemy": sqlalchemy.__version__}})
    _quiet_logging()
    project = None
    while True:
        message = receive()
        op = message.get("op")
        try:
            if op == "init":
                try:
                    project = Project(message["ini"], message["url"], message.get("url_env"),
                                      message.get("flask_app"), message.get("statement_timeout_ms"))
                    project.script.revision_map.heads  # imports every revision file now
                except Exception as exc:
                    send({"reply": {"error": _first_line(exc), "kind": type(exc).__name__,
                                    "where": _where(exc)}})
                    continue
                send({"reply": project.describe()})
            elif op == "heads":
                send({"reply": project.heads()})
            elif op == "step":
                send({"reply": project.step(message["rev"], message["upgrade"], message.get("preflight"),
                                            message.get("traffic"))})
            elif op == "stamp":
                send({"reply": project.stamp(message["heads"])})
            elif op == "shutdown":
                send({"reply": {"ok": True}})
                sys.stderr.flush()
                sys.stdout.flush()
                os._exit(0)  # nothing is left to clean up: skip the interpreter's slow teardown
            else:
                send({"reply": {"error": f"unknown request {op!r}"}})
        except SystemExit:
            raise
        except BaseException as exc:  # a bug here must reach the parent as a message, not a hang
            send({"reply": {"error": _first_line(exc), "internal": traceback.format_exc(limit=5)}})


def _where(exc):
    """The project file (not Alembic's) an import error came from, for the parent's message."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "site-packages" not in name and "/lib/python" not in name and name != __file__:
            last = f"{name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return last


if __name__ == "__main__":
    main()
