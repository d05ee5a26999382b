"""The application database: Alembic migrations and stored screening results, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from telehealth import db
from telehealth.screenings import save_result
from telehealth.triage import Answers, Exposure, triage
from tests.conftest import require_service

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        with sa.create_engine(PG_ADMIN_URL, future=True).connect():
            return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    require_service("PostgreSQL (TEST_POSTGRES_URL)", _pg_reachable())
    name = f"telehealth_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine = db._engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        db._upgraded.discard(url)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_migrations_upgrade_and_downgrade(database_url):
    from alembic import command

    db.upgrade(database_url)
    tables = sa.inspect(db.get_engine(database_url)).get_table_names()
    assert "screening_results" in tables and "alembic_version" in tables
    command.downgrade(db.alembic_config(database_url), "base")
    assert "screening_results" not in sa.inspect(db.get_engine(database_url)).get_table_names()
    db.upgrade(database_url)
    db.upgrade(database_url)  # idempotent


def test_results_are_stored_and_counted_by_locale_and_level(database_url):
    high = Answers(age=70, symptoms=frozenset({"fever", "cough"}), exposure=Exposure.YES)
    low = Answers(age=20)
    save_result("ref-a", "ur", "self", high, triage(high), url=database_url)
    save_result("ref-b", "ur", "other", low, triage(low), url=database_url)
    save_result("ref-c", "ps", None, low, triage(low), url=database_url)
    assert db.outcome_counts(database_url) == {("ur", "high"): 1, ("ur", "low"): 1, ("ps", "low"): 1}
    with db.session_scope(database_url) as session:
        row = session.query(db.ScreeningResult).filter_by(patient_ref="ref-a").one()
    assert (row.level, row.priority, row.exposure, row.symptoms) == ("high", 2, "yes", ["cough", "fever"])
    assert row.rules_version and row.created_at is not None


def test_the_schema_has_no_column_for_a_phone_number():
    columns = {c.name for c in db.ScreeningResult.__table__.columns}
    assert not columns & {"phone", "phone_number", "sender_id", "msisdn", "wa_id"}


def test_patient_ref_is_keyed_and_stable(monkeypatch):
    from telehealth import privacy

    monkeypatch.setenv("PATIENT_ID_KEY", "k1")
    privacy._key.cache_clear()
    a = privacy.patient_ref("+923001234567")
    assert a == privacy.patient_ref("+923001234567") and "3001234567" not in a
    monkeypatch.setenv("PATIENT_ID_KEY", "k2")
    privacy._key.cache_clear()
    assert privacy.patient_ref("+923001234567") != a
    privacy._key.cache_clear()


def test_local_secret_created_by_many_callers_at_once_is_whole_and_shared(tmp_path):
    """The receiver's first webhooks arrive together on a new checkout: every caller must get
    the same complete key (once, a caller read the file before its creator had written it and
    the webhook failed with "Fernet key must be 32 url-safe base64-encoded bytes")."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from telehealth import privacy

    path = tmp_path / "var" / "some.key"
    barrier = threading.Barrier(8)

    def slow_key() -> bytes:
        time.sleep(0.1)  # a slow writer: the others must not read a half-made file meanwhile
        return b"k" * 44

    def call(_):
        barrier.wait()
        return privacy._local_secret(path, "SOME_KEY", slow_key)

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(call, range(8)))
    assert values == [b"k" * 44] * 8
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["some.key"]  # no temporary files left


def test_processes_starting_together_on_a_new_database_migrate_it_once(database_url):
    """The action server, the Rasa server and the portal may all touch a new database at once."""
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database_url}
    procs = [subprocess.Popen([sys.executable, "-m", "telehealth.db", "upgrade"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs[-1][-2000:]
    assert "whatsapp_outbox" in sa.inspect(db.get_engine(database_url)).get_table_names()


def test_sqlite_files_use_write_ahead_logging_and_wait_for_a_busy_writer(tmp_path):
    """Several processes share the embedded database: a write waits for another, it does not fail."""
    import sqlite3
    import threading
    import time

    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'app.db'}"
    with db.get_engine(url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_SECONDS * 1000
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.commit()
    other = sqlite3.connect(tmp_path / "app.db", isolation_level=None, check_same_thread=False)  # another writer
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    threading.Timer(1.0, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    with db.get_engine(url).begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert time.monotonic() - started >= 0.9
    with db.get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    db._engines.pop(url).dispose()
