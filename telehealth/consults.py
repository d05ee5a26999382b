"""Doctor call-back requests: the state machine, and every change a patient, a doctor or the system
makes to a request.

Plain Python over SQLAlchemy sessions (no Rasa, no Flask). Each function works inside the caller's
transaction (``telehealth.db.session_scope``), so a change and its notification commit together.

States::

    queued ──▶ offered ──▶ accepted ──▶ completed
      ▲  │        │  │         │
      └──┼────────┘  │         ├──▶ no_answer     (the doctor could not reach the patient)
         ▼           ▼         ▼
     cancelled / expired    cancelled          (patient cancels; expired: closed after the SLA)

Concurrency: accepting is two conditional UPDATEs in one transaction (the doctor's capacity, then
the request's state); the database decides who wins, so two doctors can never take one request and
a doctor never goes over capacity, on SQLite and on PostgreSQL alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from telehealth.db import ConsultEvent, ConsultOffer, ConsultRequest, Doctor, DoctorLanguage
from telehealth.privacy import encrypt

QUEUED, OFFERED, ACCEPTED = "queued", "offered", "accepted"
COMPLETED, CANCELLED, EXPIRED, NO_ANSWER = "completed", "cancelled", "expired", "no_answer"
STATES = (QUEUED, OFFERED, ACCEPTED, COMPLETED, CANCELLED, EXPIRED, NO_ANSWER)
WAITING = (QUEUED, OFFERED)
OPEN = (QUEUED, OFFERED, ACCEPTED)

TRANSITIONS: Dict[Optional[str], frozenset] = {
    None: frozenset({QUEUED}),
    QUEUED: frozenset({OFFERED, ACCEPTED, CANCELLED, EXPIRED}),
    OFFERED: frozenset({QUEUED, OFFERED, ACCEPTED, CANCELLED, EXPIRED}),
    ACCEPTED: frozenset({COMPLETED, NO_ANSWER, CANCELLED}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
    EXPIRED: frozenset(),
    NO_ANSWER: frozenset(),
}

#: What a doctor records after the call (the outcome ``no_answer`` ends in the state no_answer).
OUTCOMES = ("advice_given", "isolate_at_home", "get_tested", "go_to_hospital", "no_answer")
CALL_TYPES = ("whatsapp", "phone")
GENDERS = ("female", "male")
#: A request without a screening waits behind triaged ones of priority 1-3 (triage priorities: 1-5).
DEFAULT_PRIORITY = 4
#: Minutes a consult takes when there is no history yet to estimate from.
DEFAULT_CONSULT_MINUTES = 15


class ConsultError(Exception):
    """A change the request's state does not allow."""


class InvalidTransition(ConsultError):
    pass


class AlreadyTaken(ConsultError):
    """Another doctor accepted first, or the request was cancelled or closed meanwhile."""


class AtCapacity(ConsultError):
    """The doctor already has as many open consults as they said they can take."""


class AlreadyOpen(ConsultError):
    """The patient already has an open request."""

    def __init__(self, request: ConsultRequest) -> None:
        super().__init__("the patient already has an open request")
        self.request = request


def _now(now: Optional[datetime] = None) -> datetime:
    return now or datetime.now(timezone.utc)


def _aware(value: Optional[datetime]) -> Optional[datetime]:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def doctor_language(locale: str) -> str:
    """The language a doctor needs for ``locale``: Roman Urdu is Urdu, spoken."""
    return "ur" if locale == "ur-Latn" else locale


def fallback_languages(locale: str) -> tuple:
    """Languages a doctor may use instead when the patient agreed (Urdu or English)."""
    return tuple(lang for lang in ("ur", "en") if lang != doctor_language(locale))


@dataclass(frozen=True)
class NewRequest:
    patient_ref: str
    contact: Optional[str]          # the chat id to notify (a WhatsApp number), or None
    channel: str
    callback_number: str            # E.164
    call_type: str                  # whatsapp, phone
    locale: str
    language_fallback: bool = False
    gender_preference: Optional[str] = None
    consent_share: bool = False
    screening_id: Optional[int] = None
    level: Optional[str] = None
    priority: int = DEFAULT_PRIORITY


def log_event(session: Session, request: ConsultRequest, from_state: Optional[str], to_state: str,
              actor: str, detail: Optional[str] = None, now: Optional[datetime] = None) -> None:
    session.add(ConsultEvent(request_id=request.id, at=_now(now), from_state=from_state, to_state=to_state,
                             actor=actor, detail=detail))


def transition(session: Session, request: ConsultRequest, to_state: str, actor: str,
               detail: Optional[str] = None, now: Optional[datetime] = None) -> None:
    """Move ``request`` to ``to_state`` (checked against TRANSITIONS) and log it."""
    if to_state not in TRANSITIONS.get(request.state, frozenset()):
        raise InvalidTransition(f"{request.state} -> {to_state}")
    from_state = request.state
    request.state = to_state
    request.updated_at = _now(now)
    if to_state not in OPEN:
        request.closed_at = _now(now)
    log_event(session, request, from_state, to_state, actor, detail, now)


def open_request_for(session: Session, patient_ref: str) -> Optional[ConsultRequest]:
    return session.execute(
        select(ConsultRequest).where(ConsultRequest.patient_ref == patient_ref, ConsultRequest.state.in_(OPEN))
        .order_by(ConsultRequest.id.desc())
    ).scalars().first()


def create_request(session: Session, new: NewRequest, now: Optional[datetime] = None) -> ConsultRequest:
    """Queue a new request (one open request per patient)."""
    if new.call_type not in CALL_TYPES:
        raise ValueError(f"call_type must be one of {CALL_TYPES}")
    if new.gender_preference not in (None, *GENDERS):
        raise ValueError(f"gender_preference must be one of {GENDERS} or None")
    existing = open_request_for(session, new.patient_ref)
    if existing is not None:
        raise AlreadyOpen(existing)
    now = _now(now)
    request = ConsultRequest(
        created_at=now, updated_at=now, patient_ref=new.patient_ref, channel=new.channel,
        contact=encrypt(new.contact.encode("utf-8")) if new.contact else None,
        callback_number=encrypt(new.callback_number.encode("utf-8")), call_type=new.call_type,
        locale=new.locale, language_fallback=new.language_fallback, gender_preference=new.gender_preference,
        consent_share=new.consent_share, screening_id=new.screening_id if new.consent_share else None,
        level=new.level, priority=new.priority, state=QUEUED,
    )
    session.add(request)
    session.flush()
    log_event(session, request, None, QUEUED, "patient", f"priority {new.priority}", now)
    return request


def _withdraw_offers(session: Session, request_id: int, keep_doctor: Optional[int] = None) -> None:
    cond = [ConsultOffer.request_id == request_id, ConsultOffer.state == "open"]
    if keep_doctor is not None:
        session.execute(update(ConsultOffer).where(*cond, ConsultOffer.doctor_id == keep_doctor)
                        .values(state="accepted").execution_options(synchronize_session=False))
    session.execute(update(ConsultOffer).where(*cond).values(state="withdrawn")
                    .execution_options(synchronize_session=False))


def accept(session: Session, request_id: int, doctor_id: int, now: Optional[datetime] = None) -> ConsultRequest:
    """Doctor ``doctor_id`` takes the request offered to them. Safe under concurrent accepts.

    Raises AtCapacity, or AlreadyTaken when the request is no longer waiting or not offered to
    this doctor. The caller's transaction is left for the caller to commit or roll back.
    """
    now = _now(now)
    reserved = session.execute(
        update(Doctor)
        .where(Doctor.id == doctor_id, Doctor.status == "verified", Doctor.open_consults < Doctor.capacity)
        .values(open_consults=Doctor.open_consults + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if reserved != 1:
        raise AtCapacity(f"doctor {doctor_id} is at capacity or not verified")
    offered_to_me = select(ConsultOffer.id).where(
        ConsultOffer.request_id == request_id, ConsultOffer.doctor_id == doctor_id, ConsultOffer.state == "open",
    ).exists()
    taken = session.execute(
        update(ConsultRequest)
        .where(ConsultRequest.id == request_id, ConsultRequest.state.in_(WAITING), offered_to_me)
        .values(state=ACCEPTED, doctor_id=doctor_id, accepted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        # Give the capacity back in this same transaction (the caller may still commit other work).
        session.execute(update(Doctor).where(Doctor.id == doctor_id)
                        .values(open_consults=Doctor.open_consults - 1).execution_options(synchronize_session=False))
        raise AlreadyTaken(f"request {request_id} is not waiting for doctor {doctor_id}")
    _withdraw_offers(session, request_id, keep_doctor=doctor_id)
    request = session.get(ConsultRequest, request_id, populate_existing=True)
    log_event(session, request, OFFERED, ACCEPTED, f"doctor:{doctor_id}", None, now)
    return request


def _release_doctor(session: Session, doctor_id: Optional[int]) -> None:
    if doctor_id is not None:
        session.execute(update(Doctor).where(Doctor.id == doctor_id, Doctor.open_consults > 0)
                        .values(open_consults=Doctor.open_consults - 1).execution_options(synchronize_session=False))


def complete(session: Session, request_id: int, doctor_id: int, outcome: str, notes: str = "",
             now: Optional[datetime] = None) -> ConsultRequest:
    """The doctor records the outcome of the call; ``no_answer`` ends in the state no_answer."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    request = session.get(ConsultRequest, request_id, with_for_update=True)
    if request is None or request.doctor_id != doctor_id:
        raise InvalidTransition("this consult is not yours")
    transition(session, request, NO_ANSWER if outcome == "no_answer" else COMPLETED, f"doctor:{doctor_id}", outcome, now)
    request.outcome = outcome
    request.doctor_notes = encrypt(notes.encode("utf-8")) if notes else None
    _release_doctor(session, doctor_id)
    return request


def cancel(session: Session, request: ConsultRequest, actor: str = "patient",
           now: Optional[datetime] = None) -> Optional[int]:
    """The patient cancels; returns the id of the doctor who had accepted it (to be told), if any."""
    session.refresh(request, with_for_update=True)
    doctor_id = request.doctor_id if request.state == ACCEPTED else None
    transition(session, request, CANCELLED, actor, None, now)
    _withdraw_offers(session, request.id)
    _release_doctor(session, doctor_id)
    return doctor_id


def close_after_sla(session: Session, request: ConsultRequest, now: Optional[datetime] = None) -> None:
    """The patient chose to close a request no doctor took within the service level."""
    session.refresh(request, with_for_update=True)
    transition(session, request, EXPIRED, "patient", "closed after the service level", now)
    _withdraw_offers(session, request.id)


def keep_waiting(session: Session, request: ConsultRequest, now: Optional[datetime] = None) -> None:
    log_event(session, request, request.state, request.state, "patient", "keeps waiting after the service level", now)


def awaiting_feedback(session: Session, patient_ref: str) -> Optional[ConsultRequest]:
    """The patient's latest finished consult that asked for feedback and has none yet."""
    return session.execute(
        select(ConsultRequest).where(
            ConsultRequest.patient_ref == patient_ref, ConsultRequest.state == COMPLETED,
            ConsultRequest.feedback_asked_at.is_not(None), ConsultRequest.feedback_rating.is_(None),
        ).order_by(ConsultRequest.closed_at.desc())
    ).scalars().first()


def record_feedback(session: Session, patient_ref: str, rating: int, comment: str = "",
                    now: Optional[datetime] = None) -> Optional[ConsultRequest]:
    if not 1 <= int(rating) <= 5:
        raise ValueError("rating must be 1-5")
    request = awaiting_feedback(session, patient_ref)
    if request is None:
        return None
    request.feedback_rating = int(rating)
    request.feedback_comment = encrypt(comment.encode("utf-8")) if comment else None
    log_event(session, request, request.state, request.state, "patient", f"feedback {int(rating)}", now)
    return request


def add_feedback_comment(session: Session, patient_ref: str, comment: str,
                         now: Optional[datetime] = None) -> Optional[ConsultRequest]:
    """The comment after the rating, on the patient's latest rated consult that has none."""
    request = session.execute(
        select(ConsultRequest).where(
            ConsultRequest.patient_ref == patient_ref, ConsultRequest.feedback_rating.is_not(None),
            ConsultRequest.feedback_comment.is_(None),
        ).order_by(ConsultRequest.closed_at.desc())
    ).scalars().first()
    if request is None or not comment.strip():
        return None
    request.feedback_comment = encrypt(comment.strip().encode("utf-8"))
    log_event(session, request, request.state, request.state, "patient", "feedback comment", now)
    return request


# ----- the queue as the patient sees it -----------------------------------------------------

def _language_filter(languages: Iterable[str]):
    return ConsultRequest.locale.in_([*languages, *(["ur-Latn"] if "ur" in languages else [])])


def queue_position(session: Session, request: ConsultRequest) -> int:
    """1 + the waiting requests ahead of this one among those doctors of its language serve."""
    lang = doctor_language(request.locale)
    ahead = session.execute(
        select(func.count()).select_from(ConsultRequest).where(
            ConsultRequest.state.in_(WAITING), _language_filter([lang]),
            or_(ConsultRequest.priority < request.priority,
                and_(ConsultRequest.priority == request.priority, ConsultRequest.created_at < request.created_at),
                and_(ConsultRequest.priority == request.priority, ConsultRequest.created_at == request.created_at,
                     ConsultRequest.id < request.id)),
        )
    ).scalar_one()
    return int(ahead) + 1


def doctors_online(session: Session, languages: Optional[Iterable[str]] = None,
                   now: Optional[datetime] = None) -> int:
    """Verified doctors switched on, within their weekly hours (speaking one of ``languages``, if given)."""
    from telehealth.matching import available_now  # the one definition of "available now"

    now = _now(now)
    query = select(Doctor.timezone, Doctor.weekly_availability).where(
        Doctor.status == "verified", Doctor.available.is_(True))
    if languages is not None:
        query = query.where(
            Doctor.id.in_(select(DoctorLanguage.doctor_id).where(DoctorLanguage.locale.in_(list(languages)))))
    rows = session.execute(query).all()
    return sum(1 for tz, weekly in rows if available_now(weekly, tz, now))


def average_consult_minutes(session: Session, sample: int = 50) -> float:
    """Mean minutes from acceptance to the end of a call, over the latest finished consults."""
    rows = session.execute(
        select(ConsultRequest.accepted_at, ConsultRequest.closed_at)
        .where(ConsultRequest.state.in_((COMPLETED, NO_ANSWER)), ConsultRequest.accepted_at.is_not(None))
        .order_by(ConsultRequest.closed_at.desc()).limit(sample)
    ).all()
    spans = [(_aware(b) - _aware(a)).total_seconds() / 60 for a, b in rows if a and b and b > a]
    return sum(spans) / len(spans) if spans else float(DEFAULT_CONSULT_MINUTES)


def estimated_wait_minutes(session: Session, request: ConsultRequest, now: Optional[datetime] = None) -> Optional[int]:
    """Minutes until a doctor is likely to call, or None when no doctor for this language is online."""
    languages = [doctor_language(request.locale)]
    if request.language_fallback:
        languages += list(fallback_languages(request.locale))
    online = doctors_online(session, languages, now)
    if online == 0:
        return None
    position = queue_position(session, request)
    minutes = position * average_consult_minutes(session) / online
    return max(5, int(math.ceil(minutes / 5.0)) * 5)  # "about 15 minutes", not "about 13.4"


def event_log(session: Session, request_id: int) -> List[ConsultEvent]:
    return list(session.execute(
        select(ConsultEvent).where(ConsultEvent.request_id == request_id).order_by(ConsultEvent.id)
    ).scalars())


def offered_doctor_ids(session: Session, request_id: int, since: Optional[datetime] = None) -> List[int]:
    query = select(ConsultOffer.doctor_id).where(ConsultOffer.request_id == request_id)
    if since is not None:
        query = query.where(ConsultOffer.offered_at >= since)
    return list(session.execute(query).scalars())

