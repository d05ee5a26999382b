"""Rasa's SQL tracker store without its repeated work per turn (issue 6: profiling a turn).

Rasa's ``SQLTrackerStore`` reads and replays the whole conversation session from the database on
every message, and, with an event broker configured, reads and replays it a second time in
``save`` only to find which events are new. Profiled under load on PostgreSQL, those two reads
were about half of a worker's time per turn.

``CachedSQLTrackerStore`` is the same store (same tables, same rows, same event broker messages)
that also keeps the trackers it last saved or read, for the most recent ``cache_size``
conversations (``TRACKER_CACHE_SIZE``, default 1000) of this process:

- ``retrieve`` returns the kept tracker when the database holds nothing newer for that sender
  (the highest event id, one indexed query) and the tracker was not changed since it was kept
  (its event count). Anything else, such as a worker that took the user over while this one was
  down, or a turn that failed after changing the tracker, reads the database as Rasa does.
- ``save`` knows how many of the tracker's events are stored, so it publishes and inserts only
  the new ones without reading the conversation again.
- Both run their queries and the insert in a thread (``asyncio.to_thread``), so the worker's event
  loop serves other users while the database answers (Rasa's store holds the loop).

Each user's messages go to one worker (``telehealth.whatsapp.routing``) and one message at a time
(the channel's per-user queue and Rasa's lock store), so a kept tracker is not shared by two
turns. A tracker that begins a new session after old events is not kept (the database returns
only the new session, and so does the next ``retrieve``).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 1000


@dataclass
class _Kept:
    tracker: DialogueStateTracker
    events: int      # len(tracker.events) when kept: all of them are in the database
    last_id: int     # the highest event id of the sender in the database when kept


class CachedSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, cache_size: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = cache_size if cache_size is not None else os.environ.get("TRACKER_CACHE_SIZE") or DEFAULT_CACHE_SIZE
        self.cache_size = max(0, int(size))
        self._kept: "OrderedDict[str, _Kept]" = OrderedDict()
        self.hits = self.misses = 0
        self._ensure_last_id_index()

    def _ensure_last_id_index(self) -> None:
        """An index on (sender_id, id), so that the highest event id of a sender is one index
        lookup. With Rasa's index on sender_id alone, PostgreSQL answers ``max(id) WHERE
        sender_id = ?`` by walking the primary key backwards until it meets that sender: for a
        new user (no events yet) that is the whole table (260 ms at 400,000 events, growing with
        every conversation; it made replies take 25 s in bench-whatsapp); 0.07 ms with it.
        Created once, by whichever process starts first (the others find it or lose the race).
        On PostgreSQL ``CONCURRENTLY``: an existing big table keeps taking writes while the index
        is built; a build that was interrupted leaves an invalid index, which is built again."""
        table = self.SQLEvent.__tablename__
        name = f"ix_{table}_sender_id_id"
        postgres = self.engine.dialect.name == "postgresql"
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                if not postgres:
                    conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} (sender_id, id)"))
                    return
                # One process at a time, so that an index being built is not taken for a broken one.
                conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": name})
                try:
                    invalid = conn.execute(sa.text(
                        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                        "WHERE c.relname = :name AND NOT i.indisvalid"), {"name": name}).first()
                    if invalid:
                        conn.execute(sa.text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                    conn.execute(sa.text(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} (sender_id, id)"))
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name})
        except sa.exc.DBAPIError as exc:  # a concurrent process created it at the same moment
            logger.info("index on %s (sender_id, id) not created here: %s", table, type(exc).__name__)

    # ----- the kept trackers ----------------------------------------------------------------
    def _last_id(self, session: Any, sender_id: Text) -> int:
        return session.query(sa.func.max(self.SQLEvent.id)).filter(self.SQLEvent.sender_id == sender_id).scalar() or 0

    def _keep(self, sender_id: Text, tracker: DialogueStateTracker, last_id: int) -> None:
        if not self.cache_size:
            return
        if any(isinstance(e, SessionStarted) for e in itertools.islice(tracker.events, 1, None)):
            self._kept.pop(sender_id, None)  # an old session before the new one: the database has only the new
            return
        self._kept[sender_id] = _Kept(tracker, len(tracker.events), last_id)
        self._kept.move_to_end(sender_id)
        while len(self._kept) > self.cache_size:
            self._kept.popitem(last=False)

    @staticmethod
    def _fresh(kept: Optional[_Kept], last_id: int) -> bool:
        """``kept`` still holds everything the database has for its sender, and nothing more
        (no event added since, by this process or another)."""
        return kept is not None and len(kept.tracker.events) == kept.events and kept.last_id == last_id

    # ----- the database work, off the event loop ----------------------------------------------
    async def _off_loop(self, function: Any, *args: Any) -> Any:
        """Runs blocking database work in a thread, so the worker's event loop goes on with other
        users' messages (NLU, policies, replies) while the database answers; Rasa's own store
        blocks the loop. Not for an in-memory SQLite database, which lives in one connection of
        one thread (SQLAlchemy's SingletonThreadPool/StaticPool): there it runs in place."""
        if isinstance(self.engine.pool, (sa.pool.SingletonThreadPool, sa.pool.StaticPool)):
            return function(*args)
        return await asyncio.to_thread(function, *args)

    def _query_last_id(self, sender_id: Text) -> int:
        with self.session_scope() as session:
            return self._last_id(session, sender_id)

    def _stored_count(self, sender_id: Text, kept: Optional[_Kept]) -> int:
        """How many of the sender's events (this session) are in the database: those of the kept
        tracker when nothing was added since, else counted as Rasa does."""
        with self.session_scope() as session:
            if kept is not None and kept.last_id == self._last_id(session, sender_id):
                return kept.events
            return self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()

    def _insert(self, sender_id: Text, new_events: list) -> int:
        """Inserts the events as Rasa's store does, in one transaction; returns the sender's
        highest event id."""
        with self.session_scope() as session:
            rows = []
            for event in new_events:
                data = event.as_dict()
                rows.append(self.SQLEvent(
                    sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.add_all(rows)
            session.flush()  # assigns the ids (read here, before the commit expires the rows)
            last_id = max((row.id for row in rows), default=0) or self._last_id(session, sender_id)
            session.commit()
            return last_id

    # ----- TrackerStore ---------------------------------------------------------------------
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        last_id = await self._off_loop(self._query_last_id, sender_id)
        kept = self._kept.get(sender_id)
        if self._fresh(kept, last_id):
            self._kept.move_to_end(sender_id)
            self.hits += 1
            return kept.tracker
        self._kept.pop(sender_id, None)
        self.misses += 1
        tracker = await super().retrieve(sender_id)
        if tracker is not None:
            self._keep(sender_id, tracker, last_id)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save (publish the new events, then insert them), counting the stored events from
        the kept tracker instead of reading the conversation twice, the database work off the loop."""
        sender_id = tracker.sender_id
        kept = self._kept.get(sender_id)
        if kept is not None and kept.tracker is not tracker:
            kept = None  # kept for another copy of the conversation: count what is stored
        stored = await self._off_loop(self._stored_count, sender_id, kept)
        new_events = list(itertools.islice(tracker.events, stored, None))
        if self.event_broker is not None:
            await self._stream_new_events(self.event_broker, new_events, sender_id)
        last_id = await self._off_loop(self._insert, sender_id, new_events)
        self._keep(sender_id, tracker, last_id)
        logger.debug("Tracker with sender_id '%s' stored to database", sender_id)
