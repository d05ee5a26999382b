"""The one sender for everything the system sends on WhatsApp: the outbox, delivered in order.

Messages are stored first (``store.enqueue``), then a background loop sends the oldest pending
message of each recipient (recipients in parallel, one recipient strictly in order), through
aiohttp (never blocking the event loop), under a rate limit (the number's throughput, 80
messages/s by default). Network errors, 5xx, 130429 (rate limit) and 131056 (pair rate) are
retried with exponential backoff; other errors are permanent: recorded, not retried. A restart
picks the outbox up where it was.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Dict, Optional

import aiohttp

from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import dumps

logger = logging.getLogger(__name__)

RETRYABLE_CODES = {130429, 131056, 131000, 2, 4}  # rate limits, pair rate, temporary/unknown errors
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 60.0
#: Messages of one recipient taken at once and sent one after the other (a turn's answer).
CHAIN = 10


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions per second, bursts up to ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = max(rate, 0.1)
        self.tokens = self.rate
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


def backoff(attempts: int) -> float:
    """Seconds before the next try: exponential with jitter, capped."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2 ** attempts)) * random.uniform(0.5, 1.0)


class Sender:
    def __init__(
        self,
        api_url: str,
        phone_number_id: str,
        access_token: str,
        rate_per_s: float = 80.0,
        db_url: Optional[str] = None,
        idle_poll_s: float = 0.5,
    ) -> None:
        self.endpoint = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        self.limiter = RateLimiter(rate_per_s)
        self.db_url = db_url
        self.idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._session: Optional[aiohttp.ClientSession] = None
        self._task: Optional[asyncio.Task] = None

    async def start(self) -> None:
        if self._task is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            self._task = None
        if self._session:
            await self._session.close()
            self._session = None

    async def enqueue(self, wa_id: str, bodies: list) -> None:
        """Store, then wake the loop: nothing is lost if the process dies before sending."""
        if bodies:
            await asyncio.to_thread(store.enqueue, wa_id, bodies, self.db_url)
            self._wake.set()

    async def send_now(self, body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Fire-and-forget sends that need no outbox (read receipts, typing indicators)."""
        try:
            await self.limiter.acquire()
            assert self._session is not None
            async with self._session.post(self.endpoint, data=dumps(body), headers=self.headers) as resp:
                return await resp.json(content_type=None)
        except Exception as exc:  # a lost read receipt is harmless
            logger.info("read receipt not sent: %s", type(exc).__name__)
            return None

    def wake(self) -> None:
        """New messages are in the outbox (stored by someone else, e.g. a turn's one transaction)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                batch = await asyncio.to_thread(store.due, 200, self.db_url, None, CHAIN)
                if batch:
                    chains: Dict[str, list] = {}
                    for item in batch:
                        chains.setdefault(item.patient_ref, []).append(item)
                    await asyncio.gather(*(self._deliver_chain(items) for items in chains.values()))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # the database was away: wait and try again
                logger.exception("outbox loop error; retrying")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_poll_s)
            except asyncio.TimeoutError:
                pass

    async def _deliver_chain(self, items: list) -> None:
        """One recipient's messages, one after the other; when one is to be retried, the rest
        are given back and wait behind it."""
        for n, item in enumerate(items):
            if not await self._deliver(item):
                await asyncio.to_thread(store.release, [i.id for i in items[n + 1:]], self.db_url)
                return

    async def _deliver(self, item: store.Outgoing) -> bool:
        """Send one message; False when it is to be retried (the recipient's next must wait)."""
        await self.limiter.acquire()
        assert self._session is not None
        try:
            async with self._session.post(self.endpoint, data=dumps(item.body), headers=self.headers) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            await asyncio.to_thread(store.mark_retry, item.id, backoff(item.attempts), f"network {type(exc).__name__}", self.db_url)
            return False
        if 200 <= status < 300:
            wamid = ((data or {}).get("messages") or [{}])[0].get("id")
            await asyncio.to_thread(store.mark_sent, item.id, wamid, self.db_url)
            return True
        error = (data or {}).get("error") or {}
        code = error.get("code")
        summary = f"{status} {code} {str(error.get('message') or '')[:120]}"
        if status >= 500 or code in RETRYABLE_CODES or status == 429:
            await asyncio.to_thread(store.mark_retry, item.id, backoff(item.attempts), summary, self.db_url)
            return False
        logger.warning("WhatsApp send failed permanently (outbox %s): %s", item.id, summary)
        await asyncio.to_thread(store.mark_failed, item.id, summary, self.db_url)
        return True  # recorded, not retried: the next message may go
