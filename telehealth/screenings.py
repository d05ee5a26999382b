"""Stored screening results: what the doctor who calls back sees, what operators count."""
from __future__ import annotations

from typing import Optional

from telehealth.db import ScreeningResult, session_scope
from telehealth.triage import Answers, Result


def save_result(
    patient_ref: str,
    locale: str,
    for_whom: Optional[str],
    answers: Answers,
    result: Result,
    url: Optional[str] = None,
) -> int:
    """Store one result; returns its id. ``patient_ref`` is a pseudonym, never a phone number."""
    row = ScreeningResult(
        patient_ref=patient_ref,
        locale=locale,
        for_whom=for_whom,
        age=answers.age,
        warning_signs=answers.warning_signs,
        symptoms=sorted(answers.symptoms),
        days=answers.days,
        exposure=answers.exposure.value,
        comorbidities=sorted(answers.comorbidities),
        level=result.level.value,
        reasons=list(result.reasons),
        advice=result.advice,
        priority=result.priority,
        rules_version=result.rules_version,
    )
    with session_scope(url) as session:
        session.add(row)
        session.flush()
        return row.id
