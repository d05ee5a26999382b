"""Every branch of the triage rules (telehealth/triage.py), table-driven."""
from __future__ import annotations

import pytest

from telehealth.triage import RULES_VERSION, Answers, Exposure, Level, triage

YES, NO, UNSURE = Exposure.YES, Exposure.NO, Exposure.UNSURE

# (id, answers, level, priority, reasons that must be present)
CASES = [
    ("warning sign ends everything", Answers(warning_signs=True, symptoms=frozenset({"fever"})),
     Level.EMERGENCY, 1, {"warning_signs"}),
    ("warning sign even with no symptoms", Answers(warning_signs=True), Level.EMERGENCY, 1, {"warning_signs"}),
    ("HC: three core symptoms", Answers(age=30, symptoms=frozenset({"fever", "cough", "sore_throat"})),
     Level.HIGH, 3, {"three_or_more_symptoms"}),
    ("HC: three core symptoms, older: priority up", Answers(age=70, symptoms=frozenset({"fever", "cough", "breathing"})),
     Level.HIGH, 2, {"three_or_more_symptoms", "older_age"}),
    ("HC: two symptoms and contact", Answers(age=30, symptoms=frozenset({"cough", "sore_throat"}), exposure=YES),
     Level.HIGH, 3, {"two_symptoms_and_contact"}),
    ("HC: two symptoms over 65", Answers(age=66, symptoms=frozenset({"cough", "sore_throat"})),
     Level.HIGH, 2, {"two_symptoms_and_age", "older_age"}),
    ("HC: two symptoms at 65 is not over 65", Answers(age=65, symptoms=frozenset({"cough", "sore_throat"})),
     Level.MODERATE, 3, {"two_symptoms", "older_age"}),
    ("HC: two symptoms, young, no contact", Answers(age=25, symptoms=frozenset({"fever", "sore_throat"})),
     Level.MODERATE, 4, {"two_symptoms"}),
    ("HC: one symptom and contact", Answers(age=25, symptoms=frozenset({"cough"}), exposure=YES),
     Level.HIGH, 3, {"one_symptom_and_contact"}),
    ("HC: one symptom", Answers(age=25, symptoms=frozenset({"cough"})), Level.MODERATE, 4, {"one_symptom"}),
    ("HC: contact without symptoms", Answers(age=25, exposure=YES), Level.MODERATE, 4, {"contact_no_symptoms"}),
    ("HC: nothing", Answers(age=25), Level.LOW, 5, {"no_core_symptoms"}),
    ("HC: nothing, unknown age", Answers(), Level.LOW, 5, {"no_core_symptoms"}),
    ("contact not sure is said", Answers(age=25, exposure=UNSURE), Level.LOW, 5, {"contact_unsure"}),
    ("WHO: loss of taste or smell alone", Answers(age=25, symptoms=frozenset({"taste_smell"})),
     Level.HIGH, 3, {"one_symptom", "taste_smell"}),
    ("WHO: taste/smell with three others adds no reason", Answers(
        age=25, symptoms=frozenset({"taste_smell", "fever", "cough"})), Level.HIGH, 3, {"three_or_more_symptoms"}),
    ("WHO: three symptoms of the wider list", Answers(age=25, symptoms=frozenset({"fatigue", "headache", "body_aches"})),
     Level.MODERATE, 4, {"several_symptoms"}),
    ("WHO: two of the wider list stay low", Answers(age=25, symptoms=frozenset({"fatigue", "headache"})),
     Level.LOW, 5, {"no_core_symptoms"}),
    ("MoH: 60+ with fever and cough", Answers(age=62, symptoms=frozenset({"fever", "cough"})),
     Level.HIGH, 2, {"two_symptoms", "vulnerable_with_fever_and_respiratory", "older_age"}),
    ("MoH: weak immunity with fever and breathing", Answers(
        age=30, symptoms=frozenset({"fever", "breathing"}), comorbidities=frozenset({"immunity"})),
     Level.HIGH, 2, {"vulnerable_with_fever_and_respiratory", "comorbidity_immunity"}),
    ("MoH: 60+ with fever only is not enough", Answers(age=70, symptoms=frozenset({"fever"})),
     Level.MODERATE, 3, {"one_symptom", "older_age"}),
    ("comorbidity raises priority, not level", Answers(
        age=40, symptoms=frozenset({"cough"}), comorbidities=frozenset({"diabetes", "hypertension"})),
     Level.MODERATE, 3, {"comorbidity_diabetes", "comorbidity_hypertension"}),
    ("pregnancy raises priority of a low result", Answers(age=28, comorbidities=frozenset({"pregnancy"})),
     Level.LOW, 4, {"comorbidity_pregnancy"}),
]


@pytest.mark.parametrize("answers,level,priority,reasons", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(answers, level, priority, reasons):
    result = triage(answers)
    assert result.level is level
    assert result.priority == priority
    assert reasons <= set(result.reasons), result.reasons
    assert result.advice == f"advice_{level.value}"
    assert result.rules_version == RULES_VERSION


def test_priority_orders_levels():
    urgent = [triage(c[1]).priority for c in CASES if c[2] is Level.EMERGENCY]
    others = [triage(c[1]).priority for c in CASES if c[2] is not Level.EMERGENCY]
    assert max(urgent) < min(others)


@pytest.mark.parametrize(
    "kwargs",
    [{"symptoms": frozenset({"sneezing"})}, {"comorbidities": frozenset({"flu"})}, {"age": -1}, {"age": 200}],
)
def test_invalid_answers_are_refused(kwargs):
    with pytest.raises(ValueError):
        Answers(**kwargs)
