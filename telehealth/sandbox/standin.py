"""A local stand-in for the WhatsApp Cloud API's send endpoint (the part of Meta we cannot reach).

It accepts the requests the real API accepts and rejects, with Meta's error shape, what it
rejects (``telehealth.whatsapp.cloud_api.validate_body``: unknown fields, too many buttons,
long titles, empty or over-long text; a wrong token is error 190). It records what it accepted,
and it can be told to fail a share of sends (HTTP 500, or 429 with code 130429) for tests.

    python -m telehealth.sandbox.standin --port 8081 --token TOKEN

Endpoints: ``POST /{version}/{phone_number_id}/messages`` (the API), and for tests and the chat
page ``GET /_sandbox/messages[?to=…]``, ``DELETE /_sandbox/messages``, ``POST /_sandbox/failures``
``{"rate": 0.3, "mode": "500" | "130429", "seed": 1}``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from typing import Any, Dict, List

from aiohttp import web

from telehealth.whatsapp.cloud_api import validate_body


def make_app(token: str) -> web.Application:
    app = web.Application()
    state: Dict[str, Any] = {"sent": [], "receipts": [], "failures": {"rate": 0.0, "mode": "500"},
                             "rng": random.Random(0), "ids": itertools.count(1)}
    app["state"] = state

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
        state["sent"].append({"id": wamid, "to": body["to"], "body": body, "time": time.time(),
                              "phone_number_id": request.match_info["phone_number_id"]})
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": wamid}]})

    async def list_sent(request: web.Request) -> web.Response:
        to = request.query.get("to")
        sent: List[Dict[str, Any]] = [m for m in state["sent"] if to is None or m["to"] == to]
        return web.json_response({"messages": sent, "receipts": state["receipts"]})

    async def clear(request: web.Request) -> web.Response:
        state["sent"].clear()
        state["receipts"].clear()
        return web.json_response({"ok": True})

    async def failures(request: web.Request) -> web.Response:
        data = await request.json()
        state["failures"] = {"rate": float(data.get("rate", 0)), "mode": str(data.get("mode", "500"))}
        state["rng"] = random.Random(data.get("seed", 0))
        return web.json_response(state["failures"])

    app.router.add_post("/{version}/{phone_number_id}/messages", messages)
    app.router.add_get("/_sandbox/messages", list_sent)
    app.router.add_delete("/_sandbox/messages", clear)
    app.router.add_post("/_sandbox/failures", failures)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.token), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
