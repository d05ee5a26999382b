"""The symptom check: the screening form, its questions, and the triage result.

Rasa glue only: reading answers is ``actions.forms.AnswerForm`` with ``telehealth.symptoms``;
the decision is ``telehealth.triage``; storing is ``telehealth.screenings``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.common import current_locale, latest_confidence, latest_intent
from actions.forms import (
    AGE, DAYS, FAILURES_SLOT, FOR_WHOM, INTENT_CONFIDENCE, INTERRUPT_INTENTS, MULTI, YES_NO, YES_NO_UNSURE,
    AnswerForm, numbers_in,
)
from telehealth.i18n import term
from telehealth.symptoms import parse_comorbidities, parse_for_whom, parse_yes_no
from telehealth.triage import (
    ALL_SYMPTOMS, COMORBIDITIES, CORE_SYMPTOMS, OTHER_SYMPTOMS, Answers, Exposure, Level, triage,
)

logger = logging.getLogger(__name__)
Events = List[Dict[Text, Any]]

FORM = "screening_form"
#: Every slot the form may ask, in the order it asks them.
FORM_SLOTS = (
    "warning_signs", "for_whom", "age", *CORE_SYMPTOMS, "other_symptoms", "more_symptoms",
    "days", "contact", "comorbidities",
)
#: Slots a new screening starts without.
RESET_SLOTS = FORM_SLOTS + ("symptoms_named", FAILURES_SLOT, "screening_level", "screening_priority", "screening_id")

#: Numbered lists of the multi-select questions (the numbers the questions show).
SYMPTOM_NUMBERS = {i: s for i, s in enumerate(ALL_SYMPTOMS, start=1)}
OTHER_NUMBERS = {i: s for i, s in enumerate(OTHER_SYMPTOMS, start=1)}
COMORBIDITY_NUMBERS = {i: c for i, c in enumerate(COMORBIDITIES, start=1)}
_MULTI = {"other_symptoms": OTHER_NUMBERS, "more_symptoms": SYMPTOM_NUMBERS, "comorbidities": COMORBIDITY_NUMBERS}

EARLY_SLOTS = (None, "warning_signs", "for_whom", "age")
EMERGENCY_CONFIDENCE = 0.8


def entity_values(tracker: Tracker, entity: Text) -> List[Text]:
    return [e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == entity]


def missing_symptoms(slots: Dict[Text, Any]) -> List[Text]:
    """Symptoms the user has not said anything about yet (in the numbered order)."""
    said = set(slots.get("other_symptoms") or [])
    return [
        s for s in ALL_SYMPTOMS
        if (s in CORE_SYMPTOMS and slots.get(s) is None) or (s in OTHER_SYMPTOMS and s not in said)
    ]


def summary(symptoms: List[Text], days: Optional[float], locale: Text) -> Text:
    """ "fever, cough for 3 days" in the user's language."""
    text = term("list_sep", locale).join(term(f"symptom_{s}", locale) for s in symptoms)
    if days:
        text += " " + term("for_days", locale).format(days=int(days))
    return text


class ValidateScreeningForm(AnswerForm):
    slot_kinds = {
        "warning_signs": YES_NO,
        "for_whom": FOR_WHOM,
        "age": AGE,
        **{s: YES_NO for s in CORE_SYMPTOMS},
        "other_symptoms": MULTI,
        "more_symptoms": MULTI,
        "days": DAYS,
        "contact": YES_NO_UNSURE,
        "comorbidities": MULTI,
    }
    starters = ("action_start_screening",)
    menu = "screening"
    interrupt_intents = INTERRUPT_INTENTS | {"consult_status", "cancel_consult"}

    def name(self) -> Text:
        return "validate_screening_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        slots = tracker.slots
        if slots.get("warning_signs") is True:
            return ["warning_signs"]  # an emergency ends the screening at once
        required = ["warning_signs", "for_whom", "age"]
        if slots.get("symptoms_named"):
            # Symptoms told in free text: one question about the rest, not one per symptom.
            if slots.get("more_symptoms") is None and missing_symptoms(slots):
                required.append("more_symptoms")
        else:
            required += [*CORE_SYMPTOMS, "other_symptoms"]
        known = all(slots.get(s) is not None for s in CORE_SYMPTOMS) and (
            slots.get("other_symptoms") is not None or slots.get("symptoms_named")
        )
        any_symptom = any(slots.get(s) is True for s in CORE_SYMPTOMS) or bool(slots.get("other_symptoms"))
        if any_symptom or not known:
            required.append("days")
        return required + ["contact", "comorbidities"]

    # ----- reading answers ------------------------------------------------------------------
    def parse_answer(self, slot: Text, tracker: Tracker) -> Any:
        if slot == "warning_signs" and self._emergency(tracker):
            return True
        if slot in CORE_SYMPTOMS:
            present, absent = entity_values(tracker, "symptom"), entity_values(tracker, "symptom_absent")
            if slot in present:
                return True
            if slot in absent:
                return False
            if present or absent:
                return None  # the user spoke of other symptoms (taken by passive_events), not this one
        return super().parse_answer(slot, tracker)

    def parse_multi(self, slot: Text, tracker: Tracker) -> Optional[List[Text]]:
        text = tracker.latest_message.get("text") or ""
        table = _MULTI[slot]
        numbers = numbers_in(text)
        if numbers:
            if any(n not in table and n != 0 for n in numbers):
                return None
            return sorted({table[n] for n in numbers if n in table}, key=list(table.values()).index)
        if slot == "comorbidities":
            named = set(parse_comorbidities(text))
        else:
            named = set(entity_values(tracker, "symptom")) & set(table.values())
        if named:
            return [v for v in table.values() if v in named]
        answer = parse_yes_no(text)
        if answer is None and latest_intent(tracker) == "deny":
            answer = "no"
        return [] if answer == "no" else None

    def after_answer(self, slot: Text, value: Any, tracker: Tracker) -> Dict[Text, Any]:
        if slot != "more_symptoms":
            return {}
        # The one "anything else?" question answers every symptom not yet known.
        extra: Dict[Text, Any] = {s: s in value for s in CORE_SYMPTOMS if tracker.get_slot(s) is None}
        others = set(tracker.get_slot("other_symptoms") or []) | {s for s in value if s in OTHER_SYMPTOMS}
        extra["other_symptoms"] = [s for s in OTHER_SYMPTOMS if s in others]
        return extra

    def passive_events(self, tracker: Tracker, requested: Optional[Text]) -> Dict[Text, Any]:
        """What the user volunteered: symptoms, denials, warning signs, a duration, an age, for whom."""
        values: Dict[Text, Any] = {}
        if self._emergency(tracker):
            values["warning_signs"] = True
        present = set(entity_values(tracker, "symptom"))
        for s in CORE_SYMPTOMS:
            if s in present:
                values[s] = True
            elif s in entity_values(tracker, "symptom_absent"):
                values[s] = False
        others = present & set(OTHER_SYMPTOMS)
        if others:
            current = set(tracker.get_slot("other_symptoms") or [])
            values["other_symptoms"] = [s for s in OTHER_SYMPTOMS if s in current | others]
        if present and requested in EARLY_SLOTS and not tracker.get_slot("symptoms_named"):
            values["symptoms_named"] = True
        days = entity_values(tracker, "duration_days")
        if days and tracker.get_slot("days") is None and requested != "days":
            values["days"] = int(days[0])
        age = entity_values(tracker, "age")
        if age and tracker.get_slot("age") is None and requested != "age":
            values["age"] = int(age[0])
        if requested is None and present and tracker.get_slot("for_whom") is None:
            # Symptoms told in the message that started the check: "mujhe bukhar hai" is the
            # user, "meri ammi ko khansi hai" someone else. ("Check my symptoms" alone: ask.)
            whom = parse_for_whom(tracker.latest_message.get("text") or "")
            if whom:
                values["for_whom"] = whom
        return values

    def _emergency(self, tracker: Tracker) -> bool:
        """A danger sign named (warning_sign entity), or a message the NLU is sure is an
        emergency and that is not simply an answer to the question ("my mother" for whom)."""
        if entity_values(tracker, "warning_sign"):
            return True
        if latest_intent(tracker) != "emergency" or latest_confidence(tracker) < EMERGENCY_CONFIDENCE:
            return False
        requested = tracker.get_slot(REQUESTED_SLOT)
        return not requested or super().parse_answer(requested, tracker) is None


class ActionStartScreening(Action):
    """Starts a new symptom check: intro, what the user already said, then the form asks."""

    def name(self) -> Text:
        return "action_start_screening"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        if latest_intent(tracker) == "report_symptoms":
            dispatcher.utter_message(response="utter_symptoms_received")
        dispatcher.utter_message(response="utter_screening_intro")
        present = [s for s in ALL_SYMPTOMS if s in entity_values(tracker, "symptom")]
        if present:
            days = entity_values(tracker, "duration_days")
            text = summary(present, float(days[0]) if days else None, current_locale(tracker))
            dispatcher.utter_message(response="utter_symptoms_understood", summary=text)
        return [SlotSet(slot, None) for slot in RESET_SLOTS] + [SlotSet(REQUESTED_SLOT, None)]


class ActionAskMoreSymptoms(Action):
    """Asks which of the symptoms the user has not named yet they also have, as a numbered list.

    The form's other questions are responses that Rasa renders itself, worded for "you" or "they"
    by conditions on ``language`` and ``for_whom`` (``telehealth.i18n``): no remote call."""

    def name(self) -> Text:
        return "action_ask_more_symptoms"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        locale = current_locale(tracker)
        numbers = {s: n for n, s in SYMPTOM_NUMBERS.items()}
        options = "\n".join(f"{numbers[s]}. {term(f'symptom_{s}', locale)}" for s in missing_symptoms(tracker.slots))
        dispatcher.utter_message(response="utter_ask_more_symptoms", options=options)
        return []


class ActionScreeningResult(Action):
    """The end of the check: triage, the answer in the user's language, the stored result."""

    def name(self) -> Text:
        return "action_screening_result"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Events:
        answers = answers_from(tracker)
        result = triage(answers)
        locale = current_locale(tracker)
        screening_id = None
        try:
            from telehealth.privacy import patient_ref
            from telehealth.screenings import save_result

            screening_id = save_result(patient_ref(tracker.sender_id), locale, tracker.get_slot("for_whom"), answers, result)
        except Exception:  # the patient still gets the answer; the operator sees the error
            logger.exception("could not store a screening result (level %s)", result.level.value)
        if result.level is Level.EMERGENCY:
            dispatcher.utter_message(response="utter_result_emergency")
        else:
            reasons = term("list_sep", locale).join(term(f"reason_{r}", locale) for r in result.reasons)
            dispatcher.utter_message(
                response=f"utter_result_{result.level.value}", reasons=reasons
            )
        return [
            SlotSet("screening_level", result.level.value),
            SlotSet("screening_priority", float(result.priority)),
            SlotSet("screening_id", float(screening_id) if screening_id is not None else None),
            SlotSet(FAILURES_SLOT, None),
        ]


def answers_from(tracker: Tracker) -> Answers:
    slots = tracker.slots
    age = slots.get("age")
    days = slots.get("days")
    symptoms = {s for s in CORE_SYMPTOMS if slots.get(s) is True}
    symptoms |= {s for s in slots.get("other_symptoms") or [] if s in OTHER_SYMPTOMS}
    contact = slots.get("contact")
    return Answers(
        warning_signs=slots.get("warning_signs") is True,
        age=int(age) if age is not None else None,
        symptoms=frozenset(symptoms),
        days=int(days) if days is not None else None,
        exposure=Exposure(contact) if contact in ("yes", "no", "unsure") else Exposure.NO,
        comorbidities=frozenset(c for c in slots.get("comorbidities") or [] if c in COMORBIDITIES),
    )


__all__ = ["ValidateScreeningForm", "ActionStartScreening", "ActionScreeningResult", "ActionAskMoreSymptoms"]
