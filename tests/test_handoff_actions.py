"""Talking to a doctor in the bot (actions/handoff.py) on tracker fixtures and a real SQLite database."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    ActionCancelConsult, ActionConsultFeedback, ActionConsultStatus, ActionSaveFeedbackComment, ActionStartConsult,
    ActionSubmitConsult, ValidateDoctorForm, ValidateFeedbackForm,
)
from actions.menu import ActionSelectOption
from telehealth import consults, doctors
from telehealth.db import ConsultRequest, session_scope
from telehealth.privacy import decrypt, patient_ref
from tests.conftest import make_tracker

DOMAIN: dict = {}  # what Rasa sends (enable_selective_domain): the forms read domain.yml
WA_ID = "923001234567"


@pytest.fixture(autouse=True)
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def tracker(text: str = "", intent: Optional[str] = "inform", slots: Optional[Dict[str, Any]] = None,
            option: Optional[int] = None, channel: Optional[str] = "whatsapp", sender: str = WA_ID,
            menu: Optional[str] = None):
    entities = []
    if option is not None:
        entities.append({"entity": "option", "value": str(option)})
    if menu is not None:
        entities.append({"entity": "menu", "value": menu})
    t = make_tracker(text, intent, slots={"language": "ur-Latn", **(slots or {})}, entities=entities)
    t.sender_id = sender
    if channel:
        t.events[-1]["input_channel"] = channel
    return t


async def step(t):
    d = CollectingDispatcher()
    events = await ValidateDoctorForm().run(d, t, DOMAIN)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, [m.get("response") for m in d.messages]


async def run(action, t):
    d = CollectingDispatcher()
    events = await action.run(d, t, {})
    return events, d.messages


# ----- the questions ------------------------------------------------------------------------

async def test_without_a_screening_the_first_question_is_which_number():
    slots, _ = await step(tracker(intent="request_doctor", slots={"requested_slot": None}))
    assert slots["requested_slot"] == "callback_choice"


async def test_with_a_stored_screening_consent_is_asked_first():
    slots, _ = await step(tracker(intent="request_doctor", slots={"requested_slot": None, "screening_id": 7.0}))
    assert slots["requested_slot"] == "consult_consent"


@pytest.mark.parametrize("text,option,expected", [
    ("", 1, "this_number"), ("", 2, "other_number"), ("isi number pe", None, "this_number"),
    ("doosra number", None, "other_number"),
])
async def test_which_number_by_button_number_or_words(text, option, expected):
    slots, _ = await step(tracker(text, "select_option" if option else "inform", option=option,
                                  slots={"requested_slot": "callback_choice"}))
    assert slots["callback_choice"] == expected


async def test_a_number_typed_instead_of_the_choice_is_taken():
    slots, said = await step(tracker("mera number 0321 7654321 hai", slots={"requested_slot": "callback_choice"}))
    assert slots["callback_choice"] == "other_number"
    assert slots["callback_number"] == "+923217654321"
    assert slots["requested_slot"] == "call_type" and said == []


async def test_this_number_on_whatsapp_needs_no_number_but_elsewhere_it_is_asked():
    on_whatsapp, _ = await step(tracker("", "select_option", option=1, slots={"requested_slot": "callback_choice"}))
    assert on_whatsapp["requested_slot"] == "call_type"
    on_rest, _ = await step(tracker("", "select_option", option=1, channel="rest", sender="web-123",
                                    slots={"requested_slot": "callback_choice"}))
    assert on_rest["requested_slot"] == "callback_number"


@pytest.mark.parametrize("text,expected", [
    ("0300 1234567", "+923001234567"), ("۰۳۰۰۱۲۳۴۵۶۷", "+923001234567"), ("+971 50 123 4567", "+971501234567"),
])
async def test_callback_numbers_in_any_digits_and_from_abroad(text, expected):
    slots, _ = await step(tracker(text, slots={"requested_slot": "callback_number", "callback_choice": "other_number"}))
    assert slots["callback_number"] == expected


async def test_a_wrong_number_is_asked_again_with_an_example():
    slots, said = await step(tracker("12345", slots={"requested_slot": "callback_number", "callback_choice": "other_number"}))
    assert slots["callback_number"] is None and said == ["utter_unclear_callback_number"]


@pytest.mark.parametrize("slot,text,option,expected", [
    ("call_type", "", 1, "whatsapp_call"), ("call_type", "normal call", None, "phone_call"),
    ("call_type", "whatsapp pe", None, "whatsapp_call"),
    ("doctor_gender", "lady doctor", None, "female"), ("doctor_gender", "", 2, "male"),
    ("doctor_gender", "koi bhi chalega", None, "no_preference"),
])
async def test_call_type_and_doctor_gender(slot, text, option, expected):
    slots, _ = await step(tracker(text, "select_option" if option else "inform", option=option,
                                  slots={"requested_slot": slot, "callback_choice": "this_number"}))
    assert slots[slot] == expected


async def test_an_unclear_choice_gets_an_example():
    slots, said = await step(tracker("", "select_option", option=7,
                                     slots={"requested_slot": "doctor_gender", "callback_choice": "this_number"}))
    assert said == ["utter_unclear_choice"] and slots["doctor_gender"] is None


@pytest.mark.parametrize("locale,asked", [("ps", True), ("bal", True), ("ur", False), ("ur-Latn", False), ("en", False)])
async def test_urdu_or_english_fallback_is_asked_only_for_other_languages(locale, asked):
    slots, _ = await step(tracker("", "select_option", option=3, slots={
        "language": locale, "requested_slot": "doctor_gender", "callback_choice": "this_number",
        "call_type": "whatsapp_call"}))
    assert (slots["requested_slot"] == "language_fallback") is asked


async def test_a_faq_question_mid_form_is_left_to_the_rules():
    slots, said = await step(tracker("corona kaise phailta hai bhai batao zara", "faq",
                                     slots={"requested_slot": "call_type", "callback_choice": "this_number"}))
    assert "call_type" not in slots and said == []


# ----- the request ----------------------------------------------------------------------------

async def consult_awaiting_feedback(email: str, whatsapp: str) -> None:
    """The patient's request, accepted by a verified doctor, completed, the feedback question sent."""
    from telehealth import notify

    with session_scope() as s:
        doctor = doctors.register(s, doctors.Registration(
            email=email, password="a long password", name="Dr F", registration_number="2-P",
            council="PMDC", gender="male", languages=["ur"], whatsapp_number=whatsapp, phone_number=whatsapp))
        doctor.status, doctor.available = "verified", True
    await run(ActionSubmitConsult(), tracker(slots=FILLED))
    with session_scope() as s:
        request = consults.open_request_for(s, patient_ref(WA_ID))
        consults.accept(s, request.id, doctor.id)
        notify.ask_feedback(s, consults.complete(s, request.id, doctor.id, "advice_given"))


FILLED = {"callback_choice": "this_number", "call_type": "phone_call", "doctor_gender": "female"}


async def test_submitting_queues_the_request_and_tells_the_place_in_line():
    events, messages = await run(ActionSubmitConsult(), tracker(slots=FILLED))
    assert [m["response"] for m in messages] == ["utter_consult_queued_no_doctor"]
    assert messages[0]["position"] == 1 and messages[0]["number"] == "+92 300 1234567"
    with session_scope() as s:
        request = consults.open_request_for(s, patient_ref(WA_ID))
        assert request.call_type == "phone" and request.gender_preference == "female"
        assert decrypt(request.callback_number) == b"+923001234567"
        assert request.priority == consults.DEFAULT_PRIORITY and request.locale == "ur-Latn"


async def test_with_a_doctor_online_the_wait_is_estimated_and_the_doctor_is_offered():
    with session_scope() as s:
        doctor = doctors.register(s, doctors.Registration(
            email="d@example.org", password="a long password", name="Dr A", registration_number="1-P",
            council="PMDC", gender="female", languages=["ur"], whatsapp_number="03005556666",
            phone_number="03005556666"))
        doctor.status, doctor.available = "verified", True
    _, messages = await run(ActionSubmitConsult(), tracker(slots=FILLED))
    assert messages[0]["response"] == "utter_consult_queued" and messages[0]["minutes"] >= 5
    with session_scope() as s:
        assert consults.open_request_for(s, patient_ref(WA_ID)).state == "offered"


async def test_an_emergency_hears_1122_before_being_queued_first_in_line():
    _, messages = await run(ActionSubmitConsult(), tracker(slots={
        **FILLED, "screening_level": "emergency", "screening_priority": 1.0}))
    assert [m["response"] for m in messages] == ["utter_emergency", "utter_consult_queued_no_doctor"]
    with session_scope() as s:
        assert consults.open_request_for(s, patient_ref(WA_ID)).priority == 1


async def test_the_screening_is_shared_only_with_consent():
    await run(ActionSubmitConsult(), tracker(slots={**FILLED, "screening_id": 3.0, "consult_consent": False}))
    with session_scope() as s:
        request = consults.open_request_for(s, patient_ref(WA_ID))
        assert request.screening_id is None and request.consent_share is False


async def test_asking_again_with_an_open_request_gives_its_status_not_a_second_request():
    events, messages = await run(ActionStartConsult(), tracker(intent="request_doctor"))
    assert [m["response"] for m in messages] == ["utter_consult_intro"]
    assert {"event": "slot", "name": "consult_open", "value": False} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    await run(ActionSubmitConsult(), tracker(slots=FILLED))
    events, messages = await run(ActionStartConsult(), tracker(intent="request_doctor"))
    assert [m["response"] for m in messages] == ["utter_consult_already_open", "utter_consult_status_no_doctor"]
    assert [e["value"] for e in events if e.get("name") == "consult_open"] == [True]


async def test_after_an_emergency_result_1122_comes_before_anything_else():
    _, messages = await run(ActionStartConsult(), tracker(intent="request_doctor", slots={"screening_level": "emergency"}))
    assert [m["response"] for m in messages] == ["utter_emergency", "utter_consult_intro"]


async def test_status_and_cancel():
    _, messages = await run(ActionConsultStatus(), tracker(intent="consult_status"))
    assert messages[0]["response"] == "utter_consult_none"
    await run(ActionSubmitConsult(), tracker(slots=FILLED))
    _, messages = await run(ActionConsultStatus(), tracker(intent="consult_status"))
    assert messages[0]["response"] == "utter_consult_status_no_doctor" and messages[0]["position"] == 1
    _, messages = await run(ActionCancelConsult(), tracker(intent="cancel_consult"))
    assert messages[0]["response"] == "utter_consult_cancelled"
    with session_scope() as s:
        assert consults.open_request_for(s, patient_ref(WA_ID)) is None
    _, messages = await run(ActionCancelConsult(), tracker(intent="cancel_consult"))
    assert messages[0]["response"] == "utter_consult_none"


async def test_keep_waiting_or_close_after_the_service_level():
    await run(ActionSubmitConsult(), tracker(slots=FILLED))
    _, messages = await run(ActionSelectOption(), tracker(intent="select_option", option=1, menu="consult_sla"))
    assert messages[0]["response"] == "utter_consult_kept"
    _, messages = await run(ActionSelectOption(), tracker(intent="select_option", option=2, menu="consult_sla"))
    assert messages[0]["response"] == "utter_consult_closed"
    with session_scope() as s:
        assert s.query(ConsultRequest).one().state == "expired"


async def test_feedback_buttons_record_the_rating():
    await consult_awaiting_feedback("f@example.org", "03005557777")
    rated = tracker('/consult_feedback{"rating":"4"}', "consult_feedback")
    rated.latest_message["entities"] = [{"entity": "rating", "value": "4"}]
    events, messages = await run(ActionConsultFeedback(), rated)
    assert messages == [] and {"event": "slot", "name": "feedback_comment", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    with session_scope() as s:
        assert s.query(ConsultRequest).one().feedback_rating == 4
    # The comment: any text; then thanks.
    comment = tracker("doctor sahab ne bohat achi tarah samjhaya", "thank", slots={"requested_slot": "feedback_comment"})
    slots = await ValidateFeedbackForm().extract_feedback_comment(CollectingDispatcher(), comment, {})
    assert slots == {"feedback_comment": "doctor sahab ne bohat achi tarah samjhaya"}
    _, messages = await run(ActionSaveFeedbackComment(), tracker(slots=slots))
    assert messages[0]["response"] == "utter_consult_feedback_thanks"
    with session_scope() as s:
        assert decrypt(s.query(ConsultRequest).one().feedback_comment) == b"doctor sahab ne bohat achi tarah samjhaya"


@pytest.mark.parametrize("text,expected", [("0", "-"), ("nahi", "-"), ("skip", "-"), ("۰", "-"),
                                           ("sab theek tha shukriya", "sab theek tha shukriya")])
async def test_a_comment_can_be_skipped(text, expected):
    t = tracker(text, "deny", slots={"requested_slot": "feedback_comment"})
    assert await ValidateFeedbackForm().extract_feedback_comment(CollectingDispatcher(), t, {}) == {"feedback_comment": expected}


async def test_an_emergency_is_not_taken_as_a_comment():
    t = tracker("saans nahi aa rahi", "emergency", slots={"requested_slot": "feedback_comment"})
    assert await ValidateFeedbackForm().extract_feedback_comment(CollectingDispatcher(), t, {}) == {}


@pytest.mark.parametrize("text,rating", [("⭐⭐⭐⭐", 4), ("5/5", 5), ("3 stars", 3), ("bohat acha", None)])
async def test_ratings_typed_by_hand(text, rating):
    from actions.handoff import read_rating

    assert read_rating(tracker(text, "consult_feedback")) == rating


async def test_a_bare_number_after_the_feedback_question_is_a_rating_unless_a_menu_came_since():
    import time as _time

    from rasa_sdk.events import FollowupAction

    menu_before = {"event": "slot", "name": "menu", "value": "main", "timestamp": _time.time() - 60}
    await consult_awaiting_feedback("g@example.org", "03005558888")
    typed = tracker("4", "select_option", option=4)
    typed.events.insert(0, menu_before)
    events, messages = await run(ActionSelectOption(), typed)
    assert FollowupAction("feedback_form") in events and messages == []
    with session_scope() as s:
        assert s.query(ConsultRequest).one().feedback_rating == 4
    # Rated already: "2" is the main menu's option 2 again.
    again = tracker("2", "select_option", option=2)
    events, _ = await run(ActionSelectOption(), again)
    assert FollowupAction("action_start_screening") in events


async def test_a_menu_shown_after_the_feedback_question_wins():
    import time as _time

    from rasa_sdk.events import FollowupAction

    await consult_awaiting_feedback("h@example.org", "03005559999")
    typed = tracker("2", "select_option", option=2, slots={"menu": "main"})
    typed.events.insert(0, {"event": "slot", "name": "menu", "value": "main", "timestamp": _time.time() + 5})
    events, _ = await run(ActionSelectOption(), typed)
    assert FollowupAction("action_start_screening") in events
    with session_scope() as s:
        assert s.query(ConsultRequest).one().feedback_rating is None
