"""Durable WhatsApp traffic: received messages (de-duplication, work not yet done) and the outbox.

Synchronous SQLAlchemy (the project's one database layer); the connector calls it through
``asyncio.to_thread`` so the event loop never waits on the database. Payloads are encrypted
(``telehealth.privacy``); rows are keyed by the pseudonymous patient ref, never the number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from telehealth.db import WhatsAppInbound, WhatsAppOutbox, session_scope
from telehealth.privacy import decrypt, encrypt, patient_ref


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# ----- inbound ------------------------------------------------------------------------------

def record_inbound(message_id: str, wa_id: str, payload: Dict[str, Any], url: Optional[str] = None) -> bool:
    """Store a received message; False when its id was seen before (a replay)."""
    return record_webhooks([(message_id, wa_id, payload)], [], url)[0]


@dataclass(frozen=True)
class StatusRecord:
    wamid: str
    status: str
    error: Optional[str] = None
    window_closed: bool = False


def record_webhooks(messages: List[Tuple[str, str, Dict[str, Any]]], statuses: List[StatusRecord],
                    url: Optional[str] = None) -> List[bool]:
    """Store the messages (message id, wa_id, payload) and record the statuses of several
    webhooks in one transaction (group commit: one commit however many webhooks arrived
    together). Returns, per message, whether it is new (False: its id was seen before, in an
    earlier webhook or earlier in this batch). If a concurrent process stores one of the ids
    first, the batch is rolled back and done again one message at a time."""
    try:
        with session_scope(url) as session:
            ids = list({m[0] for m in messages})
            seen = set(session.execute(
                select(WhatsAppInbound.message_id).where(WhatsAppInbound.message_id.in_(ids))
            ).scalars()) if ids else set()
            new, base = [], _now()
            for i, (message_id, wa_id, payload) in enumerate(messages):
                new.append(message_id not in seen)
                if message_id in seen:
                    continue
                seen.add(message_id)
                session.add(WhatsAppInbound(
                    message_id=message_id,
                    patient_ref=patient_ref(wa_id),
                    received_at=base + timedelta(microseconds=i),  # arrival order, for unprocessed()
                    payload=encrypt(json.dumps(payload).encode("utf-8")),
                ))
            session.flush()
            for update_ in statuses:
                _record_status(session, update_)
            return new
    except IntegrityError:
        if len(messages) == 1 and not statuses:
            return [False]  # stored by a concurrent replay of the same webhook
        new = [record_webhooks([m], [], url)[0] for m in messages]
        if statuses:
            record_webhooks([], statuses, url)
        return new


def _set_processed(session: Session, message_id: str) -> None:
    session.execute(
        update(WhatsAppInbound)
        .where(WhatsAppInbound.message_id == message_id)
        .values(processed_at=_now(), payload=None)
    )


def mark_processed(message_id: str, url: Optional[str] = None) -> None:
    with session_scope(url) as session:
        _set_processed(session, message_id)


def is_processed(message_id: str, url: Optional[str] = None) -> bool:
    with session_scope(url) as session:
        return session.execute(
            select(WhatsAppInbound.processed_at).where(WhatsAppInbound.message_id == message_id)
        ).scalar_one_or_none() is not None


def unprocessed(url: Optional[str] = None) -> List[Dict[str, Any]]:
    """Messages acknowledged but not yet taken by the conversation (after a crash), oldest first."""
    with session_scope(url) as session:
        rows = session.execute(
            select(WhatsAppInbound.payload)
            .where(WhatsAppInbound.processed_at.is_(None), WhatsAppInbound.payload.is_not(None))
            .order_by(WhatsAppInbound.received_at)
        ).scalars().all()
    return [json.loads(decrypt(p)) for p in rows]


# ----- outbox -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outgoing:
    id: int
    patient_ref: str
    body: Dict[str, Any]
    attempts: int


def enqueue(wa_id: str, bodies: List[Dict[str, Any]], url: Optional[str] = None,
            session: Optional[Session] = None, fallback: Optional[Dict[str, Any]] = None) -> List[int]:
    """Store messages to send to ``wa_id``, in order; returns their ids.

    ``fallback`` (a template body) goes with the first message: if Meta fails it because the
    user's 24-hour window closed before it was sent (131047), the template is sent instead.

    With ``session`` the messages join the caller's transaction (a consult's change of state and
    its notification commit together); the sender's loop finds them within its poll interval.
    """
    ref = patient_ref(wa_id)
    rows = [WhatsAppOutbox(patient_ref=ref, payload=encrypt(json.dumps(b).encode("utf-8"))) for b in bodies]
    if fallback is not None and rows:
        rows[0].fallback = encrypt(json.dumps(fallback).encode("utf-8"))
    if session is not None:
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]
    with session_scope(url) as own:
        own.add_all(rows)
        own.flush()
        return [r.id for r in rows]


def last_inbound_at(wa_id: str, session: Session) -> Optional[datetime]:
    """When ``wa_id`` last wrote to us (opens WhatsApp's 24-hour customer service window)."""
    value = session.execute(
        select(func.max(WhatsAppInbound.received_at)).where(WhatsAppInbound.patient_ref == patient_ref(wa_id))
    ).scalar_one_or_none()
    return _aware(value) if value is not None else None


#: How long a sender holds the messages it took before another may take them (a crashed sender).
CLAIM_LEASE = timedelta(seconds=60)


def due(limit: int = 100, url: Optional[str] = None, now: Optional[datetime] = None, chain: int = 1) -> List[Outgoing]:
    """Take the oldest pending messages of each recipient whose time has come (per-user order):
    up to ``chain`` consecutive ones per recipient (the sender sends them one after the other,
    without asking again between them), for at most ``limit`` recipients.

    Each message returned is claimed for ``CLAIM_LEASE`` by a conditional UPDATE, so several
    sender processes sharing one outbox never send the same message twice, and one recipient's
    next message waits until the head is settled (sent, failed, or put back for a retry).
    """
    now = now or _now()
    with session_scope(url) as session:
        heads = (
            select(func.min(WhatsAppOutbox.id))
            .where(WhatsAppOutbox.state == "pending")
            .group_by(WhatsAppOutbox.patient_ref)
        )
        rows = session.execute(
            select(WhatsAppOutbox).where(WhatsAppOutbox.id.in_(heads)).order_by(WhatsAppOutbox.id).limit(limit)
        ).scalars().all()
        ready = [r for r in rows if _aware(r.next_attempt_at) <= now
                 and (r.claimed_until is None or _aware(r.claimed_until) <= now)]
        chains: Dict[str, List[WhatsAppOutbox]] = {r.patient_ref: [r] for r in ready}
        if chain > 1 and ready:
            for r in session.execute(
                select(WhatsAppOutbox)
                .where(WhatsAppOutbox.patient_ref.in_(list(chains)), WhatsAppOutbox.state == "pending")
                .order_by(WhatsAppOutbox.patient_ref, WhatsAppOutbox.id)
            ).scalars():
                rows_of = chains[r.patient_ref]
                if r.id > rows_of[-1].id and len(rows_of) < chain:
                    rows_of.append(r)
        taken = []
        for head in ready:
            for r in chains[head.patient_ref]:
                if r is not head and (_aware(r.next_attempt_at) > now
                                      or (r.claimed_until is not None and _aware(r.claimed_until) > now)):
                    break
                claimed = session.execute(
                    update(WhatsAppOutbox)
                    .where(WhatsAppOutbox.id == r.id, WhatsAppOutbox.state == "pending",
                           (WhatsAppOutbox.claimed_until.is_(None)) | (WhatsAppOutbox.claimed_until <= now))
                    .values(claimed_until=now + CLAIM_LEASE)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if claimed != 1:
                    break
                taken.append(Outgoing(r.id, r.patient_ref, json.loads(decrypt(r.payload)), r.attempts))
        return taken


def release(outbox_ids: List[int], url: Optional[str] = None) -> None:
    """Give back claimed messages unsent (the one before them is to be retried first)."""
    if not outbox_ids:
        return
    with session_scope(url) as session:
        session.execute(update(WhatsAppOutbox).where(
            WhatsAppOutbox.id.in_(outbox_ids), WhatsAppOutbox.state == "pending").values(claimed_until=None))


def finish_turn(message_id: str, wa_id: str, bodies: List[Dict[str, Any]], url: Optional[str] = None) -> None:
    """A conversation turn's replies into the outbox and its message marked processed, in one
    transaction: a crash leaves either both (nothing to redo) or neither (the turn runs again)."""
    with session_scope(url) as session:
        if bodies:
            enqueue(wa_id, bodies, session=session)
        _set_processed(session, message_id)


def mark_sent(outbox_id: int, wamid: Optional[str], url: Optional[str] = None) -> None:
    with session_scope(url) as session:
        session.execute(update(WhatsAppOutbox).where(WhatsAppOutbox.id == outbox_id).values(
            state="sent", wamid=wamid, sent_at=_now(), payload=None, delivery="sent",
            attempts=WhatsAppOutbox.attempts + 1, claimed_until=None,
        ))


def mark_retry(outbox_id: int, delay_s: float, error: str, url: Optional[str] = None) -> None:
    with session_scope(url) as session:
        session.execute(update(WhatsAppOutbox).where(WhatsAppOutbox.id == outbox_id).values(
            attempts=WhatsAppOutbox.attempts + 1,
            next_attempt_at=_now() + timedelta(seconds=delay_s),
            last_error=error[:200], claimed_until=None,
        ))


def mark_failed(outbox_id: int, error: str, url: Optional[str] = None) -> None:
    """A permanent error: recorded, not retried (the body is dropped: it holds the number)."""
    with session_scope(url) as session:
        session.execute(update(WhatsAppOutbox).where(WhatsAppOutbox.id == outbox_id).values(
            state="failed", payload=None, last_error=error[:200], attempts=WhatsAppOutbox.attempts + 1,
            claimed_until=None,
        ))


_DELIVERY_ORDER = {"sent": 1, "delivered": 2, "read": 3}
_DELIVERY_RANK = case(_DELIVERY_ORDER, value=WhatsAppOutbox.delivery, else_=0)


def record_status(wamid: str, status: str, error: Optional[str] = None, url: Optional[str] = None,
                  window_closed: bool = False) -> bool:
    """A status webhook for a message we sent (see ``_record_status``); False when no message of
    ours has that id."""
    with session_scope(url) as session:
        return _record_status(session, StatusRecord(wamid, status, error, window_closed))


def _record_status(session: Session, update_: StatusRecord) -> bool:
    """Statuses may arrive out of order ("read" wins). One conditional UPDATE (statuses are most
    of the webhooks: Meta sends two or three per message). A message that failed because the
    24-hour window had closed (``window_closed``) is replaced by its fallback template, once."""
    wamid, status = update_.wamid, update_.status
    query = update(WhatsAppOutbox).where(WhatsAppOutbox.wamid == wamid)
    if status == "failed":
        query = query.values(delivery="failed", last_error=(update_.error or "failed")[:200])
    else:
        values: Dict[str, Any] = {"delivery": status}
        if status in ("delivered", "read"):
            values["fallback"] = None
        query = query.where(_DELIVERY_RANK < _DELIVERY_ORDER.get(status, 0)).values(**values)
    if session.execute(query.execution_options(synchronize_session=False)).rowcount:
        if update_.window_closed:
            _send_fallback(session, wamid)
        return True
    return session.execute(select(WhatsAppOutbox.id).where(WhatsAppOutbox.wamid == wamid).limit(1)).first() is not None


def _send_fallback(session: Session, wamid: str) -> None:
    row = session.execute(
        select(WhatsAppOutbox.id, WhatsAppOutbox.patient_ref, WhatsAppOutbox.fallback)
        .where(WhatsAppOutbox.wamid == wamid, WhatsAppOutbox.fallback.is_not(None))
    ).first()
    if row is None:
        return
    # Taken by a conditional UPDATE: a replayed "failed" webhook finds nothing left to send.
    taken = session.execute(
        update(WhatsAppOutbox).where(WhatsAppOutbox.id == row.id, WhatsAppOutbox.fallback.is_not(None))
        .values(fallback=None).execution_options(synchronize_session=False)
    ).rowcount
    if taken:
        session.add(WhatsAppOutbox(patient_ref=row.patient_ref, payload=row.fallback))


def pending_count(url: Optional[str] = None) -> int:
    with session_scope(url) as session:
        return session.execute(
            select(func.count()).select_from(WhatsAppOutbox).where(WhatsAppOutbox.state == "pending")
        ).scalar_one()
