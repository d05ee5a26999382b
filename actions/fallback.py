"""Two-stage fallback: first ask to rephrase, then offer the menu and a person."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.menu import show_main_menu
from telehealth.text import has_words

NOT_UNDERSTOOD = {"nlu_fallback", "out_of_scope"}


def consecutive_misunderstandings(tracker: Tracker) -> int:
    """How many user messages in a row, up to the latest, were not understood."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent not in NOT_UNDERSTOOD:
            break
        count += 1
    return count


class ActionFallback(Action):
    def name(self) -> Text:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        text = tracker.latest_message.get("text") or ""
        if not has_words(text):
            # Empty, only emoji, a sticker's placeholder: nothing to rephrase.
            dispatcher.utter_message(response="utter_bad_input")
            return show_main_menu(dispatcher)
        if consecutive_misunderstandings(tracker) <= 1:
            intent = (tracker.latest_message.get("intent") or {}).get("name")
            dispatcher.utter_message(response="utter_out_of_scope" if intent == "out_of_scope" else "utter_rephrase")
            return []
        dispatcher.utter_message(response="utter_fallback_menu")
        return show_main_menu(dispatcher)
