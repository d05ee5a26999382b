"""The free-text symptom extractor (telehealth/symptoms.py) and its NLU component.

The per-locale held-out sets (tests/symptoms/<tag>.yml, written apart from the lexicons) are
scored by `make symptom-report`; this file holds the floor every locale must keep, and the
mechanisms (negation scope, durations, ages, digits, spelling variants) one by one.
"""
from __future__ import annotations

import pytest

from telehealth.i18n import LOCALES
from telehealth.symptoms import Lexicon, extract, parse_days, parse_number, parse_yes_no
from telehealth.symptoms_eval import SETS_DIR, load_cases, score

#: Floors per annotated set. The target is 0.95 precision and recall per locale. The dev sets
#: (used while writing the lexicons) are held near it; the held-out set (never used for tuning)
#: guards against regressions at a lower floor, and its real figures are in the README.
FLOORS = {"dev": 0.94, "dev2": 0.94, "dev3": 0.94, "dev4": 0.94, "dev5": 0.94, "heldout": 0.85}


@pytest.mark.parametrize("name", sorted(FLOORS))
@pytest.mark.parametrize("locale", LOCALES)
def test_precision_and_recall_per_locale(name, locale):
    if not (SETS_DIR / name / f"{locale}.yml").exists():
        pytest.skip(f"no {name} set for {locale} (dev2 exists for ps, sd, bal, ks; dev3 for ps, sd, ks; dev4 for sd, ks; dev5 for ks)")
    cases = load_cases(locale, SETS_DIR / name)
    assert len(cases) >= 10
    result = score(cases)
    detail = "\n".join(f"  {e['text']!r} missed={e['missed']} wrong={e['wrong']}" for e in result.errors)
    if name != "dev":
        detail = f"  ({len(result.errors)} messages; run `make symptom-report` for the figures)"
    assert result.precision >= FLOORS[name] and result.recall >= FLOORS[name], (
        f"{name}/{locale}: precision {result.precision:.3f}, recall {result.recall:.3f}\n{detail}"
    )


@pytest.mark.parametrize(
    "text, present, absent",
    [
        ("mujhe bukhar aur khansi hai", {"fever", "cough"}, set()),
        ("bukhar nahi hai", set(), {"fever"}),
        ("bukhar aur khansi nahi hai", set(), {"fever", "cough"}),
        ("bukhar hai lekin khansi nahi", {"fever"}, {"cough"}),
        ("no fever but a bad cough", {"cough"}, {"fever"}),
        ("i dont have fever or cough", set(), {"fever", "cough"}),
        ("no, i have a fever", {"fever"}, set()),
        ("na bukhar na khansi", set(), {"fever", "cough"}),
        ("مجھے بخار نہیں ہے", set(), {"fever"}),
        ("بخار ہے، کھانسی نہیں", {"fever"}, {"cough"}),
        ("تبه نه لرم", set(), {"fever"}),
        ("بخار ناهي", set(), {"fever"}),
    ],
)
def test_negation_scope(text, present, absent):
    found = extract(text)
    assert (set(found.symptoms), set(found.absent)) == (present, absent)


def test_a_phrase_that_contains_no_is_not_a_negation():
    found = extract("saans nahi aa rahi")
    assert "severe_breathing" in found.warning and "breathing" in found.symptoms
    assert "breathing" not in found.absent


@pytest.mark.parametrize(
    "text, days",
    [("3 din se bukhar", 3), ("۳ دن سے بخار", 3), ("٣ دن سے بخار", 3), ("teen din se khansi", 3),
     ("3din se bukhar", 3), ("fever for 2 weeks", 14), ("ek hafte se khansi", 7), ("kal se bukhar", 1),
     ("bukhar 2 din se aur khansi 5 din se", 5)],
)
def test_durations(text, days):
    assert extract(text).days == days


@pytest.mark.parametrize("text, age", [("meri ammi 65 saal ki hain", 65), ("my father is 70 years old", 70),
                                       ("عمر ۴۵ سال", 45), ("age 30", 30)])
def test_ages(text, age):
    assert extract(text).age == age


def test_a_duration_is_not_an_age_and_a_bare_number_is_neither():
    found = extract("3 din se bukhar hai, 2 bachay hain")
    assert (found.days, found.age) == (3, None)


@pytest.mark.parametrize("text", ["feaver", "bukhaar", "bukhaaaar", "khaansi", "coughing", "BUKHAR"])
def test_spelling_variants(text):
    assert extract(text).symptoms, text


def test_short_words_are_not_guessed():
    # one letter away from "cough" would be "couch": too short to guess safely
    assert not extract("couch").symptoms


@pytest.mark.parametrize("text, answer", [("haan ji", "yes"), ("ji nahi", "no"), ("pata nahi", "unsure"),
                                          ("جی ہاں", "yes"), ("نہیں", "no"), ("hello", None)])
def test_yes_no(text, answer):
    assert parse_yes_no(text) == answer


@pytest.mark.parametrize("text, n", [("45", 45), ("۴۵", 45), ("twenty five", 25), ("pachaas", 50), ("do", 2)])
def test_numbers(text, n):
    assert parse_number(text) == n


def test_bare_number_of_days():
    assert parse_days("4") == 4


def test_lexicons_cover_every_locale_and_are_marked_for_review():
    import yaml

    from telehealth.symptoms import LEXICON_DIR

    for locale in LOCALES:
        data = yaml.safe_load((LEXICON_DIR / f"{locale}.yml").read_text(encoding="utf-8"))
        assert data["locale"] == locale
        assert data["review"] in ("reviewed", "machine-drafted")
        assert set(data["symptoms"]) >= {"fever", "cough", "sore_throat", "breathing", "taste_smell"}
    assert sorted(Lexicon().locales) == sorted(LOCALES)


def test_held_out_cases_are_not_lexicon_phrases():
    """No whole test message of three words or more is itself a lexicon phrase (one-word answers
    such as "تپ" are naturally in both)."""
    from telehealth.text import match_form

    lex = Lexicon()
    phrases = set().union(*lex.phrases.values())
    for name in FLOORS:
        for locale in LOCALES:
            if not (SETS_DIR / name / f"{locale}.yml").exists():
                continue
            leaked = [c["text"] for c in load_cases(locale, SETS_DIR / name)
                      if len(c["text"].split()) >= 3 and match_form(c["text"]) in phrases]
            assert not leaked, f"{name}/{locale}: {leaked}"


@pytest.mark.parametrize(
    "text, present",
    [("kya bukhar corona ki nishani hai?", set()),
     ("is fever a sign of covid?", set()),
     ("kya ye corona hai? mujhe bukhar hai", {"fever"}),
     ("mujhe bukhar hai kya karun?", {"fever"})],
)
def test_a_question_about_symptoms_is_not_a_report(text, present):
    assert set(extract(text).symptoms) == present


def test_filler_words_are_skipped():
    assert extract("khansi bhi bohat hai").symptoms == {"cough"}
    assert extract("sar mein bhi dard hai").symptoms == {"headache"}


def test_a_warning_phrase_does_not_shrink_to_an_everyday_word():
    assert extract("my son is very drowsy").warning == {"drowsiness"}
    assert not extract("I feel drowsy after lunch").warning


def test_conditions_can_be_denied():
    from telehealth.symptoms import parse_comorbidities

    assert parse_comorbidities("sugar nahi hai, bp hai") == {"hypertension"}


def test_spans_point_at_the_normalised_text_marks_included():
    """The lexicons are matched without marks; the entity spans still cover the words as written."""
    from telehealth.text import normalize

    text = "میون مول ہیکہ نہٕ شاہ ہیٚتھ، جلدی مدد کٔرو"
    found = extract(text)
    [(start, end, entity, value)] = found.spans
    assert (entity, value) == ("warning_sign", "severe_breathing")
    assert normalize(text)[start:end] == "ہیکہ نہٕ شاہ ہیٚتھ"
