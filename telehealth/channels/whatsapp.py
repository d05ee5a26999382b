"""Rasa channel for the WhatsApp Business Cloud API (channel name ``whatsapp``).

Webhook ``/webhooks/whatsapp/webhook``: GET answers Meta's verification; POST checks
``X-Hub-Signature-256`` over the raw body in constant time before anything is parsed, stores
each message once (the message id is the key, so a replay, even after a restart, is a
duplicate), records delivery statuses, and answers 200 at once. The conversation runs after
the acknowledgement: one queue per user (strictly in arrival order), users in parallel.
Replies go to the outbox (``telehealth.whatsapp.sender``), which sends them in order.

credentials.yml (values from the environment, see ../shared/docs/design.md)::

    telehealth.channels.whatsapp.WhatsAppInput:
      verify_token: ${WHATSAPP_VERIFY_TOKEN}
      app_secret: ${WHATSAPP_APP_SECRET}
      access_token: ${WHATSAPP_ACCESS_TOKEN}
      phone_number_id: ${WHATSAPP_PHONE_NUMBER_ID}
      api_url: ${WHATSAPP_API_URL}

Behind the receiver (``telehealth.receiver``, several Rasa workers), each worker's channel also
has ``internal_token`` (the receiver's ``RECEIVER_INTERNAL_TOKEN``), ``shard_index`` and
``shard_count``: the receiver stores and acknowledges, then forwards each user's messages to
``/webhooks/whatsapp/internal`` of the worker that owns the user; at start a worker takes up the
stored, unprocessed messages of its own users only.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import (
    LIST_LABEL, MEDIA_KINDS, SIGNATURE_HEADER, Inbound, message_bodies, read_receipt_body,
)
from telehealth.whatsapp.routing import shard_of
from telehealth.whatsapp.sender import Sender
from telehealth.whatsapp.webhook import INTERNAL_HEADER, Recorder, accept, unprocessed_messages

logger = logging.getLogger(__name__)

REQUIRED = ("verify_token", "app_secret", "access_token", "phone_number_id", "api_url")
#: Conversation turns processed at once per process (more users wait in their queues).
MAX_CONCURRENT_TURNS = 4
#: How long a message whose processing fails (a service away) is retried before it is left for
#: the next start; the turn may be repeated, so a reply can come twice, never not at all.
RETRY_FOR_S = 300.0


def rasa_text(message: Inbound) -> Optional[str]:
    """What the conversation receives for a WhatsApp message (None: nothing to answer)."""
    if message.kind in ("text", "button", "list", "template_button"):
        return message.text or ""
    if message.kind == "reaction":
        return None
    if message.kind in ("voice", "audio"):
        return "/voice_note"
    if message.kind in MEDIA_KINDS:
        return "/media_message"
    if message.kind == "location" and message.location:
        lat, lon = message.location.get("latitude"), message.location.get("longitude")
        if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
            return f'/share_location{{"latitude":{float(lat)},"longitude":{float(lon)}}}'
    # Unsupported types: an empty text gets the polite "I can read text messages only".
    return ""


class WhatsAppOutput(OutputChannel):
    """Turns Rasa's bot messages into Cloud API bodies and hands them to the outbox; or, for a
    user's message (``collect``), keeps them for the turn's one transaction (``store.finish_turn``)."""

    def __init__(self, sender: Sender, list_label: Text = LIST_LABEL, collect: Optional[List[Dict]] = None) -> None:
        self.sender = sender
        self.list_label = list_label
        self.collected = collect

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    async def _out(self, recipient_id: Text, bodies: List[Dict[str, Any]]) -> None:
        if self.collected is not None:
            self.collected.extend(bodies)
        else:
            await self.sender.enqueue(recipient_id, bodies)

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        await self._out(recipient_id, message_bodies(recipient_id, message, self.list_label))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._out(recipient_id, message_bodies(recipient_id, {"text": text}))


class WhatsAppInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WhatsAppInput":
        credentials = credentials or {}
        missing = [k for k in REQUIRED if not credentials.get(k)]
        if missing:
            raise ValueError(f"WhatsApp channel: missing credentials {', '.join(missing)} (see credentials.yml)")
        return cls(**{k: credentials[k] for k in REQUIRED}, rate_limit=float(credentials.get("rate_limit") or 80),
                   max_concurrent_turns=int(credentials.get("max_concurrent_turns") or MAX_CONCURRENT_TURNS),
                   internal_token=str(credentials.get("internal_token") or ""),
                   shard_index=int(credentials.get("shard_index") or 0),
                   shard_count=int(credentials.get("shard_count") or 1))

    def __init__(self, verify_token: Text, app_secret: Text, access_token: Text, phone_number_id: Text,
                 api_url: Text, rate_limit: float = 80.0, max_concurrent_turns: int = 0,
                 internal_token: Text = "", shard_index: int = 0, shard_count: int = 1) -> None:
        self.verify_token = verify_token
        self.app_secret = app_secret
        self.sender = Sender(api_url, phone_number_id, access_token, rate_per_s=rate_limit)
        # Conversation turns are CPU work on this event loop (NLU): a bounded number at a time
        # keeps the loop free to acknowledge webhooks at once while a backlog is worked off.
        self._turns = asyncio.Semaphore(max_concurrent_turns or MAX_CONCURRENT_TURNS)
        # Webhook bookkeeping gets its own threads, so acknowledging never queues behind other work.
        self._recorder = Recorder(ThreadPoolExecutor(max_workers=2, thread_name_prefix="whatsapp-webhook"))
        self._queues: Dict[str, asyncio.Queue] = {}
        self._taken: set = set()
        # Behind the receiver (several workers): the shared token of its /internal route, and which
        # share of the users is this worker's (telehealth.whatsapp.routing).
        self.internal_token = internal_token
        self.shard_index, self.shard_count = shard_index, max(1, shard_count)
        self._workers: Dict[str, asyncio.Task] = {}
        self._on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None

    # ----- per-user ordering ----------------------------------------------------------------
    def _dispatch(self, message: Inbound) -> None:
        if message.message_id in self._taken:
            return  # already queued here (a message the receiver forwarded twice after a restart)
        self._taken.add(message.message_id)
        queue = self._queues.setdefault(message.wa_id, asyncio.Queue())
        queue.put_nowait(message)
        worker = self._workers.get(message.wa_id)
        if worker is None or worker.done():
            self._workers[message.wa_id] = asyncio.get_running_loop().create_task(self._work(message.wa_id))

    async def _work(self, wa_id: str) -> None:
        queue = self._queues[wa_id]
        while not queue.empty():
            message = queue.get_nowait()
            try:
                await self._process(message)
            finally:
                self._taken.discard(message.message_id)
        self._queues.pop(wa_id, None)
        self._workers.pop(wa_id, None)

    async def _process(self, message: Inbound) -> None:
        """One message, retried with backoff while a service is away (a database or Redis
        restarting): the user's later messages wait behind it, in order. After RETRY_FOR_S it is
        left stored and unprocessed, and taken up at the next start."""
        delay, deadline = 0.5, asyncio.get_running_loop().time() + RETRY_FOR_S
        while True:
            try:
                async with self._turns:
                    if not await asyncio.to_thread(store.is_processed, message.message_id):
                        await self._handle(message)
                return
            except Exception as exc:
                if asyncio.get_running_loop().time() + delay > deadline:
                    logger.exception("WhatsApp message %s could not be processed; left for the next start",
                                     message.message_id)
                    return
                logger.warning("WhatsApp message %s failed (%s); retrying in %.1f s",
                               message.message_id, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def _handle(self, message: Inbound) -> None:
        asyncio.get_running_loop().create_task(self.sender.send_now(read_receipt_body(message.message_id)))
        text = rasa_text(message)
        replies: List[Dict[str, Any]] = []
        if text is not None and self._on_new_message is not None:
            await self._on_new_message(UserMessage(
                text,
                WhatsAppOutput(self.sender, collect=replies),
                message.wa_id,
                input_channel=self.name(),
                message_id=message.message_id,
                metadata={"whatsapp": {"kind": message.kind, "location": message.location}},
            ))
        await asyncio.to_thread(store.finish_turn, message.message_id, message.wa_id, replies)
        if replies:
            self.sender.wake()

    async def _start(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        self._on_new_message = on_new_message
        await self.sender.start()
        # Messages acknowledged before a crash but never processed: take them up again (this
        # worker's share of the users only, when several workers share the database).
        for message in await asyncio.to_thread(unprocessed_messages):
            if self.shard_count == 1 or shard_of(message.wa_id, self.shard_count) == self.shard_index:
                self._dispatch(message)

    # ----- webhook --------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("whatsapp_webhook", __name__)

        @webhook.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            await self._start(on_new_message)

        @webhook.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            await self.sender.stop()

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if (request.args.get("hub.mode") == "subscribe"
                    and request.args.get("hub.verify_token") == self.verify_token):
                return response.text(request.args.get("hub.challenge") or "")
            return response.text("forbidden", status=403)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            accepted = await accept(request.body, request.headers.get(SIGNATURE_HEADER), self.app_secret,
                                    self._recorder)
            for message in accepted.new_messages:
                self._dispatch(message)
            return response.text(accepted.text, status=accepted.status)

        @webhook.route("/internal", methods=["POST"])
        async def internal(request: Request) -> HTTPResponse:
            """Messages the receiver (telehealth.receiver) stored and routed to this worker."""
            token = request.headers.get(INTERNAL_HEADER) or ""
            if not self.internal_token or not hmac.compare_digest(token, self.internal_token):
                return response.text("forbidden", status=403)
            try:
                messages = [Inbound(**m) for m in json.loads(request.body)["messages"]]
            except (ValueError, KeyError, TypeError):
                return response.text("invalid body", status=400)
            for message in messages:
                self._dispatch(message)
            return response.text("ok")

        return webhook

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WhatsAppOutput(self.sender)
