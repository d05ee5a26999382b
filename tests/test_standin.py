"""The Cloud API stand-in (telehealth/sandbox/standin.py) keeps the 24-hour window like Meta:
free-form messages outside it are accepted, then fail with 131047; templates always go."""
from __future__ import annotations

import asyncio
import json
import time

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from telehealth.sandbox.standin import make_app
from telehealth.whatsapp.cloud_api import sign, template_body, text_body

TOKEN, SECRET = "t", "s"


async def _exchange(steps):
    statuses, arrived = [], asyncio.Event()

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        assert request.headers["X-Hub-Signature-256"] == sign(body, SECRET)
        for entry in json.loads(body)["entry"]:
            for change in entry["changes"]:
                statuses.extend(change["value"].get("statuses") or [])
        arrived.set()
        return web.Response(text="ok")

    hook_app = web.Application()
    hook_app.router.add_post("/hook", webhook)
    async with TestServer(hook_app) as hook:
        async with TestServer(make_app(TOKEN, str(hook.make_url("/hook")), SECRET)) as api, ClientSession() as http:
            async def send(body):
                async with http.post(api.make_url("/v21.0/PNID/messages"), json=body,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                    return resp.status, await resp.json()

            async def inbound(wa_id, timestamp=None):
                async with http.post(api.make_url("/_sandbox/inbound"), json={"wa_id": wa_id, "timestamp": timestamp}) as resp:
                    return await resp.json()

            result = await steps(send, inbound)
            await asyncio.sleep(0.6)  # the stand-in reports sent/delivered after 0.05 and 0.3 s
            return result, statuses


def test_free_form_outside_the_window_is_accepted_and_then_fails_with_131047():
    async def steps(send, inbound):
        never = await send(text_body("923001111111", "Your doctor will call"))
        assert (await inbound("923002222222", time.time() - 25 * 3600))["window_open"] is False
        stale = await send(text_body("923002222222", "Hello again"))
        template = await send(template_body("923001111111", "consult_no_answer", "ur", []))
        assert (await inbound("923003333333"))["window_open"] is True
        fresh = await send(text_body("923003333333", "Welcome"))
        return never, stale, template, fresh

    (never, stale, template, fresh), statuses = asyncio.run(_exchange(steps))
    for status, body in (never, stale, template, fresh):
        assert status == 200 and body["messages"][0]["id"].startswith("wamid.")
    by_id = {}
    for s in statuses:
        by_id.setdefault(s["id"], []).append(s)
    failed = by_id[never[1]["messages"][0]["id"]] + by_id[stale[1]["messages"][0]["id"]]
    assert [s["status"] for s in failed] == ["failed", "failed"]
    assert all(s["errors"][0]["code"] == 131047 and s["errors"][0]["title"] == "Re-engagement message" for s in failed)
    for ok in (template, fresh):
        assert [s["status"] for s in by_id[ok[1]["messages"][0]["id"]]] == ["sent", "delivered"]
