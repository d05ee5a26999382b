"""What every WhatsApp webhook POST goes through, in the Rasa channel and in the receiver
(``telehealth.receiver``): the signature checked on the raw body in constant time before
anything is parsed (missing: 401, wrong: 403), every message stored once (the message id is the
key, so a replay, even after a restart, is a duplicate), every status recorded. Blocking
database work runs on the given thread pool, never on the event loop.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import WINDOW_CLOSED, Inbound, parse_envelope, signature_valid


#: The receiver's forwards to a worker's channel: path and the header with the shared token.
INTERNAL_PATH = "/webhooks/whatsapp/internal"
INTERNAL_HEADER = "X-Telehealth-Internal"


@dataclass
class Accepted:
    status: int
    text: str
    new_messages: List[Inbound] = field(default_factory=list)


async def accept(body: bytes, signature: Optional[str], app_secret: str, pool: Optional[Executor] = None) -> Accepted:
    if not signature:
        return Accepted(401, "missing signature")
    if not signature_valid(body, signature, app_secret):
        return Accepted(403, "invalid signature")
    try:
        payload = json.loads(body)
    except ValueError:
        return Accepted(400, "invalid json")
    envelope = parse_envelope(payload)
    loop = asyncio.get_running_loop()
    result = Accepted(200, "ok")
    for message in envelope.messages:
        # Stored (and de-duplicated) before the 200: a crash after it loses nothing.
        if await loop.run_in_executor(pool, store.record_inbound, message.message_id, message.wa_id, asdict(message)):
            result.new_messages.append(message)
    for status in envelope.statuses:
        error = "; ".join(f"{e.get('code')} {e.get('title', '')}" for e in status.errors) or None
        window_closed = any(str(e.get("code")) == str(WINDOW_CLOSED) for e in status.errors)
        await loop.run_in_executor(pool, store.record_status, status.message_id, status.status, error, None, window_closed)
    return result
