"""The production profile (TELEHEALTH_PROFILE=production, telehealth/deploy.py) against the real
services: a Rasa server whose tracker store is PostgreSQL, lock store Redis and event broker
RabbitMQ holds a conversation, publishes its events, and after a restart goes on from the tracker
in PostgreSQL (the user's language is remembered). Skips without the services unless
REQUIRE_SERVICES=1 (CI)."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from telehealth import deploy
from telehealth.i18n import render
from tests.conftest import require_service
from tests.e2e.conftest import BIN, ROOT, _free_port, _wait

pytestmark = pytest.mark.e2e
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")


def _port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def services():
    with real_services() as found:
        yield found


@contextmanager
def real_services():
    """Fresh tracker database and event queue on this machine's PostgreSQL, Redis and RabbitMQ."""
    require_service("PostgreSQL (TEST_POSTGRES_URL)", _port_open(PG_ADMIN_URL, 5432))
    require_service("Redis (TEST_REDIS_URL)", _port_open(REDIS_URL, 6379))
    require_service("RabbitMQ (TEST_RABBITMQ_URL)", _port_open(RABBITMQ_URL, 5672))
    name = f"telehealth_tracker_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    tracker_url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    queue = f"rasa_events_{uuid.uuid4().hex[:8]}"
    try:
        yield {"TRACKER_DB_URL": tracker_url, "REDIS_URL": REDIS_URL, "RABBITMQ_URL": RABBITMQ_URL,
               "RASA_EVENTS_QUEUE": queue}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
        try:
            asyncio.run(_drain(queue, delete=True))
        except Exception:
            pass


class RasaServer:
    def __init__(self, endpoints: Path, work: Path) -> None:
        self.endpoints, self.work = endpoints, work
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> "RasaServer":
        model = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)[-1]
        log = self.work / f"rasa-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.proc = subprocess.Popen(
            [str(BIN / "rasa"), "run", "--enable-api", "--port", str(self.port), "--model", str(model),
             "--endpoints", str(self.endpoints), "--credentials", str(ROOT / "credentials.yml")],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        _wait(f"{self.url}/status", self.proc, log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def texts(self, sender: str, text: str) -> list:
        r = requests.post(f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
        assert r.status_code == 200, r.text
        return [m.get("text", "") for m in r.json()]


def redis_commands() -> int:
    import redis

    return int(redis.Redis.from_url(REDIS_URL).info("stats")["total_commands_processed"])


async def _drain(queue: str, delete: bool = False) -> list:
    import aio_pika  # what Rasa's pika event broker itself uses

    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        if delete:
            await channel.queue_delete(queue)
            return []
        box = await channel.declare_queue(queue, durable=True, passive=True)
        events = []
        while True:
            message = await box.get(no_ack=True, fail=False)
            if message is None:
                return events
            events.append(json.loads(message.body))


def published(queue: str) -> list:
    return asyncio.run(_drain(queue))


def test_production_profile_on_postgresql_redis_and_rabbitmq(bot, services):
    env = {**services, "TELEHEALTH_PROFILE": "production", "ACTION_SERVER_URL": bot.action_url}
    work = Path(tempfile.mkdtemp(prefix="telehealth-production-"))
    endpoints = deploy.write_endpoints(work / "endpoints.yml", env)
    user = f"prod-{uuid.uuid4().hex[:8]}"
    before = redis_commands()

    server = RasaServer(endpoints, work).start()
    try:
        assert server.texts(user, '/choose_language{"language":"ps"}')[0] == render("utter_language_changed", "ps")
    finally:
        server.stop()

    # The conversation is in PostgreSQL, its events went to RabbitMQ, the locks through Redis.
    engine = sa.create_engine(services["TRACKER_DB_URL"], future=True)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": user}).scalar_one()
    engine.dispose()
    assert stored > 0
    events = published(services["RASA_EVENTS_QUEUE"])
    assert any(e.get("sender_id") == user and e.get("event") == "user" for e in events), events[:3]
    assert redis_commands() > before

    # A new process (a restart, or another replica) goes on from the tracker in PostgreSQL.
    server = RasaServer(endpoints, work).start()
    try:
        assert server.texts(user, "salam") == [render("utter_greet", "ps"), render("utter_main_menu", "ps")]
    finally:
        server.stop()
