"""Actions, run on tracker fixtures: the events they return and what they say."""
import pytest
from rasa_sdk.events import ActionExecuted, FollowupAction, SessionStarted, SlotSet

from actions.fallback import ActionFallback
from actions.language import ActionValidateSlotMappings
from actions.menu import ActionGreet, ActionSelectOption
from actions.session import ActionSessionStart
from telehealth.i18n import render
from tests.conftest import make_tracker


def responses(dispatcher):
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


async def run(action, dispatcher, tracker):
    return await action.run(dispatcher, tracker, {})


# --- language -------------------------------------------------------------------------

async def test_first_free_text_sets_detected_language_and_tells_how_to_change(dispatcher):
    tracker = make_tracker(
        "mujhe bukhar hai", "report_symptoms",
        language_detection={"locale": "ur-Latn", "confidence": 0.93, "script": "latin"},
    )
    events = await run(ActionValidateSlotMappings(), dispatcher, tracker)
    assert events == [SlotSet("language", "ur-Latn"), SlotSet("language_source", "detected")]
    # The hint is in the new language, not in the old one.
    assert responses(dispatcher) == [render("utter_language_detected", "ur-Latn")]


async def test_no_hint_comes_before_an_emergency_answer(dispatcher):
    tracker = make_tracker(
        "saans nahi aa rahi", "emergency",
        language_detection={"locale": "ur-Latn", "confidence": 0.97, "script": "latin"},
    )
    events = await run(ActionValidateSlotMappings(), dispatcher, tracker)
    assert events == [SlotSet("language", "ur-Latn"), SlotSet("language_source", "detected")]
    assert dispatcher.messages == []


async def test_a_weak_guess_does_not_change_the_language(dispatcher):
    tracker = make_tracker(
        "ok", "affirm", slots={"language": "ur", "language_source": "detected"},
        language_detection={"locale": "en", "confidence": 0.6, "script": "latin"},
    )
    assert await run(ActionValidateSlotMappings(), dispatcher, tracker) == []


async def test_a_short_message_does_not_replace_a_guess(dispatcher):
    tracker = make_tracker(
        "ok thanks", "thank", slots={"language": "ur-Latn", "language_source": "detected"},
        language_detection={"locale": "en", "confidence": 0.95, "script": "latin"},
    )
    assert await run(ActionValidateSlotMappings(), dispatcher, tracker) == []


async def test_a_clear_longer_message_replaces_a_guess(dispatcher):
    tracker = make_tracker(
        "what are the symptoms of covid", "faq", slots={"language": "ur-Latn", "language_source": "detected"},
        language_detection={"locale": "en", "confidence": 0.95, "script": "latin"},
    )
    events = await run(ActionValidateSlotMappings(), dispatcher, tracker)
    assert events == [SlotSet("language", "en"), SlotSet("language_source", "detected")]


async def test_a_chosen_language_is_not_overridden_by_detection(dispatcher):
    tracker = make_tracker(
        "what are the symptoms", "faq", slots={"language": "ps", "language_source": "chosen"},
        language_detection={"locale": "en", "confidence": 0.99, "script": "latin"},
    )
    assert await run(ActionValidateSlotMappings(), dispatcher, tracker) == []


async def test_naming_a_language_chooses_it(dispatcher):
    tracker = make_tracker("سنڌي ۾ ڳالهايو", "choose_language", slots={"language": "ur", "language_source": "chosen"})
    events = await run(ActionValidateSlotMappings(), dispatcher, tracker)
    assert events == [SlotSet("language", "sd"), SlotSet("language_source", "chosen")]


async def test_language_button_payload_chooses_it(dispatcher):
    tracker = make_tracker(
        '/choose_language{"language":"bal"}', "choose_language",
        entities=[{"entity": "language", "value": "bal"}],
    )
    events = await run(ActionValidateSlotMappings(), dispatcher, tracker)
    assert events == [SlotSet("language", "bal"), SlotSet("language_source", "chosen")]


async def test_number_in_the_language_menu_chooses_that_language(dispatcher):
    tracker = make_tracker("3", "select_option", slots={"menu": "language"},
                           entities=[{"entity": "option", "value": "3"}])
    events = await run(ActionValidateSlotMappings(), dispatcher, tracker)
    assert events == [SlotSet("language", "ur-Latn"), SlotSet("language_source", "chosen")]


async def test_number_in_the_main_menu_is_not_a_language(dispatcher):
    tracker = make_tracker("3", "select_option", slots={"menu": "main", "language": "en", "language_source": "chosen"},
                           entities=[{"entity": "option", "value": "3"}])
    assert await run(ActionValidateSlotMappings(), dispatcher, tracker) == []


# --- greeting and menus ---------------------------------------------------------------

async def test_first_contact_gets_welcome_disclaimer_and_language_menu(dispatcher):
    events = await run(ActionGreet(), dispatcher, make_tracker("salam", "greet"))
    assert responses(dispatcher) == ["utter_welcome", "utter_choose_language"]
    assert events == [SlotSet("menu", "language")]


async def test_returning_user_gets_greeting_and_main_menu(dispatcher):
    tracker = make_tracker("salam", "greet", slots={"language": "ur", "language_source": "chosen"})
    events = await run(ActionGreet(), dispatcher, tracker)
    assert responses(dispatcher) == ["utter_greet", "utter_main_menu"]
    assert events == [SlotSet("menu", "main")]


@pytest.mark.parametrize(
    "menu, option, said, menu_after",
    [
        ("main", "1", ["utter_faq_menu"], "faq"),
        ("main", "2", [], None),  # the symptom check: follow-up action_start_screening
        ("main", "3", [], None),  # talking to a doctor: follow-up action_start_consult
        ("main", "4", ["utter_choose_language"], "language"),
        ("main", "5", ["utter_faq/helplines"], None),
        ("main", "0", ["utter_main_menu"], "main"),
        ("main", "9", ["utter_main_menu"], "main"),       # no such option: the menu again
        (None, "2", [], None),  # no menu shown yet: the main menu
        ("faq", "2", ["utter_faq/symptoms"], None),
        ("faq", "7", ["utter_faq/vaccine"], None),
        ("faq", "10", ["utter_faq/helplines"], None),
        ("faq", "11", ["utter_faq_menu"], "faq"),
        ("language", "2", ["utter_language_changed", "utter_main_menu"], "main"),
        ("language", "9", ["utter_choose_language"], "language"),
    ],
)
async def test_menu_numbers(dispatcher, menu, option, said, menu_after):
    tracker = make_tracker(option, "select_option", slots={"menu": menu},
                           entities=[{"entity": "option", "value": option}])
    events = await run(ActionSelectOption(), dispatcher, tracker)
    assert responses(dispatcher) == said
    if option == "2" and menu in ("main", None):
        assert events == [FollowupAction("action_start_screening")]
    elif option == "3" and menu == "main":
        assert events == [FollowupAction("action_start_consult")]
    else:
        assert events == ([SlotSet("menu", menu_after)] if menu_after else [])


async def test_a_button_names_its_menu_whatever_was_shown_last(dispatcher):
    tracker = make_tracker('/select_option{"menu":"faq","option":"4"}', "select_option", slots={"menu": "main"},
                           entities=[{"entity": "menu", "value": "faq"}, {"entity": "option", "value": "4"}])
    await run(ActionSelectOption(), dispatcher, tracker)
    assert responses(dispatcher) == ["utter_faq/prevention"]


# --- fallback ---------------------------------------------------------------------------

def _not_understood(text):
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "nlu_fallback"}}}


async def test_fallback_first_asks_to_rephrase(dispatcher):
    tracker = make_tracker("asdf qwer", "nlu_fallback",
                           events=[{"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}}}])
    assert await run(ActionFallback(), dispatcher, tracker) == []
    assert responses(dispatcher) == ["utter_rephrase"]


async def test_out_of_scope_first_says_what_the_bot_does(dispatcher):
    await run(ActionFallback(), dispatcher, make_tracker("cricket score?", "out_of_scope"))
    assert responses(dispatcher) == ["utter_out_of_scope"]


async def test_fallback_second_time_offers_menu_and_helpline(dispatcher):
    tracker = make_tracker("zzz yyy", "nlu_fallback", events=[_not_understood("xxx")])
    events = await run(ActionFallback(), dispatcher, tracker)
    assert responses(dispatcher) == ["utter_fallback_menu", "utter_main_menu"]
    assert events == [SlotSet("menu", "main")]


@pytest.mark.parametrize("text", ["", "😷🤒👍", "!!!", "   "])
async def test_messages_without_words_get_a_polite_answer(dispatcher, text):
    await run(ActionFallback(), dispatcher, make_tracker(text, "nlu_fallback"))
    assert responses(dispatcher) == ["utter_bad_input", "utter_main_menu"]


# --- sessions ---------------------------------------------------------------------------

async def test_new_session_remembers_language_only(dispatcher):
    tracker = make_tracker("", None, slots={"language": "ps", "language_source": "chosen", "menu": "faq"})
    events = await run(ActionSessionStart(), dispatcher, tracker)
    assert events == [
        SessionStarted(), SlotSet("language", "ps"), SlotSet("language_source", "chosen"), ActionExecuted("action_listen"),
    ]
