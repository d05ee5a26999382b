"""telehealth.lock_store: Rasa's ticket lock, each step atomic in Redis (needs Redis)."""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from urllib.parse import urlsplit

import pytest
from rasa.core.lock_store import RedisLockStore

from telehealth.lock_store import AtomicRedisLockStore
from tests.conftest import require_service

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
_parts = urlsplit(REDIS_URL)
SETTINGS = {"host": _parts.hostname or "127.0.0.1", "port": _parts.port or 6379,
            "db": int((_parts.path or "/5").lstrip("/") or 5), "key_prefix": "locktest"}


def _reachable() -> bool:
    try:
        socket.create_connection((SETTINGS["host"], SETTINGS["port"]), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def stores():
    require_service("Redis (TEST_REDIS_URL)", _reachable())
    ours, rasas = AtomicRedisLockStore(**SETTINGS), RedisLockStore(**SETTINGS)
    yield ours, rasas
    for key in ours.red.scan_iter(ours.key_prefix + "*"):
        ours.red.delete(key)


def _commands(store, monkeypatch):
    """The commands the store sends to Redis, from its blocking client and its asyncio one."""
    sent = []
    blocking, awaited = store.red.execute_command, store.async_red.execute_command

    def counting(*args, **kwargs):
        sent.append(args[0])
        return blocking(*args, **kwargs)

    async def counting_async(*args, **kwargs):
        sent.append(args[0])
        return await awaited(*args, **kwargs)

    monkeypatch.setattr(store.red, "execute_command", counting)
    monkeypatch.setattr(store.async_red, "execute_command", counting_async)
    return sent


async def test_a_message_nobody_waits_on_costs_two_round_trips_and_leaves_no_key(stores, monkeypatch):
    ours, _ = stores
    async with ours.lock(uuid.uuid4().hex):   # the first call loads the scripts into Redis
        pass
    conversation = uuid.uuid4().hex
    sent = _commands(ours, monkeypatch)
    async with ours.lock(conversation) as lock:
        assert lock.conversation_id == conversation
        assert ours.get_lock(conversation).now_serving == 0
    assert sent.count("EVALSHA") == 2 and len([c for c in sent if c != "GET"]) == 2  # Rasa's: GET SET GET GET SET GET DEL
    assert ours.get_lock(conversation) is None


async def test_messages_of_one_conversation_run_one_at_a_time_in_arrival_order(stores):
    ours, _ = stores
    conversation, order, inside = uuid.uuid4().hex, [], []

    async def handle(i):
        await asyncio.sleep(0.01 * i)   # arrive in order 0, 1, 2
        async with ours.lock(conversation, wait_time_in_seconds=0.02):
            inside.append(i)
            assert len(inside) == 1, "two messages of one conversation at once"
            await asyncio.sleep(0.05)
            order.append(i)
            inside.remove(i)

    await asyncio.gather(*(handle(i) for i in range(3)))
    assert order == [0, 1, 2]
    assert ours.get_lock(conversation) is None


async def test_the_event_loop_runs_on_while_redis_is_slow(stores):
    """Rasa's store blocks the Rasa server's event loop for every round trip to Redis."""
    import redis

    ours, _ = stores
    async with ours.lock(uuid.uuid4().hex):   # scripts loaded, connection open
        pass
    busy = redis.Redis(host=SETTINGS["host"], port=SETTINGS["port"], db=SETTINGS["db"])
    # keeps Redis itself busy for 0.4 s (a script runs alone), as a Redis on a saturated machine
    slow = threading.Thread(target=busy.eval, args=(
        "local t = redis.call('TIME') local s = t[1] * 1e6 + t[2] "
        "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - s > 400000 return 1", 0))
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    slow.start()
    await asyncio.sleep(0.05)
    clock = asyncio.ensure_future(ticker())
    async with ours.lock(uuid.uuid4().hex):
        pass
    clock.cancel()
    slow.join()
    assert ticks >= 10   # blocking: 0


def test_tickets_issued_at_once_from_many_replicas_are_all_different(stores):
    """Rasa's store reads, changes and writes the lock: two replicas can get the same ticket."""
    ours, _ = stores
    conversation, numbers = uuid.uuid4().hex, []
    replicas = [AtomicRedisLockStore(**SETTINGS) for _ in range(8)]
    start = threading.Barrier(len(replicas))

    def issue(store):
        start.wait()
        for _ in range(10):
            numbers.append(store.issue_ticket(conversation))

    threads = [threading.Thread(target=issue, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(80))
    assert [t.number for t in ours.get_lock(conversation).tickets] == list(range(80))


async def test_rasas_store_and_ours_share_a_lock(stores):
    """The same key and JSON as Rasa's: a ticket one issues holds the other back."""
    ours, rasas = stores
    conversation = uuid.uuid4().hex
    first = rasas.issue_ticket(conversation)
    assert ours.issue_ticket(conversation) == first + 1
    lock = rasas.get_lock(conversation)
    assert lock.is_locked(first + 1) and not lock.is_locked(first)
    ours.cleanup(conversation, first)
    assert not rasas.get_lock(conversation).is_locked(first + 1)
    rasas.cleanup(conversation, first + 1)
    assert ours.get_lock(conversation) is None


async def test_an_expired_ticket_does_not_block_the_next_message(stores):
    ours, _ = stores
    conversation = uuid.uuid4().hex
    ours.issue_ticket(conversation, lock_lifetime=0.05)   # a worker died holding it
    await asyncio.sleep(0.1)
    async with ours.lock(conversation, wait_time_in_seconds=10):   # would wait 10 s if it counted
        tickets = ours.get_lock(conversation).tickets
        assert len(tickets) == 1 and tickets[0].expires > __import__("time").time()


def test_rasa_loads_it_from_the_endpoint_configuration(stores):
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    from telehealth import deploy

    settings = deploy.lock_store(REDIS_URL)
    store = LockStore.create(EndpointConfig.from_dict(settings))
    assert isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix.startswith("telehealth:")
    conversation = uuid.uuid4().hex
    assert store.issue_ticket(conversation) == 0
    store.cleanup(conversation, 0)
    assert store.get_lock(conversation) is None
