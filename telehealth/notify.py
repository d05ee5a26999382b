"""Messages the system sends on its own: to patients about their call-back request, and to doctors
about new requests and their account.

Everything goes through the one outbox (``telehealth.whatsapp.store.enqueue``) inside the
caller's transaction, so a change of state and the message about it are stored together and the
sender delivers them in order. Inside WhatsApp's 24-hour customer service window a message is
the localised response itself (with its buttons); outside it, a pre-approved template named in
``TEMPLATES`` (registered in Meta's WhatsApp Manager with the same parameters, in order).
Patients who used another channel (REST, the shell) cannot be reached: nothing is sent.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy.orm import Session

from telehealth.db import ConsultRequest, Doctor, PortalUser
from telehealth.i18n import catalogs, message, portal_text, term
from telehealth.phones import digits, display
from telehealth.privacy import decrypt
from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import LIST_LABEL, message_bodies, template_body

WINDOW = timedelta(hours=24)

#: response or portal key -> (template name, parameters in order). Register these in Meta's
#: WhatsApp Manager (category UTILITY) with the same wording as the response.
TEMPLATES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "utter_consult_accepted": ("consult_accepted", ("doctor", "number", "call_type", "doctor_number")),
    "utter_consult_sla": ("consult_no_doctor_yet", ("minutes",)),
    "utter_consult_no_answer": ("consult_no_answer", ()),
    "utter_consult_feedback": ("consult_feedback", ()),
    "notify_new_request": ("doctor_new_request", ("priority", "language", "minutes", "url")),
    "notify_verified": ("doctor_verified", ("url",)),
    "notify_rejected": ("doctor_rejected", ("reason",)),
    "notify_suspended": ("doctor_suspended", ("reason",)),
    "notify_patient_cancelled": ("doctor_patient_cancelled", ("request",)),
}
#: Meta's template language codes; locales Meta has no code for use the Urdu template.
TEMPLATE_LANGUAGE = {"en": "en", "ur": "ur", "ur-Latn": "ur", "pa": "pa"}


def portal_url() -> str:
    return os.environ.get("PORTAL_URL") or f"http://localhost:{os.environ.get('PORTAL_PORT', '8000')}"


def window_open(session: Session, wa_id: str, now: Optional[datetime] = None) -> bool:
    last = store.last_inbound_at(wa_id, session)
    return last is not None and (now or datetime.now(timezone.utc)) - last < WINDOW


def _send(session: Session, wa_id: str, key: str, locale: str, msg: Dict[str, Any], params: Dict[str, Any],
          now: Optional[datetime]) -> List[int]:
    name, order = TEMPLATES[key]
    template = template_body(wa_id, name, TEMPLATE_LANGUAGE.get(locale, "ur"), [str(params[p]) for p in order])
    if window_open(session, wa_id, now):
        # The window may close before the outbox sends it: Meta then fails it (131047) and the
        # template goes instead.
        return store.enqueue(wa_id, message_bodies(wa_id, msg, LIST_LABEL), session=session, fallback=template)
    return store.enqueue(wa_id, [template], session=session)


def _patient_wa_id(request: ConsultRequest) -> Optional[str]:
    if request.channel != "whatsapp" or not request.contact:
        return None
    return decrypt(request.contact).decode("utf-8")


def to_patient(session: Session, request: ConsultRequest, key: str, now: Optional[datetime] = None,
               **params: Any) -> bool:
    """Send response ``key`` to the patient of ``request`` in their language; False when unreachable."""
    wa_id = _patient_wa_id(request)
    if wa_id is None:
        return False
    _send(session, wa_id, key, request.locale, message(key, request.locale, **params), params, now)
    return True


def doctor_accepted(session: Session, request: ConsultRequest, doctor: Doctor, now: Optional[datetime] = None) -> bool:
    """Tell the patient who will call, how, and from which number."""
    from telehealth.doctors import phone_number, whatsapp_number

    locale = request.locale
    number = decrypt(request.callback_number).decode()
    doctor_number = whatsapp_number(doctor) if request.call_type == "whatsapp" else phone_number(doctor)
    place = ", ".join(p for p in (doctor.city, doctor.country) if p)
    gender = term(f"gender_{doctor.gender}", locale) if doctor.gender in ("female", "male") else ""
    return to_patient(
        session, request, "utter_consult_accepted", now,
        doctor=doctor.name, gender=gender or "-", place=place or "-", number=display(number),
        call_type=term(f"call_{request.call_type}", locale), doctor_number=display(doctor_number),
    )


def ask_feedback(session: Session, request: ConsultRequest, now: Optional[datetime] = None) -> bool:
    request.feedback_asked_at = now or datetime.now(timezone.utc)
    return to_patient(session, request, "utter_consult_feedback", now)


def to_doctor(session: Session, doctor: Doctor, key: str, now: Optional[datetime] = None, **params: Any) -> List[int]:
    """A portal message (English or Urdu, the doctor's portal language) to the doctor's WhatsApp."""
    from telehealth.doctors import whatsapp_number

    user = session.get(PortalUser, doctor.user_id)
    locale = user.ui_locale if user else "en"
    params.setdefault("url", portal_url())
    wa_id = digits(whatsapp_number(doctor))
    return _send(session, wa_id, key, locale, {"text": portal_text(key, locale, **params)}, params, now)


def request_offered(session: Session, request: ConsultRequest, doctor: Doctor, now: Optional[datetime] = None) -> None:
    from telehealth.matching import offer_minutes

    now = now or datetime.now(timezone.utc)
    created = request.created_at if request.created_at.tzinfo else request.created_at.replace(tzinfo=timezone.utc)
    to_doctor(session, doctor, "notify_new_request", now, priority=request.priority,
              language=catalogs()[request.locale].name if request.locale in catalogs() else request.locale,
              minutes=max(0, int((now - created).total_seconds() // 60)), offer_minutes=int(offer_minutes()))
