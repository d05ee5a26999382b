"""Menus, greetings and the services a menu option leads to."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff
from actions.common import latest_entity
from telehealth.menus import FAQ, LANGUAGE, MAIN, resolve_option

Events = List[Dict[Text, Any]]


def show_main_menu(dispatcher: CollectingDispatcher) -> Events:
    dispatcher.utter_message(response="utter_main_menu")
    return [SlotSet("menu", MAIN)]


def show_language_menu(dispatcher: CollectingDispatcher) -> Events:
    dispatcher.utter_message(response="utter_choose_language")
    return [SlotSet("menu", LANGUAGE)]


def show_faq_menu(dispatcher: CollectingDispatcher) -> Events:
    dispatcher.utter_message(response="utter_faq_menu")
    return [SlotSet("menu", FAQ)]


def language_changed(dispatcher: CollectingDispatcher) -> Events:
    dispatcher.utter_message(response="utter_language_changed")
    return show_main_menu(dispatcher)


def start_screening(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    # The symptom check (actions/screening.py) starts with its own action, then the form.
    return [FollowupAction("action_start_screening")]


def request_doctor(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    # Talking to a doctor (actions/handoff.py) starts with its own action, then the form.
    return [FollowupAction("action_start_consult")]


def faq_answer(dispatcher: CollectingDispatcher, topic: Text) -> Events:
    dispatcher.utter_message(response=f"utter_faq/{topic}")
    return []


_TARGETS = {
    "main_menu": show_main_menu,
    "language_menu": show_language_menu,
    "faq_menu": show_faq_menu,
}
_TRACKER_TARGETS = {
    "start_screening": start_screening,
    "request_doctor": request_doctor,
}


def run_target(dispatcher: CollectingDispatcher, target: Text, tracker: Tracker) -> Events:
    kind, _, arg = target.partition(":")
    if kind == "faq":
        return faq_answer(dispatcher, arg)
    if kind == "language":
        # action_validate_slot_mappings has already switched the language on this message.
        return language_changed(dispatcher)
    if kind == "consult_sla":
        return handoff.sla_choice(dispatcher, tracker, int(arg))
    if target in _TRACKER_TARGETS:
        return _TRACKER_TARGETS[target](dispatcher, tracker)
    return _TARGETS[target](dispatcher)


class _TargetAction(Action):
    """An action that runs one menu target; the same target a menu number leads to."""

    target: Text = ""
    action_name: Text = ""

    def name(self) -> Text:
        return self.action_name

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        return run_target(dispatcher, self.target, tracker)


class ActionShowMenu(_TargetAction):
    action_name, target = "action_show_menu", "main_menu"


class ActionShowLanguageMenu(_TargetAction):
    action_name, target = "action_show_language_menu", "language_menu"


class ActionShowFaqMenu(_TargetAction):
    action_name, target = "action_show_faq_menu", "faq_menu"


class ActionLanguageChanged(Action):
    def name(self) -> Text:
        return "action_language_changed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        return language_changed(dispatcher)


class ActionGreet(Action):
    """First contact: welcome, disclaimer and the language menu; later: a greeting and the menu."""

    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        if tracker.get_slot("language_source") != "chosen":
            dispatcher.utter_message(response="utter_welcome")
            return show_language_menu(dispatcher)
        dispatcher.utter_message(response="utter_greet")
        return show_main_menu(dispatcher)


class ActionSelectOption(Action):
    """A number or a menu button: read it against the menu it answers."""

    def name(self) -> Text:
        return "action_select_option"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        menu = latest_entity(tracker, "menu") or tracker.get_slot("menu") or MAIN
        option = str(latest_entity(tracker, "option") or "")
        if latest_entity(tracker, "menu") is None and option.isdigit():
            # A bare number right after the feedback question (sent outside the conversation) is a rating.
            rated = handoff.typed_rating(tracker, int(option))
            if rated is not None:
                return rated
        target = resolve_option(menu, int(option)) if option.isdigit() else None
        if target is None:
            # A number the menu does not have: show that menu again.
            return run_target(dispatcher, {LANGUAGE: "language_menu", FAQ: "faq_menu"}.get(menu, "main_menu"), tracker)
        return run_target(dispatcher, target, tracker)
