"""Talking to a doctor end to end on WhatsApp: signed webhooks into the real Rasa server and
action server, the request queued in the application database, the doctor notified through the
outbox, and the patient told who will call, then asked for feedback — every message read at the
Cloud API stand-in, which validates it like Meta does. (The doctors' portal side in a browser:
tests/e2e/test_portal_browser.py.)"""
from __future__ import annotations

import itertools
import time

import pytest

from telehealth.i18n import message, render
from tests.e2e.conftest import texts_of

pytestmark = pytest.mark.e2e
_ids = itertools.count()


def number() -> str:
    return f"92301{next(_ids):07d}"


def add_doctor(languages=("ur",), whatsapp="03451234567"):
    from telehealth import doctors
    from telehealth.db import session_scope

    with session_scope() as s:
        doctor = doctors.register(s, doctors.Registration(
            email=f"e2e{time.time_ns()}@example.org", password="a long password", name="Ayesha Siddiqui",
            registration_number="98765-P", council="PMDC", gender="female", languages=list(languages),
            whatsapp_number=whatsapp, phone_number=whatsapp, city="Lahore"))
        doctor.status, doctor.available = "verified", True
        return doctor.id


def wait_until(wa, wa_id, found, timeout=60) -> list:
    """The patient's texts once ``found(texts)`` holds (fails with what arrived otherwise)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = texts_of(wa.sent(wa_id))
        if found(texts):
            return texts
        time.sleep(0.2)
    raise AssertionError(f"never arrived; the last messages were {texts_of(wa.sent(wa_id))[-3:]}")


def wait_for_text(wa, wa_id, text, timeout=60):
    return wait_until(wa, wa_id, lambda texts: text in texts, timeout)


def test_request_a_call_then_accepted_then_feedback(bot, shared_database):
    from telehealth import consults, notify
    from telehealth.db import ConsultRequest, Doctor, session_scope
    from telehealth.privacy import patient_ref

    wa, patient = bot.whatsapp, number()
    doctor_id = add_doctor(whatsapp=f"0345{next(_ids):07d}")
    wa.tap(patient, '/choose_language{"language":"ur-Latn"}', kind="list_reply")
    wa.wait_for(patient, 2)
    wa.text(patient, "mujhe doctor se baat karni hai")
    wait_for_text(wa, patient, render("utter_ask_callback_choice", "ur-Latn"))
    wa.tap(patient, '/select_option{"menu":"consult","option":"1"}')        # this WhatsApp number
    wait_for_text(wa, patient, render("utter_ask_call_type", "ur-Latn"))
    wa.tap(patient, '/select_option{"menu":"consult","option":"1"}')        # WhatsApp call
    wait_for_text(wa, patient, render("utter_ask_doctor_gender", "ur-Latn"))
    wa.text(patient, "lady doctor")
    queued = message("utter_consult_queued", "ur-Latn", position=1, minutes=15, number="", call_type="")["text"]
    texts = wait_until(wa, patient, lambda texts: any(t.startswith(queued[:30]) for t in texts))
    assert "+92 301" in texts[-1]          # the number the doctor will call: this WhatsApp number

    with session_scope() as s:
        request = consults.open_request_for(s, patient_ref(patient))
        assert (request.state, request.call_type, request.gender_preference) == ("offered", "whatsapp", "female")
        doctor_wa = s.get(Doctor, doctor_id)
        from telehealth.doctors import whatsapp_number
        doctor_wa = whatsapp_number(doctor_wa).lstrip("+")
        request_id = request.id
    # The doctor was told on WhatsApp (a template: the doctor has not written to the number).
    assert "template:doctor_new_request" in texts_of(wa.wait_for(doctor_wa, 1))

    # The doctor accepts (the portal calls exactly this): the patient hears who will call.
    with session_scope() as s:
        request = consults.accept(s, request_id, doctor_id)
        notify.doctor_accepted(s, request, s.get(Doctor, doctor_id))
    texts = wait_until(wa, patient, lambda texts: any("Ayesha Siddiqui" in t and "Lahore" in t for t in texts))
    before = len(texts)

    # "status" now names the doctor.
    wa.text(patient, "status")
    wait_until(wa, patient, lambda texts: any("Ayesha Siddiqui" in t for t in texts[before:]))

    # After the call: the feedback question (a list of 5), answered by a tap, is stored.
    with session_scope() as s:
        notify.ask_feedback(s, consults.complete(s, request_id, doctor_id, "advice_given", "paracetamol, rest"))
    wait_for_text(wa, patient, render("utter_consult_feedback", "ur-Latn"))
    feedback = [m for m in wa.sent(patient) if m["body"]["type"] == "interactive"][-1]["body"]["interactive"]
    assert feedback["type"] == "list" and len(feedback["action"]["sections"][0]["rows"]) == 5
    wa.tap(patient, '/consult_feedback{"rating":"5"}', kind="list_reply")
    wait_for_text(wa, patient, render("utter_ask_feedback_comment", "ur-Latn"))
    wa.text(patient, "doctor sahab ne bohat tasalli se baat ki")
    wait_for_text(wa, patient, render("utter_consult_feedback_thanks", "ur-Latn"))
    from telehealth.privacy import decrypt

    with session_scope() as s:
        request = s.get(ConsultRequest, request_id)
        assert request.feedback_rating == 5
        assert decrypt(request.feedback_comment) == b"doctor sahab ne bohat tasalli se baat ki"


def test_rest_channel_asks_for_the_number_and_cancel_works(bot, shared_database):
    user = f"rest-{next(_ids)}"
    bot.texts(user, '/choose_language{"language":"en"}')
    assert bot.texts(user, "/request_doctor") == [render("utter_consult_intro", "en"), render("utter_ask_callback_choice", "en")]
    assert bot.texts(user, "1") == [render("utter_ask_callback_number", "en")]      # no WhatsApp number here
    assert bot.texts(user, "12345") == [render("utter_unclear_callback_number", "en"), render("utter_ask_callback_number", "en")]
    assert bot.texts(user, "0300 1234567") == [render("utter_ask_call_type", "en")]
    assert bot.texts(user, "phone call") == [render("utter_ask_doctor_gender", "en")]
    replies = bot.texts(user, "3")
    assert replies[0].startswith(message("utter_consult_queued_no_doctor", "en", position=1, number="", call_type="")["text"][:30])
    from telehealth import consults
    from telehealth.db import session_scope
    from telehealth.privacy import decrypt, patient_ref

    with session_scope() as s:
        request = consults.open_request_for(s, patient_ref(user))
        assert (decrypt(request.callback_number), request.call_type, request.channel) == (b"+923001234567", "phone", "rest")
    assert bot.texts(user, "/request_doctor")[0] == render("utter_consult_already_open", "en")
    assert bot.texts(user, "please cancel my doctor request") == [render("utter_consult_cancelled", "en")]
    assert bot.texts(user, "status") == [render("utter_consult_none", "en")]
