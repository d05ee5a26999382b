"""Helpers shared by the actions."""
from __future__ import annotations

from typing import Any, Optional, Text

from rasa_sdk import Tracker

from telehealth.i18n import LOCALES, SOURCE_LOCALE


def current_locale(tracker: Tracker) -> Text:
    locale = tracker.get_slot("language")
    return locale if locale in LOCALES else SOURCE_LOCALE


def latest_entity(tracker: Tracker, entity: Text) -> Optional[Any]:
    return next(tracker.get_latest_entity_values(entity), None)


def latest_intent(tracker: Tracker) -> Optional[Text]:
    return (tracker.latest_message.get("intent") or {}).get("name")
