"""The doctors' portal through Flask's test client, on a temporary database (the access and
accept tests also on PostgreSQL, when reachable): sign-up, log-in, CSRF, roles, verification,
availability, offers, accept, outcome, audit, and the Urdu interface."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Optional

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from telehealth import consults, db, dispatch, doctors
from telehealth.i18n import LOCALES, PORTAL_LOCALES, message, portal_catalog, portal_text
from telehealth.portal import create_app
from telehealth.privacy import decrypt, patient_ref
from tests.test_db import database_url  # noqa: F401  (the sqlite + postgresql fixture)

PASSWORD = "correct horse battery"
ADMIN_PASSWORD = "admin password 123"
TEMPLATES = Path(__file__).resolve().parent.parent / "telehealth" / "portal" / "templates"
_numbers = iter(range(1000000, 9999999))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'portal.db'}"


def shown(key: str, locale: str = "en", **params) -> str:
    """A portal string as the page's HTML has it."""
    return str(escape(portal_text(key, locale, **params)))


def make_client(url: str):
    return create_app(database_url=url, testing=True).test_client()


def token(client, path: str = "/login") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def post(client, path: str, data: Optional[dict] = None, page: str = "/login", **kwargs):
    return client.post(path, data={"csrf_token": token(client, page), **(data or {})}, **kwargs)


def login(client, email: str, password: str = PASSWORD):
    return post(client, "/login", {"email": email, "password": password})


def new_doctor(url: str, email: str, *, verified: bool = True, available: bool = True, languages=("ur", "en"),
               capacity: int = 2) -> int:
    with db.session_scope(url) as s:
        doctor = doctors.register(s, doctors.Registration(
            email=email, password=PASSWORD, name=f"Dr Sana {email.split('@')[0].title()}",
            registration_number="12345-P", council="PMDC", gender="female", languages=list(languages), whatsapp_number=f"0300{next(_numbers)}",
            phone_number="0300 7654321", capacity=capacity,
        ))
        if verified:
            admin = _admin_id(s)
            doctors.set_status(s, doctor, doctors.VERIFIED, admin)
            doctors.set_available(s, doctor, available)
        return doctor.id


def _admin_id(session) -> int:
    found = session.execute(select(db.PortalUser.id).where(db.PortalUser.role == "admin")).scalar()
    return found or doctors.create_admin(session, "admin@example.org", ADMIN_PASSWORD)[0].id


def new_admin(url: str) -> None:
    with db.session_scope(url) as s:
        _admin_id(s)


def new_request(url: str, wa_id: str = "923001112233", *, consent: bool = True, locale: str = "ur") -> int:
    """A patient's request as the bot makes it: screening, consent, request, immediate offer; the
    patient wrote to us on WhatsApp (the 24-hour window is open)."""
    with db.session_scope(url) as s:
        screening = db.ScreeningResult(
            patient_ref=patient_ref(wa_id), locale=locale, for_whom="self", age=67, warning_signs=False,
            symptoms=["cough", "fever"], days=4, exposure="yes", comorbidities=["diabetes"], level="high",
            reasons=[], advice="doctor", priority=2, rules_version="test",
        )
        s.add(screening)
        s.add(db.WhatsAppInbound(message_id=f"wamid.{wa_id}.{next(_numbers)}", patient_ref=patient_ref(wa_id)))
        s.flush()
        request = consults.create_request(s, consults.NewRequest(
            patient_ref=patient_ref(wa_id), contact=wa_id, channel="whatsapp", callback_number="+" + wa_id,
            call_type="whatsapp", locale=locale, consent_share=consent, screening_id=screening.id, level="high",
            priority=2,
        ))
        dispatch.offer_new(s, request)
        return request.id


def outbox_to(url: str, wa_id: str) -> list:
    with db.session_scope(url) as s:
        rows = s.execute(select(db.WhatsAppOutbox.payload).where(db.WhatsAppOutbox.patient_ref == patient_ref(wa_id))
                         .order_by(db.WhatsAppOutbox.id)).scalars().all()
    return [json.loads(decrypt(p)) for p in rows]


def signup_form(**overrides) -> dict:
    form = {"email": "new@example.org", "password": PASSWORD, "name": "Dr Ayesha Khan",
            "registration_number": "98765-P", "council": "PMDC", "specialty": "General practice", "gender": "female",
            "languages": ["ur", "en"], "country": "pk", "city": "Lahore", "timezone": "Asia/Karachi",
            "whatsapp_number": "0301 2345678", "phone_number": "0301 2345678", "capacity": "3",
            "from_mon": "09:00", "to_mon": "17:00", "from_sat": "22:00", "to_sat": "02:00"}
    form.update(overrides)
    return form


# ----- sign-up, log-in ----------------------------------------------------------------------

def test_sign_up_creates_a_pending_doctor_without_a_clear_password(sqlite_url):
    client = make_client(sqlite_url)
    response = post(client, "/signup", signup_form(), page="/signup")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    with db.session_scope(sqlite_url) as s:
        user = s.execute(select(db.PortalUser).where(db.PortalUser.email == "new@example.org")).scalar_one()
        doctor = doctors.doctor_for_user(s, user.id)
        assert (user.role, doctor.status, doctor.available, doctor.capacity, doctor.country) == \
            ("doctor", "pending", False, 3, "PK")
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
        assert doctor.weekly_availability == {"mon": [["09:00", "17:00"]], "sat": [["22:00", "02:00"]]}
        assert doctors.languages_of(s, doctor.id) == ["en", "ur"]
        assert doctors.whatsapp_number(doctor) == "+923012345678" and "2345678" not in doctor.whatsapp_number
    assert login(client, "new@example.org").headers["Location"].endswith("/doctor")
    page = client.get("/doctor")
    assert shown("account_pending", "en") in page.text
    assert 'id="toggle-available"' not in page.text


def test_a_bad_sign_up_shows_the_errors_by_field(sqlite_url):
    client = make_client(sqlite_url)
    response = post(client, "/signup", signup_form(email="not-an-email", password="short", languages=[],
                                                   whatsapp_number="12", from_tue="09:00"), page="/signup")
    assert response.status_code == 400
    for key in ("error_email_invalid", "error_languages_required", "error_whatsapp_number_invalid",
                "error_weekly_availability_invalid"):
        assert shown(key, "en") in response.text
    assert shown("error_password_too_short", "en", n=doctors.MIN_PASSWORD) in response.text
    assert 'value="Dr Ayesha Khan"' in response.text  # what was typed stays
    assert PASSWORD not in response.text
    with db.session_scope(sqlite_url) as s:
        assert s.execute(select(func.count()).select_from(db.PortalUser)).scalar_one() == 0


def test_log_in_and_log_out(sqlite_url):
    new_doctor(sqlite_url, "dr@example.org")
    client = make_client(sqlite_url)
    assert login(client, "dr@example.org", "wrong password").status_code == 401
    response = login(client, "DR@example.org")
    assert response.status_code == 302 and response.headers["Location"].endswith("/doctor")
    assert client.get("/doctor").status_code == 200
    assert post(client, "/logout", page="/doctor").status_code == 302
    assert client.get("/doctor").status_code == 302


def test_the_sixth_failed_log_in_is_throttled_politely(sqlite_url):
    new_doctor(sqlite_url, "dr@example.org")
    client = make_client(sqlite_url)
    for _ in range(doctors.LOGIN_FAILURES_ALLOWED):
        assert login(client, "dr@example.org", "wrong password").status_code == 401
    response = login(client, "dr@example.org")  # even the right password waits now
    assert response.status_code == 429
    assert shown("login_throttled", "en") in response.text
    assert client.get("/doctor").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(sqlite_url):
    new_doctor(sqlite_url, "dr@example.org")
    client = make_client(sqlite_url)
    response = client.post("/login", data={"email": "dr@example.org", "password": PASSWORD})
    assert response.status_code == 400 and shown("error_csrf", "en") in response.text
    login(client, "dr@example.org")
    assert client.post("/doctor/availability", data={"available": "0"}).status_code == 400
    with db.session_scope(sqlite_url) as s:
        assert s.execute(select(db.Doctor.available)).scalar_one() is True


# ----- roles and access ---------------------------------------------------------------------

def test_anonymous_users_are_sent_to_the_log_in_page(sqlite_url):
    client = make_client(sqlite_url)
    for path in ("/doctor", "/doctor/offers", "/doctor/history", "/doctor/consults/1", "/admin/queue",
                 "/admin/doctors"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_a_doctor_sees_only_requests_offered_to_them_and_their_own(database_url):
    url = database_url
    new_admin(url)
    new_doctor(url, "first@example.org")
    first = make_client(url)
    login(first, "first@example.org")
    request_id = new_request(url)          # offered to the only doctor online
    second_id = new_doctor(url, "second@example.org")
    second = make_client(url)
    login(second, "second@example.org")
    assert first.get(f"/doctor/consults/{request_id}").status_code == 200
    assert second.get(f"/doctor/consults/{request_id}").status_code == 404   # not offered to them
    assert f"/doctor/consults/{request_id}" not in second.get("/doctor").text
    assert post(second, f"/doctor/consults/{request_id}/accept", page="/doctor").status_code == 302
    assert post(first, f"/doctor/consults/{request_id}/accept", page="/doctor").status_code == 302
    assert second.get(f"/doctor/consults/{request_id}").status_code == 404   # another doctor's consult
    assert first.get(f"/doctor/consults/{request_id}").status_code == 200
    assert second.get("/doctor/consults/999999").status_code == 404
    with db.session_scope(url) as s:
        assert s.get(db.ConsultRequest, request_id).doctor_id != second_id


def test_a_doctor_cannot_open_the_admin_pages(database_url):
    new_doctor(database_url, "dr@example.org")
    client = make_client(database_url)
    login(client, "dr@example.org")
    for path in ("/admin", "/admin/queue", "/admin/doctors", "/admin/doctors/1"):
        assert client.get(path).status_code == 403, path
    assert post(client, "/admin/doctors/1/status", {"action": "verify"}, page="/doctor").status_code == 403


def test_an_admin_is_not_a_doctor(sqlite_url):
    new_admin(sqlite_url)
    client = make_client(sqlite_url)
    assert login(client, "admin@example.org", ADMIN_PASSWORD).headers["Location"].endswith("/admin/queue")
    assert client.get("/doctor").status_code == 403


# ----- verification and availability -------------------------------------------------------

def test_the_admin_verifies_a_doctor_and_the_doctor_is_told(sqlite_url):
    new_admin(sqlite_url)
    pending = new_doctor(sqlite_url, "pending@example.org", verified=False)
    new_doctor(sqlite_url, "other@example.org")
    client = make_client(sqlite_url)
    login(client, "admin@example.org", ADMIN_PASSWORD)
    listing = client.get("/admin/doctors").text
    assert listing.index(f'id="doctor-{pending}"') < listing.index('class="card row doctor verified')  # pending first
    assert "+92 300" in client.get(f"/admin/doctors/{pending}").text
    response = post(client, f"/admin/doctors/{pending}/status", {"action": "verify"}, page="/admin/doctors")
    assert response.status_code == 302
    with db.session_scope(sqlite_url) as s:
        doctor = s.get(db.Doctor, pending)
        assert doctor.status == "verified"
        wa_id = doctors.whatsapp_number(doctor).lstrip("+")
        actions = s.execute(select(db.AuditEntry.action)
                            .where(db.AuditEntry.subject == f"doctor:{pending}")).scalars().all()
    assert "doctor_verified" in actions
    (message,) = outbox_to(sqlite_url, wa_id)
    assert message["to"] == wa_id and message["type"] == "template"  # the doctor never wrote: a template
    assert message["template"]["name"] == "doctor_verified"


def test_rejecting_needs_a_reason_which_the_doctor_is_told(sqlite_url):
    new_admin(sqlite_url)
    pending = new_doctor(sqlite_url, "pending@example.org", verified=False)
    client = make_client(sqlite_url)
    login(client, "admin@example.org", ADMIN_PASSWORD)
    post(client, f"/admin/doctors/{pending}/status", {"action": "reject", "reason": " "}, page="/admin/doctors")
    with db.session_scope(sqlite_url) as s:
        assert s.get(db.Doctor, pending).status == "pending"
    post(client, f"/admin/doctors/{pending}/status", {"action": "reject", "reason": "Registration not found"},
         page="/admin/doctors")
    with db.session_scope(sqlite_url) as s:
        doctor = s.get(db.Doctor, pending)
        assert (doctor.status, doctor.status_reason) == ("rejected", "Registration not found")
        wa_id = doctors.whatsapp_number(doctor).lstrip("+")
    (message,) = outbox_to(sqlite_url, wa_id)
    assert message["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Registration not found"}]


def test_a_suspended_doctor_is_told_and_no_longer_sees_offers(sqlite_url):
    new_admin(sqlite_url)
    doctor_id = new_doctor(sqlite_url, "dr@example.org")
    request_id = new_request(sqlite_url)
    admin, doctor = make_client(sqlite_url), make_client(sqlite_url)
    login(admin, "admin@example.org", ADMIN_PASSWORD)
    login(doctor, "dr@example.org")
    assert f'id="offer-{request_id}"' in doctor.get("/doctor").text
    post(admin, f"/admin/doctors/{doctor_id}/status", {"action": "suspend", "reason": "Complaint under review"},
         page="/admin/doctors")
    with db.session_scope(sqlite_url) as s:
        suspended = s.get(db.Doctor, doctor_id)
        assert (suspended.status, suspended.available) == ("suspended", False)
        wa_id = doctors.whatsapp_number(suspended).lstrip("+")
    assert outbox_to(sqlite_url, wa_id)[-1]["template"]["name"] == "doctor_suspended"
    page = doctor.get("/doctor").text
    assert shown("account_suspended") in page and f'id="offer-{request_id}"' not in page
    assert doctor.get(f"/doctor/consults/{request_id}").status_code == 404


def test_a_verified_doctor_switches_availability(sqlite_url):
    doctor_id = new_doctor(sqlite_url, "dr@example.org", available=False)
    client = make_client(sqlite_url)
    login(client, "dr@example.org")
    post(client, "/doctor/availability", {"available": "1"}, page="/doctor")
    with db.session_scope(sqlite_url) as s:
        assert s.get(db.Doctor, doctor_id).available is True
    assert shown("available_on", "en") in client.get("/doctor").text
    post(client, "/doctor/availability", {"available": "0"}, page="/doctor")
    with db.session_scope(sqlite_url) as s:
        assert s.get(db.Doctor, doctor_id).available is False


# ----- a request from offer to outcome ------------------------------------------------------

def test_an_offered_request_appears_on_the_dashboard_with_the_consented_summary(sqlite_url):
    new_admin(sqlite_url)
    new_doctor(sqlite_url, "dr@example.org")
    client = make_client(sqlite_url)
    login(client, "dr@example.org")
    assert shown("offers_none", "en") in client.get("/doctor/offers").text
    shared = new_request(sqlite_url, "923001112233")
    private = new_request(sqlite_url, "923004445566", consent=False)
    page = client.get("/doctor").text
    assert f'id="offer-{shared}"' in page and f'id="offer-{private}"' in page
    fragment = client.get("/doctor/offers").text
    assert "<html" not in fragment and f'id="offer-{shared}"' in fragment
    # Same priority: the older request comes first.
    shared_card = fragment[fragment.index(f'id="offer-{shared}"'):fragment.index(f'id="offer-{private}"')]
    for key in ("level_high", "symptom_cough", "symptom_fever", "comorbidity_diabetes"):
        assert shown(key, "en") in shared_card
    assert "67" in shared_card
    private_page = client.get(f"/doctor/consults/{private}").text
    assert shown("screening_not_shared", "en") in private_page and shown("symptom_cough", "en") not in private_page
    assert "923001112233" not in page and "300 1112233" not in page  # no number before accepting


def test_accept_tells_the_patient_and_shows_the_call_links(database_url):
    url = database_url
    new_admin(url)
    doctor_id = new_doctor(url, "dr@example.org")
    wa_id = "923001112233"
    request_id = new_request(url, wa_id)
    client = make_client(url)
    login(client, "dr@example.org")
    response = post(client, f"/doctor/consults/{request_id}/accept", page="/doctor")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/doctor/consults/{request_id}")
    with db.session_scope(url) as s:
        request = s.get(db.ConsultRequest, request_id)
        assert (request.state, request.doctor_id) == ("accepted", doctor_id)
        assert s.get(db.Doctor, doctor_id).open_consults == 1
    messages = outbox_to(url, wa_id)
    assert messages and messages[-1]["type"] in ("text", "interactive")  # inside the 24-hour window
    assert "Dr Sana Dr" in json.dumps(messages[-1], ensure_ascii=False)
    page = client.get(f"/doctor/consults/{request_id}").text
    assert f'href="https://wa.me/{wa_id}"' in page and f'href="tel:+{wa_id}"' in page
    assert shown("call_on_whatsapp", "en") in page and shown("call_by_phone", "en") in page
    assert f'id="active-{request_id}"' in client.get("/doctor").text
    # Accepting again: a clear message, nothing changes.
    again = post(client, f"/doctor/consults/{request_id}/accept", page="/doctor", follow_redirects=True)
    assert shown("accept_taken", "en") in again.text


def test_a_doctor_at_capacity_is_told_so(sqlite_url):
    new_admin(sqlite_url)
    new_doctor(sqlite_url, "dr@example.org", capacity=1)
    first = new_request(sqlite_url, "923001112233")
    client = make_client(sqlite_url)
    login(client, "dr@example.org")
    post(client, f"/doctor/consults/{first}/accept", page="/doctor")
    with db.session_scope(sqlite_url) as s:   # offer the doctor another request despite the full load
        second = consults.create_request(s, consults.NewRequest(
            patient_ref="p2", contact=None, channel="rest", callback_number="+923009998877", call_type="phone",
            locale="ur")).id
        s.add(db.ConsultOffer(request_id=second, doctor_id=s.execute(select(db.Doctor.id)).scalar(),
                              expires_at=db.utcnow() + timedelta(minutes=5)))
        consults.transition(s, s.get(db.ConsultRequest, second), consults.OFFERED, "system")
    response = post(client, f"/doctor/consults/{second}/accept", page="/doctor", follow_redirects=True)
    assert shown("accept_at_capacity", "en") in response.text
    with db.session_scope(sqlite_url) as s:
        assert s.get(db.ConsultRequest, second).state == "offered"


def test_the_outcome_completes_the_consult_and_asks_for_feedback(sqlite_url):
    new_admin(sqlite_url)
    doctor_id = new_doctor(sqlite_url, "dr@example.org")
    wa_id = "923001112233"
    request_id = new_request(sqlite_url, wa_id)
    client = make_client(sqlite_url)
    login(client, "dr@example.org")
    post(client, f"/doctor/consults/{request_id}/accept", page="/doctor")
    before = len(outbox_to(sqlite_url, wa_id))
    response = post(client, f"/doctor/consults/{request_id}/outcome",
                    {"outcome": "advice_given", "notes": "Paracetamol, fluids, rest."}, page="/doctor")
    assert response.status_code == 302
    with db.session_scope(sqlite_url) as s:
        request = s.get(db.ConsultRequest, request_id)
        assert (request.state, request.outcome) == ("completed", "advice_given")
        assert request.feedback_asked_at is not None
        assert decrypt(request.doctor_notes).decode() == "Paracetamol, fluids, rest."
        assert s.get(db.Doctor, doctor_id).open_consults == 0
    after = outbox_to(sqlite_url, wa_id)
    assert len(after) > before
    assert message("utter_consult_feedback", "ur")["text"] in json.dumps(after[before:], ensure_ascii=False)
    history = client.get("/doctor/history").text
    assert f'id="history-{request_id}"' in history and shown("outcome_advice_given", "en") in history
    assert "Paracetamol" in client.get(f"/doctor/consults/{request_id}").text
    # Closed: a second outcome is refused with a message.
    again = post(client, f"/doctor/consults/{request_id}/outcome", {"outcome": "no_answer"}, page="/doctor",
                 follow_redirects=True)
    assert shown("outcome_not_open", "en") in again.text


def test_no_answer_tells_the_patient(sqlite_url):
    new_admin(sqlite_url)
    new_doctor(sqlite_url, "dr@example.org")
    wa_id = "923001112233"
    request_id = new_request(sqlite_url, wa_id)
    client = make_client(sqlite_url)
    login(client, "dr@example.org")
    post(client, f"/doctor/consults/{request_id}/accept", page="/doctor")
    before = len(outbox_to(sqlite_url, wa_id))
    post(client, f"/doctor/consults/{request_id}/outcome", {"outcome": "no_answer"}, page="/doctor")
    with db.session_scope(sqlite_url) as s:
        request = s.get(db.ConsultRequest, request_id)
        assert (request.state, request.feedback_asked_at) == ("no_answer", None)
    assert len(outbox_to(sqlite_url, wa_id)) == before + 1


def test_every_view_of_a_request_is_audited(sqlite_url):
    new_admin(sqlite_url)
    new_doctor(sqlite_url, "dr@example.org")
    request_id = new_request(sqlite_url)
    client = make_client(sqlite_url)
    login(client, "dr@example.org")
    client.get("/doctor")
    client.get("/doctor/offers")
    client.get(f"/doctor/consults/{request_id}")
    with db.session_scope(sqlite_url) as s:
        rows = s.execute(select(db.AuditEntry).where(db.AuditEntry.action == "view_consult")).scalars().all()
    assert len(rows) == 3 and {r.subject for r in rows} == {f"consult:{request_id}"}
    assert all(r.user_id is not None and r.ip == "127.0.0.1" for r in rows)


# ----- the admin's queue, languages ------------------------------------------------------------

def test_the_queue_page_shows_aggregates_and_the_oldest_requests(sqlite_url):
    new_admin(sqlite_url)
    ids = [new_request(sqlite_url, f"92300111{i:04d}", locale=loc) for i, loc in enumerate(("ur", "ps", "ur"))]
    client = make_client(sqlite_url)
    login(client, "admin@example.org", ADMIN_PASSWORD)
    page = client.get("/admin/queue").text
    assert 'id="waiting-total">3<' in page and 'id="doctors-online">0<' in page
    assert page.index(f"<td>{ids[0]}</td>") < page.index(f"<td>{ids[2]}</td>")
    assert shown("language_ps", "en") in page


def test_the_urdu_interface_is_right_to_left(sqlite_url):
    new_doctor(sqlite_url, "dr@example.org")
    client = make_client(sqlite_url)
    page = client.get("/login", headers={"Accept-Language": "ur"}).text
    assert '<html lang="ur" dir="rtl">' in page and shown("login_title", "ur") in page
    client = make_client(sqlite_url)
    post(client, "/language", {"locale": "ur", "next": "/login"})
    assert 'dir="rtl"' in client.get("/login").text
    login(client, "dr@example.org")
    page = client.get("/doctor").text
    assert '<html lang="ur" dir="rtl">' in page and shown("offers_title", "ur") in page
    with db.session_scope(sqlite_url) as s:   # notifications follow the portal language
        assert s.execute(select(db.PortalUser.ui_locale)).scalar() == "ur"
    post(client, "/language", {"locale": "en", "next": "/doctor"}, page="/doctor")
    assert '<html lang="en" dir="ltr">' in client.get("/doctor").text


def test_every_string_on_the_pages_is_in_both_catalogs():
    english, urdu = portal_catalog("en"), portal_catalog("ur")
    assert set(english) == set(urdu)
    used = set()
    for path in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'(?!\s*~)", path.read_text(encoding="utf-8")))
    for path in TEMPLATES.parent.glob("*.py"):
        used |= set(re.findall(r'\bt\("([a-z_]+)"(?!\s*~)', path.read_text(encoding="utf-8")))
    assert used and not used - set(english), sorted(used - set(english))
    from telehealth.matching import WEEKDAYS
    from telehealth.triage import ALL_SYMPTOMS, COMORBIDITIES, Level

    prefixed = {"language_": LOCALES, "outcome_": consults.OUTCOMES, "state_": consults.STATES,
                "status_": doctors.DOCTOR_STATUSES, "status_changed_": doctors.DOCTOR_STATUSES,
                "account_": ("pending", "rejected", "suspended"), "gender_": doctors.GENDERS,
                "language_name_": PORTAL_LOCALES, "level_": [lv.value for lv in Level], "symptom_": ALL_SYMPTOMS,
                "comorbidity_": COMORBIDITIES, "day_": WEEKDAYS, "call_": consults.CALL_TYPES,
                "prefers_": consults.GENDERS}
    for prefix, values in prefixed.items():
        assert not [v for v in values if prefix + v not in english], prefix
    errors = {"email": ("invalid", "taken"), "password": ("too_short",), "name": ("required",),
              "registration_number": ("required",), "council": ("required",), "gender": ("invalid",),
              "languages": ("required",), "whatsapp_number": ("invalid",), "phone_number": ("invalid",),
              "timezone": ("invalid",), "capacity": ("invalid",), "country": ("invalid",),
              "weekly_availability": ("invalid",)}
    assert not [f"error_{f}_{c}" for f, codes in errors.items() for c in codes if f"error_{f}_{c}" not in english]
    placeholder = re.compile(r"\{(\w+)\}")
    assert not [k for k in english if set(placeholder.findall(english[k])) != set(placeholder.findall(urdu[k]))]
