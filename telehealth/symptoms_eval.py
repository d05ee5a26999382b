"""Precision and recall of the symptom extractor on annotated messages (tests/symptoms/<tag>.yml).

Every annotation is an item: a symptom present, a symptom denied, a warning sign, the days
since the first symptom, the age. A prediction is right only when the item matches exactly.
Used by ``make symptom-report`` (scripts/symptom_report.py) and by tests/test_symptoms.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set, Tuple

import yaml

from telehealth.symptoms import Extraction, extract

SETS_DIR = Path(__file__).resolve().parent.parent / "tests" / "symptoms"
#: dev, dev2, dev3, dev4, dev5: used while writing the lexicons (dev2 only for ps, sd, bal, ks; dev3,
#: written in a later session, only for ps, sd, ks; dev4 for sd, ks; dev5 only for ks); heldout:
#: written apart, never used to tune them.
SETS = ("dev", "dev2", "dev3", "dev4", "dev5", "heldout")
TEST_DIR = SETS_DIR / "dev"


def gold_items(case: dict) -> Set[Tuple[str, str]]:
    items = {("symptom", s) for s in case.get("symptoms") or []}
    items |= {("absent", s) for s in case.get("absent") or []}
    items |= {("warning", s) for s in case.get("warning") or []}
    if case.get("days") is not None:
        items.add(("days", str(int(case["days"]))))
    if case.get("age") is not None:
        items.add(("age", str(int(case["age"]))))
    return items


def predicted_items(found: Extraction) -> Set[Tuple[str, str]]:
    items = {("symptom", s) for s in found.symptoms}
    items |= {("absent", s) for s in found.absent}
    items |= {("warning", s) for s in found.warning}
    if found.days is not None:
        items.add(("days", str(found.days)))
    if found.age is not None:
        items.add(("age", str(found.age)))
    return items


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: List[dict] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_cases(locale: str, directory: Path = TEST_DIR) -> List[dict]:
    data = yaml.safe_load((directory / f"{locale}.yml").read_text(encoding="utf-8"))
    return data["cases"]


def score(cases: List[dict]) -> Score:
    result = Score()
    for case in cases:
        gold, pred = gold_items(case), predicted_items(extract(case["text"]))
        result.tp += len(gold & pred)
        result.fp += len(pred - gold)
        result.fn += len(gold - pred)
        if gold != pred:
            result.errors.append({"text": case["text"], "missed": sorted(gold - pred), "wrong": sorted(pred - gold)})
    return result


def score_all(directory: Path = TEST_DIR) -> Dict[str, Score]:
    """Scores per locale of one set (a directory of <tag>.yml files)."""
    return {path.stem: score(load_cases(path.stem, directory)) for path in sorted(directory.glob("*.yml"))}

