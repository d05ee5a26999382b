"""Rasa's Redis lock store, with each step done atomically in Redis (issue 6).

Rasa's ``RedisLockStore`` keeps a conversation's ticket lock as JSON under one key and changes it
by reading it, changing it in Python and writing it back: seven round trips per message (issue a
ticket: GET, SET; acquire: GET; clean up: GET, SET, GET, DEL), each a blocking call on the Rasa
server's event loop, and two replicas issuing tickets at once can both read the same lock and hand
out the same ticket number (the race issue 6 speaks of). Here issuing a ticket and cleaning up
are each one Lua script that Redis runs atomically: two round trips for a message nobody else is
waiting on, no duplicate tickets. The key, the JSON and the ticket rules are Rasa's
(``rasa.core.lock.TicketLock``: expired tickets dropped, numbers one after the last issued,
the first ticket is served), so Rasa's own store and this one can share a Redis during an
upgrade. Waiting for a ticket that is not yet served is Rasa's loop (``LockStore._acquire_lock``).

Configured by ``telehealth/deploy.py`` for the production profile
(``lock_store: {type: telehealth.lock_store.AtomicRedisLockStore, url, port, db, ...}``).
"""
from __future__ import annotations

import inspect
import logging
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Dict, Optional, Text

from rasa.core.lock import NO_TICKET_ISSUED, Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# KEYS[1]: the lock's key; ARGV: conversation id, now, lifetime. Drops expired tickets, issues the
# next number, stores the lock; returns {issued number, number now served}.
_ISSUE = """
local now = tonumber(ARGV[2])
local tickets = {}
local raw = redis.call('GET', KEYS[1])
if raw then
  for _, text in ipairs(cjson.decode(raw)['tickets'] or {}) do
    local ticket = cjson.decode(text)
    if tonumber(ticket['expires']) >= now then table.insert(tickets, ticket) end
  end
end
local number = 0
if #tickets > 0 then number = tickets[#tickets]['number'] + 1 end
table.insert(tickets, {number = number, expires = now + tonumber(ARGV[3])})
local texts = {}
for i, ticket in ipairs(tickets) do
  texts[i] = cjson.encode({number = ticket['number'], expires = ticket['expires']})
end
redis.call('SET', KEYS[1], cjson.encode({conversation_id = ARGV[1], tickets = texts}))
return {number, tickets[1]['number']}
"""

# KEYS[1]: the lock's key; ARGV: ticket number, now. Removes that ticket and expired ones; deletes
# the lock when no ticket is left. Returns the number of tickets left.
_CLEANUP = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local lock = cjson.decode(raw)
local done, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local texts = {}
for _, text in ipairs(lock['tickets'] or {}) do
  local ticket = cjson.decode(text)
  if ticket['number'] ~= done and tonumber(ticket['expires']) >= now then table.insert(texts, text) end
end
if #texts == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], cjson.encode({conversation_id = lock['conversation_id'], tickets = texts}))
end
return #texts
"""


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose ticket issue and clean-up are single atomic Redis scripts."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # loaded by Rasa from endpoints.yml (`type: <this class>`)
            kwargs = {**endpoint_config.kwargs, "host": endpoint_config.url or "localhost", **kwargs}
        super().__init__(**kwargs)
        self._issue = self.red.register_script(_ISSUE)
        self._cleanup = self.red.register_script(_CLEANUP)
        # lock() awaits its two scripts instead of blocking the event loop while Redis answers
        # (under load Redis waits for a core like everyone else: a blocking round trip was 12 %
        # of a worker's event loop). Same settings and defaults as Rasa's client.
        import redis.asyncio

        settings = inspect.signature(RedisLockStore.__init__).bind(self, **kwargs)
        settings.apply_defaults()
        given = settings.arguments
        self.async_red = redis.asyncio.Redis(
            host=given["host"], port=int(given["port"]), db=int(given["db"]), username=given["username"],
            password=given["password"], ssl=given["use_ssl"], ssl_certfile=given["ssl_certfile"],
            ssl_keyfile=given["ssl_keyfile"], ssl_ca_certs=given["ssl_ca_certs"], socket_timeout=given["socket_timeout"])
        self._issue_async = self.async_red.register_script(_ISSUE)
        self._cleanup_async = self.async_red.register_script(_CLEANUP)

    def _issue_args(self, conversation_id: Text, lock_lifetime: float) -> Dict[Text, Any]:
        return {"keys": [self.key_prefix + conversation_id],
                "args": [conversation_id, repr(time.time()), repr(float(lock_lifetime))]}

    def _cleanup_args(self, conversation_id: Text, ticket_number: int) -> Dict[Text, Any]:
        return {"keys": [self.key_prefix + conversation_id], "args": [ticket_number, repr(time.time())]}

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            number, _ = self._issue(**self._issue_args(conversation_id, lock_lifetime))
        except Exception as e:  # Rasa's LockStore.issue_ticket raises the same
            raise LockError(f"Error while acquiring lock. Error:\n{e}")
        return int(number)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        self._cleanup(**self._cleanup_args(conversation_id, ticket_number))

    def update_lock(self, conversation_id: Text) -> None:
        """Drop expired tickets (while waiting for a ticket), atomically too."""
        self.cleanup(conversation_id, NO_TICKET_ISSUED)

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        try:
            ticket, serving = map(int, await self._issue_async(**self._issue_args(conversation_id, lock_lifetime)))
        except Exception as e:  # Rasa's LockStore.issue_ticket raises the same
            raise LockError(f"Error while acquiring lock. Error:\n{e}")
        try:
            if serving == ticket:  # nobody ahead: served at once, no further read
                yield TicketLock(conversation_id, deque([Ticket(ticket, time.time() + lock_lifetime)]))
            else:
                logger.debug(f"Waiting for lock of conversation '{conversation_id}'.")
                yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            await self._cleanup_async(**self._cleanup_args(conversation_id, ticket))
