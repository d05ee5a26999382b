"""Talking to a doctor: the call-back form, the request in the queue, its status, cancelling it,
and the patient's answers to the notifications (keep waiting or close; feedback).

Rasa glue only: the request, the queue and its state machine are ``telehealth.consults``;
offering it to doctors is ``telehealth.dispatch``; numbers are ``telehealth.phones``.
"""
from __future__ import annotations

import logging
from datetime import timezone
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.common import LocalFormSlots, current_locale, latest_confidence, latest_entity, latest_intent
from actions.forms import CHOICE, FAILURES_SLOT, INTERRUPT_INTENTS, PHONE, YES_NO, AnswerForm, fresh_message
from telehealth import consults, dispatch
from telehealth.consults import AlreadyOpen, NewRequest, doctor_language
from telehealth.db import Doctor, session_scope
from telehealth.i18n import term
from telehealth.phones import display, wa_id_to_e164
from telehealth.privacy import decrypt, patient_ref
from telehealth.symptoms import parse_yes_no
from telehealth.text import normalize
from telehealth.triage import Level

logger = logging.getLogger(__name__)
Events = List[Dict[Text, Any]]

FORM = "doctor_form"
FORM_SLOTS = ("consult_consent", "callback_choice", "callback_number", "call_type", "doctor_gender",
              "language_fallback")
#: Locales doctors always speak; other locales are asked whether Urdu or English would do.
COMMON_LANGUAGES = ("en", "ur")
#: Channels whose sender id is the patient's WhatsApp number (to call back and to notify).
WHATSAPP_CHANNELS = ("whatsapp",)


def _ref(tracker: Tracker) -> Text:
    return patient_ref(tracker.sender_id)


def _channel(tracker: Tracker) -> Text:
    return tracker.get_latest_input_channel() or "rest"


def _this_number(tracker: Tracker) -> Optional[Text]:
    """The patient's own number when they write from WhatsApp (the sender id is the number)."""
    return wa_id_to_e164(tracker.sender_id) if _channel(tracker) in WHATSAPP_CHANNELS else None


class ValidateDoctorForm(AnswerForm):
    slot_kinds = {
        "consult_consent": YES_NO,
        "callback_choice": CHOICE,
        "callback_number": PHONE,
        "call_type": CHOICE,
        "doctor_gender": CHOICE,
        "language_fallback": YES_NO,
    }
    choices = {
        "callback_choice": {1: "this_number", 2: "other_number"},
        "call_type": {1: "whatsapp_call", 2: "phone_call"},
        "doctor_gender": {1: "female", 2: "male", 3: "no_preference"},
    }
    starters = ("action_start_consult",)
    menu = "consult"
    interrupt_intents = INTERRUPT_INTENTS | {"emergency", "consult_status", "cancel_consult", "start_screening"}

    def name(self) -> Text:
        return "validate_doctor_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        slots = tracker.slots
        required = []
        if slots.get("screening_id") is not None:
            required.append("consult_consent")  # only a stored screening can be shared
        required.append("callback_choice")
        if slots.get("callback_choice") == "other_number" or (
            slots.get("callback_choice") == "this_number" and _this_number(tracker) is None
        ):
            required.append("callback_number")
        required += ["call_type", "doctor_gender"]
        if doctor_language(current_locale(tracker)) not in COMMON_LANGUAGES:
            required.append("language_fallback")
        return required

    def passive_events(self, tracker: Tracker, requested: Optional[Text]) -> Dict[Text, Any]:
        # A number typed instead of choosing "another number" is that number.
        if requested == "callback_choice":
            number = self.parse_answer("callback_number", tracker)
            if number:
                return {"callback_choice": "other_number", "callback_number": number}
        return {}


class ActionStartConsult(Action):
    """"Talk to a doctor" (intent, menu, button): the status of an open request, or the questions.

    Sets ``consult_open``; the rules (data/rules/consult.yml) start the form only when it is false.
    Someone whose symptom check ended in an emergency hears 1122 first, always.
    """

    def name(self) -> Text:
        return "action_start_consult"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        if tracker.get_slot("screening_level") == Level.EMERGENCY.value:
            dispatcher.utter_message(response="utter_emergency")
        try:
            with session_scope() as session:
                existing = consults.open_request_for(session, _ref(tracker))
                if existing is not None:
                    dispatcher.utter_message(response="utter_consult_already_open")
                    say_status(dispatcher, session, existing, current_locale(tracker))
                    return [SlotSet("consult_open", True)]
        except Exception:  # the questions can still be asked; submitting will try again
            logger.exception("could not look up open consult requests")
        dispatcher.utter_message(response="utter_consult_intro")
        return ([SlotSet("consult_open", False)] + [SlotSet(slot, None) for slot in (*FORM_SLOTS, FAILURES_SLOT)]
                + [SlotSet(REQUESTED_SLOT, None)])


class ActionSubmitConsult(Action):
    """The form is complete: queue the request, offer it to doctors, tell the patient their place."""

    def name(self) -> Text:
        return "action_submit_consult"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        slots = tracker.slots
        locale = current_locale(tracker)
        number = slots.get("callback_number") if slots.get("callback_choice") == "other_number" else None
        number = number or _this_number(tracker) or slots.get("callback_number")
        level = slots.get("screening_level")
        priority = int(slots.get("screening_priority") or consults.DEFAULT_PRIORITY)
        if level == Level.EMERGENCY.value:
            dispatcher.utter_message(response="utter_emergency")  # never queued without 1122 first
            priority = 1
        gender = {"female": "female", "male": "male"}.get(slots.get("doctor_gender") or "")
        channel = _channel(tracker)
        new = NewRequest(
            patient_ref=_ref(tracker),
            contact=tracker.sender_id if channel in WHATSAPP_CHANNELS else None,
            channel=channel,
            callback_number=number,
            call_type="whatsapp" if slots.get("call_type") == "whatsapp_call" else "phone",
            locale=locale,
            language_fallback=slots.get("language_fallback") is True,
            gender_preference=gender,
            consent_share=slots.get("consult_consent") is True,
            screening_id=int(slots["screening_id"]) if slots.get("screening_id") is not None else None,
            level=level,
            priority=priority,
        )
        try:
            with session_scope() as session:
                try:
                    request = consults.create_request(session, new)
                except AlreadyOpen as exc:
                    dispatcher.utter_message(response="utter_consult_already_open")
                    say_status(dispatcher, session, exc.request, locale)
                    return _clear_form()
                dispatch.offer_new(session, request)
                position = consults.queue_position(session, request)
                minutes = consults.estimated_wait_minutes(session, request)
        except Exception:
            logger.exception("could not queue a consult request")
            dispatcher.utter_message(response="utter_bad_input")
            return _clear_form()
        common = {"position": position, "number": display(number), "call_type": term(f"call_{new.call_type}", locale)}
        if minutes is None:
            dispatcher.utter_message(response="utter_consult_queued_no_doctor", **common)
        else:
            dispatcher.utter_message(response="utter_consult_queued", minutes=minutes, **common)
        return _clear_form()


def _clear_form() -> Events:
    return [SlotSet(FAILURES_SLOT, None), SlotSet(REQUESTED_SLOT, None)]


def say_status(dispatcher: CollectingDispatcher, session, request, locale: Text) -> None:
    call_type = term(f"call_{request.call_type}", locale)
    number = display(decrypt(request.callback_number).decode())
    if request.state == consults.ACCEPTED and request.doctor_id is not None:
        from telehealth.doctors import phone_number, whatsapp_number

        doctor = session.get(Doctor, request.doctor_id)
        doctor_number = whatsapp_number(doctor) if request.call_type == "whatsapp" else phone_number(doctor)
        dispatcher.utter_message(response="utter_consult_status_accepted", doctor=doctor.name, number=number,
                                 call_type=call_type, doctor_number=display(doctor_number))
        return
    position = consults.queue_position(session, request)
    minutes = consults.estimated_wait_minutes(session, request)
    if minutes is None:
        dispatcher.utter_message(response="utter_consult_status_no_doctor", position=position)
    else:
        dispatcher.utter_message(response="utter_consult_status_waiting", position=position, minutes=minutes)


class ActionConsultStatus(Action):
    def name(self) -> Text:
        return "action_consult_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        with session_scope() as session:
            request = consults.open_request_for(session, _ref(tracker))
            if request is None:
                dispatcher.utter_message(response="utter_consult_none")
            else:
                say_status(dispatcher, session, request, current_locale(tracker))
        return []


class ActionCancelConsult(Action):
    def name(self) -> Text:
        return "action_cancel_consult"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        from telehealth import notify

        with session_scope() as session:
            request = consults.open_request_for(session, _ref(tracker))
            if request is None:
                dispatcher.utter_message(response="utter_consult_none")
                return []
            doctor_id = consults.cancel(session, request)
            if doctor_id is not None:
                notify.to_doctor(session, session.get(Doctor, doctor_id), "notify_patient_cancelled", request=request.id)
        dispatcher.utter_message(response="utter_consult_cancelled")
        return []


# ----- answers to the notifications (buttons of telehealth.notify's messages) ---------------

def sla_choice(dispatcher: CollectingDispatcher, tracker: Tracker, option: int) -> Events:
    """After the service level: 1 keeps the request open, 2 closes it."""
    with session_scope() as session:
        request = consults.open_request_for(session, _ref(tracker))
        if request is None or request.state not in consults.WAITING:
            dispatcher.utter_message(response="utter_consult_none")
            return []
        if option == 2:
            consults.close_after_sla(session, request)
            dispatcher.utter_message(response="utter_consult_closed")
        else:
            consults.keep_waiting(session, request)
            dispatcher.utter_message(response="utter_consult_kept")
    return []


class ActionConsultFeedback(Action):
    """A rating button of the feedback question (``/consult_feedback{"rating":"4"}``): stored;
    then feedback_form asks for an optional comment."""

    def name(self) -> Text:
        return "action_consult_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        rating = read_rating(tracker)
        if rating is not None:
            with session_scope() as session:
                consults.record_feedback(session, _ref(tracker), rating)
        return [SlotSet("feedback_comment", None), SlotSet(REQUESTED_SLOT, None)]


def read_rating(tracker: Tracker) -> Optional[int]:
    """The rating of a button's entity, or of stars or a digit typed ("⭐⭐⭐⭐", "5/5", "4 stars")."""
    value = next(tracker.get_latest_entity_values("rating"), None)
    text = normalize(tracker.latest_message.get("text") or "")
    if value is None:
        value = text.count("⭐") or next((c for c in text if c.isdigit()), None)
    try:
        rating = int(value)
    except (TypeError, ValueError):
        return None
    return rating if 1 <= rating <= 5 else None


def _last_menu_at(tracker: Tracker) -> float:
    """When the conversation last showed a numbered menu (epoch seconds; 0 if never)."""
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") == "menu":
            return float(event.get("timestamp") or 0)
    return 0.0


def typed_rating(tracker: Tracker, option: int) -> Optional[Events]:
    """The events for a rating typed as a bare number, when the feedback question is the latest
    thing the patient was asked (after any menu); None otherwise (the number answers the menu)."""
    if not 1 <= option <= 5:
        return None
    with session_scope() as session:
        request = consults.awaiting_feedback(session, _ref(tracker))
        if request is None or request.feedback_asked_at is None:
            return None
        asked = request.feedback_asked_at
        asked = asked.timestamp() if asked.tzinfo else asked.replace(tzinfo=timezone.utc).timestamp()
        if asked < _last_menu_at(tracker):
            return None
        consults.record_feedback(session, request.patient_ref, option)
    return [SlotSet("feedback_comment", None), SlotSet(REQUESTED_SLOT, None), FollowupAction("feedback_form")]


#: What skips the comment: "0", "no", "nahi", "skip"...
SKIP_WORDS = ("skip", "0", "-")


class ValidateFeedbackForm(LocalFormSlots):
    """Any text is the comment, except a skip ("0", "no") and an emergency (left to the rules)."""

    def name(self) -> Text:
        return "validate_feedback_form"

    async def extract_feedback_comment(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot(REQUESTED_SLOT) != "feedback_comment" or not fresh_message(tracker, (self.form_name(),)):
            return {}
        if latest_intent(tracker) in ("emergency", "stop", "help") and latest_confidence(tracker) >= 0.8:
            return {}
        text = (tracker.latest_message.get("text") or "").strip()
        if not text or text.startswith("/"):
            return {}
        skip = normalize(text) in SKIP_WORDS or parse_yes_no(text) == "no" or latest_entity(tracker, "option") == "0"
        return {"feedback_comment": "-" if skip else text[:COMMENT_MAX]}


COMMENT_MAX = 1000


class ActionSaveFeedbackComment(Action):
    def name(self) -> Text:
        return "action_save_feedback_comment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        comment = tracker.get_slot("feedback_comment")
        if comment and comment != "-":
            with session_scope() as session:
                consults.add_feedback_comment(session, _ref(tracker), comment)
        dispatcher.utter_message(response="utter_consult_feedback_thanks")
        return [SlotSet("feedback_comment", None)]


__all__ = ["ValidateDoctorForm", "ActionStartConsult", "ActionSubmitConsult", "ActionConsultStatus",
           "ActionCancelConsult", "ActionConsultFeedback", "ValidateFeedbackForm", "ActionSaveFeedbackComment", "sla_choice"]
