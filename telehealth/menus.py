"""The numbered menus the assistant shows, as plain data.

A user answers a menu with a number ("2", "۲") or a button whose payload names the menu
and the option, so the same choice works on WhatsApp, the REST channel and the shell.
Each option names the target the actions layer runs for it.
"""
from __future__ import annotations

from telehealth.i18n import LOCALES

MAIN = "main"
LANGUAGE = "language"
FAQ = "faq"
#: Buttons of the notification sent when no doctor took a request in time (telehealth.notify).
CONSULT_SLA = "consult_sla"

FAQ_TOPICS = (
    "what_is_covid",
    "symptoms",
    "spread",
    "prevention",
    "testing",
    "treatment",
    "vaccine",
    "isolation",
    "myths",
    "helplines",
)

#: option number -> target, per menu. 0 always means "back to the main menu".
MENUS: dict[str, dict[int, str]] = {
    MAIN: {1: "faq_menu", 2: "start_screening", 3: "request_doctor", 4: "language_menu", 5: "faq:helplines"},
    FAQ: {i: f"faq:{topic}" for i, topic in enumerate(FAQ_TOPICS, start=1)},
    LANGUAGE: {i: f"language:{tag}" for i, tag in enumerate(LOCALES, start=1)},
    CONSULT_SLA: {1: "consult_sla:1", 2: "consult_sla:2"},
}


def resolve_option(menu: str | None, option: int) -> str | None:
    """The target of ``option`` in ``menu`` (the main menu when none was shown), or None."""
    if option == 0:
        return "main_menu"
    return MENUS.get(menu or MAIN, MENUS[MAIN]).get(option)


def may_choose_language(intent: str | None, menu_entity: str | None) -> bool:
    """Whether a message with this intent can choose a language explicitly: "choose_language", or
    a menu answer that is not known to be for another menu (without a ``menu`` entity the menu
    shown last decides)."""
    return intent == "choose_language" or (intent == "select_option" and menu_entity in (None, LANGUAGE))

