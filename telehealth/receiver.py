"""The WhatsApp webhook receiver in front of several Rasa workers (the production profile).

It does only what must happen before the 200: the signature check, storing each message once
(de-duplication, durable), recording statuses (``telehealth.whatsapp.webhook.accept``); then it
acknowledges, and routes each new message to the worker that owns its user
(``telehealth.whatsapp.routing``: rendezvous hashing on the WhatsApp id), so one user's turns
never run on two workers at once, in arrival order. A worker that is down is retried with
backoff (its messages wait, in order); messages stored but not yet processed when the receiver
(re)starts are routed again (workers skip what they already took).

    python -m telehealth.receiver --port 5005 --workers http://127.0.0.1:5006,http://127.0.0.1:5007

Environment: WHATSAPP_VERIFY_TOKEN, WHATSAPP_APP_SECRET, RECEIVER_INTERNAL_TOKEN (the token the
workers' channels expect on /webhooks/whatsapp/internal, credentials key ``internal_token``).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Dict, List, Optional

from aiohttp import ClientSession, ClientTimeout, web

from telehealth.whatsapp.cloud_api import SIGNATURE_HEADER, Inbound
from telehealth.whatsapp.routing import shard_of
from telehealth.whatsapp.webhook import INTERNAL_HEADER, INTERNAL_PATH, Recorder, accept, unprocessed_messages

logger = logging.getLogger(__name__)
RETRY_MAX_S = 10.0


class Router:
    """One ordered queue per worker; a task per worker forwards its queue, retrying until it is taken."""

    def __init__(self, workers: List[str], token: str) -> None:
        self.workers = [w.rstrip("/") for w in workers]
        self.token = token
        self.queues: List[asyncio.Queue] = [asyncio.Queue() for _ in self.workers]
        self.forwarded = [0] * len(self.workers)
        self._session: Optional[ClientSession] = None
        self._tasks: List[asyncio.Task] = []

    def route(self, message: Inbound) -> None:
        self.queues[shard_of(message.wa_id, len(self.workers))].put_nowait(message)

    async def start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=10))
        self._tasks = [asyncio.get_running_loop().create_task(self._forward(i)) for i in range(len(self.workers))]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._session:
            await self._session.close()

    async def _forward(self, index: int) -> None:
        queue, url = self.queues[index], self.workers[index] + INTERNAL_PATH
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 50:
                batch.append(queue.get_nowait())
            delay = 0.2
            while True:
                try:
                    assert self._session is not None
                    async with self._session.post(url, json={"messages": [asdict(m) for m in batch]},
                                                  headers={INTERNAL_HEADER: self.token}) as resp:
                        if resp.status == 200:
                            self.forwarded[index] += len(batch)
                            break
                        logger.warning("worker %d answered %d; retrying", index, resp.status)
                except Exception as exc:  # the worker is down or restarting: its users wait, in order
                    logger.warning("worker %d unreachable (%s); retrying", index, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)


def make_app(workers: List[str], verify_token: str, app_secret: str, internal_token: str) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    router = Router(workers, internal_token)
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="receiver-db")
    recorder = Recorder(pool)
    app["router"] = router

    async def on_start(app: web.Application) -> None:
        await router.start()
        for message in await asyncio.get_running_loop().run_in_executor(pool, unprocessed_messages):
            router.route(message)

    async def on_stop(app: web.Application) -> None:
        await router.stop()
        pool.shutdown(wait=False)

    async def verify(request: web.Request) -> web.Response:
        q = request.query
        if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == verify_token:
            return web.Response(text=q.get("hub.challenge") or "")
        return web.Response(text="forbidden", status=403)

    handling = deque(maxlen=5000)  # seconds from the request's body read to the response, recent POSTs

    async def receive(request: web.Request) -> web.Response:
        start = time.perf_counter()
        accepted = await accept(await request.read(), request.headers.get(SIGNATURE_HEADER), app_secret, recorder)
        for message in accepted.new_messages:
            router.route(message)
        handling.append(time.perf_counter() - start)
        return web.Response(text=accepted.text, status=accepted.status)

    async def stats(request: web.Request) -> web.Response:
        recent = sorted(handling)
        pick = lambda q: round(recent[min(len(recent) - 1, int(q * len(recent)))] * 1000, 1) if recent else None  # noqa: E731
        return web.json_response({"workers": router.workers, "forwarded": router.forwarded,
                                  "waiting": [q.qsize() for q in router.queues],
                                  "handling_ms": {"n": len(recent), "p50": pick(0.5), "p99": pick(0.99)}})

    app.router.add_get("/webhooks/whatsapp/webhook", verify)
    app.router.add_post("/webhooks/whatsapp/webhook", receive)
    app.router.add_get("/_receiver/stats", stats)
    app.router.add_get("/status", lambda request: web.json_response({"status": "ok"}))
    app.on_startup.append(on_start)
    app.on_cleanup.append(on_stop)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("RECEIVER_PORT") or 5005))
    parser.add_argument("--host", default=os.environ.get("RECEIVER_HOST") or "0.0.0.0")
    parser.add_argument("--workers", required=True, help="comma-separated base URLs of the Rasa workers, in order")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    missing = [n for n in ("WHATSAPP_VERIFY_TOKEN", "WHATSAPP_APP_SECRET", "RECEIVER_INTERNAL_TOKEN") if not os.environ.get(n)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)}")
    import uvloop  # libuv's event loop, as Sanic (Rasa's server) uses: less CPU per webhook

    uvloop.install()
    app = make_app([w for w in args.workers.split(",") if w], os.environ["WHATSAPP_VERIFY_TOKEN"],
                   os.environ["WHATSAPP_APP_SECRET"], os.environ["RECEIVER_INTERNAL_TOKEN"])
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
