"""Which doctor is offered which request, and the dispatcher's periodic round.

Rules (issue 5):

- The queue is ordered by triage priority (1 first), then by waiting time.
- A request is offered to eligible doctors: verified, switched on and within their weekly hours in
  their own time zone, under capacity, speaking the patient's language (Urdu serves Roman Urdu);
  when none is free and the patient agreed, a doctor speaking Urdu or English. A gender
  preference is respected when a doctor of that gender is eligible.
- Load is spread fairly: the least loaded doctors (open consults / capacity) first, then the one
  offered a request longest ago.
- An offer goes to ``OFFER_FANOUT`` doctors at once and expires after ``OFFER_MINUTES``; then the
  request goes to the next doctors. A doctor is not offered the same request again within
  ``REOFFER_MINUTES``.
- After ``SLA_MINUTES`` without a doctor the patient is told honestly (``telehealth.notify``).

Configuration from the environment: CONSULT_OFFER_MINUTES (5), CONSULT_OFFER_FANOUT (3),
CONSULT_SLA_MINUTES (60), CONSULT_REOFFER_MINUTES (30).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from telehealth.consults import (
    OFFERED, QUEUED, WAITING, doctor_language, doctors_online, fallback_languages, log_event, offered_doctor_ids,
    transition,
)
from telehealth.db import ConsultOffer, ConsultRequest, Doctor, DoctorLanguage

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _env_minutes(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def offer_minutes() -> float:
    return _env_minutes("CONSULT_OFFER_MINUTES", 5)


def sla_minutes() -> float:
    return _env_minutes("CONSULT_SLA_MINUTES", 60)


def reoffer_minutes() -> float:
    return _env_minutes("CONSULT_REOFFER_MINUTES", 30)


def offer_fanout() -> int:
    return int(_env_minutes("CONSULT_OFFER_FANOUT", 3))


@lru_cache(maxsize=512)
def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def available_now(weekly: Optional[Dict[str, Any]], tz_name: str, now: datetime) -> bool:
    """True when ``now`` falls in one of the doctor's weekly slots (local time; empty: always).

    Slots are ``[["09:00", "17:00"], ...]`` per weekday; a slot whose end is before its start runs
    past midnight (``["22:00", "02:00"]``: the part after midnight counts on the next day too).
    """
    if not weekly:
        return True
    day, yesterday, hm = _local_clock(tz_name, now.replace(second=0, microsecond=0))
    for start, end in weekly.get(day) or ():
        if (start <= hm < end) if start < end else hm >= start:
            return True
    for start, end in weekly.get(yesterday) or ():
        if end <= start and hm < end:
            return True
    return False


@lru_cache(maxsize=4096)
def _local_clock(tz_name: str, minute: datetime) -> Tuple[str, str, str]:
    """(weekday, the day before, "HH:MM") in a time zone at ``minute``: computed once per zone
    and minute, so checking 10,000 doctors costs comparisons, not time-zone conversions."""
    local = minute.astimezone(_zone(tz_name))
    return WEEKDAYS[local.weekday()], WEEKDAYS[(local.weekday() - 1) % 7], local.strftime("%H:%M")


@dataclass(frozen=True)
class Candidate:
    id: int
    gender: str


def eligible_doctors(session: Session, request: ConsultRequest, now: datetime, limit: int,
                     exclude: Sequence[int] = ()) -> List[Candidate]:
    """Up to ``limit`` doctors to offer ``request`` to, best first (see the module rules)."""
    found = _ranked(session, [doctor_language(request.locale)], request.gender_preference, now, limit, exclude)
    if not found and request.language_fallback:
        found = _ranked(session, list(fallback_languages(request.locale)), request.gender_preference, now, limit, exclude)
    return found


def _ranked(session: Session, languages: List[str], preference: Optional[str], now: datetime, limit: int,
            exclude: Sequence[int]) -> List[Candidate]:
    query = (
        select(Doctor.id, Doctor.gender, Doctor.timezone, Doctor.weekly_availability)
        .where(
            Doctor.status == "verified", Doctor.available.is_(True), Doctor.open_consults < Doctor.capacity,
            Doctor.id.in_(select(DoctorLanguage.doctor_id).where(DoctorLanguage.locale.in_(languages))),
        )
        .order_by((Doctor.open_consults * 1.0 / Doctor.capacity), Doctor.last_offered_at.asc().nullsfirst(), Doctor.id)
    )
    if exclude:
        query = query.where(Doctor.id.not_in(list(exclude)))
    preferred: List[Candidate] = []
    others: List[Candidate] = []
    for doctor_id, gender, tz_name, weekly in session.execute(query.execution_options(yield_per=500)):
        if not available_now(weekly, tz_name, now):
            continue
        candidate = Candidate(doctor_id, gender)
        if preference is None or gender == preference:
            preferred.append(candidate)
            if len(preferred) >= limit:
                break
        elif len(others) < limit:
            others.append(candidate)
    # The preference is respected when such a doctor is free; otherwise anyone eligible.
    return preferred if (preferred or preference is None) else others


def offer(session: Session, request: ConsultRequest, now: Optional[datetime] = None) -> List[int]:
    """Offer a waiting request to the next doctors; returns their ids (empty: nobody eligible)."""
    now = now or datetime.now(timezone.utc)
    if request.state not in WAITING:
        return []
    recent = offered_doctor_ids(session, request.id, since=now - timedelta(minutes=reoffer_minutes()))
    chosen = eligible_doctors(session, request, now, offer_fanout(), exclude=recent)
    if not chosen:
        return []
    expires = now + timedelta(minutes=offer_minutes())
    ids = [c.id for c in chosen]
    session.add_all(ConsultOffer(request_id=request.id, doctor_id=i, offered_at=now, expires_at=expires) for i in ids)
    session.execute(update(Doctor).where(Doctor.id.in_(ids)).values(last_offered_at=now)
                    .execution_options(synchronize_session=False))
    transition(session, request, OFFERED, "system", f"offered to {len(ids)} doctor(s)", now)
    return ids


@dataclass
class Round:
    """What one dispatcher round did."""

    expired_offers: int = 0
    requeued: List[int] = field(default_factory=list)
    offers: List[Tuple[int, List[int]]] = field(default_factory=list)   # (request id, doctor ids)
    sla_breached: List[int] = field(default_factory=list)


def dispatch_round(session: Session, now: Optional[datetime] = None, batch: int = 200) -> Round:
    """Expire old offers, offer waiting requests, and find requests past the service level.

    Safe to run in several processes at once: each step is a conditional update, and a request
    is offered under a row lock (FOR UPDATE SKIP LOCKED on PostgreSQL).
    """
    now = now or datetime.now(timezone.utc)
    result = Round()
    result.expired_offers = session.execute(
        update(ConsultOffer).where(ConsultOffer.state == "open", ConsultOffer.expires_at <= now)
        .values(state="expired").execution_options(synchronize_session=False)
    ).rowcount or 0
    open_offer = select(ConsultOffer.id).where(
        ConsultOffer.request_id == ConsultRequest.id, ConsultOffer.state == "open").exists()
    for request in session.execute(
        select(ConsultRequest).where(ConsultRequest.state == OFFERED, ~open_offer).limit(batch)
        .with_for_update(skip_locked=True)
    ).scalars():
        transition(session, request, QUEUED, "system", "offers expired", now)
        result.requeued.append(request.id)
    for request in session.execute(
        select(ConsultRequest).where(ConsultRequest.state == QUEUED)
        .order_by(ConsultRequest.priority, ConsultRequest.created_at).limit(batch)
        .with_for_update(skip_locked=True)
    ).scalars():
        doctors = offer(session, request, now)
        if doctors:
            result.offers.append((request.id, doctors))
    deadline = now - timedelta(minutes=sla_minutes())
    for request in session.execute(
        select(ConsultRequest).where(
            ConsultRequest.state.in_(WAITING), ConsultRequest.created_at <= deadline,
            ConsultRequest.sla_notified_at.is_(None),
        ).limit(batch).with_for_update(skip_locked=True)
    ).scalars():
        request.sla_notified_at = now
        log_event(session, request, request.state, request.state, "system", "service level passed", now)
        result.sla_breached.append(request.id)
    return result


@dataclass(frozen=True)
class QueueHealth:
    waiting: Dict[Tuple[int, str], int]     # (priority, locale) -> requests waiting
    oldest_wait_minutes: Optional[float]
    doctors_online: int
    doctors_by_status: Dict[str, int]


def queue_health(session: Session, now: Optional[datetime] = None) -> QueueHealth:
    """For the admin page: waiting requests by priority and locale, the oldest wait, doctors online."""
    now = now or datetime.now(timezone.utc)
    waiting = {
        (priority, locale): n for priority, locale, n in session.execute(
            select(ConsultRequest.priority, ConsultRequest.locale, func.count())
            .where(ConsultRequest.state.in_(WAITING))
            .group_by(ConsultRequest.priority, ConsultRequest.locale)
        )
    }
    oldest = session.execute(
        select(func.min(ConsultRequest.created_at)).where(ConsultRequest.state.in_(WAITING))
    ).scalar_one_or_none()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    online = doctors_online(session, None, now)
    by_status = dict(session.execute(select(Doctor.status, func.count()).group_by(Doctor.status)).all())
    return QueueHealth(
        waiting=waiting,
        oldest_wait_minutes=(now - oldest).total_seconds() / 60 if oldest else None,
        doctors_online=online,
        doctors_by_status=by_status,
    )
