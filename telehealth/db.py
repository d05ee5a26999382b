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
from typing import Any, Dict, Iterator, Optional, Tuple

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, create_engine, event, func,
    select, text,
)
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
    #: taken by a sender until then (a sender that died lets it go when the lease runs out)
    claimed_until = Column(DateTime(timezone=True), nullable=True)
    #: encrypted template body to send instead if Meta fails this message because the 24-hour
    #: window closed before it went out (error 131047); emptied once delivered or used
    fallback = Column(Text, nullable=True)

    #: the senders' poll (``store.due``) reads pending rows only (migration 0006)
    __table_args__ = (Index("ix_whatsapp_outbox_pending", "patient_ref", "id",
                            postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),)


# ----- doctors, consult requests and the portal (issue 5) -----------------------------------
# Phone numbers, notes and comments are stored encrypted (``telehealth.privacy.encrypt``);
# patients are known by ``patient_ref``. The state machine lives in ``telehealth.consults``.


class PortalUser(Base):
    """Someone who logs in to the doctors' portal: a volunteer doctor or an administrator."""

    __tablename__ = "portal_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    password_hash = Column(String(200), nullable=False)
    role = Column(String(16), nullable=False, default="doctor")  # doctor, admin
    ui_locale = Column(String(16), nullable=False, default="en")
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_login_at = Column(DateTime(timezone=True), nullable=True)


class Doctor(Base):
    """A volunteer doctor's profile; ``status`` says whether they may take requests."""

    __tablename__ = "doctors"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("portal_users.id"), nullable=False, unique=True)
    name = Column(String(120), nullable=False)
    registration_number = Column(String(64), nullable=False)
    council = Column(String(120), nullable=False)             # PMDC, or the foreign council
    specialty = Column(String(120), nullable=False, default="")
    gender = Column(String(8), nullable=False)                 # female, male, other
    country = Column(String(2), nullable=False, default="PK")  # ISO 3166-1 alpha-2
    city = Column(String(120), nullable=False, default="")
    timezone = Column(String(64), nullable=False, default="Asia/Karachi")
    #: {"mon": [["09:00", "17:00"]], ...} in the doctor's own time zone; empty: any time
    weekly_availability = Column(JSON, nullable=False, default=dict)
    whatsapp_number = Column(Text, nullable=False)   # encrypted E.164
    phone_number = Column(Text, nullable=False)      # encrypted E.164
    status = Column(String(16), nullable=False, default="pending", index=True)  # pending, verified, rejected, suspended
    status_by = Column(Integer, ForeignKey("portal_users.id"), nullable=True)
    status_reason = Column(String(500), nullable=True)
    status_at = Column(DateTime(timezone=True), nullable=True)
    capacity = Column(Integer, nullable=False, default=2)       # open consults at once
    open_consults = Column(Integer, nullable=False, default=0)
    available = Column(Boolean, nullable=False, default=False)  # the "I am available now" switch
    last_offered_at = Column(DateTime(timezone=True), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (Index("ix_doctors_match", "status", "available"),)


class DoctorLanguage(Base):
    """A language a doctor can consult in (``ur`` also serves Roman Urdu)."""

    __tablename__ = "doctor_languages"

    doctor_id = Column(Integer, ForeignKey("doctors.id", ondelete="CASCADE"), primary_key=True)
    locale = Column(String(16), primary_key=True, index=True)


class ConsultRequest(Base):
    """A patient's request to be called back by a doctor."""

    __tablename__ = "consult_requests"

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    patient_ref = Column(String(64), nullable=False, index=True)
    channel = Column(String(32), nullable=False, default="whatsapp")
    contact = Column(Text, nullable=True)            # encrypted chat id, for notifications
    callback_number = Column(Text, nullable=False)   # encrypted E.164
    call_type = Column(String(16), nullable=False)   # whatsapp, phone
    locale = Column(String(16), nullable=False, index=True)
    language_fallback = Column(Boolean, nullable=False, default=False)
    gender_preference = Column(String(8), nullable=True)  # female, male, None
    consent_share = Column(Boolean, nullable=False, default=False)
    screening_id = Column(Integer, ForeignKey("screening_results.id"), nullable=True)
    level = Column(String(16), nullable=True)
    priority = Column(Integer, nullable=False, index=True)
    state = Column(String(16), nullable=False, default="queued", index=True)
    doctor_id = Column(Integer, ForeignKey("doctors.id"), nullable=True, index=True)
    accepted_at = Column(DateTime(timezone=True), nullable=True)
    closed_at = Column(DateTime(timezone=True), nullable=True)
    sla_notified_at = Column(DateTime(timezone=True), nullable=True)
    outcome = Column(String(24), nullable=True)
    doctor_notes = Column(Text, nullable=True)       # encrypted
    feedback_rating = Column(Integer, nullable=True)
    feedback_comment = Column(Text, nullable=True)   # encrypted
    feedback_asked_at = Column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_consult_queue", "state", "priority", "created_at"),)


class ConsultEvent(Base):
    """Every state transition of a request, timestamped (the event log)."""

    __tablename__ = "consult_events"

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("consult_requests.id"), nullable=False, index=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    from_state = Column(String(16), nullable=True)
    to_state = Column(String(16), nullable=False)
    actor = Column(String(32), nullable=False)   # patient, system, doctor:<id>, admin:<id>
    detail = Column(String(200), nullable=True)  # never personal data


class ConsultOffer(Base):
    """A request offered to one doctor until it expires, is taken, or is withdrawn."""

    __tablename__ = "consult_offers"

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("consult_requests.id"), nullable=False)
    doctor_id = Column(Integer, ForeignKey("doctors.id"), nullable=False)
    offered_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    state = Column(String(16), nullable=False, default="open")  # open, accepted, expired, withdrawn

    __table_args__ = (
        Index("ix_offers_doctor_state", "doctor_id", "state"),
        Index("ix_offers_request_state", "request_id", "state"),
        Index("ix_offers_state_expires", "state", "expires_at"),
    )


class AuditEntry(Base):
    """Who did or saw what in the portal (every view of a patient's data is one entry)."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    user_id = Column(Integer, ForeignKey("portal_users.id"), nullable=True, index=True)
    action = Column(String(48), nullable=False)   # view_consult, accept_consult, verify_doctor, login, ...
    subject = Column(String(64), nullable=True)   # consult:12, doctor:3
    ip = Column(String(64), nullable=True)


class LoginAttempt(Base):
    """Portal log-ins, for rate limiting (by e-mail and by address) and the audit."""

    __tablename__ = "login_attempts"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    email = Column(String(254), nullable=False)
    ip = Column(String(64), nullable=False)
    success = Column(Boolean, nullable=False)

    __table_args__ = (Index("ix_login_email_at", "email", "at"), Index("ix_login_ip_at", "ip", "at"))


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


_engines: Dict[str, Engine] = {}
_upgraded: set = set()
_lock = threading.RLock()  # re-entered: ensure_schema -> upgrade -> _migration_lock -> get_engine


def _sqlite_directory(url: str) -> None:
    """A SQLite file's directory must exist before anything connects (var/ on a fresh clone)."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


#: How long a SQLite writer waits for another process's write to finish (the embedded profile has
#: several processes on one file: Rasa, the action server, the portal, the receiver's workers).
SQLITE_BUSY_SECONDS = 30


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Write-ahead logging: readers never wait for a writer, and writers queue for
    ``SQLITE_BUSY_SECONDS`` instead of failing with "database is locked" under a burst."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.close()


def get_engine(url: Optional[str] = None) -> Engine:
    url = url or database_url()
    with _lock:
        if url not in _engines:
            _sqlite_directory(url)
            if url.startswith("sqlite"):
                engine = create_engine(url, future=True, pool_pre_ping=True,
                                       connect_args={"timeout": SQLITE_BUSY_SECONDS})
                if url != "sqlite://" and ":memory:" not in url:
                    event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, future=True, pool_pre_ping=True)
            _engines[url] = engine
        return _engines[url]


def alembic_config(url: Optional[str] = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return cfg


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """One migrating process at a time per database (processes starting together on a new one):
    a file lock beside a SQLite file, an advisory lock on PostgreSQL."""
    if url.startswith("sqlite:///"):
        import fcntl

        with open(url[len("sqlite:///"):] + ".migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if url.startswith(("postgresql", "postgres")):
        from sqlalchemy import text

        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(72610001)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(72610001)"))
        return
    yield


def upgrade(url: Optional[str] = None) -> None:
    """Apply every pending migration (idempotent; safe when several processes start at once)."""
    from alembic import command

    url = url or database_url()
    _sqlite_directory(url)
    with _migration_lock(url):
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
