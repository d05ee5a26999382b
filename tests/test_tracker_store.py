"""CachedSQLTrackerStore (telehealth/tracker_store.py) against Rasa's own SQLTrackerStore on the
same database: the same trackers come back, the same rows are stored, the same events are
published, and whatever the kept tracker cannot know is read from the database."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

from telehealth import deploy
from telehealth.tracker_store import CachedSQLTrackerStore
from tests.test_db import database_url  # noqa: F401  (the sqlite/postgresql fixture)

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, report_symptoms]
slots:
  language: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  age: {type: float, influence_conversation: false, mappings: [{type: custom}]}
responses:
  utter_greet: [{text: hi}]
""")


class RecordingBroker(EventBroker):
    """An event broker that keeps what it was given (RabbitMQ's own test: e2e/test_production_profile)."""

    def __init__(self) -> None:
        self.published: List[Dict[str, Any]] = []

    def publish(self, event: Dict[str, Any]) -> None:
        self.published.append(event)


def settings(url: str) -> Dict[str, Any]:
    if url.startswith("sqlite"):
        return {"dialect": "sqlite", "db": url.split("sqlite:///", 1)[1].replace("app.db", "tracker.db")}
    kwargs = deploy.tracker_store(url)
    kwargs.pop("type")
    return {**kwargs, "host": kwargs.pop("url")}


@pytest.fixture
def stores(database_url):  # noqa: F811
    made = []

    def make(cls=CachedSQLTrackerStore, **extra):
        store = cls(domain=DOMAIN, event_broker=RecordingBroker(), **settings(database_url), **extra)
        made.append(store)
        return store

    yield make
    for store in made:
        store.engine.dispose()


def test_a_sender_s_last_event_id_is_an_index_lookup(stores):
    """The cache's freshness check (max(id) of a sender) must not scan the events table: an
    index on (sender_id, id) exists once a store has started (twice: the second start finds it)."""
    store = stores()
    stores()
    indexes = sa.inspect(store.engine).get_indexes("events")
    assert any(ix["column_names"] == ["sender_id", "id"] for ix in indexes), indexes


def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(stores, database_url):  # noqa: F811
    """PostgreSQL builds the index CONCURRENTLY (writes go on meanwhile); a build that fails
    leaves an invalid index that no query uses, which the next start replaces."""
    if not database_url.startswith("postgresql"):
        pytest.skip("CONCURRENTLY and invalid indexes are PostgreSQL's")
    store = stores()
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("DROP INDEX ix_events_sender_id_id"))
        conn.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp) VALUES ('a', 'x', 1), ('a', 'x', 2)"))
        with pytest.raises(sa.exc.IntegrityError):  # a failed concurrent build, under the same name
            conn.execute(sa.text("CREATE UNIQUE INDEX CONCURRENTLY ix_events_sender_id_id ON events (sender_id)"))

    def valid() -> list:
        with store.engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = 'ix_events_sender_id_id'")).scalars().all()

    assert valid() == [False]
    stores()
    assert valid() == [True]
    indexes = sa.inspect(store.engine).get_indexes("events")
    assert any(ix["column_names"] == ["sender_id", "id"] and not ix["unique"] for ix in indexes), indexes


def run(coro):
    return asyncio.run(coro)


def turn(tracker, text: str, age: float) -> None:
    """What a turn appends: the user's message, an action, a slot, a bot message, listen."""
    tracker.update(UserUttered(text, {"name": "report_symptoms", "confidence": 0.9}))
    tracker.update(ActionExecuted("action_screening"))
    tracker.update(SlotSet("age", age))
    tracker.update(BotUttered("noted"))
    tracker.update(ActionExecuted("action_listen"))


def dialogue(tracker) -> List[Dict[str, Any]]:
    return [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in tracker.events]


def test_the_same_trackers_rows_and_broker_messages_as_rasa(stores):
    ours, rasas = stores(), stores(SQLTrackerStore)
    for store, sender in ((ours, "a"), (rasas, "b")):
        tracker = run(store.get_or_create_tracker(sender))
        for i in range(3):
            tracker = run(store.retrieve(sender))
            turn(tracker, f"message {i}", 30 + i)
            run(store.save(tracker))
    plain = rasas  # Rasa's store reads both conversations from the database
    assert dialogue(run(plain.retrieve("a"))) == dialogue(run(plain.retrieve("b")))
    assert dialogue(run(ours.retrieve("a"))) == dialogue(run(plain.retrieve("a")))
    strip = lambda published: [{k: v for k, v in e.items() if k not in ("timestamp", "sender_id")}  # noqa: E731
                               for e in published]
    assert strip(ours.event_broker.published) == strip(rasas.event_broker.published)
    assert len(ours.event_broker.published) == len(run(plain.retrieve("a")).events)
    assert run(ours.retrieve("a")).get_slot("age") == 32


def test_a_kept_tracker_is_returned_without_reading_the_conversation(stores):
    store = stores()
    tracker = run(store.get_or_create_tracker("u"))
    turn(tracker, "hello", 40)
    run(store.save(tracker))
    hits = store.hits
    again = run(store.retrieve("u"))
    assert again is tracker and store.hits == hits + 1


def test_another_worker_s_events_are_read_from_the_database(stores):
    here, there = stores(), stores()
    tracker = run(here.get_or_create_tracker("moved"))
    turn(tracker, "first", 20)
    run(here.save(tracker))
    # this worker was down; the user's next message went to the other worker
    other = run(there.retrieve("moved"))
    turn(other, "second", 21)
    run(there.save(other))
    back = run(here.retrieve("moved"))
    assert back is not tracker
    assert [e.text for e in back.events if isinstance(e, UserUttered)] == ["first", "second"]
    assert back.get_slot("age") == 21
    # and saving here after that stores only the new events
    turn(back, "third", 22)
    run(here.save(back))
    texts = [e.text for e in run(there.retrieve("moved")).events if isinstance(e, UserUttered)]
    assert texts == ["first", "second", "third"]


def test_a_turn_that_failed_before_saving_is_not_remembered(stores):
    store = stores()
    tracker = run(store.get_or_create_tracker("f"))
    turn(tracker, "saved", 50)
    run(store.save(tracker))
    turn(tracker, "never saved", 51)  # the action server was down: Rasa does not save
    fresh = run(store.retrieve("f"))
    assert [e.text for e in fresh.events if isinstance(e, UserUttered)] == ["saved"]
    assert fresh.get_slot("age") == 50


def test_a_new_session_is_stored_and_read_like_rasa_does(stores):
    store = stores()
    tracker = run(store.get_or_create_tracker("s"))
    turn(tracker, "old session", 60)
    run(store.save(tracker))
    tracker = run(store.retrieve("s"))
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(SlotSet("language", "ur"))
    tracker.update(ActionExecuted("action_listen"))
    turn(tracker, "new session", 61)
    run(store.save(tracker))
    current = run(store.retrieve("s"))
    assert [e.text for e in current.events if isinstance(e, UserUttered)] == ["new session"]
    full = run(store.retrieve_full_tracker("s"))
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["old session", "new session"]


def test_the_number_of_kept_trackers_is_bounded(stores):
    store = stores(cache_size=2)
    for sender in ("x", "y", "z"):
        tracker = run(store.get_or_create_tracker(sender))
        turn(tracker, sender, 1)
        run(store.save(tracker))
    assert list(store._kept) == ["y", "z"]
    assert [e.text for e in run(store.retrieve("x")).events if isinstance(e, UserUttered)] == ["x"]


def test_saving_waits_for_the_database_without_stopping_the_event_loop(stores):
    """While the events table is locked by another transaction, a save waits, and the worker's
    event loop goes on serving others (Rasa's store would hold the loop until the lock is gone)."""
    import threading
    import time

    store = stores()
    tracker = run(store.get_or_create_tracker("waiting"))
    turn(tracker, "hello", 33)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with store.engine.connect() as conn:
            if store.engine.dialect.name == "postgresql":
                transaction = conn.begin()
                conn.execute(sa.text(f"LOCK TABLE {store.SQLEvent.__tablename__} IN ACCESS EXCLUSIVE MODE"))
            else:
                conn.exec_driver_sql("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(10)
            if store.engine.dialect.name == "postgresql":
                transaction.rollback()
            else:
                conn.exec_driver_sql("ROLLBACK")

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)

    async def scenario():
        saving = asyncio.ensure_future(store.save(tracker))
        ticks, started = 0, time.monotonic()
        while time.monotonic() - started < 0.5:
            await asyncio.sleep(0.01)
            ticks += 1
        waited = not saving.done()
        release.set()
        await asyncio.wait_for(saving, 10)
        return ticks, waited

    try:
        ticks, waited = run(scenario())
    finally:
        release.set()
        holder.join(10)
    assert waited, "the save did not wait for the lock: the test proves nothing"
    assert ticks >= 20, f"the event loop ran {ticks} times in 0.5 s while the save waited"
    again = stores()
    assert [e.text for e in run(again.retrieve("waiting")).events if isinstance(e, UserUttered)] == ["hello"]
