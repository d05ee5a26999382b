"""NLU on held-out phrases (tests/phrases/<tag>.yml, never in the training data), per locale.

The conversation tests need every story's phrase right; this scores all held-out phrases
of each locale through the running server's /model/parse and holds each locale to a floor.
The figures are printed for the README and the issue notes.
"""
from __future__ import annotations

import pytest
import requests

from telehealth.i18n import LOCALES
from tests.conftest import load_phrases

pytestmark = pytest.mark.e2e
PHRASES = load_phrases()
INTENT_ACCURACY_FLOOR = 0.93
LANGUAGE_ID_FLOOR = 0.90


def full_label(parse: dict) -> str:
    intent = (parse.get("intent") or {}).get("name")
    if intent == "faq":
        return parse.get("response_selector", {}).get("faq", {}).get("response", {}).get("intent_response_key") or "faq"
    return intent


@pytest.mark.parametrize("locale", LOCALES)
def test_held_out_phrases(bot, locale):
    total = correct = language_correct = 0
    errors = []
    for intent, texts in PHRASES[locale].items():
        for text in texts:
            parse = requests.post(f"{bot.url}/model/parse", json={"text": text}, timeout=30).json()
            label = full_label(parse)
            detected = (parse.get("language_detection") or {}).get("locale")
            total += 1
            correct += label == intent
            language_correct += detected == locale
            if label != intent:
                errors.append(f"{text!r}: {intent} -> {label}")
    accuracy, language_id = correct / total, language_correct / total
    print(f"\n{locale}: intent accuracy {accuracy:.3f}, language id {language_id:.3f} on {total} held-out phrases")
    assert accuracy >= INTENT_ACCURACY_FLOOR, errors
    assert language_id >= LANGUAGE_ID_FLOOR
