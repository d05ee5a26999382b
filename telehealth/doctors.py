"""Volunteer doctors and portal accounts: sign-up, verification, availability, log-in, audit.

Plain Python over SQLAlchemy sessions; the web portal (``telehealth.portal``) is a thin layer on
top. Passwords are hashed with Argon2id (argon2-cffi). Log-in is rate limited from the
``login_attempts`` table, so the limit holds across portal processes and restarts.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional, Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from telehealth.consults import doctor_language
from telehealth.db import AuditEntry, Doctor, DoctorLanguage, LoginAttempt, PortalUser
from telehealth.i18n import LOCALES
from telehealth.phones import parse_phone
from telehealth.privacy import decrypt, encrypt

PENDING, VERIFIED, REJECTED, SUSPENDED = "pending", "verified", "rejected", "suspended"
DOCTOR_STATUSES = (PENDING, VERIFIED, REJECTED, SUSPENDED)
ROLES = ("doctor", "admin")
#: Languages a doctor can consult in (Roman Urdu is Urdu when spoken).
DOCTOR_LANGUAGES = tuple(dict.fromkeys(doctor_language(tag) for tag in LOCALES))
GENDERS = ("female", "male", "other")
MIN_PASSWORD = 10
#: Failed log-ins allowed per e-mail and per address within LOGIN_WINDOW.
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()


class RegistrationError(ValueError):
    """What is wrong with a sign-up, field by field."""

    def __init__(self, errors: Dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class LoginThrottled(Exception):
    """Too many failed log-ins: try again later."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class Registration:
    email: str
    password: str
    name: str
    registration_number: str
    council: str
    gender: str
    languages: Sequence[str]
    whatsapp_number: str
    phone_number: str
    specialty: str = ""
    country: str = "PK"
    city: str = ""
    timezone: str = "Asia/Karachi"
    weekly_availability: Dict[str, List[List[str]]] = field(default_factory=dict)
    capacity: int = 2
    ui_locale: str = "en"


def _now(now: Optional[datetime] = None) -> datetime:
    return now or datetime.now(timezone.utc)


def validate(reg: Registration, session: Session) -> Dict[str, str]:
    from zoneinfo import available_timezones

    errors: Dict[str, str] = {}
    email = reg.email.strip().lower()
    if "@" not in email or "." not in email.split("@")[-1] or len(email) > 254:
        errors["email"] = "invalid"
    elif session.execute(select(PortalUser.id).where(PortalUser.email == email)).first():
        errors["email"] = "taken"
    if len(reg.password) < MIN_PASSWORD:
        errors["password"] = "too_short"
    for name in ("name", "registration_number", "council"):
        if not str(getattr(reg, name) or "").strip():
            errors[name] = "required"
    if reg.gender not in GENDERS:
        errors["gender"] = "invalid"
    if not reg.languages or any(lang not in DOCTOR_LANGUAGES for lang in reg.languages):
        errors["languages"] = "required"
    if not parse_phone(reg.whatsapp_number):
        errors["whatsapp_number"] = "invalid"
    if not parse_phone(reg.phone_number):
        errors["phone_number"] = "invalid"
    if reg.timezone not in available_timezones():
        errors["timezone"] = "invalid"
    if not 1 <= int(reg.capacity or 0) <= 10:
        errors["capacity"] = "invalid"
    if len(reg.country or "") != 2:
        errors["country"] = "invalid"
    return errors


def register(session: Session, reg: Registration, now: Optional[datetime] = None) -> Doctor:
    """A volunteer signs up: an account (role doctor) and a profile waiting for verification."""
    errors = validate(reg, session)
    if errors:
        raise RegistrationError(errors)
    now = _now(now)
    user = PortalUser(email=reg.email.strip().lower(), password_hash=hash_password(reg.password), role="doctor",
                      ui_locale=reg.ui_locale if reg.ui_locale in ("en", "ur") else "en", created_at=now)
    session.add(user)
    session.flush()
    doctor = Doctor(
        user_id=user.id, name=reg.name.strip(), registration_number=reg.registration_number.strip(),
        council=reg.council.strip(), specialty=(reg.specialty or "").strip(), gender=reg.gender,
        country=reg.country.upper(), city=(reg.city or "").strip(), timezone=reg.timezone,
        weekly_availability=reg.weekly_availability or {},
        whatsapp_number=encrypt(parse_phone(reg.whatsapp_number).encode()),
        phone_number=encrypt(parse_phone(reg.phone_number).encode()),
        status=PENDING, capacity=int(reg.capacity), created_at=now,
    )
    session.add(doctor)
    session.flush()
    session.add_all(DoctorLanguage(doctor_id=doctor.id, locale=lang) for lang in dict.fromkeys(reg.languages))
    audit(session, user.id, "register_doctor", f"doctor:{doctor.id}", None, now)
    return doctor


def set_languages(session: Session, doctor: Doctor, languages: Sequence[str]) -> None:
    session.execute(delete(DoctorLanguage).where(DoctorLanguage.doctor_id == doctor.id))
    session.add_all(DoctorLanguage(doctor_id=doctor.id, locale=lang) for lang in dict.fromkeys(languages)
                    if lang in DOCTOR_LANGUAGES)


def languages_of(session: Session, doctor_id: int) -> List[str]:
    return sorted(session.execute(select(DoctorLanguage.locale).where(DoctorLanguage.doctor_id == doctor_id)).scalars())


def set_status(session: Session, doctor: Doctor, status: str, admin_id: int, reason: str = "",
               ip: Optional[str] = None, now: Optional[datetime] = None) -> None:
    """An administrator verifies, rejects or suspends a doctor (a reason is required to refuse)."""
    if status not in DOCTOR_STATUSES:
        raise ValueError(f"status must be one of {DOCTOR_STATUSES}")
    if status in (REJECTED, SUSPENDED) and not reason.strip():
        raise ValueError("a reason is required")
    now = _now(now)
    doctor.status, doctor.status_by, doctor.status_reason, doctor.status_at = status, admin_id, reason.strip() or None, now
    if status != VERIFIED:
        doctor.available = False
    audit(session, admin_id, f"doctor_{status}", f"doctor:{doctor.id}", ip, now)


def set_available(session: Session, doctor: Doctor, available: bool) -> None:
    doctor.available = bool(available) and doctor.status == VERIFIED


def whatsapp_number(doctor: Doctor) -> str:
    return decrypt(doctor.whatsapp_number).decode()


def phone_number(doctor: Doctor) -> str:
    return decrypt(doctor.phone_number).decode()


def doctor_for_user(session: Session, user_id: int) -> Optional[Doctor]:
    return session.execute(select(Doctor).where(Doctor.user_id == user_id)).scalars().first()


# ----- accounts -----------------------------------------------------------------------------

def create_admin(session: Session, email: str, password: Optional[str] = None) -> tuple:
    """An administrator account; returns (user, password) — the password generated when not given."""
    password = password or secrets.token_urlsafe(12)
    user = PortalUser(email=email.strip().lower(), password_hash=hash_password(password), role="admin")
    session.add(user)
    session.flush()
    return user, password


def authenticate(session: Session, email: str, password: str, ip: str, now: Optional[datetime] = None) -> Optional[PortalUser]:
    """The user for these credentials, or None; raises LoginThrottled after too many failures."""
    now = _now(now)
    email = (email or "").strip().lower()
    since = now - LOGIN_WINDOW
    failures = lambda cond: session.execute(  # noqa: E731
        select(func.count()).select_from(LoginAttempt).where(cond, LoginAttempt.success.is_(False), LoginAttempt.at >= since)
    ).scalar_one()
    if failures(LoginAttempt.email == email) >= LOGIN_FAILURES_ALLOWED or \
            failures(LoginAttempt.ip == ip) >= 4 * LOGIN_FAILURES_ALLOWED:
        raise LoginThrottled()
    user = session.execute(select(PortalUser).where(PortalUser.email == email)).scalars().first()
    ok = user is not None and user.active and check_password(user.password_hash, password)
    if not ok and user is None:
        check_password(_DUMMY_HASH, password)  # same time whether or not the account exists
    session.add(LoginAttempt(at=now, email=email[:254], ip=(ip or "")[:64], success=ok))
    if not ok:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    audit(session, user.id, "login", None, ip, now)
    return user


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def audit(session: Session, user_id: Optional[int], action: str, subject: Optional[str], ip: Optional[str],
          now: Optional[datetime] = None) -> None:
    session.add(AuditEntry(at=_now(now), user_id=user_id, action=action, subject=subject, ip=(ip or None) and ip[:64]))
