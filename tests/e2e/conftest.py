"""Starts the real action server and Rasa server (REST channel) on free ports, once per run."""
from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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
    action_port, rasa_port = _free_port(), _free_port()
    (work / "endpoints.yml").write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {work / 'tracker.db'}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "DATABASE_URL": f"sqlite:///{work / 'app.db'}", "PATIENT_ID_KEY": "e2e-test-key"}
    procs = []

    def start(args, log_name):
        log = work / log_name
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc, log


    actions, actions_log = start(
        [str(BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)], "actions.log"
    )
    rasa, rasa_log = start(
        [str(BIN / "rasa"), "run", "--enable-api", "--port", str(rasa_port), "--model", str(models[-1]),
         "--endpoints", str(work / "endpoints.yml"), "--credentials", str(ROOT / "credentials.yml")],
        "rasa.log",
    )
    try:
        _wait(f"http://127.0.0.1:{action_port}/health", actions, actions_log)
        _wait(f"http://127.0.0.1:{rasa_port}/status", rasa, rasa_log)
        yield Bot(f"http://127.0.0.1:{rasa_port}", env["DATABASE_URL"])
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


class Bot:
    def __init__(self, url: str, database_url: str = "") -> None:
        self.url = url
        self.database_url = database_url

    def say(self, sender: str, text: str) -> list[dict]:
        r = requests.post(f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def texts(self, sender: str, text: str) -> list[str]:
        return [m.get("text", "") for m in self.say(sender, text)]

    def slots(self, sender: str) -> dict:
        return requests.get(f"{self.url}/conversations/{sender}/tracker", timeout=30).json()["slots"]
