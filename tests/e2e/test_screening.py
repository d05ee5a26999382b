"""The symptom check end to end: real Rasa server, action server, trained model and database.

Each answer is what a user in that locale would type (held-out yes/no phrases, numbers in the
locale's digits); the replies must be the locale's catalog texts, the triage must be right, and
the result must be stored without the phone number.
"""
from __future__ import annotations

import itertools

import pytest

from telehealth import db
from telehealth.i18n import LOCALES, render
from tests.conftest import load_phrases

pytestmark = pytest.mark.e2e
PHRASES = load_phrases()
_ids = itertools.count()
URDU_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def new_user(locale: str, bot) -> str:
    user = f"+92300{next(_ids):07d}"  # senders are phone numbers on WhatsApp
    bot.texts(user, f'/choose_language{{"language":"{locale}"}}')
    return user


def num(locale: str, n: int) -> str:
    return str(n) if locale in ("en", "ur-Latn") else str(n).translate(URDU_DIGITS)


def head(key: str, locale: str) -> str:
    """The fixed start of a response text (before any {placeholder})."""
    return render(key, locale).split("{")[0].strip()


def asked(replies: list[str], key: str, locale: str) -> bool:
    return any(r.startswith(head(key, locale)) for r in replies)


@pytest.mark.parametrize("locale", LOCALES)
def test_whole_check_in_every_locale(bot, locale):
    p = PHRASES[locale]
    user = new_user(locale, bot)
    replies = bot.texts(user, p["start_screening"][0])
    assert asked(replies, "utter_screening_intro", locale)
    assert replies[-1] == render("utter_ask_warning_signs", locale)
    script = [
        (p["deny"][0], "utter_ask_for_whom"),
        (num(locale, 1), "utter_ask_age"),
        (num(locale, 34), "utter_ask_fever"),
        (p["affirm"][0], "utter_ask_cough"),
        (p["affirm"][1], "utter_ask_sore_throat"),
        (p["deny"][1], "utter_ask_breathing"),
        (p["deny"][2], "utter_ask_taste_smell"),
        (p["deny"][0], "utter_ask_other_symptoms"),
        (num(locale, 0), "utter_ask_days"),
        (num(locale, 3), "utter_ask_contact"),
        (num(locale, 1), "utter_ask_comorbidities"),
    ]
    for answer, next_question in script:
        replies = bot.texts(user, answer)
        assert replies and replies[-1] == render(next_question, locale), (answer, replies)
    replies = bot.texts(user, num(locale, 0))
    # fever + cough + contact: HealthCheck "two symptoms and contact" -> high
    assert replies[-1].startswith(head("utter_result_high", locale)), replies
    assert "1166" in replies[-1] and "1122" in replies[-1]
    slots = bot.slots(user)
    assert (slots["screening_level"], slots["fever"], slots["cough"], slots["contact"]) == ("high", True, True, "yes")
    assert len(script) + 1 <= 12, "a whole check is at most 12 answers"
    with db.session_scope(bot.database_url) as session:
        rows = session.query(db.ScreeningResult).filter_by(locale=locale).all()
    assert any(r.level == "high" and r.symptoms == ["cough", "fever"] for r in rows)
    assert all(user.lstrip("+") not in r.patient_ref for r in rows)


def test_symptoms_told_first_take_five_answers_and_are_confirmed(bot):
    user = new_user("ur-Latn", bot)
    replies = bot.texts(user, "mujhe 3 din se bukhar aur khansi hai")
    assert asked(replies, "utter_symptoms_understood", "ur-Latn")
    assert replies[-1] == render("utter_ask_warning_signs", "ur-Latn")
    answers = ["nahi", "34", "0", "2", "0"]
    for answer in answers:
        replies = bot.texts(user, answer)
    assert replies[-1].startswith(head("utter_result_moderate", "ur-Latn")), replies
    slots = bot.slots(user)
    assert (slots["fever"], slots["cough"], slots["days"], slots["for_whom"]) == (True, True, 3, "self")


def test_a_danger_sign_ends_the_check_with_1122(bot):
    user = new_user("ur", bot)
    bot.texts(user, PHRASES["ur"]["start_screening"][1])
    replies = bot.texts(user, "جی ہاں")
    assert replies == [render("utter_result_emergency", "ur")]
    assert bot.slots(user)["screening_level"] == "emergency"


def test_emergency_told_mid_check(bot):
    user = new_user("en", bot)
    bot.texts(user, "check my symptoms")
    bot.texts(user, "no")
    replies = bot.texts(user, "my father cannot breathe")
    assert replies == [render("utter_result_emergency", "en")]


def test_a_question_mid_check_is_answered_then_the_check_goes_on(bot):
    user = new_user("ur-Latn", bot)
    bot.texts(user, "symptoms check karna hai")
    bot.texts(user, "nahi")
    replies = bot.texts(user, PHRASES["ur-Latn"]["faq/spread"][0])
    assert replies == [render("utter_faq/spread", "ur-Latn"), render("utter_ask_for_whom", "ur-Latn")]
    assert bot.texts(user, "1")[-1] == render("utter_ask_age", "ur-Latn")


def test_stop_leaves_the_check(bot):
    user = new_user("ps", bot)
    bot.texts(user, PHRASES["ps"]["start_screening"][0])
    replies = bot.texts(user, PHRASES["ps"]["stop"][0])
    assert replies == [render("utter_screening_stopped", "ps"), render("utter_main_menu", "ps")]
    assert bot.slots(user)["requested_slot"] is None


def test_for_someone_else_the_questions_say_they(bot):
    user = new_user("en", bot)
    bot.texts(user, "/start_screening")
    bot.texts(user, "no")
    assert bot.texts(user, "my mother")[-1] == render("utter_ask_age_other", "en")
    assert bot.texts(user, "seventy")[-1] == render("utter_ask_fever_other", "en")


def test_unclear_answer_is_asked_again_with_an_example(bot):
    user = new_user("en", bot)
    bot.texts(user, "/start_screening")
    bot.texts(user, "no")
    bot.texts(user, "1")
    replies = bot.texts(user, "hmm")
    assert replies == [render("utter_unclear_age", "en"), render("utter_ask_age", "en")]


def test_the_menu_number_starts_the_check(bot):
    user = new_user("sd", bot)
    bot.texts(user, "/help")
    replies = bot.texts(user, "۲")
    assert replies[0] == render("utter_screening_intro", "sd")
    assert replies[-1] == render("utter_ask_warning_signs", "sd")
