"""Helpers shared by the actions."""
from __future__ import annotations

from abc import abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa_sdk import Tracker
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from telehealth.i18n import LOCALES, SOURCE_LOCALE

DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"


@lru_cache(maxsize=1)
def local_domain() -> Dict[Text, Any]:
    """domain.yml as this action server has it (the same commit as the model it serves).

    Rasa sends its domain (600 KB with the eight locales' responses) with an action call only to
    actions that ask for it (``enable_selective_domain`` in endpoints.yml); none of ours does: the
    forms read their questions from this file instead (README: make bench)."""
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8")) or {}


class LocalFormSlots(FormValidationAction):
    """A form validation action whose form's questions come from ``local_domain`` when Rasa did
    not send its domain."""

    @abstractmethod
    def name(self) -> Text:
        """``validate_<form name>``."""

    def domain_slots(self, domain: DomainDict) -> List[Text]:
        return super().domain_slots(domain if domain.get("forms") else local_domain())


def current_locale(tracker: Tracker) -> Text:
    locale = tracker.get_slot("language")
    return locale if locale in LOCALES else SOURCE_LOCALE


def latest_entity(tracker: Tracker, entity: Text) -> Optional[Any]:
    return next(tracker.get_latest_entity_values(entity), None)


def latest_intent(tracker: Tracker) -> Optional[Text]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_confidence(tracker: Tracker) -> float:
    return (tracker.latest_message.get("intent") or {}).get("confidence") or 0.0
