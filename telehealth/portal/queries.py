"""What the portal's pages read: plain selects, no rules (those live in telehealth.consults,
telehealth.matching and telehealth.doctors). "A request that matches a doctor" is a request with
an open ConsultOffer for them, as the dispatcher made it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List, Optional, Tuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from telehealth.consults import ACCEPTED, WAITING
from telehealth.db import ConsultOffer, ConsultRequest, Doctor, PortalUser, ScreeningResult
from telehealth.doctors import DOCTOR_STATUSES


def aware(value: Optional[datetime]) -> Optional[datetime]:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


@dataclass
class Offer:
    request: ConsultRequest
    expires_at: datetime
    screening: Optional[ScreeningResult]


def screening_of(session: Session, request: ConsultRequest) -> Optional[ScreeningResult]:
    """The screening behind a request, only when the patient agreed to share it."""
    if not request.consent_share or not request.screening_id:
        return None
    return session.get(ScreeningResult, request.screening_id)


def open_offers(session: Session, doctor_id: int) -> List[Offer]:
    """Requests waiting with an open offer for this doctor, most urgent first."""
    rows = session.execute(
        select(ConsultRequest, ConsultOffer.expires_at)
        .join(ConsultOffer, ConsultOffer.request_id == ConsultRequest.id)
        .where(ConsultOffer.doctor_id == doctor_id, ConsultOffer.state == "open", ConsultRequest.state.in_(WAITING))
        .order_by(ConsultRequest.priority, ConsultRequest.created_at)
    ).all()
    return [Offer(r, aware(expires), screening_of(session, r)) for r, expires in rows]


def active_consults(session: Session, doctor_id: int) -> List[ConsultRequest]:
    """Consults this doctor accepted and has not closed yet."""
    return list(session.execute(
        select(ConsultRequest).where(ConsultRequest.doctor_id == doctor_id, ConsultRequest.state == ACCEPTED)
        .order_by(ConsultRequest.accepted_at)
    ).scalars())


def history(session: Session, doctor_id: int, page: int, per_page: int) -> Tuple[List[ConsultRequest], int]:
    """This doctor's consults, newest first, and how many there are."""
    where = ConsultRequest.doctor_id == doctor_id
    total = session.execute(select(func.count()).select_from(ConsultRequest).where(where)).scalar_one()
    rows = session.execute(
        select(ConsultRequest).where(where).order_by(ConsultRequest.accepted_at.desc(), ConsultRequest.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).scalars()
    return list(rows), int(total)


def consult_for_doctor(session: Session, request_id: int,
                       doctor_id: int) -> Optional[Tuple[ConsultRequest, Optional[datetime]]]:
    """The request if this doctor may see it (offered to them now, or theirs), with the offer's expiry."""
    request = session.get(ConsultRequest, request_id)
    if request is None:
        return None
    if request.doctor_id == doctor_id:
        return request, None
    expires = session.execute(
        select(ConsultOffer.expires_at).where(ConsultOffer.request_id == request_id,
                                              ConsultOffer.doctor_id == doctor_id, ConsultOffer.state == "open")
    ).scalars().first()
    if expires is None or request.state not in WAITING:
        return None
    return request, aware(expires)


_STATUS_ORDER = case({s: i for i, s in enumerate(DOCTOR_STATUSES)}, value=Doctor.status)


def doctors_page(session: Session, status: Optional[str], page: int,
                 per_page: int) -> Tuple[List[Tuple[Doctor, str]], int]:
    """Doctors (with their e-mail), pending first then by sign-up date; optionally of one status."""
    query = select(Doctor, PortalUser.email).join(PortalUser, PortalUser.id == Doctor.user_id)
    count = select(func.count()).select_from(Doctor)
    if status:
        query, count = query.where(Doctor.status == status), count.where(Doctor.status == status)
    rows = session.execute(
        query.order_by(_STATUS_ORDER, Doctor.created_at, Doctor.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return [(d, e) for d, e in rows], int(session.execute(count).scalar_one())


def doctor_counts(session: Session) -> dict:
    return dict(session.execute(select(Doctor.status, func.count()).group_by(Doctor.status)).all())


def oldest_waiting(session: Session, page: int, per_page: int) -> List[ConsultRequest]:
    """Waiting requests, longest waiting first (the admin's queue page)."""
    return list(session.execute(
        select(ConsultRequest).where(ConsultRequest.state.in_(WAITING))
        .order_by(ConsultRequest.created_at, ConsultRequest.id).offset((page - 1) * per_page).limit(per_page)
    ).scalars())
