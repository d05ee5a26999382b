"""Retention: old conversation events and finished WhatsApp records are deleted, not kept forever.

Conversations are health data, and the tables that hold them grow with every message (a
helpline's tracker ``events`` table reaches millions of rows in weeks; the bench measured about
10 % more CPU per turn at 1.7 million rows). What the service needs is small:

- Rasa's tracker store loads a conversation from its latest ``session_started`` event on
  (the session expiry in domain.yml starts a new one after 12 hours of silence). Events of a
  sender's *earlier* sessions are never read again by the bot; they are deleted once older than
  ``TRACKER_RETENTION_DAYS`` (default 30). The latest session stays, and with it the language the
  patient chose (``action_session_start`` carries it over from there).
- A conversation silent for ``CONVERSATION_RETENTION_DAYS`` (default 365) is deleted whole: the
  patient is then greeted as new and asked for the language again.
- ``whatsapp_inbound``: processed messages older than ``INBOUND_RETENTION_DAYS`` (default 14).
  The row is what makes a replayed webhook a duplicate; Meta retries a webhook for up to 7 days,
  so the default keeps twice that. Unprocessed messages are never deleted here.
- ``whatsapp_outbox``: sent or failed messages older than ``OUTBOX_RETENTION_DAYS`` (default 30;
  delivery and read statuses arrive within minutes to days). Pending messages are never deleted.

Screening results, consult requests and the portal's audit log are the service's records and are
not touched (how long a health ministry keeps them is its policy, not a default of ours).

Deletes run in batches (``BATCH`` rows per statement and transaction), so a first run on a big
table does not hold one long transaction. The portal process runs a pass every
``RETENTION_INTERVAL_HOURS`` (default 6; 0: never, e.g. when a cron job runs it instead);
``python -m telehealth.retention`` runs one pass and prints what it deleted.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Dict, Mapping, Optional

import sqlalchemy as sa

from telehealth import db, deploy

logger = logging.getLogger(__name__)

BATCH = 5000
DEFAULTS = {
    "TRACKER_RETENTION_DAYS": 30.0,
    "CONVERSATION_RETENTION_DAYS": 365.0,
    "INBOUND_RETENTION_DAYS": 14.0,
    "OUTBOX_RETENTION_DAYS": 30.0,
}
#: A replayed webhook must stay a duplicate for as long as Meta retries it (7 days).
MIN_INBOUND_DAYS = 7.0


@dataclass(frozen=True)
class Policy:
    tracker_days: float = DEFAULTS["TRACKER_RETENTION_DAYS"]
    conversation_days: float = DEFAULTS["CONVERSATION_RETENTION_DAYS"]
    inbound_days: float = DEFAULTS["INBOUND_RETENTION_DAYS"]
    outbox_days: float = DEFAULTS["OUTBOX_RETENTION_DAYS"]

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Policy":
        env = os.environ if env is None else env
        values = {}
        for name, default in DEFAULTS.items():
            raw = (env.get(name) or "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise deploy.ConfigurationError(f"{name} must be a number of days, not {raw!r}") from None
            if value <= 0:
                raise deploy.ConfigurationError(f"{name} must be more than 0 days")
            values[name] = value
        if values["INBOUND_RETENTION_DAYS"] < MIN_INBOUND_DAYS:
            raise deploy.ConfigurationError(
                f"INBOUND_RETENTION_DAYS must be at least {MIN_INBOUND_DAYS:g}: Meta retries a webhook for "
                "up to 7 days, and a retry after its message was forgotten would be answered twice")
        return cls(values["TRACKER_RETENTION_DAYS"], values["CONVERSATION_RETENTION_DAYS"],
                   values["INBOUND_RETENTION_DAYS"], values["OUTBOX_RETENTION_DAYS"])


@dataclass
class Report:
    deleted: Dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        self.deleted[what] = self.deleted.get(what, 0) + n

    def __str__(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.deleted.items()) or "nothing"


def tracker_url(env: Optional[Mapping[str, str]] = None) -> str:
    """The tracker store's database, as the deployment profile configures Rasa."""
    env = os.environ if env is None else env
    if deploy.profile(dict(env)) == deploy.EMBEDDED:
        return f"sqlite:///{deploy.ROOT / deploy.EMBEDDED_TRACKER_DB}"
    return env.get("TRACKER_DB_URL") or env["DATABASE_URL"]


_EVENTS = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"),
                   sa.column("timestamp"))


def _delete_batches(engine: sa.engine.Engine, ids: sa.Select, table: sa.TableClause, key: sa.ColumnClause) -> int:
    """Delete the rows whose ``key`` is in ``ids``, ``BATCH`` at a time. ``ids`` selects from an
    alias of ``table``, so that it is not correlated with the DELETE's own table."""
    total = 0
    while True:
        with engine.begin() as conn:
            n = conn.execute(sa.delete(table).where(key.in_(ids.limit(BATCH)))).rowcount
        total += n
        if n < BATCH:
            return total


def purge_tracker(url: str, policy: Policy, now: datetime, report: Report) -> None:
    engine = db.get_engine(url)
    if not sa.inspect(engine).has_table("events"):
        return  # Rasa has not started on this database yet
    events = sa.alias(_EVENTS, "e")
    # Whole conversations silent for longer than the conversation retention.
    stale = (sa.select(events.c.sender_id).group_by(events.c.sender_id)
             .having(sa.func.max(events.c.timestamp) < (now - timedelta(days=policy.conversation_days)).timestamp()))
    with engine.begin() as conn:
        senders = [row[0] for row in conn.execute(stale)]
    for i in range(0, len(senders), 500):
        chunk = senders[i:i + 500]
        report.add("conversations", len(chunk))
        report.add("tracker events", _delete_batches(
            engine, sa.select(events.c.id).where(events.c.sender_id.in_(chunk)), _EVENTS, _EVENTS.c.id))
    # Events of earlier sessions, once old enough: those before the sender's latest session_started,
    # by the same test as Rasa's SQLTrackerStore uses to load a conversation (its timestamp).
    starts = _EVENTS.alias("s")
    latest_start = (sa.select(starts.c.sender_id, sa.func.max(starts.c.timestamp).label("at"))
                    .where(starts.c.type_name == "session_started").group_by(starts.c.sender_id).subquery())
    old = (sa.select(events.c.id).join(latest_start, latest_start.c.sender_id == events.c.sender_id)
           .where(events.c.timestamp < (now - timedelta(days=policy.tracker_days)).timestamp(),
                  events.c.timestamp < latest_start.c.at))
    report.add("tracker events", _delete_batches(engine, old, _EVENTS, _EVENTS.c.id))


def purge_whatsapp(url: Optional[str], policy: Policy, now: datetime, report: Report) -> None:
    engine = db.get_engine(url)
    db.ensure_schema(url)
    inbound, outbox = db.WhatsAppInbound.__table__, db.WhatsAppOutbox.__table__
    i, o = inbound.alias("i"), outbox.alias("o")
    old_inbound = sa.select(i.c.message_id).where(
        i.c.processed_at.is_not(None), i.c.processed_at < now - timedelta(days=policy.inbound_days))
    report.add("inbound messages", _delete_batches(engine, old_inbound, inbound, inbound.c.message_id))
    old_outbox = sa.select(o.c.id).where(
        o.c.state.in_(("sent", "failed")), o.c.created_at < now - timedelta(days=policy.outbox_days))
    report.add("outbox messages", _delete_batches(engine, old_outbox, outbox, outbox.c.id))


def run_once(policy: Optional[Policy] = None, now: Optional[datetime] = None, url: Optional[str] = None,
             tracker: Optional[str] = None) -> Report:
    policy = policy or Policy.from_env()
    now = now or datetime.now(timezone.utc)
    report = Report()
    purge_tracker(tracker or tracker_url(), policy, now, report)
    purge_whatsapp(url, policy, now, report)
    return report


def interval_hours(env: Optional[Mapping[str, str]] = None) -> float:
    env = os.environ if env is None else env
    return float(env.get("RETENTION_INTERVAL_HOURS") or 6)


def loop(stop: threading.Event, interval_s: float, policy: Policy, url: Optional[str] = None) -> None:
    while not stop.is_set():
        try:
            report = run_once(policy, url=url)
            if any(report.deleted.values()):
                logger.info("retention: deleted %s", report)
        except Exception:  # a database away now is there at the next pass
            logger.exception("retention pass failed; retrying at the next one")
        stop.wait(interval_s)


def start_background(url: Optional[str] = None) -> Optional[threading.Event]:
    hours = interval_hours()
    if hours <= 0:
        return None
    policy = Policy.from_env()  # read once: a wrong setting stops the start, not every pass
    stop = threading.Event()
    threading.Thread(target=loop, args=(stop, hours * 3600, policy, url), name="retention", daemon=True).start()
    return stop


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    try:
        report = run_once()
    except deploy.ConfigurationError as exc:
        print(exc)
        return 2
    print(f"retention: deleted {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
