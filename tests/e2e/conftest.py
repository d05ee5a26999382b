"""Starts the real action server and Rasa server (REST channel) on free ports, once per run."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from telehealth import deploy

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


#: The servers' keys for pseudonyms and encryption at rest; a test that reads or writes their
#: database uses the same (the ``shared_database`` fixture).
E2E_KEYS = {"PATIENT_ID_KEY": "e2e-test-key", "DATA_ENCRYPTION_KEY": "kWh8Qw3v0j7m4YV1zC0pG1o1y3m0f5m4r7n2k9d6s8A="}


@pytest.fixture
def shared_database(bot, monkeypatch):
    """This test process uses the servers' database and keys."""
    from telehealth import privacy

    monkeypatch.setenv("DATABASE_URL", bot.database_url)
    for name, value in E2E_KEYS.items():
        monkeypatch.setenv(name, value)
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()
    yield bot.database_url
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, log: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session")
def bot():
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("no trained model in models/: run `make train` (make test does)")
    work = Path(tempfile.mkdtemp(prefix="telehealth-e2e-"))
    action_port, rasa_port, standin_port = _free_port(), _free_port(), _free_port()
    (work / "endpoints.yml").write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n  enable_selective_domain: true\n"
        f"tracker_store:\n  type: {deploy.TRACKER_STORE}\n  dialect: sqlite\n  db: {work / 'tracker.db'}\n",
        encoding="utf-8",
    )
    whatsapp = WhatsApp(f"http://127.0.0.1:{standin_port}", "")
    # The WhatsApp channel next to the REST one, pointed at the local Cloud API stand-in.
    (work / "credentials.yml").write_text(
        (ROOT / "credentials.yml").read_text(encoding="utf-8")
        + "\ntelehealth.channels.whatsapp.WhatsAppInput:\n"
        f"  verify_token: {WhatsApp.VERIFY_TOKEN}\n  app_secret: {WhatsApp.APP_SECRET}\n"
        f"  access_token: {WhatsApp.ACCESS_TOKEN}\n  phone_number_id: {WhatsApp.PHONE_NUMBER_ID}\n"
        f"  api_url: http://127.0.0.1:{standin_port}/v21.0\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "DATABASE_URL": f"sqlite:///{work / 'app.db'}", **E2E_KEYS}
    procs = []

    def start(args, log_name):
        log = work / log_name
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc, log


    standin, standin_log = start(
        [sys.executable, "-m", "telehealth.sandbox.standin", "--port", str(standin_port),
         "--token", WhatsApp.ACCESS_TOKEN, "--app-secret", WhatsApp.APP_SECRET,
         "--phone-number-id", WhatsApp.PHONE_NUMBER_ID,
         "--webhook-url", f"http://127.0.0.1:{rasa_port}/webhooks/whatsapp/webhook"], "standin.log",
    )
    actions, actions_log = start(
        [str(BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)], "actions.log"
    )
    rasa, rasa_log = start(
        [str(BIN / "rasa"), "run", "--enable-api", "--port", str(rasa_port), "--model", str(models[-1]),
         "--endpoints", str(work / "endpoints.yml"), "--credentials", str(work / "credentials.yml")],
        "rasa.log",
    )
    try:
        _wait(f"http://127.0.0.1:{action_port}/health", actions, actions_log)
        _wait(f"http://127.0.0.1:{rasa_port}/status", rasa, rasa_log)
        _wait(f"http://127.0.0.1:{standin_port}/_sandbox/messages", standin, standin_log)
        whatsapp.webhook = f"http://127.0.0.1:{rasa_port}/webhooks/whatsapp/webhook"
        yield Bot(f"http://127.0.0.1:{rasa_port}", env["DATABASE_URL"], whatsapp,
                  action_url=f"http://127.0.0.1:{action_port}/webhook")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


class WhatsApp:
    """Drives the WhatsApp channel like Meta does: signed webhooks in, replies read at the stand-in."""

    VERIFY_TOKEN = "e2e-verify-token"
    APP_SECRET = "e2e-app-secret"
    ACCESS_TOKEN = "e2e-access-token"
    PHONE_NUMBER_ID = "100200300"

    def __init__(self, standin: str, webhook: str) -> None:
        self.standin = standin
        self.webhook = webhook
        self._ids = 0
        self._window_open: dict = {}

    def envelope(self, wa_id: str, message: dict) -> dict:
        """A user's message as Meta's webhook carries it; Meta (the stand-in) now knows the user
        wrote, so its 24-hour window for free-form replies is open."""
        self._ids += 1
        if not self._window_open.get(wa_id):
            requests.post(f"{self.standin}/_sandbox/inbound", json={"wa_id": wa_id}, timeout=10).raise_for_status()
            self._window_open[wa_id] = True
        message = {"from": wa_id, "id": message.pop("id", f"wamid.e2e.{time.time_ns()}.{self._ids}"),
                   "timestamp": str(int(time.time())), **message}
        return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": self.PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Test"}, "wa_id": wa_id}], "messages": [message]}}]}]}

    def post(self, payload, signature: "str | None" = "valid") -> requests.Response:
        from telehealth.whatsapp.cloud_api import sign

        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = sign(body, self.APP_SECRET)
        elif signature:
            headers["X-Hub-Signature-256"] = signature
        return requests.post(self.webhook, data=body, headers=headers, timeout=30)

    def text(self, wa_id: str, text: str, **extra) -> requests.Response:
        return self.post(self.envelope(wa_id, {"type": "text", "text": {"body": text}, **extra}))

    def tap(self, wa_id: str, reply_id: str, title: str = "x", kind: str = "button_reply") -> requests.Response:
        return self.post(self.envelope(wa_id, {"type": "interactive", "interactive": {
            "type": kind, kind: {"id": reply_id, "title": title}}}))

    def sent(self, wa_id: "str | None" = None) -> list:
        params = {"to": wa_id} if wa_id else {}
        return requests.get(f"{self.standin}/_sandbox/messages", params=params, timeout=10).json()["messages"]

    def receipts(self) -> list:
        return requests.get(f"{self.standin}/_sandbox/messages", timeout=10).json()["receipts"]

    def wait_for(self, wa_id: str, count: int, timeout: float = 60) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.sent(wa_id)
            if len(sent) >= count:
                return sent
            time.sleep(0.2)
        return self.sent(wa_id)

    def failures(self, rate: float, mode: str = "500", seed: int = 1) -> None:
        requests.post(f"{self.standin}/_sandbox/failures", json={"rate": rate, "mode": mode, "seed": seed}, timeout=10)


def texts_of(messages: list) -> list:
    """The visible text of each message the stand-in received."""
    out = []
    for m in messages:
        body = m["body"]
        if body["type"] == "template":
            out.append(f"template:{body['template']['name']}")
        else:
            out.append(body["text"]["body"] if body["type"] == "text" else body["interactive"]["body"]["text"])
    return out


class Bot:
    def __init__(self, url: str, database_url: str = "", whatsapp: "WhatsApp | None" = None,
                 action_url: str = "") -> None:
        self.url = url
        self.action_url = action_url
        self.database_url = database_url
        self.whatsapp = whatsapp

    def say(self, sender: str, text: str) -> list[dict]:
        r = requests.post(f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def texts(self, sender: str, text: str) -> list[str]:
        return [m.get("text", "") for m in self.say(sender, text)]

    def slots(self, sender: str) -> dict:
        return requests.get(f"{self.url}/conversations/{sender}/tracker", timeout=30).json()["slots"]
