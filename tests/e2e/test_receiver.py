"""Several Rasa workers behind the webhook receiver (telehealth/receiver.py), on the production
profile's services (tracker store PostgreSQL, lock store Redis): each user's messages go to the
worker that owns the user, in order; replays are answered once; when one worker is killed with
SIGKILL in the middle of traffic, nothing is lost: its users' messages wait at the receiver (or in
the database) and are answered, once, when it is back; and a burst of 1,000 messages replayed
three times is answered once each. Skips without PostgreSQL and Redis unless REQUIRE_SERVICES=1
(CI)."""
from __future__ import annotations

import itertools
import shutil
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from telehealth import deploy
from telehealth.i18n import render
from telehealth.whatsapp.routing import shard_of
from tests.e2e.conftest import BIN, E2E_KEYS, ROOT, WhatsApp, _free_port, _wait, texts_of
from tests.e2e.test_production_profile import real_services

pytestmark = pytest.mark.e2e
WORKERS = 2
BURST = 1000
TOKEN = "e2e-internal-token"
_ids = itertools.count()


class Stack:
    """Two Rasa workers (WhatsApp channel behind the receiver) and the receiver, on free ports."""

    def __init__(self, bot, services, work: Path) -> None:
        self.work = work
        self.env = {**os.environ, **E2E_KEYS, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                    "DATABASE_URL": bot.database_url, "WHATSAPP_VERIFY_TOKEN": WhatsApp.VERIFY_TOKEN,
                    "WHATSAPP_APP_SECRET": WhatsApp.APP_SECRET, "RECEIVER_INTERNAL_TOKEN": TOKEN}
        self.endpoints = deploy.write_endpoints(work / "endpoints.yml", {
            **services, "TELEHEALTH_PROFILE": "production", "ACTION_SERVER_URL": bot.action_url})
        self.standin = bot.whatsapp.standin
        self.ports = [_free_port() for _ in range(WORKERS)]
        self.workers = [None] * WORKERS
        self.receiver_port = _free_port()
        self.receiver = None

    def credentials(self, index: int) -> Path:
        path = self.work / f"credentials-{index}.yml"
        path.write_text(
            "rest:\ntelehealth.channels.whatsapp.WhatsAppInput:\n"
            f"  verify_token: {WhatsApp.VERIFY_TOKEN}\n  app_secret: {WhatsApp.APP_SECRET}\n"
            f"  access_token: {WhatsApp.ACCESS_TOKEN}\n  phone_number_id: {WhatsApp.PHONE_NUMBER_ID}\n"
            f"  api_url: {self.standin}/v21.0\n  internal_token: {TOKEN}\n"
            f"  shard_index: {index}\n  shard_count: {WORKERS}\n", encoding="utf-8")
        return path

    def start_worker(self, index: int, wait: bool = True) -> None:
        model = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)[-1]
        log = self.work / f"worker-{index}.log"
        self.workers[index] = subprocess.Popen(
            [str(BIN / "rasa"), "run", "--port", str(self.ports[index]), "--model", str(model),
             "--endpoints", str(self.endpoints), "--credentials", str(self.credentials(index))],
            cwd=ROOT, env=self.env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        if wait:
            self.wait_worker(index)

    def wait_worker(self, index: int) -> None:
        _wait(f"http://127.0.0.1:{self.ports[index]}/", self.workers[index], self.work / f"worker-{index}.log")

    def start_receiver(self) -> None:
        log = self.work / "receiver.log"
        self.receiver = subprocess.Popen(
            [sys.executable, "-m", "telehealth.receiver", "--host", "127.0.0.1", "--port", str(self.receiver_port),
             "--workers", ",".join(f"http://127.0.0.1:{p}" for p in self.ports)],
            cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        _wait(f"http://127.0.0.1:{self.receiver_port}/status", self.receiver, log)

    def stop(self) -> None:
        for proc in [*self.workers, self.receiver]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def stats(self) -> dict:
        return requests.get(f"http://127.0.0.1:{self.receiver_port}/_receiver/stats", timeout=10).json()


@pytest.fixture(scope="module")
def services():
    with real_services() as found:
        yield found


@pytest.fixture(scope="module")
def stack(bot, services):
    """One stack for the tests of this module (starting two Rasa workers takes a minute)."""
    work = Path(tempfile.mkdtemp(prefix="telehealth-receiver-"))
    s = Stack(bot, services, work)
    try:
        s.start_worker(0, wait=False)
        s.start_worker(1, wait=False)
        s.wait_worker(0)
        s.wait_worker(1)
        s.start_receiver()
        yield s
    finally:
        s.stop()


def users_of(worker: int, count: int) -> list:
    found = []
    while len(found) < count:
        wa_id = f"92302{next(_ids):07d}"
        if shard_of(wa_id, WORKERS) == worker:
            found.append(wa_id)
    return found


def wait_count(wa: WhatsApp, wa_id: str, count: int, timeout: float = 120) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(wa.sent(wa_id)) < count:
        time.sleep(0.3)
    return texts_of(wa.sent(wa_id))


def test_workers_behind_the_receiver_and_a_worker_killed_mid_traffic(bot, stack):
    wa = WhatsApp(bot.whatsapp.standin, f"http://127.0.0.1:{stack.receiver_port}/webhooks/whatsapp/webhook")
    ours, theirs = users_of(0, 3), users_of(1, 3)
    changed, menu = render("utter_language_changed", "en"), render("utter_main_menu", "en")

    # Each user: a language choice, answered by the worker that owns them, in order.
    for wa_id in ours + theirs:
        assert wa.tap(wa_id, '/choose_language{"language":"en"}', kind="list_reply").status_code == 200
    for wa_id in ours + theirs:
        assert wait_count(wa, wa_id, 2)[:2] == [changed, menu]
    assert all(n >= 3 for n in stack.stats()["forwarded"]), stack.stats()

    # A replay of the same webhook three times is answered once.
    replay = wa.envelope(ours[0], {"type": "text", "text": {"body": "0"}, "id": f"wamid.replay.{uuid.uuid4().hex}"})
    for _ in range(3):
        assert wa.post(replay).status_code == 200
    assert wait_count(wa, ours[0], 3)[2] == menu
    time.sleep(3)
    assert len(wa.sent(ours[0])) == 3

    # SIGKILL worker 0 mid-traffic: webhooks are still acknowledged at once; its users wait,
    # the other worker's users are answered meanwhile; after the restart everything arrives, once.
    stack.workers[0].send_signal(signal.SIGKILL)
    stack.workers[0].wait(timeout=10)
    for wa_id in ours + theirs:
        started = time.monotonic()
        assert wa.text(wa_id, "0").status_code == 200
        assert time.monotonic() - started < 2.0
    for wa_id in theirs:
        assert wait_count(wa, wa_id, 3)[2] == menu
    assert all(len(wa.sent(wa_id)) == 2 for wa_id in ours[1:]), "worker 0's users wait for it"
    stack.start_worker(0)
    for wa_id in ours[1:]:
        assert wait_count(wa, wa_id, 3)[2] == menu
    assert wait_count(wa, ours[0], 4)[3] == menu
    time.sleep(3)
    assert [len(wa.sent(w)) for w in ours] == [4, 3, 3], "each message answered once"
    assert [len(wa.sent(w)) for w in theirs] == [3, 3, 3]


def sent_to(wa: WhatsApp, users: list) -> list:
    wanted = set(users)
    return [m["body"]["to"] for m in wa.sent() if m["body"].get("to") in wanted]


def test_a_replayed_burst_is_answered_once(bot, stack):
    """1,000 users' messages, each webhook posted three times, quickly: every message answered once."""
    wa = WhatsApp(bot.whatsapp.standin, f"http://127.0.0.1:{stack.receiver_port}/webhooks/whatsapp/webhook")
    burst = [f"92303{i:07d}" for i in range(BURST)]
    envelopes = [wa.envelope(u, {"type": "interactive", "id": f"wamid.burst.{u}", "interactive": {
        "type": "button_reply", "button_reply": {"id": "/help", "title": "Menu"}}}) for u in burst]
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(3):
            assert set(pool.map(lambda e: wa.post(e).status_code, envelopes)) == {200}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(sent_to(wa, burst)) < BURST:
        time.sleep(2)
    time.sleep(5)
    counts = Counter(sent_to(wa, burst))
    assert len(counts) == BURST and set(counts.values()) == {1}, Counter(counts.values())


def _restart_redis() -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], capture_output=True, timeout=30)
    time.sleep(4)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
                    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
                    "--logfile", "/var/log/redis/ci.log"], check=True, capture_output=True, timeout=30)


def _restart_postgresql() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("service", ["redis", "postgresql"])
def test_a_service_restarted_during_traffic_loses_nothing(bot, stack, service):
    """Redis (the lock store) or PostgreSQL (the tracker store) restarts while users write: the
    webhooks are acknowledged, the turns that failed are retried, and every message is answered."""
    restart = {"redis": _restart_redis, "postgresql": _restart_postgresql}[service]
    tools = {"redis": ("redis-cli", "redis-server"), "postgresql": ("pg_ctlcluster",)}[service]
    from tests.conftest import require_service

    require_service(f"permission to restart {service} ({', '.join(tools)}; root)",
                    all(shutil.which(t) for t in tools) and os.geteuid() == 0)
    wa = WhatsApp(bot.whatsapp.standin, f"http://127.0.0.1:{stack.receiver_port}/webhooks/whatsapp/webhook")
    users = users_of(0, 3) + users_of(1, 3)
    restarting = threading.Thread(target=restart)
    restarting.start()
    time.sleep(1)
    for wa_id in users:
        assert wa.tap(wa_id, "/help", title="Menu").status_code == 200
    restarting.join(timeout=180)
    for wa_id in users:
        assert wait_count(wa, wa_id, 1, timeout=240) == [render("utter_main_menu", "en")]
    time.sleep(3)
    assert [len(wa.sent(w)) for w in users] == [1] * len(users)
