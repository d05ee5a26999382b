"""The NLU training data: every locale covers every intent, and locales stay apart."""
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from telehealth.i18n import LOCALES
from telehealth.text import normalize

ROOT = Path(__file__).resolve().parent.parent
NLU_DIR = ROOT / "data" / "nlu"
DOMAIN_INTENTS = set(yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"])
#: Intents every locale must have examples of (select_option and give_phone_number are
#: language-neutral: numbers, classified by rule in telehealth/nlu/components.py; the
#: channel events are payloads the WhatsApp channel sends for voice notes, media and locations).
CHANNEL_EVENTS = {"voice_note", "media_message", "share_location", "consult_feedback"}
LOCALE_INTENTS = DOMAIN_INTENTS - {"select_option", "give_phone_number", "faq"} - CHANNEL_EVENTS
FAQ_TOPICS = {"what_is_covid", "symptoms", "spread", "prevention", "testing", "treatment", "vaccine",
              "isolation", "myths", "helplines"}


def blocks(locale):
    data = yaml.safe_load((NLU_DIR / f"{locale}.yml").read_text(encoding="utf-8"))
    for block in data["nlu"]:
        examples = [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
        yield block, examples


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_has_every_intent_and_faq_topic_with_enough_examples(locale):
    counts = defaultdict(int)
    for block, examples in blocks(locale):
        assert block.get("metadata", {}).get("locale") == locale, block["intent"]
        counts[block["intent"]] += len(examples)
    for intent in LOCALE_INTENTS:
        assert counts[intent] >= 12, (locale, intent, counts[intent])
    for topic in FAQ_TOPICS:
        assert counts[f"faq/{topic}"] >= 10, (locale, topic, counts[f"faq/{topic}"])


def test_no_example_is_in_two_intents_or_two_locales():
    """A text labelled with two locales teaches the language detector nothing but noise."""
    seen = {}
    clashes = []
    for locale in LOCALES:
        for block, examples in blocks(locale):
            for text in examples:
                key = normalize(text)
                where = (locale, block["intent"])
                if key in seen and seen[key] != where:
                    clashes.append(f"{text!r}: {seen[key]} and {where}")
                seen.setdefault(key, where)
    assert clashes == []


@pytest.mark.parametrize("locale", LOCALES)
def test_held_out_phrases_are_not_in_the_training_data(locale):
    training = {normalize(t) for _, examples in blocks(locale) for t in examples}
    phrases = yaml.safe_load((ROOT / "tests" / "phrases" / f"{locale}.yml").read_text(encoding="utf-8"))["phrases"]
    leaked = [p for texts in phrases.values() for p in texts if normalize(p) in training]
    assert leaked == []


def test_conversation_tests_are_up_to_date():
    """They are generated (entity annotations come from the lexicons): re-run the generator after
    changing phrases, lexicons or flows: `python scripts/make_conversation_tests.py`."""
    import importlib.util

    from telehealth.i18n import LOCALES

    spec = importlib.util.spec_from_file_location("make_conversation_tests", ROOT / "scripts" / "make_conversation_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = [loc for loc in LOCALES if module.path_for(loc).read_text(encoding="utf-8") != module.render(loc)]
    assert not stale, f"tests/conversations out of date for {stale}: run python scripts/make_conversation_tests.py"
