"""The user's language: chosen explicitly, or guessed from free text until they choose."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import latest_entity, latest_intent
from telehealth.i18n import LOCALES, render, resolve_language
from telehealth.menus import LANGUAGE, may_choose_language, resolve_option

#: Confidence the detector needs to set a first guess, and to replace an earlier guess;
#: a replacement also needs a message of a few words ("ok", "thanks" fit many locales).
FIRST_GUESS = 0.5
CHANGE_GUESS = 0.8
CHANGE_MIN_WORDS = 3
#: No hint before these answers: they show the language menu already, or (an emergency)
#: nothing may come before them.
_NO_HINT_INTENTS = {"greet", "change_language", "choose_language", "select_option", "emergency"}


def chosen_language(tracker: Tracker) -> Optional[Text]:
    """The locale the latest message explicitly chooses, if it chooses one."""
    intent = latest_intent(tracker)
    if not may_choose_language(intent, latest_entity(tracker, "menu")):
        return None
    if intent == "choose_language":
        return resolve_language(latest_entity(tracker, "language")) or resolve_language(
            tracker.latest_message.get("text")
        )
    if intent == "select_option":
        menu = latest_entity(tracker, "menu") or tracker.get_slot("menu")
        option = latest_entity(tracker, "option")
        if menu == LANGUAGE and option is not None and str(option).isdigit():
            target = resolve_option(LANGUAGE, int(option)) or ""
            if target.startswith("language:"):
                return target.split(":", 1)[1]
    return None


class ActionValidateSlotMappings(Action):
    """Sets the language on every user message.

    Rasa runs ``action_validate_slot_mappings`` after each user message, once slot mappings
    are extracted, and, unlike a custom mapping action, lets it send a message too: the
    "I am answering in Roman Urdu" hint, rendered in the new language. Once the user chose a
    language, only a message that may choose another can change anything: the Rasa server
    does not call this action for the others (``telehealth/rasa_runtime.py``).
    """

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        current = tracker.get_slot("language")
        chosen = chosen_language(tracker)
        if chosen:
            return [SlotSet("language", chosen), SlotSet("language_source", "chosen")]
        if tracker.get_slot("language_source") == "chosen":
            return []
        detection = tracker.latest_message.get("language_detection") or {}
        guess, confidence = detection.get("locale"), detection.get("confidence") or 0.0
        if guess not in LOCALES or guess == current:
            return []
        if current is None:
            if confidence < FIRST_GUESS:
                return []
        elif confidence < CHANGE_GUESS or len((tracker.latest_message.get("text") or "").split()) < CHANGE_MIN_WORDS:
            return []
        if latest_intent(tracker) not in _NO_HINT_INTENTS:
            dispatcher.utter_message(text=render("utter_language_detected", guess))
        return [SlotSet("language", guess), SlotSet("language_source", "detected")]
