"""COVID-19 risk triage: the screening answers in, a level, reasons, advice and a call-back priority out.

Decision support for a call-back queue, not a diagnosis. Pure Python, no Rasa imports: the
screening form (actions/screening.py) collects the answers, this module decides. Every rule
says which published reference it follows; change a rule only with a new RULES_VERSION, so a
stored result can always be explained by the rules that produced it.

References
- [HC]   Praekelt / South Africa NDoH "HealthCheck" risk rules (2020): symptoms fever, cough,
         sore throat, difficulty breathing, change in taste or smell; exposure; age band.
- [WHO-D] WHO COVID-19 case definitions, 16 December 2020 (WHO/2019-nCoV/Surveillance_Case_
         Definition/2020.2): suspect case (acute fever and cough, or >= 3 of a symptom list);
         probable case (recent loss of smell or taste alone).
- [WHO-W] WHO and US CDC emergency warning signs (2020-2022): trouble breathing, persistent
         chest pain or pressure, new confusion, inability to wake or stay awake, bluish lips.
- [MOH]  Pakistan Ministry of National Health Services, COVID-19 testing priorities (March 2020):
         elderly or immunocompromised people with fever and respiratory illness; diabetes,
         heart or lung disease, pregnancy.
- [WHO-R] WHO, "COVID-19: vulnerable populations" / Clinical management guideline (2021):
         people over 60 and people with underlying conditions are at higher risk of severe
         disease.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import FrozenSet, Optional, Tuple

RULES_VERSION = "2026.11.1"

#: The five symptoms HealthCheck counts [HC].
CORE_SYMPTOMS: Tuple[str, ...] = ("fever", "cough", "sore_throat", "breathing", "taste_smell")
#: Further symptoms of the WHO December 2020 suspect-case list that the screening asks [WHO-D].
OTHER_SYMPTOMS: Tuple[str, ...] = ("fatigue", "body_aches", "diarrhoea", "headache")
ALL_SYMPTOMS: Tuple[str, ...] = CORE_SYMPTOMS + OTHER_SYMPTOMS
WARNING_SIGNS: Tuple[str, ...] = ("severe_breathing", "chest_pain", "confusion", "drowsiness", "bluish_lips")
#: Conditions that raise the risk of severe disease [WHO-R], [MOH].
COMORBIDITIES: Tuple[str, ...] = (
    "diabetes", "hypertension", "heart", "lung", "kidney", "immunity", "pregnancy",
)

#: Age from which the call-back priority rises [WHO-R]; HealthCheck's own band is > 65 [HC].
OLDER_AGE = 60
HC_OLD_AGE = 65


class Level(str, Enum):
    EMERGENCY = "emergency"
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"


class Exposure(str, Enum):
    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


@dataclass(frozen=True)
class Answers:
    """What the screening collected. Unknown symptoms count as absent."""

    warning_signs: bool = False
    age: Optional[int] = None
    symptoms: FrozenSet[str] = frozenset()
    days: Optional[int] = None
    exposure: Exposure = Exposure.NO
    comorbidities: FrozenSet[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.symptoms) - set(ALL_SYMPTOMS)
        if unknown:
            raise ValueError(f"unknown symptoms: {sorted(unknown)}")
        unknown = set(self.comorbidities) - set(COMORBIDITIES)
        if unknown:
            raise ValueError(f"unknown comorbidities: {sorted(unknown)}")
        if self.age is not None and not 0 <= self.age <= 130:
            raise ValueError(f"age out of range: {self.age}")


@dataclass(frozen=True)
class Result:
    level: Level
    #: Reason keys (rendered in the user's language by the catalogs: ``reason_<key>``).
    reasons: Tuple[str, ...]
    #: Response key of the advice for this result.
    advice: str
    #: Call-back priority, 1 (most urgent) to 5.
    priority: int
    rules_version: str = field(default=RULES_VERSION)


# Base priority per level; a risk factor moves a non-emergency result up by one.
_BASE_PRIORITY = {Level.EMERGENCY: 1, Level.HIGH: 3, Level.MODERATE: 4, Level.LOW: 5}


def risk_factors(answers: Answers) -> Tuple[str, ...]:
    """Age and conditions that raise the risk of severe disease [WHO-R], [MOH]."""
    factors = []
    if answers.age is not None and answers.age >= OLDER_AGE:
        factors.append("older_age")
    factors.extend(f"comorbidity_{c}" for c in COMORBIDITIES if c in answers.comorbidities)
    return tuple(factors)


def triage(answers: Answers) -> Result:
    """The level, reasons, advice and priority for ``answers``; deterministic and total."""
    if answers.warning_signs:
        # [WHO-W]: any emergency warning sign: call 1122 / go to an emergency department now.
        return Result(Level.EMERGENCY, ("warning_signs",), "advice_emergency", _BASE_PRIORITY[Level.EMERGENCY])

    present = answers.symptoms
    core = [s for s in CORE_SYMPTOMS if s in present]
    n = len(core)
    exposed = answers.exposure is Exposure.YES
    hc_old = answers.age is not None and answers.age > HC_OLD_AGE
    reasons: list[str] = []

    # [HC] symptom count, exposure and age band.
    if n >= 3:
        level = Level.HIGH
        reasons.append("three_or_more_symptoms")
    elif n == 2:
        if exposed or hc_old:
            level = Level.HIGH
            reasons.append("two_symptoms_and_contact" if exposed else "two_symptoms_and_age")
        else:
            level = Level.MODERATE
            reasons.append("two_symptoms")
    elif n == 1:
        level = Level.HIGH if exposed else Level.MODERATE
        reasons.append("one_symptom_and_contact" if exposed else "one_symptom")
    else:
        level = Level.MODERATE if exposed else Level.LOW
        reasons.append("contact_no_symptoms" if exposed else "no_core_symptoms")

    # [WHO-D] probable case: loss of smell or taste on its own.
    if "taste_smell" in present and level is not Level.HIGH:
        level = Level.HIGH
        reasons.append("taste_smell")

    # [WHO-D] suspect case: fever and cough, or three or more of the wider symptom list.
    who_list = [s for s in ALL_SYMPTOMS if s in present and s != "taste_smell"]
    if level is Level.LOW and len(who_list) >= 3:
        level = Level.MODERATE
        reasons.append("several_symptoms")

    # [MOH] testing priority: elderly or immunocompromised with fever and a respiratory symptom.
    vulnerable = (answers.age is not None and answers.age >= OLDER_AGE) or "immunity" in answers.comorbidities
    respiratory = bool({"cough", "breathing", "sore_throat"} & present)
    if level is not Level.HIGH and vulnerable and "fever" in present and respiratory:
        level = Level.HIGH
        reasons.append("vulnerable_with_fever_and_respiratory")

    # [WHO-R] age and comorbidities raise the call-back priority (not the level) by one step.
    factors = risk_factors(answers)
    priority = _BASE_PRIORITY[level] - (1 if factors else 0)
    reasons.extend(factors)

    if answers.exposure is Exposure.UNSURE and level is Level.LOW:
        reasons.append("contact_unsure")

    return Result(level, tuple(reasons), f"advice_{level.value}", priority)
