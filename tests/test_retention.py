"""Retention (telehealth/retention.py): old sessions' events, silent conversations and finished
WhatsApp records are deleted; what the bot still reads (the latest session, the language, pending
messages, recent de-duplication keys) is not. On SQLite and PostgreSQL, with Rasa's own store."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from telehealth import db, deploy, retention
from tests.test_db import database_url  # noqa: F401  (the sqlite/postgresql fixture)
from tests.test_tracker_store import DOMAIN, settings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def session(tracker: DialogueStateTracker, days_ago: float, language: str, text: str) -> None:
    t = (NOW - timedelta(days=days_ago)).timestamp()
    for event in (ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t),
                  SlotSet("language", language, timestamp=t), ActionExecuted("action_listen", timestamp=t),
                  UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=t + 1),
                  BotUttered("hi", timestamp=t + 2), ActionExecuted("action_listen", timestamp=t + 2)):
        tracker.update(event)


def tracker_url(database_url: str) -> str:  # noqa: F811
    return database_url.replace("app.db", "tracker.db") if database_url.startswith("sqlite") else database_url


def dialogue(tracker):
    return [e.as_dict() for e in tracker.events]


def test_old_sessions_and_silent_conversations_go_the_latest_session_stays(database_url, monkeypatch):  # noqa: F811
    monkeypatch.setattr(retention, "BATCH", 3)  # several batches per delete
    store = SQLTrackerStore(domain=DOMAIN, **settings(database_url))
    try:
        returning = DialogueStateTracker("returning", DOMAIN.slots)
        session(returning, 60, "ur", "salam")        # an earlier session, past the 30 days
        session(returning, 45, "ur-Latn", "aoa")     # the latest session: kept however old
        recent = DialogueStateTracker("recent", DOMAIN.slots)
        session(recent, 20, "en", "hello")           # both sessions within 30 days: untouched
        session(recent, 2, "en", "hi again")
        silent = DialogueStateTracker("silent", DOMAIN.slots)
        session(silent, 400, "ps", "salam")          # silent for more than a year: deleted whole
        for tracker in (returning, recent, silent):
            asyncio.run(store.save(tracker))
        before = {s: dialogue(asyncio.run(store.retrieve(s))) for s in ("returning", "recent")}
        with store.engine.connect() as conn:
            rows_before = dict(conn.execute(sa.text("SELECT sender_id, count(*) FROM events GROUP BY sender_id")).all())

        report = retention.run_once(retention.Policy(), NOW, url=database_url, tracker=tracker_url(database_url))

        with store.engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT sender_id, count(*) FROM events GROUP BY sender_id")).all())
        assert rows == {"returning": rows_before["returning"] // 2, "recent": rows_before["recent"]}
        assert report.deleted["conversations"] == 1
        assert report.deleted["tracker events"] == rows_before["returning"] // 2 + rows_before["silent"]
        # What the bot loads is what it loaded before: the latest session, with the chosen language.
        for sender, events in before.items():
            assert dialogue(asyncio.run(store.retrieve(sender))) == events
        assert asyncio.run(store.retrieve("returning")).get_slot("language") == "ur-Latn"
        assert asyncio.run(store.retrieve("silent")) is None
        # A second pass finds nothing more.
        assert not any(retention.run_once(retention.Policy(), NOW, url=database_url,
                                          tracker=tracker_url(database_url)).deleted.values())
    finally:
        store.engine.dispose()


def test_finished_whatsapp_records_go_pending_and_recent_stay(database_url, monkeypatch):  # noqa: F811
    monkeypatch.setattr(retention, "BATCH", 2)
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=3)
    with db.session_scope(database_url) as s:
        s.add_all([
            db.WhatsAppInbound(message_id="wamid.old-done", patient_ref="p1", received_at=old, processed_at=old),
            db.WhatsAppInbound(message_id="wamid.old-waiting", patient_ref="p1", received_at=old, payload="x"),
            db.WhatsAppInbound(message_id="wamid.recent-done", patient_ref="p2", received_at=recent, processed_at=recent),
        ])
        s.add_all([db.WhatsAppOutbox(patient_ref="p1", state=state, created_at=when, next_attempt_at=when)
                   for state, when in (("sent", old), ("failed", old), ("sent", old), ("pending", old),
                                       ("sent", recent))])
    report = retention.run_once(retention.Policy(), NOW, url=database_url, tracker=tracker_url(database_url))
    assert report.deleted["inbound messages"] == 1 and report.deleted["outbox messages"] == 3
    with db.session_scope(database_url) as s:
        assert sorted(s.scalars(sa.select(db.WhatsAppInbound.message_id))) == ["wamid.old-waiting", "wamid.recent-done"]
        left = sorted((o.state, o.created_at.replace(tzinfo=timezone.utc) == recent)
                      for o in s.scalars(sa.select(db.WhatsAppOutbox)))
        assert left == [("pending", False), ("sent", True)]


@pytest.mark.parametrize("env, message", [
    ({"INBOUND_RETENTION_DAYS": "3"}, "at least 7"),
    ({"TRACKER_RETENTION_DAYS": "a month"}, "number of days"),
    ({"OUTBOX_RETENTION_DAYS": "0"}, "more than 0"),
])
def test_a_wrong_setting_is_named(env, message):
    with pytest.raises(deploy.ConfigurationError, match=message):
        retention.Policy.from_env(env)


def test_settings_come_from_the_environment():
    policy = retention.Policy.from_env({"TRACKER_RETENTION_DAYS": "7", "CONVERSATION_RETENTION_DAYS": "90"})
    assert (policy.tracker_days, policy.conversation_days, policy.inbound_days) == (7, 90, 14)
