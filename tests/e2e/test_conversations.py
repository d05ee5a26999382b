"""Whole conversations through the real Rasa server, action server and trained model.

These prove that what a user receives is each locale's own catalog text, which the
conversation tests (`rasa test`) cannot: they never run the actions or render responses.
"""
from __future__ import annotations

import itertools

import pytest

from telehealth.i18n import LOCALES, catalogs, render
from tests.conftest import load_phrases

pytestmark = pytest.mark.e2e
PHRASES = load_phrases()
_ids = itertools.count()


def new_user() -> str:
    return f"e2e-user-{next(_ids)}"


@pytest.mark.parametrize("locale", LOCALES)
def test_locale_chosen_by_button_then_faq_and_emergency_answers_in_that_locale(bot, locale):
    user = new_user()
    first = bot.texts(user, PHRASES[locale]["greet"][0])
    assert any("1122" in t for t in first), "the welcome names the emergency number"
    assert render("utter_choose_language", "en").splitlines()[1] in "\n".join(first)

    replies = bot.say(user, f'/choose_language{{"language":"{locale}"}}')
    assert [r["text"] for r in replies] == [render("utter_language_changed", locale), render("utter_main_menu", locale)]
    menu = catalogs()[locale].responses["utter_main_menu"][0]["buttons"]
    assert replies[1]["buttons"] == menu, "buttons arrive with the locale's titles and literal payloads"

    assert bot.texts(user, PHRASES[locale]["faq/symptoms"][0]) == [render("utter_faq/symptoms", locale)]
    assert bot.texts(user, PHRASES[locale]["emergency"][0]) == [render("utter_emergency", locale)]
    assert bot.texts(user, "5") == [render("utter_faq/helplines", locale)]
    assert bot.slots(user)["language"] == locale


def test_first_free_text_in_roman_urdu_is_answered_in_roman_urdu(bot):
    user = new_user()
    replies = bot.texts(user, "mujhe 3 din se bukhar hai")
    assert replies[0] == render("utter_language_detected", "ur-Latn")
    assert render("utter_symptoms_received", "ur-Latn") in replies
    slots = bot.slots(user)
    assert (slots["language"], slots["language_source"]) == ("ur-Latn", "detected")


def test_first_free_text_in_english_is_answered_in_english(bot):
    user = new_user()
    replies = bot.texts(user, "I have had a fever for three days")
    assert render("utter_symptoms_received", "en") in replies


@pytest.mark.parametrize("word", ["language", "zaban", "زبان"])
def test_language_can_be_changed_from_any_locale_and_number_picks_it(bot, word):
    user = new_user()
    bot.texts(user, '/choose_language{"language":"ps"}')
    assert bot.texts(user, word)[0] == render("utter_choose_language", "ps")
    replies = bot.texts(user, "۶")  # Sindhi is 6th, typed in Urdu digits
    assert replies[0] == render("utter_language_changed", "sd")
    assert bot.slots(user)["language"] == "sd"


def test_language_is_remembered_in_the_next_conversation(bot):
    user = new_user()
    bot.texts(user, '/choose_language{"language":"bal"}')
    bot.texts(user, "/session_start")
    replies = bot.texts(user, "salam")
    assert replies == [render("utter_greet", "bal"), render("utter_main_menu", "bal")]


def test_menu_numbers_and_faq_numbers(bot):
    user = new_user()
    bot.texts(user, '/choose_language{"language":"ur"}')
    assert bot.texts(user, "1") == [render("utter_faq_menu", "ur")]
    assert bot.texts(user, "۷") == [render("utter_faq/vaccine", "ur")]
    assert bot.texts(user, "0") == [render("utter_main_menu", "ur")]
    # Talking to a doctor: the questions start (on the REST channel there is no number to reuse).
    assert bot.texts(user, "3") == [render("utter_consult_intro", "ur"), render("utter_ask_callback_choice", "ur")]


def test_two_stage_fallback(bot):
    user = new_user()
    bot.texts(user, '/choose_language{"language":"en"}')
    first = bot.texts(user, "qwertz blorp zzzz")
    second = bot.texts(user, "xkcd plumbus grrr")
    assert first[0] in (render("utter_rephrase", "en"), render("utter_out_of_scope", "en"))
    assert second[:2] == [render("utter_fallback_menu", "en"), render("utter_main_menu", "en")]


@pytest.mark.parametrize(
    "text",
    ["", "😷🤒🙏", "a" * 5000, "bukhar " * 800, "你好，我发烧了", "मुझे बुखार है", "\u200c\u200f"],
)
def test_bad_input_gets_a_polite_answer_in_the_current_locale(bot, text):
    user = new_user()
    bot.texts(user, '/choose_language{"language":"ur"}')
    replies = bot.texts(user, text)
    assert replies, "every message gets an answer"
    ur_texts = {render(k, "ur") for k in (
        "utter_bad_input", "utter_main_menu", "utter_rephrase", "utter_out_of_scope", "utter_fallback_menu",
        "utter_symptoms_received", "utter_faq/symptoms", "utter_screening_intro", "utter_ask_warning_signs",
    )}
    # A message full of a symptom word starts the symptom check: "You said: …" then the questions.
    said = render("utter_symptoms_understood", "ur").split("{")[0]
    assert all(t in ur_texts or t.startswith(said) for t in replies if t), replies
    assert bot.slots(user)["language"] == "ur"


@pytest.mark.parametrize(
    "text, locale",
    [("I can't breathe", "en"), ("saans nahi aa rahi", "ur-Latn"), ("سانس نہیں آ رہی", "ur")],
)
def test_emergency_as_first_message_is_answered_with_1122_at_once(bot, text, locale):
    replies = bot.texts(new_user(), text)
    assert replies == [render("utter_emergency", locale)]
    assert "1122" in replies[0]


def test_a_button_keeps_the_detected_language(bot):
    user = new_user()
    # Symptoms start the symptom check; a main-menu button pressed then leaves it for that option.
    bot.texts(user, "مجھے تین دن سے بخار ہے")
    assert bot.slots(user)["language"] == "ur"
    assert bot.texts(user, '/select_option{"menu":"main","option":"5"}') == [render("utter_faq/helplines", "ur")]
    assert bot.slots(user)["language"] == "ur"
