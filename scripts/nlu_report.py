"""NLU cross-validation with intent F1 per locale (and language-detection accuracy).

Usage: python scripts/nlu_report.py --folds 5 --config config.yml [other.yml ...]

Rasa's own `rasa test nlu --cross-validation` reports one F1 over all locales; a helpline
must know each language's, so this runs the same stratified folds (seeded) and scores the
predictions of each locale separately. Retrieval intents count as their full label
(faq/symptoms), so a wrong FAQ answer is an error. Writes results/nlu-report.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def full_label(parse: dict, use_fallback: bool = True) -> str:
    intent = (parse.get("intent") or {}).get("name") or "None"
    if intent == "nlu_fallback" and not use_fallback:
        ranking = [r["name"] for r in parse.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
        intent = ranking[0] if ranking else intent
    if intent == "faq":
        selected = (parse.get("response_selector") or {}).get("faq", {}).get("response", {})
        key = selected.get("intent_response_key")
        return key or "faq"
    return intent


def confidences(parse: dict) -> list:
    """The top two intents' confidences (without the fallback) and the FAQ topic's: what the
    fallback thresholds are tested against, so thresholds can be tuned from one report."""
    ranking = [r["confidence"] for r in parse.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
    topic = (parse.get("response_selector") or {}).get("faq", {}).get("response", {}).get("confidence")
    return [round(c, 4) for c in (ranking + [0.0, 0.0])[:2]] + [round(topic or 0.0, 4)]


def locale_of(example) -> str:
    metadata = example.get("metadata") or {}
    return ((metadata.get("intent") or {}).get("locale")) or "none"


async def cross_validate(config: str, folds: int, seed: int, max_folds: int | None = None) -> dict:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from rasa.core.agent import Agent
    from rasa.core.channels import UserMessage
    from rasa.model_training import train_nlu
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.training_data import TrainingData

    importer = TrainingDataImporter.load_from_dict(training_data_paths=[str(ROOT / "data")])
    data = importer.get_nlu_data()
    examples = data.intent_examples
    labels = [e.get_full_intent() for e in examples]
    records = []  # (locale, true, predicted, detected_locale, top_without_fallback, text)
    train_seconds = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train_idx, test_idx) in enumerate(splitter.split(examples, labels), start=1):
        if max_folds and fold > max_folds:
            break
        with tempfile.TemporaryDirectory() as tmp:
            # One file per locale: Rasa's writer keeps one metadata block per intent, so a
            # single file would label every locale's examples with the first one's locale.
            nlu_dir = Path(tmp) / "nlu"
            nlu_dir.mkdir()
            by_locale = defaultdict(list)
            for i in train_idx:
                by_locale[locale_of(examples[i])].append(examples[i])
            for locale, items in by_locale.items():
                responses = data.responses if locale == "none" else {}
                RasaYAMLWriter().dump(nlu_dir / f"{locale}.yml", TrainingData(training_examples=items, responses=responses))
            started = time.monotonic()
            model = train_nlu(config, str(nlu_dir), tmp, fixed_model_name=f"fold{fold}")
            train_seconds.append(time.monotonic() - started)
            processor = Agent.load(model).processor
            for i in test_idx:
                ex = examples[i]
                parse = await processor.parse_message(UserMessage(ex.get("text")))
                detected = (parse.get("language_detection") or {}).get("locale")
                records.append((locale_of(ex), labels[i], full_label(parse), detected, full_label(parse, False),
                                ex.get("text"), confidences(parse)))
        print(f"  {config}: fold {fold}/{folds} done ({train_seconds[-1]:.0f} s training)", flush=True)

    by_locale = defaultdict(list)
    for rec in records:
        by_locale[rec[0]].append(rec)
    report = {"config": config, "folds": folds, "folds_run": len(train_seconds), "seed": seed, "train_seconds_mean": sum(train_seconds) / len(train_seconds), "locales": {}}
    for locale, recs in sorted(by_locale.items()):
        y_true = [r[1] for r in recs]
        y_pred = [r[2] for r in recs]
        y_top = [r[4] for r in recs]
        report["locales"][locale] = {
            "examples": len(recs),
            "macro_f1": round(f1_score(y_true, y_top, labels=sorted(set(y_true)), average="macro", zero_division=0), 4),
            "macro_f1_with_fallback": round(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0), 4),
            "accuracy": round(sum(t == p for t, p in zip(y_true, y_pred)) / len(recs), 4),
            "language_id_accuracy": round(sum(r[3] == locale for r in recs) / len(recs), 4) if locale != "none" else None,
            "errors": dict(Counter(f"{t} -> {p}" for t, p in zip(y_true, y_pred) if t != p).most_common()),
            "misclassified": [f"{r[5]!r}: {r[1]} -> {r[2]}" for r in recs if r[1] != r[2]],
            # [true label, top label without fallback, top confidence, second, FAQ topic confidence]
            "predictions": [[r[1], r[4], *r[6]] for r in recs],
        }
    all_true = [r[1] for r in records]
    report["overall_macro_f1"] = round(f1_score(all_true, [r[4] for r in records], average="macro", zero_division=0), 4)
    report["overall_macro_f1_with_fallback"] = round(
        f1_score(all_true, [r[2] for r in records], average="macro", zero_division=0), 4
    )
    return report


def print_table(reports: list) -> None:
    """Macro F1 over full labels (faq/<topic> counts as its topic): the classifier's top intent,
    then as the bot answers (a message under the fallback threshold counts as an error)."""
    locales = sorted({loc for r in reports for loc in r["locales"]})
    names = [Path(r["config"]).name for r in reports]
    header = "| locale | examples | " + " | ".join(f"F1 {n} | F1 {n} with fallback | language id {n}" for n in names)
    print(header + " |")
    print("|" + "---|" * (2 + 3 * len(reports)))
    for loc in locales:
        cells = []
        for r in reports:
            row = r["locales"].get(loc, {})
            lid = row.get("language_id_accuracy")
            cells.append(f"{row.get('macro_f1', float('nan')):.3f} | {row.get('macro_f1_with_fallback', float('nan')):.3f} | "
                         + ("" if lid is None else f"{lid:.3f}"))
        print(f"| {loc} | {reports[0]['locales'].get(loc, {}).get('examples', 0)} | " + " | ".join(cells) + " |")
    print("| all | | " + " | ".join(f"{r['overall_macro_f1']:.3f} | {r['overall_macro_f1_with_fallback']:.3f} | " for r in reports) + " |")
    for r in reports:
        print(f"{r['config']}: mean training time per fold {r['train_seconds_mean']:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", nargs="+", default=["config.yml"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-folds", type=int, default=None,
                        help="stop after this many folds (a quick estimate while tuning; report full runs)")
    parser.add_argument("--out", default=str(ROOT / "results" / "nlu-report.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Rasa's structlog events (every parse, with the message text) print at DEBUG unless configured.
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    reports = [asyncio.run(cross_validate(c, args.folds, args.seed, args.max_folds)) for c in args.config]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(reports, indent=2, ensure_ascii=False), encoding="utf-8")
    print_table(reports)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
