"""What every WhatsApp webhook POST goes through, in the Rasa channel and in the receiver
(``telehealth.receiver``): the signature checked on the raw body in constant time before
anything is parsed (missing: 401, wrong: 403), every message stored once (the message id is the
key, so a replay, even after a restart, is a duplicate), every status recorded, all before the
200. Blocking database work runs on a thread pool, never on the event loop, and webhooks that
arrive together share one transaction (``Recorder``: group commit).
"""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import WINDOW_CLOSED, Envelope, Inbound, parse_envelope, signature_valid


logger = logging.getLogger(__name__)

#: The receiver's forwards to a worker's channel: path and the header with the shared token.
INTERNAL_PATH = "/webhooks/whatsapp/internal"
INTERNAL_HEADER = "X-Telehealth-Internal"


@dataclass
class Accepted:
    status: int
    text: str
    new_messages: List[Inbound] = field(default_factory=list)


class Recorder:
    """Stores what webhooks bring with as few transactions as the load allows: while one
    transaction is in flight, the webhooks that arrive wait together and go in the next one
    (no added delay when idle; at 200 webhooks/s, one commit for several). Each webhook is
    answered only once its own transaction has committed; if it fails, every webhook in it
    gets the error (500: Meta retries them, and the retry is de-duplicated)."""

    MAX_BATCH = 200

    def __init__(self, pool: Optional[Executor] = None, url: Optional[str] = None) -> None:
        self.pool, self.url = pool, url
        self._waiting: List[Tuple[Envelope, asyncio.Future]] = []
        self._writing = False

    async def record(self, envelope: Envelope) -> List[Inbound]:
        """Store ``envelope``'s messages and statuses; returns its messages not seen before."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((envelope, future))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write())
        return await future

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.MAX_BATCH], self._waiting[self.MAX_BATCH:]
                messages = [m for envelope, _ in batch for m in envelope.messages]
                statuses = [_status_update(s) for envelope, _ in batch for s in envelope.statuses]
                try:
                    new = await asyncio.get_running_loop().run_in_executor(
                        self.pool, store.record_webhooks,
                        [(m.message_id, m.wa_id, asdict(m)) for m in messages], statuses, self.url)
                except Exception as exc:  # the database is away: these webhooks are not acknowledged
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                flags = iter(new)
                for envelope, future in batch:
                    fresh = [m for m in envelope.messages if next(flags)]
                    if not future.done():
                        future.set_result(fresh)
        finally:
            self._writing = False


def unprocessed_messages() -> List[Inbound]:
    """Messages acknowledged before a crash but never processed, oldest first (blocking: run it
    on a thread). A row this version cannot read is skipped and logged, and stays stored for an
    operator: one odd row must not stop the receiver or a worker from starting."""
    messages = []
    for payload in store.unprocessed():
        message = Inbound.from_stored(payload)
        if message is None:
            logger.error("a stored message could not be read; left in whatsapp_inbound for an operator")
        else:
            messages.append(message)
    return messages


def _status_update(status) -> store.StatusRecord:
    error = "; ".join(f"{e.get('code')} {e.get('title', '')}" for e in status.errors) or None
    window_closed = any(str(e.get("code")) == str(WINDOW_CLOSED) for e in status.errors)
    return store.StatusRecord(status.message_id, status.status, error, window_closed)


async def accept(body: bytes, signature: Optional[str], app_secret: str,
                 recorder: Optional[Recorder] = None) -> Accepted:
    if not signature:
        return Accepted(401, "missing signature")
    if not signature_valid(body, signature, app_secret):
        return Accepted(403, "invalid signature")
    try:
        payload = json.loads(body)
    except ValueError:
        return Accepted(400, "invalid json")
    envelope = parse_envelope(payload)
    if not envelope.messages and not envelope.statuses:
        return Accepted(200, "ok")
    # Stored (and de-duplicated) before the 200: a crash after it loses nothing.
    return Accepted(200, "ok", await (recorder or Recorder()).record(envelope))
