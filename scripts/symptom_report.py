"""Symptom extraction precision and recall per locale (`make symptom-report`).

Annotated sets in tests/symptoms/: dev and dev2 (used while writing the lexicons) and heldout
(written apart later, never used to tune them: the honest figure). Writes
results/symptom-report.json; with --errors, prints every dev message the extractor got wrong (--show-heldout-errors for
the held-out ones: only after the lexicons are frozen).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telehealth.symptoms_eval import SETS, SETS_DIR, load_cases, score_all  # noqa: E402


def main() -> int:
    report: dict = {}
    for name in SETS:
        directory = SETS_DIR / name
        scores = score_all(directory)
        print(f"\n{name}: {'locale':8} {'cases':>5} {'precision':>9} {'recall':>7}")
        report[name] = {}
        for locale, s in scores.items():
            n = len(load_cases(locale, directory))
            print(f"{' ' * len(name)}  {locale:8} {n:5d} {s.precision:9.3f} {s.recall:7.3f}")
            report[name][locale] = {"cases": n, "precision": s.precision, "recall": s.recall, "errors": s.errors}
            # Held-out mistakes stay hidden unless asked for: looking at them while editing the
            # lexicons would turn the held-out set into a second dev set.
            if "--errors" in sys.argv and (name != "heldout" or "--show-heldout-errors" in sys.argv):
                for e in s.errors:
                    print(f"      {e['text']!r} missed={e['missed']} wrong={e['wrong']}")
    out = ROOT / "results" / "symptom-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
