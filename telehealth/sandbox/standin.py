"""A local stand-in for the WhatsApp Cloud API (the part of Meta we cannot reach), and a
WhatsApp-like chat page on top of it.

It accepts the requests the real API accepts and rejects, with Meta's error shape, what it
rejects (``telehealth.whatsapp.cloud_api.validate_body``: unknown fields, too many buttons,
long titles, empty or over-long text; a wrong token is error 190). It records what it accepted,
and it can be told to fail a share of sends (HTTP 500, or 429 with code 130429) for tests.

Like Meta, it keeps each user's 24-hour customer-service window: a free-form message (anything
but a template or a read receipt) to someone who has not written in the last 24 hours is
accepted with a message id and then fails, reported by a ``failed`` status webhook with error
131047 ("Re-engagement message"). It learns that a user wrote from the chat page, or, for tests
and benchmarks that post webhooks to the connector themselves, from ``POST /_sandbox/inbound``.

    python -m telehealth.sandbox.standin --port 8081 --token TOKEN \
        --webhook-url http://localhost:5005/webhooks/whatsapp/webhook --app-secret SECRET

With a webhook URL and app secret it also plays the phone's side, like Meta does: the chat page
(``GET /``) sends the user's messages to the connector as signed webhooks (text, button and list
replies, a location, a "voice note"), and every accepted bot message is followed by signed
``sent`` and ``delivered`` status webhooks, and ``read`` once the page has shown it.

Endpoints: ``POST /{version}/{phone_number_id}/messages`` (the API), and for tests and the chat
page ``GET /_sandbox/messages[?to=…][&after=N]``, ``GET /_sandbox/wait?to=…&after=N`` (long poll), ``DELETE /_sandbox/messages``, ``POST /_sandbox/failures``
``{"rate": 0.3, "mode": "500" | "130429", "seed": 1}``, ``POST /_sandbox/inbound``
``{"wa_id": "92300…", "timestamp": 1764000000}`` (a user's message reached Meta; timestamp
defaults to now).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from aiohttp import ClientSession, ClientTimeout, web

from telehealth.whatsapp.cloud_api import SIGNATURE_HEADER, WINDOW_CLOSED, WINDOW_HOURS, dumps, sign, validate_body


PAGE = Path(__file__).resolve().parent / "chat.html"


def make_app(token: str, webhook_url: Optional[str] = None, app_secret: Optional[str] = None,
             phone_number_id: str = "sandbox", window_hours: float = WINDOW_HOURS) -> web.Application:
    app = web.Application()
    state: Dict[str, Any] = {"sent": [], "receipts": [], "failures": {"rate": 0.0, "mode": "500"},
                             "rng": random.Random(0), "ids": itertools.count(1), "user_ids": itertools.count(1),
                             "tasks": set(), "by_to": {}, "arrived": asyncio.Condition(),
                             "last_inbound": {}}
    app["state"] = state

    async def deliver(payload: Dict[str, Any]) -> int:
        """POST a signed webhook to the connector (as Meta does); returns the HTTP status."""
        if not webhook_url or not app_secret:
            return 0
        body = dumps(payload)
        if state.get("session") is None:  # one connection pool for all webhooks, as Meta keeps
            state["session"] = ClientSession(timeout=ClientTimeout(total=30))
        async with state["session"].post(webhook_url, data=body, headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: sign(body, app_secret)}) as resp:
            return resp.status

    def envelope(value: Dict[str, Any]) -> Dict[str, Any]:
        return {"object": "whatsapp_business_account", "entry": [{"id": "SANDBOX", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {
                "display_phone_number": "15550000000", "phone_number_id": phone_number_id}, **value}}]}]}

    def later(coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        state["tasks"].add(task)
        task.add_done_callback(state["tasks"].discard)

    def window_open(wa_id: str) -> bool:
        last = state["last_inbound"].get(wa_id)
        return last is not None and time.time() - last < window_hours * 3600

    async def report_status(record: Dict[str, Any], status: str, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        if record.get("status") in ("read", "failed") and status != "read":
            return
        record["status"] = status
        update: Dict[str, Any] = {"id": record["id"], "status": status, "timestamp": str(int(time.time())),
                                  "recipient_id": record["to"]}
        if record.get("errors"):
            update["errors"] = record["errors"]
        try:
            await deliver(envelope({"statuses": [update]}))
        except Exception:  # the connector is down: Meta would retry; the page still shows the message
            pass

    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": {
                "message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException",
                "code": 190, "fbtrace_id": "sandbox"}}, status=401)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": {"message": "(#100) Invalid JSON", "type": "OAuthException",
                                                "code": 100, "fbtrace_id": "sandbox"}}, status=400)
        error = validate_body(body)
        if error:
            return web.json_response(error, status=400)
        failures = state["failures"]
        if failures["rate"] and state["rng"].random() < failures["rate"]:
            if failures["mode"] == "130429":
                return web.json_response({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                                    "code": 130429, "fbtrace_id": "sandbox"}}, status=429)
            return web.json_response({"error": {"message": "An unknown error occurred", "type": "OAuthException",
                                                "code": 1, "fbtrace_id": "sandbox"}}, status=500)
        if body.get("status") == "read":
            state["receipts"].append(body["message_id"])
            return web.json_response({"success": True})
        wamid = f"wamid.sandbox.{next(state['ids'])}"
        record = {"id": wamid, "to": body["to"], "body": body, "time": time.time(), "status": "accepted",
                  "phone_number_id": request.match_info["phone_number_id"]}
        state["sent"].append(record)
        state["by_to"].setdefault(record["to"], []).append(record)
        async with state["arrived"]:
            state["arrived"].notify_all()
        if body.get("type", "text") != "template" and not window_open(body["to"]):
            # Meta accepts the request and fails the message afterwards.
            record["errors"] = [{"code": WINDOW_CLOSED, "title": "Re-engagement message", "message": "Re-engagement message",
                                 "error_data": {"details": "Message failed to send because more than 24 hours have passed "
                                                           "since the customer last replied to this number."}}]
            later(report_status(record, "failed", 0.05))
        else:
            later(report_status(record, "sent", 0.05))
            later(report_status(record, "delivered", 0.3))
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": wamid}]})

    async def list_sent(request: web.Request) -> web.Response:
        to = request.query.get("to")
        sent: List[Dict[str, Any]] = state["sent"] if to is None else state["by_to"].get(to, [])
        if "after" in request.query:  # incremental (benchmarks poll while thousands accumulate)
            return web.json_response({"messages": sent[int(request.query["after"]):], "total": len(sent)})
        return web.json_response({"messages": sent, "receipts": state["receipts"]})

    async def wait_sent(request: web.Request) -> web.Response:
        """Long poll: the messages to ``to`` from index ``after`` on, once there are any (or
        ``timeout`` seconds passed; then an empty list)."""
        to, after = request.query["to"], int(request.query.get("after", 0))
        timeout = float(request.query.get("timeout", 30))

        def ready() -> bool:
            return len(state["by_to"].get(to, [])) > after

        try:
            async with state["arrived"]:
                await asyncio.wait_for(state["arrived"].wait_for(ready), timeout)
        except asyncio.TimeoutError:
            pass
        return web.json_response({"messages": state["by_to"].get(to, [])[after:]})

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")

    async def user_sends(request: web.Request) -> web.Response:
        """The chat page's user sends a message: a signed webhook to the connector."""
        data = await request.json()
        wa_id = "".join(ch for ch in str(data.get("wa_id") or "") if ch.isdigit())
        if not wa_id:
            return web.json_response({"error": "a phone number is needed"}, status=400)
        kind = data.get("type", "text")
        message: Dict[str, Any] = {"from": wa_id, "id": f"wamid.sandbox.user.{next(state['user_ids'])}.{time.time_ns()}",
                                   "timestamp": str(int(time.time())), "type": kind}
        if kind == "text":
            message["text"] = {"body": str(data.get("text") or "")}
        elif kind in ("button_reply", "list_reply"):
            message["type"] = "interactive"
            message["interactive"] = {"type": kind, kind: {"id": data.get("id"), "title": data.get("title", "")}}
        elif kind == "location":
            message["location"] = {"latitude": float(data.get("latitude", 33.6844)),
                                   "longitude": float(data.get("longitude", 73.0479)), "name": data.get("name")}
        elif kind == "audio":
            message["audio"] = {"id": f"media.{time.time_ns()}", "mime_type": "audio/ogg; codecs=opus", "voice": True}
        else:
            return web.json_response({"error": f"unknown type {kind}"}, status=400)
        contacts = [{"profile": {"name": str(data.get("name") or "Sandbox user")}, "wa_id": wa_id}]
        state["last_inbound"][wa_id] = time.time()
        try:
            status = await deliver(envelope({"contacts": contacts, "messages": [message]}))
        except Exception as exc:
            return web.json_response({"error": f"the assistant is not reachable: {type(exc).__name__}"}, status=502)
        return web.json_response({"id": message["id"], "webhook_status": status})

    async def inbound(request: web.Request) -> web.Response:
        """A user's message reached Meta (sent to the connector by the caller): opens the window."""
        data = await request.json()
        wa_id = str(data.get("wa_id") or "").strip().lstrip("+")  # as the webhook's "from" carries it
        if not wa_id:
            return web.json_response({"error": "a phone number is needed"}, status=400)
        state["last_inbound"][wa_id] = float(data.get("timestamp") or time.time())
        return web.json_response({"wa_id": wa_id, "window_open": window_open(wa_id)})

    async def shown(request: web.Request) -> web.Response:
        """The page displayed these bot messages: report them read."""
        data = await request.json()
        for record in state["sent"]:
            if record["id"] in set(data.get("ids") or []) and record.get("status") not in ("read", "failed"):
                later(report_status(record, "read"))
        return web.json_response({"ok": True})

    async def clear(request: web.Request) -> web.Response:
        state["sent"].clear()
        state["by_to"].clear()
        state["receipts"].clear()
        return web.json_response({"ok": True})

    async def failures(request: web.Request) -> web.Response:
        data = await request.json()
        state["failures"] = {"rate": float(data.get("rate", 0)), "mode": str(data.get("mode", "500"))}
        state["rng"] = random.Random(data.get("seed", 0))
        return web.json_response(state["failures"])

    async def close_session(app: web.Application) -> None:
        if state.get("session") is not None:
            await state["session"].close()

    app.on_cleanup.append(close_session)
    app.router.add_post("/{version}/{phone_number_id}/messages", messages)
    app.router.add_get("/_sandbox/messages", list_sent)
    app.router.add_get("/_sandbox/wait", wait_sent)
    app.router.add_delete("/_sandbox/messages", clear)
    app.router.add_post("/_sandbox/failures", failures)
    app.router.add_get("/", page)
    app.router.add_post("/_sandbox/send", user_sends)
    app.router.add_post("/_sandbox/shown", shown)
    app.router.add_post("/_sandbox/inbound", inbound)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", required=True)
    parser.add_argument("--webhook-url", help="the connector's webhook, for the chat page and statuses")
    parser.add_argument("--app-secret", help="signs the webhooks (the connector's WHATSAPP_APP_SECRET)")
    parser.add_argument("--phone-number-id", default="sandbox")
    parser.add_argument("--window-hours", type=float, default=WINDOW_HOURS,
                        help="the customer-service window (free-form messages fail with 131047 outside it)")
    args = parser.parse_args()
    web.run_app(make_app(args.token, args.webhook_url, args.app_secret, args.phone_number_id, args.window_hours),
                host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
