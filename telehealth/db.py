"""The application database: SQLAlchemy models and sessions; the schema is managed by Alembic.

``DATABASE_URL`` selects the database (SQLAlchemy URL); the embedded default is a SQLite file
``var/telehealth.db`` under the project. PostgreSQL in production:
``DATABASE_URL=postgresql+psycopg2://user@host:5432/db``. ``upgrade()`` brings any database to
the newest migration (``telehealth/migrations``); it runs when the action server first touches
the database and from ``make migrate``.

No phone number is stored here: patients are known by ``telehealth.privacy.patient_ref``.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Text, create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'telehealth.db'}"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ScreeningResult(Base):
    """One completed (or emergency-ended) screening: what the triage decided, and from what."""

    __tablename__ = "screening_results"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    patient_ref = Column(String(64), nullable=False, index=True)
    locale = Column(String(16), nullable=False, index=True)
    for_whom = Column(String(8), nullable=True)
    age = Column(Integer, nullable=True)
    warning_signs = Column(Boolean, nullable=False, default=False)
    symptoms = Column(JSON, nullable=False, default=list)
    days = Column(Integer, nullable=True)
    exposure = Column(String(8), nullable=True)
    comorbidities = Column(JSON, nullable=False, default=list)
    level = Column(String(16), nullable=False, index=True)
    reasons = Column(JSON, nullable=False, default=list)
    advice = Column(String(32), nullable=False)
    priority = Column(Integer, nullable=False)
    rules_version = Column(String(16), nullable=False)


class WhatsAppInbound(Base):
    """Every WhatsApp message received, once (the message id is the key: a replay, even after a
    restart, is a duplicate). The text waits here, encrypted, until the conversation took it."""

    __tablename__ = "whatsapp_inbound"

    message_id = Column(String(128), primary_key=True)
    patient_ref = Column(String(64), nullable=False, index=True)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    payload = Column(Text, nullable=True)        # encrypted JSON; emptied once processed
    processed_at = Column(DateTime(timezone=True), nullable=True, index=True)


class WhatsAppOutbox(Base):
    """Everything to be sent, stored before it is sent (encrypted), in order per recipient."""

    __tablename__ = "whatsapp_outbox"

    id = Column(Integer, primary_key=True)
    patient_ref = Column(String(64), nullable=False, index=True)
    payload = Column(Text, nullable=True)        # encrypted request body (holds the number); emptied once final
    state = Column(String(16), nullable=False, default="pending", index=True)  # pending, sent, failed
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at = Column(DateTime(timezone=True), nullable=True)
    wamid = Column(String(128), nullable=True, index=True)
    delivery = Column(String(16), nullable=True)  # sent, delivered, read, failed (from status webhooks)
    last_error = Column(String(200), nullable=True)  # error code and title only


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


_engines: Dict[str, Engine] = {}
_upgraded: set = set()
_lock = threading.Lock()


def _sqlite_directory(url: str) -> None:
    """A SQLite file's directory must exist before anything connects (var/ on a fresh clone)."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def get_engine(url: Optional[str] = None) -> Engine:
    url = url or database_url()
    with _lock:
        if url not in _engines:
            _sqlite_directory(url)
            _engines[url] = create_engine(url, future=True, pool_pre_ping=True)
        return _engines[url]


def alembic_config(url: Optional[str] = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


def upgrade(url: Optional[str] = None) -> None:
    """Apply every pending migration (idempotent)."""
    from alembic import command

    url = url or database_url()
    _sqlite_directory(url)
    command.upgrade(alembic_config(url), "head")


def ensure_schema(url: Optional[str] = None) -> None:
    """Upgrade once per process and database."""
    url = url or database_url()
    if url in _upgraded:
        return
    with _lock:
        if url in _upgraded:
            return
        upgrade(url)
        _upgraded.add(url)


@contextmanager
def session_scope(url: Optional[str] = None) -> Iterator[Session]:
    ensure_schema(url)
    session = sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def outcome_counts(url: Optional[str] = None) -> Dict[Tuple[str, str], int]:
    """Completed screenings by (locale, level), for operators."""
    with session_scope(url) as session:
        rows = session.execute(
            select(ScreeningResult.locale, ScreeningResult.level, func.count()).group_by(
                ScreeningResult.locale, ScreeningResult.level
            )
        ).all()
    return {(locale, level): n for locale, level, n in rows}


def main() -> int:
    """``python -m telehealth.db [upgrade|report]``"""
    import sys

    what = sys.argv[1] if len(sys.argv) > 1 else "upgrade"
    if what == "upgrade":
        upgrade()
        print("database is at the newest migration")
        return 0
    if what == "report":
        counts = outcome_counts()
        print(f"{'locale':8} {'level':10} screenings")
        for (locale, level), n in sorted(counts.items()):
            print(f"{locale:8} {level:10} {n}")
        return 0
    print("usage: python -m telehealth.db [upgrade|report]")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
