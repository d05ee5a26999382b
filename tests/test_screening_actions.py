"""The screening form's validation, questions and result, on tracker fixtures.

Entities are produced by the real extractor (telehealth.symptoms), as the NLU pipeline would.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.screening import (
    ActionAskMoreSymptoms, ActionScreeningResult, ActionStartScreening, ValidateScreeningForm, answers_from,
)
from telehealth import db
from telehealth.i18n import LOCALES, render, term
from telehealth.symptoms import extract
from tests.conftest import ROOT, make_tracker

DOMAIN: dict = {}  # what Rasa sends (enable_selective_domain): the forms read domain.yml


def nlu_entities(text: str, option: Optional[int] = None) -> list:
    ents = [{"entity": e, "value": v, "start": s, "end": t} for s, t, e, v in extract(text).spans]
    if option is not None:
        ents.append({"entity": "option", "value": str(option)})
    return ents


ORDER = ["warning_signs", "for_whom", "age", "fever", "cough", "sore_throat", "breathing", "taste_smell",
         "other_symptoms", "days", "contact", "comorbidities"]
DEFAULTS = {"warning_signs": False, "for_whom": "self", "age": 30, "fever": True, "cough": False,
            "sore_throat": False, "breathing": False, "taste_smell": False, "other_symptoms": [], "days": 3,
            "contact": "no"}


def tracker(text: str, intent: Optional[str] = "inform", requested: Optional[str] = None,
            slots: Optional[Dict[str, Any]] = None, option: Optional[int] = None, **kw):
    """The form asking ``requested``, the questions before it answered with DEFAULTS unless given."""
    before = {k: DEFAULTS[k] for k in ORDER[:ORDER.index(requested)]} if requested in ORDER else {}
    all_slots = {**before, "requested_slot": requested, "language": "ur-Latn", **(slots or {})}
    return make_tracker(text, intent, slots=all_slots, entities=nlu_entities(text, option), **kw)


async def form_step(t) -> tuple[dict, CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await ValidateScreeningForm().run(dispatcher, t, DOMAIN)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, dispatcher


def said(dispatcher) -> list:
    return [m.get("response") for m in dispatcher.messages]


# --- what the user already said fills the form -------------------------------------------

async def test_symptoms_told_first_fill_the_form_and_are_not_asked_again():
    t = tracker("mujhe 3 din se bukhar aur khansi hai", "report_symptoms", latest_action_name="action_start_screening")
    slots, _ = await form_step(t)
    assert slots["fever"] is True and slots["cough"] is True
    assert slots["days"] == 3
    assert slots["for_whom"] == "self"
    assert slots["symptoms_named"] is True
    assert slots["requested_slot"] == "warning_signs"


async def test_after_symptoms_told_first_one_question_covers_the_rest():
    done = {"warning_signs": False, "for_whom": "self", "age": 40, "fever": True, "cough": True,
            "symptoms_named": True, "days": 3}
    slots, _ = await form_step(tracker("34", "select_option", requested="age", slots={**done, "age": None}, option=34))
    assert slots["age"] == 34 and slots["requested_slot"] == "more_symptoms"
    slots, _ = await form_step(tracker("3 5", "inform", requested="more_symptoms", slots=done))
    assert slots["more_symptoms"] == ["sore_throat", "taste_smell"]
    assert (slots["sore_throat"], slots["taste_smell"], slots["breathing"]) == (True, True, False)
    assert slots["other_symptoms"] == []
    assert slots["requested_slot"] == "contact"


async def test_someone_else_named_in_the_first_message():
    t = tracker("meri ammi ko 2 din se bukhar hai", "report_symptoms", latest_action_name="action_start_screening")
    slots, _ = await form_step(t)
    assert slots["for_whom"] == "other" and slots["fever"] is True and slots["days"] == 2


# --- yes/no answers in every locale ------------------------------------------------------

@pytest.mark.parametrize(
    "text, intent, expected",
    [
        ("haan", "affirm", True), ("jee", "affirm", True), ("ji haan", "affirm", True), ("yes", "affirm", True),
        ("نہیں", "deny", False), ("ہاں جی", "affirm", True), ("هو", "affirm", True), ("ها", "affirm", True),
        ("na", "deny", False), ("nahi", "deny", False), ("no", "deny", False), ("ji nahi", "deny", False),
        ("آہو", "affirm", True), ("نئیں", "deny", False), ("نه", "deny", False), ("ناهي", "deny", False),
        ("bukhar nahi hai", "deny", False), ("haan bukhar hai", "report_symptoms", True),
        ("tez bukhar hai", "report_symptoms", True),
    ],
)
async def test_yes_no_answers_to_the_fever_question(text, intent, expected):
    slots, dispatcher = await form_step(tracker(text, intent, requested="fever", slots={"warning_signs": False}))
    assert slots["fever"] is expected
    assert said(dispatcher) == []


@pytest.mark.parametrize("option, expected", [(1, True), (2, False)])
async def test_buttons_and_numbers_answer_yes_no(option, expected):
    slots, _ = await form_step(tracker(str(option), "select_option", requested="cough", option=option))
    assert slots["cough"] is expected


async def test_other_symptoms_told_while_asked_about_fever_are_kept_and_fever_asked_again():
    slots, dispatcher = await form_step(tracker("khansi nahi hai", "deny", requested="fever"))
    assert slots["cough"] is False
    assert slots["fever"] is None and slots["requested_slot"] == "fever"
    assert said(dispatcher) == [], "no reproach when the user told us something useful"


async def test_contact_not_sure():
    slots, _ = await form_step(tracker("pata nahi", "deny", requested="contact"))
    assert slots["contact"] == "unsure"
    slots, _ = await form_step(tracker("3", "select_option", requested="contact", option=3))
    assert slots["contact"] == "unsure"


# --- numbers in any digit system and number words ---------------------------------------

@pytest.mark.parametrize("text, age", [("45", 45), ("۴۵", 45), ("٤٥", 45), ("pachaas", 50), ("45 saal", 45),
                                       ("meri umar 67 hai", 67), ("sixty five", 65), ("ساٹھ", 60)])
async def test_ages(text, age):
    slots, _ = await form_step(tracker(text, "inform", requested="age"))
    assert slots["age"] == age


@pytest.mark.parametrize("text, days", [("3", 3), ("۳ دن", 3), ("teen din", 3), ("ek hafta", 7),
                                        ("2 weeks", 14), ("kal se", 1), ("do din se", 2)])
async def test_days(text, days):
    slots, _ = await form_step(tracker(text, "inform", requested="days", slots={"fever": True}))
    assert slots["days"] == days


@pytest.mark.parametrize("text, whom", [("meri ammi", "other"), ("mere liye", "self"), ("my father", "other"),
                                        ("for me", "self"), ("میری امی کے لیے", "other")])
async def test_for_whom(text, whom):
    slots, _ = await form_step(tracker(text, "inform", requested="for_whom"))
    assert slots["for_whom"] == whom


@pytest.mark.parametrize(
    "slot, text, value",
    [("other_symptoms", "1 4", ["fatigue", "headache"]), ("other_symptoms", "0", []),
     ("other_symptoms", "nahi", []), ("other_symptoms", "sar dard hai", ["headache"]),
     ("comorbidities", "1, 2", ["diabetes", "hypertension"]), ("comorbidities", "sugar aur bp", ["diabetes", "hypertension"]),
     ("comorbidities", "۷", ["pregnancy"]), ("comorbidities", "koi nahi", [])],
)
async def test_multi_select_answers(slot, text, value):
    slots, _ = await form_step(tracker(text, "inform", requested=slot))
    assert slots[slot] == value


# --- unhappy paths ------------------------------------------------------------------------

async def test_a_danger_sign_at_any_question_ends_the_form():
    slots, _ = await form_step(tracker("ammi ki saans nahi aa rahi", "emergency", requested="age",
                                       slots={"warning_signs": False, "for_whom": "other"}))
    assert slots["warning_signs"] is True
    assert slots["requested_slot"] is None, "the form ends: the emergency result follows"


async def test_no_to_danger_signs_does_not_hide_one_named_in_the_answer():
    slots, _ = await form_step(tracker("saans nahi aa rahi", "emergency", requested="warning_signs"))
    assert slots["warning_signs"] is True


async def test_a_question_mid_form_is_left_to_the_rules():
    slots, dispatcher = await form_step(tracker("corona kaise phailta hai", "faq", requested="fever"))
    assert slots == {"requested_slot": "fever"}, "nothing filled: Rasa rejects the form and the FAQ rule answers"
    assert said(dispatcher) == []


@pytest.mark.parametrize("confidence, interrupts", [(0.38, False), (0.9, True)])
async def test_a_weak_guess_is_an_unclear_answer_not_an_interruption(confidence, interrupts):
    """"hmm" while the age is asked: greet at 0.38 is a guess (asked again with an example); a
    greeting the NLU is sure of is left to the rules."""
    slots, dispatcher = await form_step(tracker("hmm", "greet", requested="age", confidence=confidence))
    if interrupts:
        assert slots == {"requested_slot": "age"} and said(dispatcher) == []
    else:
        assert slots["age"] is None and said(dispatcher) == ["utter_unclear_age"]


async def test_stop_is_left_to_the_rules():
    slots, _ = await form_step(tracker("stop", "stop", requested="age"))
    assert slots == {"requested_slot": "age"}


async def test_when_the_form_resumes_the_faq_question_is_not_read_as_an_answer():
    t = tracker("bukhar ka ilaj kya hai", "faq", requested="cough", latest_action_name="utter_faq")
    slots, _ = await form_step(t)
    assert slots == {"requested_slot": "cough"}


async def test_unclear_answers_are_asked_again_with_an_example_then_a_doctor_is_offered():
    failures = 0
    for attempt in range(1, 4):
        slots, dispatcher = await form_step(tracker("kuch samajh nahi aya", "out_of_scope", requested="age",
                                                    slots={"form_failures": failures}))
        failures = slots["form_failures"]
        assert slots["age"] is None and slots["requested_slot"] == "age"
        expected = ["utter_unclear_age"] + (["utter_screening_offer_doctor"] if attempt == 3 else [])
        assert said(dispatcher) == expected
    assert failures == 0, "the count starts again after the offer"


async def test_a_good_answer_resets_the_failure_count():
    slots, _ = await form_step(tracker("40", "select_option", requested="age", slots={"form_failures": 2}, option=40))
    assert slots["form_failures"] == 0


# --- skip logic ---------------------------------------------------------------------------

async def test_no_symptoms_means_no_question_about_days():
    none = {"warning_signs": False, "for_whom": "self", "age": 30, "fever": False, "cough": False,
            "sore_throat": False, "breathing": False, "taste_smell": False}
    slots, _ = await form_step(tracker("0", "select_option", requested="other_symptoms", slots=none, option=0))
    assert slots["requested_slot"] == "contact"


async def test_a_full_screening_needs_at_most_twelve_answers():
    form = ValidateScreeningForm()
    t = make_tracker("", None, slots={})
    required = await form.required_slots(form.domain_slots(DOMAIN), None, t, DOMAIN)
    assert form.domain_slots(DOMAIN)[:3] == ["warning_signs", "for_whom", "age"]  # from domain.yml
    assert len(required) <= 12


# --- questions and result -----------------------------------------------------------------

@pytest.fixture(scope="module")
def nlg():
    """Rasa's own response generator over the project's domain and generated responses."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain

    domain = Domain.load([str(ROOT / "domain.yml"), str(ROOT / "data" / "responses.yml")])
    return domain, TemplatedNaturalLanguageGenerator(domain.responses)


@pytest.mark.parametrize("locale", [*LOCALES, None])
@pytest.mark.parametrize("whom", ["self", "other", None])
async def test_questions_say_they_for_someone_else(nlg, locale, whom):
    """Rasa renders the form's questions itself (no action call): in the user's language, for
    "you" or "they". Rasa picks at random among matching variations, so each is asked 8 times."""
    from rasa.shared.core.events import SlotSet as Set
    from rasa.shared.core.trackers import DialogueStateTracker

    domain, generator = nlg
    tracker = DialogueStateTracker.from_events("q", [Set("language", locale), Set("for_whom", whom)], slots=domain.slots)
    for slot in ("age", "fever", "taste_smell", "days", "comorbidities"):
        key = f"utter_ask_{slot}_other" if whom == "other" else f"utter_ask_{slot}"
        texts = {(await generator.generate(f"utter_ask_{slot}", tracker, "whatsapp"))["text"] for _ in range(8)}
        assert texts == {render(key, locale)}, (slot, locale, whom)
    assert "action_ask_fever" not in domain.action_names_or_texts


async def test_anything_else_question_lists_only_what_is_not_known_in_the_users_language():
    dispatcher = CollectingDispatcher()
    slots = {"language": "ur", "fever": True, "cough": True, "sore_throat": False, "other_symptoms": ["headache"]}
    await ActionAskMoreSymptoms().run(dispatcher, make_tracker("", None, slots=slots), DOMAIN)
    options = dispatcher.messages[0]["options"]
    assert options.splitlines() == [
        f"4. {term('symptom_breathing', 'ur')}", f"5. {term('symptom_taste_smell', 'ur')}",
        f"6. {term('symptom_fatigue', 'ur')}", f"7. {term('symptom_body_aches', 'ur')}",
        f"8. {term('symptom_diarrhoea', 'ur')}",
    ]


async def test_start_confirms_what_was_understood_in_the_users_language():
    dispatcher = CollectingDispatcher()
    t = tracker("mujhe 3 din se bukhar aur khansi hai", "report_symptoms")
    events = await ActionStartScreening().run(dispatcher, t, DOMAIN)
    assert said(dispatcher) == ["utter_symptoms_received", "utter_screening_intro", "utter_symptoms_understood"]
    sep, loc = term("list_sep", "ur-Latn"), "ur-Latn"
    assert dispatcher.messages[2]["summary"] == (
        f"{term('symptom_fever', loc)}{sep}{term('symptom_cough', loc)} {term('for_days', loc).format(days=3)}"
    )
    assert SlotSet("fever", None) in events, "a new check starts from nothing"


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PATIENT_ID_KEY", "test-key")
    from telehealth import privacy

    privacy._key.cache_clear()
    yield url
    privacy._key.cache_clear()


async def test_result_is_told_with_reasons_and_stored_without_the_phone_number(database):
    slots = {"language": "en", "warning_signs": False, "for_whom": "other", "age": 70, "fever": True, "cough": True,
             "sore_throat": False, "breathing": False, "taste_smell": False, "other_symptoms": [], "days": 3,
             "contact": "no", "comorbidities": ["diabetes"]}
    t = make_tracker("0", "select_option", slots=slots)
    t.sender_id = "+923001234567"
    dispatcher = CollectingDispatcher()
    events = await ActionScreeningResult().run(dispatcher, t, DOMAIN)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_result_high"
    assert "age 60 or over" in message["reasons"] and "diabetes" in message["reasons"]
    assert SlotSet("screening_level", "high") in events
    with db.session_scope(database) as session:
        row = session.query(db.ScreeningResult).one()
    assert (row.level, row.locale, row.for_whom, row.age, row.priority) == ("high", "en", "other", 70, 2)
    assert row.symptoms == ["cough", "fever"] and row.comorbidities == ["diabetes"]
    assert "923001234567" not in row.patient_ref and len(row.patient_ref) == 32
    assert db.outcome_counts(database) == {("en", "high"): 1}


async def test_emergency_result(database):
    t = make_tracker("haan", "affirm", slots={"language": "ur", "warning_signs": True})
    dispatcher = CollectingDispatcher()
    events = await ActionScreeningResult().run(dispatcher, t, DOMAIN)
    assert said(dispatcher) == ["utter_result_emergency"]
    assert SlotSet("screening_level", "emergency") in events
    assert SlotSet("screening_priority", 1.0) in events


def test_answers_from_slots_ignore_unknown_values():
    t = make_tracker("", None, slots={"other_symptoms": ["headache", "sneezing"], "contact": "maybe",
                                      "comorbidities": ["heart", "flu"], "fever": True})
    answers = answers_from(t)
    assert answers.symptoms == {"headache", "fever"}
    assert answers.comorbidities == {"heart"}
    assert answers.exposure.value == "no"


async def test_an_answer_the_nlu_mistakes_for_an_emergency_is_still_an_answer():
    slots, _ = await form_step(tracker("my mother", "emergency", requested="for_whom", confidence=0.9))
    assert slots["for_whom"] == "other" and "warning_signs" not in slots


async def test_a_sure_emergency_that_is_no_answer_ends_the_form():
    slots, _ = await form_step(tracker("please help him quickly", "emergency", requested="age", confidence=0.95))
    assert slots["warning_signs"] is True and slots["requested_slot"] is None


async def test_an_unsure_emergency_guess_does_not_end_the_form():
    slots, _ = await form_step(tracker("ammi", "emergency", requested="age", confidence=0.6))
    assert "warning_signs" not in slots
