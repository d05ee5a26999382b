"""One base class for forms whose questions are answered in free text, numbers or buttons.

Each slot of a form has a *kind* (yes/no, yes/no/not sure, a number, days, a choice, a
multi-select list); the kind decides how an answer is read (``telehealth.symptoms`` parsers,
the ``option`` entity of a number or a button, the affirm/deny intents) and which example the
user gets when the answer is unclear. The base class carries the unhappy paths for every form:

- an answer that can be read fills the requested slot, whatever the intent;
- a message with an *interrupt* intent (a FAQ question, "stop", the menu, a doctor…) that is
  not an answer fills nothing, so the form rejects and the rules answer it (data/rules/);
  after a FAQ answer the form resumes and asks again;
- anything else is unclear: the user is told what an answer looks like and asked again; after
  ``MAX_FAILURES`` unclear answers in a row the user is offered a doctor.

Subclasses declare ``slot_kinds``, implement ``required_slots`` (skip logic) and may add
``passive_events`` (slots filled from what the user volunteers, e.g. symptoms named early).
"""
from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.common import LocalFormSlots, latest_confidence, latest_entity, latest_intent
from telehealth.phones import parse_phone
from telehealth.symptoms import parse_age, parse_choice, parse_days, parse_for_whom, parse_yes_no
from telehealth.text import normalize

Events = List[Dict[Text, Any]]

YES_NO = "yes_no"
YES_NO_UNSURE = "yes_no_unsure"
AGE = "age"
DAYS = "days"
FOR_WHOM = "for_whom"
MULTI = "multi"
CHOICE = "choice"   # one of a few numbered options, or words naming one (see AnswerForm.choices)
PHONE = "phone"     # a phone number to call

UNCLEAR_RESPONSE = {
    YES_NO: "utter_unclear_yes_no",
    YES_NO_UNSURE: "utter_unclear_contact",
    AGE: "utter_unclear_age",
    DAYS: "utter_unclear_days",
    FOR_WHOM: "utter_unclear_for_whom",
    MULTI: "utter_unclear_list",
    CHOICE: "utter_unclear_choice",
    PHONE: "utter_unclear_callback_number",
}

#: Intents that, when the message is not an answer, leave the question for the rules.
INTERRUPT_INTENTS = frozenset(
    {"faq", "ask_question", "stop", "help", "request_doctor", "change_language", "choose_language",
     "goodbye", "thank", "bot_challenge", "greet"}
)
INTENT_CONFIDENCE = 0.6
#: An interrupt intent below this is a guess, not a question: "hmm" (greet at 0.38) while the
#: bot asks the age is an unclear answer, asked again with an example, not a new greeting.
INTERRUPT_CONFIDENCE = 0.45
CLEAR_INTERRUPT_CONFIDENCE = 0.8
SHORT_ANSWER_WORDS = 3
MAX_FAILURES = 3
FAILURES_SLOT = "form_failures"

_NUMBERS = re.compile(r"\d+")


def fresh_message(tracker: Tracker, allowed: tuple = ()) -> bool:
    """True when the latest user message has not been read by the form yet.

    The form also runs when it resumes after a FAQ answer; the message then is the FAQ
    question, which must not be read as an answer. Rasa hands the validation action a
    tracker ending in the form's own action, so the test is: no other action ran since the
    user spoke, except those in ``allowed`` (the form, and the action that starts it).
    """
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return True
        if event.get("event") == "action" and event.get("name") not in ("action_listen", *allowed):
            return False
    return True


def foreign_button(tracker: Tracker, menu: Text) -> bool:
    """A button of another menu (an older message's main-menu button pressed mid-form)."""
    named = latest_entity(tracker, "menu")
    return named is not None and named != menu


def option_number(tracker: Tracker, menu: Text = "") -> Optional[int]:
    """The number of a button of ``menu`` or a typed bare number (``option`` entity), if any."""
    if menu and foreign_button(tracker, menu):
        return None
    value = latest_entity(tracker, "option")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def numbers_in(text: Text) -> List[int]:
    """All numbers in a multi-select answer: "1 3", "1,3", "۱ ۳"; "13" with one-digit options is 1 and 3."""
    found = []
    for chunk in _NUMBERS.findall(normalize(text)):
        found.extend(int(c) for c in chunk) if len(chunk) > 1 and int(chunk) > 9 else found.append(int(chunk))
    return found


class AnswerForm(LocalFormSlots):
    """The shared validation of answer-driven forms (see the module docstring)."""

    #: slot name -> kind
    slot_kinds: Dict[Text, Text] = {}

    @abstractmethod
    def name(self) -> Text:
        """``validate_<form name>``."""
    #: actions after which the latest user message still counts as unread (form activation)
    starters: tuple = ()
    #: the ``menu`` its buttons name in their payloads
    menu: Text = ""
    #: CHOICE slots: slot -> {option number: value}; the values are also ``consult_choices``
    #: names in the lexicons, so words work as well as numbers
    choices: Dict[Text, Dict[int, Text]] = {}
    #: intents that, when the message is not an answer, leave the question to the rules
    interrupt_intents: frozenset = INTERRUPT_INTENTS

    # ----- hooks for subclasses -------------------------------------------------------------
    def parse_multi(self, slot: Text, tracker: Tracker) -> Optional[List[Text]]:
        """Read a multi-select answer for ``slot``: a list (empty for "none") or None."""
        return None

    def passive_events(self, tracker: Tracker, requested: Optional[Text]) -> Dict[Text, Any]:
        """Slots filled from what the user volunteered (not the answer to the question)."""
        return {}

    def after_answer(self, slot: Text, value: Any, tracker: Tracker) -> Dict[Text, Any]:
        """Further slots an answer settles (e.g. "none of these" answers several questions)."""
        return {}

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        return domain_slots

    # ----- the reading of an answer ---------------------------------------------------------
    def parse_answer(self, slot: Text, tracker: Tracker) -> Any:
        kind = self.slot_kinds.get(slot)
        text = tracker.latest_message.get("text") or ""
        option = option_number(tracker, self.menu)
        if foreign_button(tracker, self.menu):
            return None
        intent = latest_intent(tracker)
        confidence = latest_confidence(tracker)
        if kind in (YES_NO, YES_NO_UNSURE):
            choices = {1: "yes", 2: "no"}
            if kind == YES_NO_UNSURE:
                choices[3] = "unsure"
            if option is not None:
                answer = choices.get(option)
            else:
                answer = parse_yes_no(text)
                if answer is None and confidence >= INTENT_CONFIDENCE:
                    answer = {"affirm": "yes", "deny": "no"}.get(intent)
            if answer == "unsure" and kind == YES_NO:
                return None
            if answer is None:
                return None
            return answer if kind == YES_NO_UNSURE else answer == "yes"
        if kind == AGE:
            return parse_age(text)
        if kind == DAYS:
            return parse_days(text)
        if kind == FOR_WHOM:
            if option is not None:
                return {1: "self", 2: "other"}.get(option)
            return parse_for_whom(text)
        if kind == MULTI:
            return self.parse_multi(slot, tracker)
        if kind == CHOICE:
            options = self.choices.get(slot, {})
            if option is not None:
                return options.get(option)
            return parse_choice(text, options.values())
        if kind == PHONE:
            return parse_phone(text)
        return None

    # ----- the form step --------------------------------------------------------------------
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        requested = tracker.get_slot(REQUESTED_SLOT)
        values: Dict[Text, Any] = {}
        if fresh_message(tracker, (self.form_name(), *self.starters)):
            answer = self.parse_answer(requested, tracker) if requested else None
            if answer is not None and self.clear_interrupt(tracker):
                answer = None  # "corona kaise phailta hai?" holds "hai", but it is a question
            confidence = latest_confidence(tracker)
            interrupt = answer is None and (
                (latest_intent(tracker) in self.interrupt_intents and confidence >= INTERRUPT_CONFIDENCE)
                or foreign_button(tracker, self.menu)
            )
            if not interrupt:
                values.update(self.passive_events(tracker, requested))
            if requested and answer is not None:
                values[requested] = answer
                values.update(self.after_answer(requested, answer, tracker))
                values[FAILURES_SLOT] = 0
            elif requested and not interrupt and requested not in values:
                if values:
                    values[requested] = None  # the user told us other things: ask again, no reproach
                else:
                    values.update(self.unclear(dispatcher, tracker, requested))
        events = [SlotSet(k, v) for k, v in values.items()]
        tracker.add_slots(events)
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        missing = next((s for s in required if tracker.slots.get(s) is None), None)
        return events + [SlotSet(REQUESTED_SLOT, missing)]

    def clear_interrupt(self, tracker: Tracker) -> bool:
        """A sentence the NLU is sure is a question or a request, not a short answer."""
        words = (tracker.latest_message.get("text") or "").split()
        return (
            latest_intent(tracker) in self.interrupt_intents
            and latest_confidence(tracker) >= CLEAR_INTERRUPT_CONFIDENCE
            and len(words) > SHORT_ANSWER_WORDS
            and latest_entity(tracker, "option") is None
        )

    def unclear(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: Text) -> Dict[Text, Any]:
        failures = int(tracker.get_slot(FAILURES_SLOT) or 0) + 1
        dispatcher.utter_message(response=UNCLEAR_RESPONSE.get(self.slot_kinds.get(slot), "utter_unclear_yes_no"))
        if failures >= MAX_FAILURES:
            dispatcher.utter_message(response="utter_screening_offer_doctor")
            failures = 0
        # Setting the slot to None (again) tells Rasa the answer was read: no rejection, ask again.
        return {slot: None, FAILURES_SLOT: failures}
