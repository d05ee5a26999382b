"""Custom NLU components of the multilingual pipeline (config.yml).

- ``TextNormalizer`` runs first and rewrites the message text with ``telehealth.text.normalize``
  (digits, letter variants, zero-width characters), in training and at prediction time.
- ``LanguageDetector`` guesses the locale of a free-text message: the script decides between
  the Latin locales (en, ur-Latn) and the Perso-Arabic ones (ur, pa, ps, sd, bal, ks); inside a
  script a character n-gram logistic regression, trained on the NLU examples themselves (each
  block carries ``metadata: {locale: …}``), decides. Character n-grams catch the letters and
  endings that tell the languages apart (ښ ګ ې in Pashto, ڪ ۾ in Sindhi, "hai"/"mujhe" in
  Roman Urdu) and survive misspellings; the model is small (kilobytes) and trains in seconds.
- ``RuleIntentClassifier`` decides two cases no statistical model should guess: a bare menu
  number ("2", "۲", "option 3") is ``select_option`` with the entity ``option`` (only the menu
  last shown gives it a meaning, ``actions/menu.py``); a message without a letter of a script we
  serve (only emoji, Devanagari, Chinese…) is ``nlu_fallback``, answered politely in the
  user's current language.
- ``FallbackClassifier`` is Rasa's, and also falls back on a FAQ question whose answer the
  response selector is unsure of (below ``faq_threshold``).
- ``CompactParseData`` runs last and drops from the parse result what nothing reads: the texts
  of the selected FAQ answer in every locale (``response_selector.<key>.response.responses``;
  Rasa answers from the domain by ``utter_action``). They were 15 KB of a 16 KB question event,
  stored in the tracker and sent to the action server on every later action call.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier as RasaFallbackClassifier
from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME, RESPONSE_SELECTOR_RESPONSES_KEY
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from telehealth import rasa_runtime  # noqa: F401  (removes repeated work in the Rasa server; see there)
from telehealth.text import dominant_script, normalize

logger = logging.getLogger(__name__)

LANGUAGE_DETECTION = "language_detection"
LATIN_LOCALES = ("en", "ur-Latn")


class StatelessComponent(GraphComponent):
    """A component with nothing to configure, train or load."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "StatelessComponent":
        return cls()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class TextNormalizer(StatelessComponent):
    """Normalises the text of every message before tokenisation."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        # "/intent{...}" button payloads pass through the pipeline too: keep them exact.
        if text and not text.startswith(INTENT_MESSAGE_PREFIX):
            message.set(TEXT, normalize(text))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LanguageDetector(GraphComponent):
    """Adds ``language_detection: {locale, confidence, script}`` to the parse result."""

    _TRUSTED = ["scipy.sparse._csr.csr_matrix"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"ngram_max": 4, "random_state": 42, "metadata_key": "locale"}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        models: Optional[Dict[Text, Any]] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.models: Dict[Text, Any] = models or {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageDetector":
        return cls(config, model_storage, resource)

    def _new_model(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, self.config["ngram_max"]), sublinear_tf=True
            ),
            LogisticRegression(
                C=10.0, max_iter=2000, class_weight="balanced", random_state=self.config["random_state"]
            ),
        )

    def train(self, training_data: TrainingData) -> Resource:
        by_script: Dict[Text, tuple[list, list]] = {"latin": ([], []), "arabic": ([], [])}
        key = self.config["metadata_key"]
        for example in training_data.intent_examples:
            locale = _example_locale(example, key)
            text = example.get(TEXT)
            script = dominant_script(text or "")
            if not locale or not script:
                continue
            # A Latin-script example in a Perso-Arabic locale (a code-mixed "corona test") says
            # nothing about the locale: learn each script's locales from that script only.
            if (script == "latin") != (locale in LATIN_LOCALES):
                continue
            by_script[script][0].append(text)
            by_script[script][1].append(locale)
        for script, (texts, labels) in by_script.items():
            if len(set(labels)) >= 2:
                model = self._new_model()
                model.fit(texts, labels)
                self.models[script] = model
            elif labels:
                self.models[script] = labels[0]
        self.persist()
        return self._resource

    def detect(self, text: Text) -> Dict[Text, Any]:
        script = dominant_script(text or "")
        model = self.models.get(script) if script else None
        if model is None:
            return {"locale": None, "confidence": 0.0, "script": script}
        if isinstance(model, str):
            return {"locale": model, "confidence": 1.0, "script": script}
        probabilities = model.predict_proba([text])[0]
        best = int(probabilities.argmax())
        return {
            "locale": str(model.classes_[best]),
            "confidence": round(float(probabilities[best]), 4),
            "script": script,
        }

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            # A button payload says nothing about the user's language.
            if text and not text.startswith(INTENT_MESSAGE_PREFIX):
                message.set(LANGUAGE_DETECTION, self.detect(text), add_to_output=True)
        return messages

    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            for script, model in self.models.items():
                if isinstance(model, str):
                    (directory / f"{script}.label").write_text(model, encoding="utf-8")
                else:
                    sio.dump(model, directory / f"{script}.skops")

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LanguageDetector":
        import skops.io as sio

        models: Dict[Text, Any] = {}
        try:
            with model_storage.read_from(resource) as directory:
                for path in directory.glob("*.skops"):
                    models[path.stem] = sio.load(path, trusted=cls._TRUSTED)
                for path in directory.glob("*.label"):
                    models[path.stem] = path.read_text(encoding="utf-8")
        except ValueError:
            logger.warning("LanguageDetector has no trained model; locale guessing is off.")
        return cls(config, model_storage, resource, models)


def _example_locale(example: Message, key: Text) -> Optional[Text]:
    metadata = example.get("metadata") or {}
    for level in ("example", "intent"):
        value = metadata.get(level)
        if isinstance(value, dict) and value.get(key):
            return value[key]
    return metadata.get(key)


_OPTION = re.compile(r"^\s*(?:option|number|no\.?|num|#)?\s*(\d{1,2})\s*[.)\-]?\s*$")


#: Words a message may hold besides a phone number and still be just "here is my number".
PHONE_MESSAGE_MAX_WORDS = 5


def is_phone_number_message(text: Optional[Text]) -> bool:
    """A message that gives a phone number ("0300 1234567", "mera number +92 321 7654321 hai")."""
    from telehealth.phones import parse_phone

    if not text or not parse_phone(text):
        return False
    words = [w for w in re.split(r"\s+", re.sub(r"[+\d()./-]+", " ", text)) if w]
    return len(words) <= PHONE_MESSAGE_MAX_WORDS


def parse_option(text: Optional[Text]) -> Optional[int]:
    """The menu number a message consists of ("2", "2.", "option 3" after normalisation), else None."""
    match = _OPTION.match(text or "")
    return int(match.group(1)) if match else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class RuleIntentClassifier(StatelessComponent):
    """Menu numbers are ``select_option``; a phone number is ``give_phone_number``; messages in no
    script we serve are ``nlu_fallback``."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            number = parse_option(text)
            if number is None and is_phone_number_message(text):
                intent = {"name": "give_phone_number", "confidence": 1.0}
                message.set(INTENT, intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
                continue
            if number is None:
                if dominant_script(text) is None:
                    fallback = {"name": "nlu_fallback", "confidence": 1.0}
                    message.set(INTENT, fallback, add_to_output=True)
                    message.set(INTENT_RANKING_KEY, [fallback], add_to_output=True)
                continue
            intent = {"name": "select_option", "confidence": 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != "option"]
            start = text.find(str(number))
            entities.append(
                {
                    "entity": "option",
                    "value": str(number),
                    "start": start,
                    "end": start + len(str(number)),
                    "confidence_entity": 1.0,
                    "extractor": "RuleIntentClassifier",
                }
            )
            message.set(ENTITIES, entities, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class SymptomExtractor(GraphComponent):
    """Symptoms (and denied ones), warning signs, durations and ages from free text, in every locale.

    A thin wrapper around ``telehealth.symptoms.extract`` (spaCy PhraseMatcher over the per-locale
    lexicons in ``telehealth/lexicons``). Entities: ``symptom``, ``symptom_absent``,
    ``warning_sign`` (canonical names as values), ``duration_days`` and ``age`` (numbers as text).

    A warning sign (not denied, not asked about) makes the message an ``emergency`` whatever
    the classifier guessed ("saans nahi aa rahi" looks like ``deny`` to the intent classifier): the lexicons are
    written for exactly these phrases in every locale, and an emergency is answered first.
    Menu answers and phone numbers keep their intent.
    """

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SymptomExtractor":
        from telehealth.symptoms import lexicon

        lexicon()  # compile the matchers once, at load time
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        from telehealth.symptoms import extract

        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith(INTENT_MESSAGE_PREFIX):
                continue
            found = extract(text)
            if not found.spans:
                continue
            entities = list(message.get(ENTITIES, []))
            for start, end, entity, value in found.spans:
                entities.append(
                    {
                        "entity": entity,
                        "value": value,
                        "start": start,
                        "end": end,
                        "confidence_entity": 1.0,
                        "extractor": "SymptomExtractor",
                    }
                )
            message.set(ENTITIES, entities, add_to_output=True)
            if found.warning:
                self._emergency(message)
        return messages

    @staticmethod
    def _emergency(message: Message) -> None:
        if (message.get(INTENT) or {}).get("name") in _KEEPS_INTENT_OVER_WARNING:
            return
        top = {"name": EMERGENCY_INTENT, "confidence": 1.0}
        ranking = message.get(INTENT_RANKING_KEY) or []
        others = [r for r in ranking if r.get("name") != EMERGENCY_INTENT][: max(len(ranking) - 1, 0)]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top] + others, add_to_output=True)


EMERGENCY_INTENT = "emergency"
#: Intents a warning sign in the text does not override (they are not free text).
_KEEPS_INTENT_OVER_WARNING = {EMERGENCY_INTENT, "select_option", "give_phone_number"}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CompactParseData(StatelessComponent):
    """Drops the selected answer's texts from the response selector's output (see the module doc)."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            selectors = message.get(RESPONSE_SELECTOR_PROPERTY_NAME)
            if not isinstance(selectors, dict):
                continue
            for key, selected in selectors.items():
                if isinstance(selected, dict) and isinstance(selected.get("response"), dict):
                    selected["response"].pop(RESPONSE_SELECTOR_RESPONSES_KEY, None)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class FallbackClassifier(RasaFallbackClassifier):
    """Rasa's FallbackClassifier, which also falls back when the intent is a retrieval intent
    (``faq``) but the response selector is unsure which answer fits.

    The intent classifier can be sure a message is "some question" while the selector spreads
    its confidence over the topics: keyboard mashing ("qwertz blorp zzzz") was faq at 0.80 (DIET)
    with the best topic at 0.22. A FAQ answer at that confidence is a guess; asking to rephrase is the better reply.
    ``faq_threshold`` (0.35): on the 240 held-out FAQ phrases the selected topic's confidence is
    0.62 or more."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**RasaFallbackClassifier.get_default_config(), "faq_threshold": 0.35}

    def _should_fallback(self, message: Message) -> bool:
        if super()._should_fallback(message):
            return True
        intent = (message.get(INTENT) or {}).get("name")
        selected = (message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}).get(intent)
        if not isinstance(selected, dict):
            return False
        confidence = (selected.get("response") or {}).get("confidence")
        return confidence is not None and confidence < self.component_config["faq_threshold"]
