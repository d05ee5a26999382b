"""WhatsApp channel benchmark (issue 4): webhook acknowledgement and end-to-end reply latency.

Runs against a stack started by `make run` (Rasa on :5005 with the WhatsApp channel, the sandbox
on :8081), using the sandbox's local secrets in var/. Not part of `make test`: `make bench-whatsapp`.

1. Acknowledgement: signed text-message webhooks at --ack-rate requests/s (distinct users) for
   --ack-seconds; the HTTP response time of each POST (the conversation runs after it).
2. End to end, text: --e2e-rate new users/s each sending a free-text message; from the POST to
   the first reply recorded by the Cloud API stand-in.
3. End to end, button reply: the same with a button id (a payload: no NLU).
Prints p50 / p95 / p99 and the targets (ack p99 <= 50 ms at 200/s; reply p95 <= 1 s at 20/s,
<= 300 ms for a button reply).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telehealth.whatsapp.cloud_api import SIGNATURE_HEADER, dumps, sign  # noqa: E402


def percentiles(values):
    if not values:
        return {"n": 0}
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(round(q * (len(values) - 1))))]  # noqa: E731
    return {"n": len(values), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": values[-1],
            "mean": statistics.fmean(values)}


def envelope(wa_id: str, message: dict, phone_number_id: str) -> dict:
    message = {"from": wa_id, "id": f"wamid.bench.{uuid.uuid4().hex}", "timestamp": str(int(time.time())), **message}
    return {"object": "whatsapp_business_account", "entry": [{"id": "BENCH", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "0", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "bench"}, "wa_id": wa_id}], "messages": [message]}}]}]}


class Bench:
    def __init__(self, webhook: str, sandbox: str, secret: str, phone_number_id: str) -> None:
        self.webhook, self.sandbox, self.secret, self.pnid = webhook, sandbox, secret, phone_number_id
        self.errors: list = []
        self.known: set = set()   # users whose 24-hour window the stand-in has opened
        self.seen = 0             # messages of the stand-in's list already read

    async def open_windows(self, session: aiohttp.ClientSession, payloads: list) -> None:
        """Tell the stand-in (Meta) that these users wrote, before the timed phase: otherwise it
        fails the replies (131047), and the extra requests would be timed with the webhooks."""
        users = {m["from"] for p in payloads for c in p["entry"][0]["changes"] for m in c["value"].get("messages") or []}
        for wa_id in sorted(users - self.known):
            async with session.post(f"{self.sandbox}/_sandbox/inbound", json={"wa_id": wa_id}) as resp:
                resp.raise_for_status()
            self.known.add(wa_id)

    async def post(self, session: aiohttp.ClientSession, payload: dict) -> float:
        body = dumps(payload)
        start = time.perf_counter()
        async with session.post(self.webhook, data=body, headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        return time.perf_counter() - start

    async def paced(self, rate: float, seconds: float, make_payload):
        """Send at a steady rate; returns [(wa_id, sent_at_epoch, ack_seconds)]."""
        results = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200),
                                         timeout=aiohttp.ClientTimeout(total=60)) as session:
            made = [make_payload(i) for i in range(int(rate * seconds))]
            await self.open_windows(session, [payload for _, payload in made])

            async def one(i: int):
                wa_id, payload = made[i]
                sent_at = time.time()
                try:
                    results.append((wa_id, sent_at, await self.post(session, payload)))
                except (aiohttp.ClientError, AssertionError, asyncio.TimeoutError) as exc:
                    self.errors.append(type(exc).__name__)

            tasks = []
            start = time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        return results

    async def sent_since(self, session: aiohttp.ClientSession) -> list:
        """The messages the stand-in received since the last call (incremental: the full list
        grows by thousands per run, and serialising it at every poll took the CPU being measured)."""
        async with session.get(f"{self.sandbox}/_sandbox/messages", params={"after": str(self.seen)}) as resp:
            new = (await resp.json())["messages"]
        self.seen += len(new)
        return new

    async def first_replies(self, users: dict, timeout: float) -> dict:
        """wa_id -> seconds from the POST to the first reply the stand-in received."""
        deadline, first = time.time() + timeout, {}
        async with aiohttp.ClientSession() as session:
            while time.time() < deadline:
                for m in await self.sent_since(session):
                    if m["to"] in users and m["to"] not in first:
                        first[m["to"]] = m["time"] - users[m["to"]]
                if len(first) >= len(users):
                    return first
                await asyncio.sleep(0.5)
        return first

    async def quiet(self, still_for: float = 3.0, timeout: float = 600) -> None:
        """Wait until the stand-in has received nothing new for ``still_for`` seconds: the
        outbox has sent everything queued (the follow-up messages of earlier users go at the
        number's rate limit and would otherwise be timed with the next phase's replies)."""
        deadline, since = time.time() + timeout, time.time()
        async with aiohttp.ClientSession() as session:
            while time.time() < deadline:
                if await self.sent_since(session):
                    since = time.time()
                elif time.time() - since >= still_for:
                    return
                await asyncio.sleep(0.5)


def fmt(stats: dict, unit: float = 1000.0, label: str = "ms") -> str:
    if not stats.get("n"):
        return "no data"
    return (f"n={stats['n']} p50={stats['p50'] * unit:.0f}{label} p95={stats['p95'] * unit:.0f}{label} "
            f"p99={stats['p99'] * unit:.0f}{label} max={stats['max'] * unit:.0f}{label}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rasa", default="http://127.0.0.1:5005")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8081")
    parser.add_argument("--ack-rate", type=float, default=200)
    parser.add_argument("--ack-seconds", type=float, default=5)
    parser.add_argument("--e2e-rate", type=float, default=20)
    parser.add_argument("--e2e-seconds", type=float, default=10)
    args = parser.parse_args()
    local = json.loads((ROOT / "var" / "sandbox.json").read_text())
    bench = Bench(f"{args.rasa}/webhooks/whatsapp/webhook", args.sandbox, local["app_secret"], local["phone_number_id"])
    async with aiohttp.ClientSession() as session:  # start reading at the end of the list
        async with session.get(f"{args.sandbox}/_sandbox/messages", params={"after": str(10 ** 12)}) as resp:
            bench.seen = (await resp.json())["total"]
    run = str(uuid.uuid4().int)[:6]  # wa_ids are digits, as Meta's are
    texts = ["mujhe bukhar hai", "corona kaise phailta hai", "what are the symptoms", "ویکسین کہاں لگتی ہے"]

    def text_payload(prefix: str):
        def make(i: int):
            wa_id = f"{prefix}{i:06d}"
            return wa_id, envelope(wa_id, {"type": "text", "text": {"body": texts[i % len(texts)]}}, bench.pnid)
        return make

    def button_payload(prefix: str):
        def make(i: int):
            wa_id = f"{prefix}{i:06d}"
            return wa_id, envelope(wa_id, {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {
                "id": '/select_option{"menu":"main","option":"5"}', "title": "Helplines"}}}, bench.pnid)
        return make

    print(f"1. acknowledgement: {args.ack_rate:.0f} webhooks/s for {args.ack_seconds:.0f} s")
    acks = await bench.paced(args.ack_rate, args.ack_seconds, text_payload(f"91{run}1"))
    print("   ack", fmt(percentiles([a for _, _, a in acks])), "(target p99 <= 50ms)",
          f"errors: {len(bench.errors)} {sorted(set(bench.errors))}")
    print("   waiting for the backlog to drain ...")
    await bench.first_replies({w: t for w, t, _ in acks}, timeout=600)
    await bench.quiet()

    for name, maker, target in (("text", text_payload(f"91{run}2"), "p95 <= 1000ms"),
                                ("button", button_payload(f"91{run}3"), "p95 <= 300ms")):
        print(f"2. end to end, {name}: {args.e2e_rate:.0f} messages/s for {args.e2e_seconds:.0f} s")
        sent = await bench.paced(args.e2e_rate, args.e2e_seconds, maker)
        replies = await bench.first_replies({w: t for w, t, _ in sent}, timeout=300)
        print(f"   ack  ", fmt(percentiles([a for _, _, a in sent])))
        print(f"   reply", fmt(percentiles(list(replies.values()))), f"(target {target}; {len(replies)}/{len(sent)} answered)")
        await bench.quiet()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
