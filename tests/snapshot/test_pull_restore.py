"""Pull and restore against the real 5432 server: read-only, consistent, no leaks, keys intact."""

from __future__ import annotations

import io
import subprocess
import threading
import time
import json
import uuid

import psycopg2
import pytest
import zstandard

from rehearse.errors import LeakDetected, PolicyError, SnapshotError, SourceUnreachable
from rehearse.snapshot.format import MANIFEST, read_snapshot
from rehearse.snapshot.pull import inspect_source, pull_snapshot
from rehearse.snapshot.restore import restore_snapshot

from snapshot_shop import PLANTED, admin as _admin


def _snapshot_text(path) -> str:
    """Everything a snapshot holds, as text: decompressed data files, manifest and schema."""
    parts = [(path / MANIFEST).read_text()]
    for f in sorted((path / "data").glob("*.zst")):
        parts.append(zstandard.ZstdDecompressor().stream_reader(f.open("rb"), read_across_frames=True).read().decode())
    parts.append(subprocess.run(["pg_restore", "-f", "-", str(path / "schema.dump")], capture_output=True,
                                text=True, check=True).stdout)
    return "\n".join(parts)


def _db_text(dsn: str) -> str:
    out = io.StringIO()
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables")
        for (table,) in cur.fetchall():
            cur.copy_expert(f"COPY {table} TO STDOUT", out)
    return out.getvalue()


def _planted_variants():
    for value in PLANTED.values():
        yield value
        yield value.replace(" ", "")


def test_inspect_source_reads_version_settings_and_roles(shop):
    _, url, _ = shop
    info = inspect_source(url)
    assert info.major >= 10 and info.database == shop[0]
    assert "work_mem" in info.settings and "search_path" in info.settings
    assert "postgres" in info.roles
    assert info.encoding == "UTF8"


def test_unreachable_source_is_one_line_without_password():
    with pytest.raises(SourceUnreachable) as exc:
        inspect_source("postgresql://someone:hunter2@127.0.0.1:1/nowhere")
    text = exc.value.one_line()
    assert "hunter2" not in text and "\n" not in text and "127.0.0.1" in text


def test_unanonymized_pull_does_carry_the_planted_values(shop, tmp_path):
    """The check the leak tests rely on: planted values are visible when nothing anonymizes them."""
    snap = pull_snapshot(shop[1], tmp_path / "raw", anonymize=False)
    text = _snapshot_text(snap.path)
    assert all(value in text for value in PLANTED.values())


@pytest.mark.parametrize("split_pages", [1024, 4])
def test_planted_pii_never_reaches_snapshot_or_restored_db(shop, policy_file, tmp_path, make_staging, monkeypatch,
                                                           split_pages):
    from rehearse.snapshot import pull

    monkeypatch.setattr(pull, "SPLIT_PAGES", split_pages)
    _, url, _ = shop
    snap = pull_snapshot(url, tmp_path / "snap", policy_path=policy_file)
    assert snap.anonymized and snap.leak_scan["performed"] and snap.leak_scan["leaks"] == 0
    text = _snapshot_text(snap.path)
    for value in _planted_variants():
        assert value not in text, f"planted {value!r} is in the snapshot"
    assert "corp-mail.com" not in text  # no original email of any row survived, forgotten table included
    staging = make_staging()
    stats = restore_snapshot(read_snapshot(snap.path), staging)
    assert stats.rows == snap.total_rows
    restored = _db_text(staging.dsn)
    for value in _planted_variants():
        assert value not in restored, f"planted {value!r} is in the restored database"
    with psycopg2.connect(staging.dsn) as conn, conn.cursor() as cur:
        # anonymized foreign keys still join; unique emails stayed unique through post-data
        cur.execute("SELECT count(*) FROM orders o JOIN customers c ON c.email = o.customer_email")
        joined = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM orders")
        assert joined == cur.fetchone()[0] > 0
        cur.execute("SELECT count(*), count(DISTINCT email) FROM customers")
        total, distinct = cur.fetchone()
        assert total == distinct == 301
        cur.execute("SELECT notes, profile->'prefs'->>'lang', country FROM customers WHERE notes LIKE 'Please write%'")
        notes, lang, country = cur.fetchone()
        assert notes.startswith("Please write to ") and notes.endswith(" after 5pm") and lang == "en"
        assert country == "UK"  # kept on purpose
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")
        assert "ix_orders_customer" in {r[0] for r in cur.fetchall()}
        cur.execute("SELECT nextval('orders_id_seq')")
        assert cur.fetchone()[0] > 900  # sequences continue after the copied rows


def test_same_secret_same_files_different_secret_different(shop, policy_file, tmp_path):
    _, url, _ = shop
    a = pull_snapshot(url, tmp_path / "a", policy_path=policy_file, secret=b"one" * 16)
    b = pull_snapshot(url, tmp_path / "b", policy_path=policy_file, secret=b"one" * 16)
    c = pull_snapshot(url, tmp_path / "c", policy_path=policy_file, secret=b"two" * 16)
    by_name = lambda s: {t.qualified: t.sha256 for t in s.tables}  # noqa: E731
    assert by_name(a) == by_name(b)
    assert by_name(a)["public.customers"] != by_name(c)["public.customers"]
    assert by_name(a)["public.orders"] != by_name(c)["public.orders"]  # customer_email follows customers.email


def test_pull_is_read_only_works_for_a_select_only_role(shop, policy_file, tmp_path):
    name, _, dsn = shop
    role = f"rh_ro_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN")
            cur.execute(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
            cur.execute(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
            cur.execute("SELECT count(*) FROM pg_class")
            before_objects = cur.fetchone()[0]
            cur.execute("SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")
        snap = pull_snapshot(f"postgresql://{role}@127.0.0.1:5432/{name}", tmp_path / "ro", policy_path=policy_file)
        assert snap.total_rows > 0
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class")
            assert cur.fetchone()[0] == before_objects
    finally:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")  # its grants, so the role can go
        admin.cursor().execute(f"DROP ROLE {role}")
        admin.close()


def test_pull_sees_one_instant_while_writes_continue(source_db, tmp_path, make_staging, monkeypatch):
    from rehearse.snapshot import pull

    monkeypatch.setattr(pull, "SPLIT_PAGES", 8)  # big tables are read in block ranges by both workers
    _, url, dsn = source_db
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE debit (id int PRIMARY KEY, amount int); CREATE TABLE credit (id int PRIMARY KEY, amount int)")
        cur.execute("INSERT INTO debit SELECT g, 1 FROM generate_series(1, 20000) g; "
                    "INSERT INTO credit SELECT g, 1 FROM generate_series(1, 20000) g")
    stop = threading.Event()
    written = []

    def writer():
        conn = psycopg2.connect(dsn)
        i = 20000
        while not stop.is_set():
            i += 1
            with conn, conn.cursor() as cur:  # one transaction writes both sides
                cur.execute("INSERT INTO debit VALUES (%s, 1)", (i,))
                time.sleep(0.001)
                cur.execute("INSERT INTO credit VALUES (%s, 1)", (i,))
            written.append(i)
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        snap = pull_snapshot(url, tmp_path / "c", anonymize=False, jobs=2)
    finally:
        stop.set()
        t.join()
    assert written, "the writer never ran"
    rows = {t.name: t.rows for t in snap.tables}
    assert rows["debit"] == rows["credit"]
    staging = make_staging()
    restore_snapshot(snap, staging)
    with psycopg2.connect(staging.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM debit d FULL JOIN credit c USING (id) WHERE d.id IS NULL OR c.id IS NULL")
        assert cur.fetchone()[0] == 0


def test_tampered_file_is_refused_by_name(shop, policy_file, tmp_path, make_staging):
    _, url, _ = shop
    snap = pull_snapshot(url, tmp_path / "t", policy_path=policy_file)
    victim = snap.path / snap.tables[0].file
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(SnapshotError) as exc:
        restore_snapshot(snap, make_staging())
    assert str(victim) in exc.value.one_line() and "checksum" in exc.value.one_line()
    with pytest.raises(SnapshotError):
        read_snapshot(snap.path)


def test_missing_and_incomplete_snapshots_are_refused(tmp_path):
    with pytest.raises(SnapshotError, match="does not exist"):
        read_snapshot(tmp_path / "nope")
    (tmp_path / "half" / "data").mkdir(parents=True)
    with pytest.raises(SnapshotError, match="incomplete"):
        read_snapshot(tmp_path / "half")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MANIFEST).write_text("{not json")
    with pytest.raises(SnapshotError, match="corrupt"):
        read_snapshot(tmp_path / "bad")


def test_leak_aborts_and_leaves_no_complete_looking_snapshot(shop, tmp_path):
    name, url, dsn = shop
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        # a kept column quietly copies an email that lives only inside a JSON document: the value
        # dictionary holds text columns' originals, so this one is the leak scan's to find
        cur.execute("CREATE TABLE audit (id serial PRIMARY KEY, status_text text)")
        cur.execute("INSERT INTO audit (status_text) SELECT 'ok' FROM generate_series(1, 5)")
        cur.execute("INSERT INTO audit (status_text) VALUES (%s)", (PLANTED["json_email"],))
    policy = tmp_path / "p.yaml"
    policy.write_text("tables:\n  customers:\n    columns:\n      email: fake:email\n"
                      "      profile: {strategy: json, paths: {'$.email': fake:email}}\n"
                      "  audit:\n    columns:\n      status_text: {strategy: keep, acknowledge: true}\n")
    out = tmp_path / "leaky"
    with pytest.raises(LeakDetected) as exc:
        pull_snapshot(url, out, policy_path=policy)
    line = exc.value.one_line()
    assert "public.customers.profile" in line and "public.audit.status_text" in line
    assert PLANTED["json_email"] not in line  # the column pair, never the value
    assert not out.exists()
    assert not list(tmp_path.glob("leaky*"))


def test_a_kept_copy_of_a_personal_value_gets_the_columns_fake(shop, tmp_path):
    name, url, dsn = shop
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE audit (id serial PRIMARY KEY, status_text text)")
        cur.execute("INSERT INTO audit (status_text) VALUES (%s), (%s)",
                    (PLANTED["email"], f"mailed {PLANTED['email'].upper()} twice"))
    policy = tmp_path / "p.yaml"
    policy.write_text("tables:\n  customers:\n    columns:\n      email: fake:email\n"
                      "  audit:\n    columns:\n      status_text: {strategy: keep, acknowledge: true}\n")
    snap = pull_snapshot(url, tmp_path / "clean", policy_path=policy, say=None)
    text = _snapshot_text(snap.path)
    assert PLANTED["email"] not in text.lower()
    staging_rows = {t.name: rows.decode() for t, rows in zip(snap.tables, _dump_rows(snap))}
    fake = [line.split("\t")[1] for line in staging_rows["audit"].splitlines()]
    assert fake[0] in staging_rows["customers"]  # the same fake as the customer's email: joins by value hold
    assert fake[1] == f"mailed {fake[0]} twice"


def test_unique_column_with_colliding_rule_is_refused_before_reading(shop, tmp_path):
    _, url, _ = shop
    policy = tmp_path / "p.yaml"
    policy.write_text("tables:\n  customers:\n    columns:\n      email: fake:name\n")
    with pytest.raises(PolicyError) as exc:
        pull_snapshot(url, tmp_path / "u", policy_path=policy)
    msg = exc.value.one_line()
    assert "p.yaml:4" in msg and "tables.public.customers.columns.email" in msg and "unique" in msg
    assert not (tmp_path / "u").exists()


def test_strict_refuses_uncovered_and_unacknowledged_columns(shop, policy_file, tmp_path):
    _, url, _ = shop
    with pytest.raises(PolicyError) as exc:
        pull_snapshot(url, tmp_path / "s1", policy_path=policy_file, strict=True)
    assert "public.newsletter_signups.contact" in exc.value.one_line()
    full = policy_file.read_text() + ("  newsletter_signups:\n    columns:\n      id: keep\n"
                                      "      contact: keep\n      signed_up: keep\n")
    strict_policy = tmp_path / "strict.yaml"
    strict_policy.write_text(full)
    with pytest.raises(PolicyError) as exc:
        pull_snapshot(url, tmp_path / "s2", policy_path=strict_policy, strict=True)
    assert "newsletter_signups.contact" in exc.value.one_line() and "email" in exc.value.one_line()
    strict_policy.write_text(full.replace("contact: keep", "contact: fake:email"))
    snap = pull_snapshot(url, tmp_path / "s3", policy_path=strict_policy, strict=True)
    assert snap.total_rows > 0


def test_no_secret_uses_a_random_key_says_so_and_records_it(shop, tmp_path, monkeypatch):
    monkeypatch.delenv("REHEARSE_SECRET", raising=False)
    heard: list[str] = []
    a = pull_snapshot(shop[1], tmp_path / "a", say=heard.append)
    b = pull_snapshot(shop[1], tmp_path / "b", say=lambda _: None)
    assert sum("random key" in line for line in heard) == 1
    manifest = json.loads((a.path / MANIFEST).read_text())
    assert manifest["fakes_stable_across_snapshots"] is False and manifest["secret_origin"] == "random"
    # consistent inside one snapshot, different between two
    assert _dump_rows(a) != _dump_rows(b)


def test_a_short_secret_is_refused_before_connecting(tmp_path, monkeypatch):
    from rehearse.errors import BadInput

    monkeypatch.setenv("REHEARSE_SECRET", "short")
    with pytest.raises(BadInput, match="at least 16"):
        pull_snapshot("postgresql://nobody@127.0.0.1:1/none", tmp_path / "x")
    key = tmp_path / "key"
    key.write_text("fifteen-bytes!!\n")
    with pytest.raises(BadInput, match="at least 16"):
        pull_snapshot("postgresql://nobody@127.0.0.1:1/none", tmp_path / "x", secret_file=key)


def test_secret_file_keys_the_fakes_like_the_environment(shop, tmp_path, monkeypatch):
    key = tmp_path / "key"
    key.write_text("a-secret-from-a-file-0123456789\n")
    from_file = pull_snapshot(shop[1], tmp_path / "f", secret_file=key, say=None)
    monkeypatch.setenv("REHEARSE_SECRET", "a-secret-from-a-file-0123456789")
    from_env = pull_snapshot(shop[1], tmp_path / "e", say=None)
    assert _dump_rows(from_file) == _dump_rows(from_env)
    assert json.loads((from_file.path / MANIFEST).read_text())["fakes_stable_across_snapshots"] is True


def test_snapshot_directories_are_0700_and_files_0600(shop, tmp_path):
    snap = pull_snapshot(shop[1], tmp_path / "m", say=None)
    modes = {p.relative_to(snap.path).as_posix(): p.stat().st_mode & 0o777 for p in [snap.path, *snap.path.rglob("*")]}
    assert modes["."] == 0o700 and modes["data"] == 0o700
    files = {k: m for k, m in modes.items() if (snap.path / k).is_file()}
    assert files and set(files.values()) == {0o600}, files


def _dump_rows(snap) -> list[bytes]:
    return [zstandard.ZstdDecompressor().stream_reader((snap.path / t.file).open("rb"), read_across_frames=True).read()
            for t in snap.tables]


def test_restore_keeps_owners_when_roles_exist(source_db, tmp_path, make_staging):
    name, url, dsn = source_db
    role = f"rh_owner_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    try:
        admin.cursor().execute(f"CREATE ROLE {role}")
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO {role}")
        snap = pull_snapshot(url, tmp_path / "o", anonymize=False)
        assert role in snap.source.roles
        staging = make_staging()
        stats = restore_snapshot(snap, staging)
        assert stats.owners_restored
        with psycopg2.connect(staging.dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'owned'")
            assert cur.fetchone()[0] == role
    finally:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS owned")
        admin.close()
        _drop_role_later.append(role)  # dropped once the staging copies owned by it are gone


_drop_role_later: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _drop_roles():
    yield
    admin = _admin()
    try:
        for role in _drop_role_later:
            admin.cursor().execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        admin.close()


def test_skip_data_single_worker_with_progress(shop, policy_file, tmp_path, make_staging):
    _, url, _ = shop
    policy_file.write_text(policy_file.read_text() + "  newsletter_signups:\n    data: skip\n")
    snap = pull_snapshot(url, tmp_path / "skip", policy_path=policy_file, jobs=1, progress=True)
    assert "public.newsletter_signups" not in {t.qualified for t in snap.tables}
    stats = restore_snapshot(snap, make_staging(), jobs=1)
    assert any("newsletter_signups" in w for w in stats.warnings)
    assert stats.rows == snap.total_rows


def test_strict_pull_fails_on_kept_person_names_naming_column_and_count(source_db, tmp_path):
    _, url, dsn = source_db
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        # people named in a kept column, but in no personal column: only the name dictionaries know
        cur.execute("CREATE TABLE visits (id int PRIMARY KEY, remark text, seen text)")
        cur.execute("INSERT INTO visits SELECT g, CASE WHEN g % 10 = 0 THEN 'Met Anna Schmidt at the desk' "
                    "ELSE 'walk-in' END, 'Met Anna Schmidt' FROM generate_series(1, 50) g")
    policy = tmp_path / "p.yaml"
    policy.write_text("tables:\n  visits:\n    columns:\n      id: keep\n"
                      "      remark: {strategy: keep, acknowledge: true}\n      seen: keep\n")
    with pytest.raises(LeakDetected) as exc:
        pull_snapshot(url, tmp_path / "strict", policy_path=policy, strict=True, say=None)
    line = exc.value.one_line()
    assert "public.visits.seen: 50 name pairs" in line and "remark" not in line.split(";")[0]
    assert "Anna" not in line  # the column and the count, never the value
    assert not (tmp_path / "strict").exists()
    heard: list[str] = []
    pull_snapshot(url, tmp_path / "lenient", policy_path=policy, strict=False, say=heard.append)
    assert any("public.visits.seen: 50 name pairs" in h for h in heard), heard
