"""Configuration for `make run`: the WhatsApp channel pointed at the local sandbox.

Writes ``var/credentials.yml`` (the REST channel plus the WhatsApp channel) and prints the
sandbox's command-line arguments. Values come from the WHATSAPP_* environment variables when
they are set (../shared/docs/design.md); otherwise local secrets are generated once in
``var/sandbox.json`` and the channel talks to the sandbox on SANDBOX_PORT (8081).
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
from pathlib import Path

from telehealth.deploy import write_credentials

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"


def settings() -> dict:
    path = VAR / "sandbox.json"
    if path.exists():
        local = json.loads(path.read_text())
    else:
        local = {"verify_token": secrets.token_hex(8), "app_secret": secrets.token_hex(16),
                 "access_token": secrets.token_hex(16), "phone_number_id": "100000000000001"}
        VAR.mkdir(exist_ok=True)
        path.write_text(json.dumps(local))
        path.chmod(0o600)
    sandbox_port = int(os.environ.get("SANDBOX_PORT", "8081"))
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    return {
        "verify_token": os.environ.get("WHATSAPP_VERIFY_TOKEN") or local["verify_token"],
        "app_secret": os.environ.get("WHATSAPP_APP_SECRET") or local["app_secret"],
        "access_token": os.environ.get("WHATSAPP_ACCESS_TOKEN") or local["access_token"],
        "phone_number_id": os.environ.get("WHATSAPP_PHONE_NUMBER_ID") or local["phone_number_id"],
        "api_url": os.environ.get("WHATSAPP_API_URL") or f"http://127.0.0.1:{sandbox_port}/v21.0",
        "sandbox_port": sandbox_port,
        "webhook_url": f"http://127.0.0.1:{rasa_port}/webhooks/whatsapp/webhook",
        "internal_token": os.environ.get("RECEIVER_INTERNAL_TOKEN") or local.setdefault(
            "internal_token", secrets.token_hex(16)),
    }


def main() -> int:
    """Writes var/credentials.yml, and var/credentials-<i>.yml for each of WORKERS workers (when
    WORKERS is set); prints the sandbox's arguments."""
    s = settings()
    write_credentials(VAR / "credentials.yml", s)
    workers = int(os.environ.get("WORKERS") or 0)
    for i in range(workers):
        write_credentials(VAR / f"credentials-{i}.yml", s, i, workers)
    (VAR / "receiver.env").write_text(
        f"WHATSAPP_VERIFY_TOKEN={s['verify_token']}\nWHATSAPP_APP_SECRET={s['app_secret']}\n"
        f"RECEIVER_INTERNAL_TOKEN={s['internal_token']}\n", encoding="utf-8")
    (VAR / "receiver.env").chmod(0o600)
    print(shlex.join(["--port", str(s["sandbox_port"]), "--token", s["access_token"],
                      "--webhook-url", s["webhook_url"], "--app-secret", s["app_secret"],
                      "--phone-number-id", s["phone_number_id"]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
